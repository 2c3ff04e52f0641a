/* web_team: "/team/{team_id}": a team's open alerts by worker and family, filtered, counted. */
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "driftwatch/alert_view.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/html.h"
#include "driftwatch/log.h"
#include "driftwatch/page.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/web.h"
#include "driftwatch/web_answered.h"
#include "driftwatch/web_pages.h"

static const char *const states[] = { "open", "acknowledged", "snoozed" };
#define N_STATES (sizeof(states) / sizeof(states[0]))

static int shown(const struct web_job *job, const struct alert_view_item *it)
{
	return (!job->rule || strcmp(job->rule, it->rule) == 0) &&
	       (!job->status || strcmp(job->status, it->state) == 0);
}

/* ---- the filter form and the counts ---- */

static void option(struct strbuf *p, const char *value, const char *label, const char *chosen)
{
	strbuf_append(p, "<option value=\"");
	html_escape(p, value);
	strbuf_printf(p, "\"%s>", (chosen ? strcmp(chosen, value) == 0 : !*value) ?
		      " selected" : "");
	html_escape(p, label);
	strbuf_append(p, "</option>\n");
}

static void filter_form(struct strbuf *p, const struct web_job *job)
{
	strbuf_append(p, "<form method=\"get\" action=\"\" class=\"filter\">\n<fieldset>\n"
		      "<legend>Show only</legend>\n<label for=\"rule\">What the alert is about"
		      "</label>\n<select id=\"rule\" name=\"rule\">\n");
	option(p, "", "Every rule", job->rule);
	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct rule_def *def = rule_registry_get(i);

		option(p, def->name, def->doc, job->rule);
	}
	strbuf_append(p, "</select>\n<label for=\"response\">Response</label>\n"
		      "<select id=\"response\" name=\"response\">\n");
	option(p, "", "Any response", job->status);
	for (size_t i = 0; i < N_STATES; i++)
		option(p, states[i], alert_view_state_label(states[i]), job->status);
	strbuf_append(p, "</select>\n<button type=\"submit\">Show</button>\n</fieldset>\n"
		      "</form>\n");
}

static void count_row(struct strbuf *p, const char *label, size_t n)
{
	strbuf_append(p, "<tr><th scope=\"row\">");
	html_escape(p, label);
	strbuf_printf(p, "</th><td>%zu</td></tr>\n", n);
}

/* The counts over every open alert of the team the person may see, whatever the filter. */
static void counts(struct strbuf *p, const struct alert_view *v)
{
	strbuf_append(p, "<div class=\"counts\">\n<table>\n<caption>By response</caption>\n"
		      "<thead><tr><th scope=\"col\">Response</th><th scope=\"col\">Alerts</th>"
		      "</tr></thead>\n<tbody>\n");
	for (size_t s = 0; s < N_STATES; s++) {
		size_t n = 0;

		for (size_t i = 0; i < v->n; i++)
			n += strcmp(v->items[i].state, states[s]) == 0;
		count_row(p, alert_view_state_label(states[s]), n);
	}
	count_row(p, "All open alerts", v->n);
	strbuf_append(p, "</tbody>\n</table>\n<table>\n<caption>By what the alert is about"
		      "</caption>\n<thead><tr><th scope=\"col\">Rule and stage</th>"
		      "<th scope=\"col\">Alerts</th></tr></thead>\n<tbody>\n");
	for (size_t r = 0; r < rule_registry_count(); r++) {
		const struct rule_def *def = rule_registry_get(r);

		for (size_t st = def->n_stages; st-- > 0;) {
			size_t n = 0;

			for (size_t i = 0; i < v->n; i++)
				n += strcmp(v->items[i].rule, def->name) == 0 &&
				     strcmp(v->items[i].stage, def->stages[st].name) == 0;
			if (n)
				count_row(p, def->stages[st].label, n);
		}
	}
	strbuf_append(p, "</tbody>\n</table>\n</div>\n");
}

/* ---- by worker ---- */

static int worker_cmp(const struct alert_view_item *a, const struct alert_view_item *b)
{
	int c;

	/* no worker known last */
	if (!a->worker_id || !b->worker_id)
		return !a->worker_id - !b->worker_id;
	c = strcmp(a->worker_name ? a->worker_name : a->worker_id,
		   b->worker_name ? b->worker_name : b->worker_id);
	/* two workers of one name are two sections, not one list of both */
	return c ? c : strcmp(a->worker_id, b->worker_id);
}

