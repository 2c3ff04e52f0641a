/* web_paging: a long list of alerts on the pages, shown a page at a time (?page=N). */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "driftwatch/web_paging.h"

#define PAGE_MAX 1000000

static size_t number(const char *s)
{
	size_t v = 0;

	if (!s || !*s || strlen(s) > 7)
		return 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return 0;
		v = v * 10 + (size_t)(*s - '0');
	}
	return v <= PAGE_MAX ? v : 0;
}

size_t web_paging_page(const char *query)
{
	struct evkeyvalq q;
	size_t page;

	TAILQ_INIT(&q);
	if (!query || evhttp_parse_query_str(query, &q) < 0)
		return 1;
	page = number(evhttp_find_header(&q, "page"));
	evhttp_clear_headers(&q);
	return page ? page : 1;
}

size_t web_paging_window(size_t n, size_t page, size_t *from)
{
	*from = page ? (page - 1) * WEB_PAGING_SIZE : n;
	if (*from >= n) {
		*from = n;
		return 0;
	}
	return n - *from < WEB_PAGING_SIZE ? n - *from : WEB_PAGING_SIZE;
}

size_t web_paging_pages(size_t n)
{
	return n ? (n + WEB_PAGING_SIZE - 1) / WEB_PAGING_SIZE : 1;
}

void web_paging_says(struct strbuf *p, size_t n, size_t page)
{
	size_t from, k = web_paging_window(n, page, &from);

	if (n <= WEB_PAGING_SIZE)
		return;
	if (k == 0) {
		strbuf_printf(p, "<p>All %zu are on the pages before this one.</p>\n", n);
		return;
	}
	strbuf_printf(p, "<p>Alerts %zu to %zu of %zu, the longest waiting first; brothers "
		      "and sisters are listed with the first of them.</p>\n", from + 1, from + k,
		      n);
}

void web_paging_nav(struct strbuf *p, size_t page, size_t pages)
{
	if (pages <= 1)
		return;
	strbuf_printf(p, "<nav class=\"paging\" aria-label=\"Pages of alerts\"><p>Page %zu of "
		      "%zu.", page, pages);
	if (page > 1)
		strbuf_printf(p, " <a href=\"?page=%zu\" rel=\"prev\">Previous page</a>", page - 1);
	if (page < pages)
		strbuf_printf(p, " <a href=\"?page=%zu\" rel=\"next\">Next page</a>", page + 1);
	strbuf_append(p, "</p></nav>\n");
}
