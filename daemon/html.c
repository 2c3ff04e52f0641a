/* html: escaping and British dates for the HTML that driftwatch writes (pages, mail, SVG). */
#include <stdio.h>
#include <string.h>

#include "driftwatch/calendar.h"
#include "driftwatch/html.h"
#include "driftwatch/strbuf.h"

/* The first n bytes of s, escaped. */
static void html_escape_n(struct strbuf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		switch (s[i]) {
		case '&': strbuf_append(out, "&amp;"); break;
		case '<': strbuf_append(out, "&lt;"); break;
		case '>': strbuf_append(out, "&gt;"); break;
		case '"': strbuf_append(out, "&quot;"); break;
		case '\'': strbuf_append(out, "&#39;"); break;
		default: strbuf_appendn(out, s + i, 1);
		}
	}
}

void html_escape(struct strbuf *out, const char *s)
{
	if (s)
		html_escape_n(out, s, strlen(s));
}

/* Where a long word may break: after the punctuation of identifiers, addresses and URLs. */
static int html_break_after(char c)
{
	return c == '.' || c == '_' || c == '/' || c == '@' || c == '-' || c == ':' || c == '=' ||
	       c == '&' || c == '?' || c == ';' || c == ',';
}

static int html_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One word of html_escape_wrap: a <wbr> after each break character but the last byte, and
 * every HTML_WRAP_RUN bytes of a run without one (never inside a UTF-8 sequence). */
static void html_escape_word(struct strbuf *out, const char *w, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		int cont = ((unsigned char)w[i] & 0xC0) == 0x80;

		if (run >= HTML_WRAP_RUN && !cont) {
			strbuf_append(out, "<wbr>");
			run = 0;
		}
		html_escape_n(out, w + i, 1);
		run++;
		if (html_break_after(w[i]) && i + 1 < n) {
			strbuf_append(out, "<wbr>");
			run = 0;
		}
	}
}

void html_escape_wrap(struct strbuf *out, const char *s)
{
	while (s && *s) {
		size_t n = 0;

		if (html_space(*s)) {
			strbuf_appendn(out, s++, 1);
			continue;
		}
		while (s[n] && !html_space(s[n]))
			n++;
		if (n > HTML_WRAP_WORD)
			html_escape_word(out, s, n);
		else
			html_escape_n(out, s, n);
		s += n;
	}
}

static const char *const html_months[12][2] = {
	{ "Jan", "January" }, { "Feb", "February" }, { "Mar", "March" }, { "Apr", "April" },
	{ "May", "May" }, { "Jun", "June" }, { "Jul", "July" }, { "Aug", "August" },
	{ "Sep", "September" }, { "Oct", "October" }, { "Nov", "November" },
	{ "Dec", "December" },
};

void html_day(struct strbuf *out, int32_t day, int longform)
{
	int y, m, d;

	calendar_day_to_ymd(day, &y, &m, &d);
	strbuf_printf(out, "%d %s %d", d, html_months[m - 1][longform ? 1 : 0], y);
}

int html_date(struct strbuf *out, const char *iso, int longform)
{
	int32_t day;

	if (!iso || calendar_day_parse(iso, &day) < 0) {
		html_escape(out, iso);
		return -1;
	}
	html_day(out, day, longform);
	return 0;
}