/* An alert and its index, which rises with the answer order and so breaks ties: a stable sort
 * by worker. */
struct placed {
	const struct alert_view_item *it;
	size_t idx;
};

static int by_worker_then_place(const void *pa, const void *pb)
{
	const struct placed *a = pa, *b = pb;
	int c = worker_cmp(a->it, b->it);

	return c ? c : (a->idx > b->idx) - (a->idx < b->idx);
}

/* One sort (an insertion sort was quadratic in a team's alerts). */
static int sort_by_worker(const struct alert_view *v, size_t *idx, size_t n)
{
	struct placed *pl = malloc((n ? n : 1) * sizeof(*pl));

	if (!pl)
		return -1;
	for (size_t i = 0; i < n; i++)
		pl[i] = (struct placed){ &v->items[idx[i]], idx[i] };
	qsort(pl, n, sizeof(*pl), by_worker_then_place);
	for (size_t i = 0; i < n; i++)
		idx[i] = pl[i].idx;
	free(pl);
	return 0;
}

static int same_worker(const struct alert_view_item *a, const struct alert_view_item *b)
{
	return (!a->worker_id && !b->worker_id) ||
	       (a->worker_id && b->worker_id && strcmp(a->worker_id, b->worker_id) == 0);
}

static void worker_heading(struct strbuf *p, const struct alert_view_item *it, size_t n)
{
	strbuf_append(p, "<h2>");
	if (it->worker_id) {
		html_escape(p, it->worker_name ? it->worker_name : it->worker_id);
		strbuf_append(p, " <span class=\"muted\">(");
		html_escape(p, it->worker_id);
		strbuf_append(p, ")</span>");
	} else {
		strbuf_append(p, "No allocated worker known today");
	}
	strbuf_printf(p, ": %zu alert%s</h2>\n", n, n == 1 ? "" : "s");
}

/* The shown alerts in the answer order within each worker, workers by name. */
static void by_worker(struct strbuf *p, struct web_job *job, const struct alert_view *v,
		      const struct alert_view_forms *f)
{
	size_t *idx = calloc(v->n ? v->n : 1, sizeof(*idx)), n = 0, serial = 0;

	if (!idx) {
		p->failed = 1;
		return;
	}
	for (size_t i = 0; i < v->n; i++)
		if (shown(job, &v->items[i]))
			idx[n++] = i;
	/* by worker, the answer order kept inside each */
	if (sort_by_worker(v, idx, n) < 0) {
		free(idx);
		p->failed = 1;
		return;
	}
	if (n == 0)
		strbuf_append(p, "<p>No open alert of this team matches.</p>\n");
	for (size_t i = 0; i < n;) {
		size_t end = i + 1;

		while (end < n && same_worker(&v->items[idx[i]], &v->items[idx[end]]))
			end++;
		strbuf_append(p, "<section class=\"worker\">\n");
		worker_heading(p, &v->items[idx[i]], end - i);
		alert_view_groups(p, v, idx + i, end - i, 3, f, &serial);
		strbuf_append(p, "</section>\n");
		i = end;
	}
	free(idx);
}

static void render(struct web_job *job, const struct alert_view *v)
{
	struct alert_view_forms f = { web_page_key(job->srv), job->person, v->today, "../",
				      job->team, job->ctx->cfg->responses.max_snooze_days,
				      job->ctx->cfg };
	struct strbuf title, p;

	strbuf_init(&title);
	strbuf_append(&title, "Team ");
	strbuf_append(&title, job->team);
	page_open(&p, "../", title.failed ? "Team" : title.buf, job->person);
	strbuf_free(&title);
	strbuf_append(&p, "<p>The team's open alerts that you may see, as of ");
	html_day(&p, v->today, 1);
	strbuf_append(&p, ", by the worker allocated to each child today, brothers and sisters "
		      "together under their family.</p>\n");
	web_answered_note(&p, evhttp_uri_get_query(evhttp_request_get_evhttp_uri(job->req)), v,
			  job->person);
	counts(&p, v);
	filter_form(&p, job);
	by_worker(&p, job, v, &f);
	page_close(&p);
	page_send(job, 200, &p);
}

/* ---- reading ---- */

