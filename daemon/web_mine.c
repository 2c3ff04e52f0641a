/* web_mine: "/", my alerts: what I must answer first, then the rest, with the forms to answer. */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "driftwatch/alert_view.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/html.h"
#include "driftwatch/page.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/web.h"
#include "driftwatch/web_answered.h"
#include "driftwatch/web_pages.h"
#include "driftwatch/web_paging.h"

/* The indices of v's items that are (open) or are not (!open) waiting for an answer. */
static size_t pick(const struct alert_view *v, int open, size_t *idx)
{
	size_t n = 0;

	for (size_t i = 0; i < v->n; i++)
		if ((strcmp(v->items[i].state, "open") == 0) == open)
			idx[n++] = i;
	return n;
}

/* A section lists its alerts a page at a time (web_paging.h); its heading counts them all. */
static void section(struct strbuf *p, const struct alert_view *v, const size_t *idx, size_t n,
		    size_t page, const char *id, const char *heading, const char *none,
		    const struct alert_view_forms *f, size_t *serial)
{
	size_t from, k = web_paging_window(n, page, &from);

	strbuf_printf(p, "<section aria-labelledby=\"%s\">\n<h2 id=\"%s\">%s (%zu)</h2>\n", id, id,
		      heading, n);
	if (n == 0)
		strbuf_printf(p, "<p>%s</p>\n", none);
	web_paging_says(p, n, page);
	alert_view_groups_window(p, v, idx, n, from, k, 3, f, serial);
	strbuf_append(p, "</section>\n");
}

static size_t pages_of(const struct alert_view *v)
{
	size_t open = 0, a, b;

	for (size_t i = 0; i < v->n; i++)
		open += strcmp(v->items[i].state, "open") == 0;
	a = web_paging_pages(open);
	b = web_paging_pages(v->n - open);
	return a > b ? a : b;
}

static void render(struct web_job *job, const struct alert_view *v)
{
	struct alert_view_forms f = { web_page_key(job->srv), job->person, v->today, "", NULL,
				      job->ctx->cfg->responses.max_snooze_days, job->ctx->cfg };
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(job->req));
	size_t *idx = calloc(v->n ? v->n : 1, sizeof(*idx)), n, serial = 0;
	size_t page = web_paging_page(query), pages = pages_of(v);
	struct strbuf p;

	/* past the end (the list shrank since the link was made): the last page */
	if (page > pages)
		page = pages;

	page_open(&p, "", "My alerts", job->person);
	if (!idx) {
		p.failed = 1;
		page_send(job, 500, &p);
		return;
	}
	strbuf_append(&p, "<p>The open alerts about the children you work with, supervise or "
		      "chair, as of ");
	html_day(&p, v->today, 1);
	strbuf_append(&p, ". Those not answered come first, the oldest stage at the top (the "
		      "longest waiting, the nearest to being escalated); brothers and sisters are "
		      "shown together under their family.</p>\n");
	web_answered_note(&p, query, v, job->person);
	web_paging_nav(&p, page, pages);
	n = pick(v, 1, idx);
	section(&p, v, idx, n, page, "first", "To answer first",
		"Nothing is waiting for your answer.", &f, &serial);
	n = pick(v, 0, idx);
	section(&p, v, idx, n, page, "rest", "Answered: acknowledged or snoozed",
		"None of your open alerts is acknowledged or snoozed.", &f, &serial);
	web_paging_nav(&p, page, pages);
	free(idx);
	page_close(&p);
	page_send(job, 200, &p);
}

static void on_rows(struct web_job *job, PGresult *res)
{
	struct alert_view *v = calloc(1, sizeof(*v));

	if (!v || alert_view_read(res, v) < 0) {
		free(v);
		web_pages_error(job, 500, "The alerts could not be read.");
		return;
	}
	job->data = v;
	job->data_free = alert_view_free;
	alert_view_sort(v);
	render(job, v);
}

static void run_list(struct web_job *job)
{
	const char *params[3] = { job->ctx->cfg->timezone, visibility_param(&job->vis), NULL };

	web_job_query(job, sql_web_pages_alerts, 3, params, on_rows);
}

void web_mine_page(struct web_server *srv, struct evhttp_request *req, const char *person)
{
	struct web_job *job = web_job_add(srv, req, 0, web_job_visible);

	if (!job)
		return;
	job->page = 1;
	job->then = run_list;
	job->person = strdup(person);
	if (!job->person)
		job->run = web_job_oom;
}