static struct alert_view *view_of(struct web_job *job)
{
	return job->data;
}

static void on_workers(struct web_job *job, PGresult *res)
{
	struct alert_view *v = view_of(job);

	for (int r = 0; r < PQntuples(res); r++) {
		const char *child = PQgetvalue(res, r, 0);

		for (size_t i = 0; i < v->n; i++) {
			struct alert_view_item *it = &v->items[i];

			if (strcmp(it->child_id, child) != 0 || it->worker_id)
				continue;
			it->worker_id = strdup(PQgetvalue(res, r, 1));
			it->worker_name = PQgetisnull(res, r, 2) ? NULL :
					  strdup(PQgetvalue(res, r, 2));
		}
	}
	render(job, v);
}

/* The case data could not be read: the alerts are still shown, under no worker. */
static void on_workers_failed(struct web_job *job, const char *why)
{
	log_warn(job->ctx, "web: the case data could not be read to find the workers of a team's "
		 "children (%s); the team's page shows its alerts without them", why);
	render(job, view_of(job));
}

static void on_rows(struct web_job *job, PGresult *res)
{
	struct alert_view *v = calloc(1, sizeof(*v));
	const char **children;
	const char *params[2];
	char *arr;

	if (!v || alert_view_read(res, v) < 0) {
		free(v);
		web_pages_error(job, 500, "The alerts could not be read.");
		return;
	}
	job->data = v;
	job->data_free = alert_view_free;
	if (v->n == 0 && !job->vis.all) {
		web_pages_error(job, 403, "You may see none of this team's open alerts (or it has "
				"none): only its workers' supervisors and managers, the chairs of "
				"its children's plans and the people sent its alerts see them.");
		return;
	}
	alert_view_sort(v);
	children = calloc(v->n ? v->n : 1, sizeof(*children));
	for (size_t i = 0; children && i < v->n; i++)
		children[i] = v->items[i].child_id;
	arr = children ? strbuf_text_array(children, v->n) : NULL;
	free(children);
	if (!arr) {
		web_pages_error(job, 500, "out of memory");
		return;
	}
	params[0] = arr;
	params[1] = job->ctx->cfg->timezone;
	job->on_error = on_workers_failed;
	web_job_query(job, sql_web_pages_workers, 2, params, on_workers);
	free(arr);
}

static void run_team(struct web_job *job)
{
	const char *params[3] = { job->ctx->cfg->timezone, visibility_param(&job->vis),
				  job->team };

	web_job_query(job, sql_web_pages_alerts, 3, params, on_rows);
}

static void run_bad_filter(struct web_job *job)
{
	web_pages_error(job, 400, "The filter asks for a rule or a response driftwatch does not "
			"have. Choose from the lists on the team's page.");
}

/* The filter from the query string: rule= a rule's name, response= a response state; empty is
 * no filter. -1 when a value is not one of them (or another parameter is given). */
static int filters(struct web_job *job)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(job->req));
	const char *rule, *resp;
	struct evkeyvalq q;
	struct evkeyval *kv;
	int ok = 1;

	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) < 0)
		return -1;
	TAILQ_FOREACH(kv, &q, next)
		ok &= strcmp(kv->key, "rule") == 0 || strcmp(kv->key, "response") == 0 ||
		      web_answered_key(kv->key);
	rule = evhttp_find_header(&q, "rule");
	resp = evhttp_find_header(&q, "response");
	if (ok && rule && *rule) {
		ok = rule_registry_find(rule) != NULL;
		job->rule = ok ? strdup(rule) : NULL;
	}
	if (ok && resp && *resp) {
		ok = 0;
		for (size_t i = 0; i < N_STATES; i++)
			ok |= strcmp(resp, states[i]) == 0;
		job->status = ok ? strdup(resp) : NULL;
	}
	evhttp_clear_headers(&q);
	return ok ? 0 : -1;
}

void web_team_page(struct web_server *srv, struct evhttp_request *req, const char *person,
		   const char *team_id)
{
	struct web_job *job = web_job_add(srv, req, 0, web_job_visible);

	if (!job)
		return;
	job->page = 1;
	job->then = run_team;
	job->person = strdup(person);
	job->team = strdup(team_id);
	if (!job->person || !job->team)
		job->run = web_job_oom;
	else if (filters(job) < 0)
		job->run = run_bad_filter;
}
