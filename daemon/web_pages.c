/* web_pages: the pages' router (who is signed in, which page, which method) and the answer forms' POST. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "driftwatch/alert_view.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/formtoken.h"
#include "driftwatch/html.h"
#include "driftwatch/log.h"
#include "driftwatch/page.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/utf8.h"
#include "driftwatch/web.h"
#include "driftwatch/web_answered.h"
#include "driftwatch/web_pages.h"

/* Columns of web_alert.sql used here. */
enum { C_TODAY, C_FOUND, C_STATE = 8, C_ACK_CURRENT, C_ACK_BY, C_ACK_ON, C_ACK_NOTE,
       C_SN_UNTIL, C_SN_REASON, C_SN_NOTE, C_SN_BY, C_ALERT, C_VISIBLE };

enum web_pages_route { ROUTE_NONE, ROUTE_MINE, ROUTE_TEAM, ROUTE_CHILD, ROUTE_SERVICE,
		       ROUTE_ANSWER };

static const char *error_title(int code)
{
	switch (code) {
	case 401: return "Please sign in";
	case 403: return "Not yours to see";
	case 404: return "Not found";
	case 405: return "Not allowed here";
	case 409: return "Nothing to answer";
	case 503: return "Please try again later";
	default: return code >= 500 ? "Something went wrong" : "This cannot be done";
	}
}

/* A plain page: the title for code and msg; nothing about any alert. root: see page.h. */
static void error_page(struct strbuf *p, int code, const char *root, const char *person,
		       const char *msg)
{
	page_open(p, root, error_title(code), person);
	strbuf_append(p, "<p>");
	html_escape(p, msg);
	strbuf_append(p, "</p>\n");
	page_close(p);
}

/* The way back to web.listen's root from the request's path: "../" per directory level. */
static const char *root_of(struct evhttp_request *req)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	int depth = 0;

	for (const char *s = path ? path + 1 : ""; *s; s++)
		depth += *s == '/';
	return depth == 0 ? "" : depth == 1 ? "../" : "../../";
}

void web_pages_error(struct web_job *job, int code, const char *msg)
{
	struct strbuf p;

	error_page(&p, code, root_of(job->req), job->person, msg);
	page_send(job, code, &p);
}

static void refuse_now(struct evhttp_request *req, int code, const char *msg)
{
	struct strbuf p;

	error_page(&p, code, root_of(req), NULL, msg);
	page_reply(req, code, &p);
}

/* 401: how to sign in, and why this request was not taken as anyone's. */
static void sign_in_page(struct evhttp_request *req, const char *why)
{
	struct strbuf p;

	page_open(&p, root_of(req), error_title(401), NULL);
	strbuf_append(&p, "<p>These pages show alerts about children, so driftwatch must know who "
		      "you are. It does no passwords of its own: open driftwatch through the "
		      "authority's single sign-on address (the one your IT team gave you, or the "
		      "links in driftwatch's emails), sign in there, and come back.</p>\n"
		      "<p class=\"muted\">Why this request was not signed in: ");
	html_escape(&p, why);
	strbuf_append(&p, ".</p>\n");
	page_close(&p);
	page_reply(req, 401, &p);
}

/* ---- the path ---- */

/* A path segment percent-decoded (malloc'd): NULL when empty, holding a NUL or a '/', or not
 * UTF-8 (no id is such; a '/' inside an id arrives encoded, as %2F). */
static char *segment(const char *s)
{
	size_t n = 0;
	char *d;

	if (!*s || strchr(s, '/'))
		return NULL;
	d = evhttp_uridecode(s, 0, &n);
	if (d && (n == 0 || strlen(d) != n || !utf8_valid(d))) {
		free(d);
		d = NULL;
	}
	return d;
}

static enum web_pages_route route_of(const char *path, const char **rest)
{
	*rest = NULL;
	if (strcmp(path, "/") == 0)
		return ROUTE_MINE;
	if (strcmp(path, "/service") == 0)
		return ROUTE_SERVICE;
	if (strcmp(path, "/answer") == 0)
		return ROUTE_ANSWER;
	if (strncmp(path, "/team/", 6) == 0) {
		*rest = path + 6;
		return ROUTE_TEAM;
	}
	if (strncmp(path, "/child/", 7) == 0) {
		*rest = path + 7;
		return ROUTE_CHILD;
	}
	return ROUTE_NONE;
}

/* ---- the answer forms' POST ---- */

static const char *back_words(struct web_job *job)
{
	return job->team ? "Back to the team's alerts" : "Back to my alerts";
}

static void result_page(struct web_job *job, int code, const char *title, const char *text)
{
	struct strbuf p;

	page_open(&p, "", title, job->person);
	strbuf_append(&p, "<p>");
	html_escape(&p, text);
	strbuf_append(&p, "</p>\n<p><a href=\"");
	if (job->team) {
		strbuf_append(&p, "team/");
		alert_view_segment(&p, job->team);
	} else {
		strbuf_append(&p, "./");
	}
	strbuf_append(&p, "\">");
	html_escape(&p, back_words(job));
	strbuf_append(&p, "</a></p>\n");
	page_close(&p);
	page_send(job, code, &p);
}

/* Chromium keeps pages sent with Cache-Control: no-store in its back/forward cache and shows
 * them again on Back without asking, unless a cookie changed since: Back from the list after
 * an answer showed the list from before it, the alert "Not answered" with its form. A cookie
 * that carries nothing but the time, and that nothing reads, is that change. */
static void stale_history(struct evhttp_request *req)
{
	char cookie[128];

	snprintf(cookie, sizeof(cookie), "dw_answered=%lld; Path=/; Max-Age=600; HttpOnly; "
		 "SameSite=Strict", (long long)time(NULL));
	evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
}

/* A recorded answer goes back to its list (web_answered.c), which says what was recorded. */
static void answered(struct web_job *job)
{
	struct strbuf loc, p;

	strbuf_init(&loc);
	web_answered_location(&loc, job->team, job->kind, job->fingerprint);
	page_open(&p, "", "Recorded", job->person);
	strbuf_append(&p, "<p>Your answer is recorded. <a href=\"");
	html_escape(&p, loc.buf ? loc.buf : "./");
	strbuf_append(&p, "\">");
	html_escape(&p, back_words(job));
	strbuf_append(&p, "</a></p>\n");
	page_close(&p);
	if (loc.failed) {
		strbuf_free(&loc);
		page_send(job, 200, &p);
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(job->req), "Location", loc.buf);
	stale_history(job->req);
	strbuf_free(&loc);
	page_send(job, 303, &p);
}

static void show_outcome(struct web_job *job, int code, const char *title, const char *text)
{
	if (code == 404 || code == 503)
		web_pages_error(job, code, text);
	else if (code == 200)
		answered(job);
	else
		result_page(job, code, title, text);
}

static const char *val(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

/* The same answer from the same person already in force (a form sent twice, the back button, a
 * replay): nothing is recorded. Jobs run one at a time, so nothing comes in between. */
static const char *already(struct web_job *job, PGresult *res)
{
	struct responses_current cur = {
		.ack_current = PQgetvalue(res, 0, C_ACK_CURRENT)[0] == 't',
		.ack_by = val(res, C_ACK_BY), .ack_note = val(res, C_ACK_NOTE),
		.snooze_by = val(res, C_SN_BY), .snooze_until = val(res, C_SN_UNTIL),
		.snooze_reason = val(res, C_SN_REASON), .snooze_note = val(res, C_SN_NOTE),
	};

	return responses_already(&cur, job->kind, job->person, job->note, job->until,
				 job->reason);
}

static enum formtoken_purpose purpose_of(enum responses_kind k)
{
	return k == RESPONSES_ACKNOWLEDGE ? FORMTOKEN_ACKNOWLEDGE :
	       k == RESPONSES_SNOOZE ? FORMTOKEN_SNOOZE : FORMTOKEN_UNSNOOZE;
}

/* A form's token is good the day it was made and the next: one left open over a weekend is
 * refused. It says so in those words (not "Not yours to see"), and gives back the note typed
 * in it, which would otherwise be lost. */
static void form_refused(struct web_job *job)
{
	struct strbuf p;

	page_open(&p, "", "This form is out of date", job->person);
	strbuf_append(&p, "<p>This form cannot be used: it is more than a day old, or it was not "
		      "made for you or for this answer. Nothing was changed. Open the page again "
		      "and answer from there.</p>\n");
	if (responses_note_says(job->note)) {
		strbuf_append(&p, "<p>The note you wrote, to copy into the new form:</p>\n"
			      "<blockquote class=\"note\">");
		html_escape(&p, job->note);
		strbuf_append(&p, "</blockquote>\n");
	}
	strbuf_append(&p, "<p><a href=\"./\">");
	html_escape(&p, back_words(job));
	strbuf_append(&p, "</a></p>\n");
	page_close(&p);
	page_send(job, 403, &p);
}

static void on_answer_alert(struct web_job *job, PGresult *res)
{
	const char *again;

	job->today = (int32_t)atol(PQgetvalue(res, 0, C_TODAY));
	/* the form first: a forged or foreign one learns nothing, not even whether the alert is */
	if (formtoken_check(web_page_key(job->srv), job->token, job->person, job->fingerprint,
			    purpose_of(job->kind), job->today) < 0) {
		log_info(job->ctx, "web: a page's answer form refused (its anti-forgery token is "
			 "not this person's for this alert and answer, or is out of date)");
		form_refused(job);
		return;
	}
	if (PQgetvalue(res, 0, C_FOUND)[0] != 't') {
		web_pages_error(job, 404, "driftwatch has no such alert. Nothing was recorded.");
		return;
	}
	if (PQgetvalue(res, 0, C_VISIBLE)[0] != 't') {
		web_pages_error(job, 403, "This alert is not one of yours: nothing was recorded.");
		return;
	}
	if (strcmp(val(res, C_STATE), "resolved") == 0) {
		result_page(job, 409, "Nothing to answer", "This alert is resolved: there is nothing "
			    "left to answer. Nothing was recorded.");
		return;
	}
	again = already(job, res);
	if (again) {
		result_page(job, 200, "Already recorded", again);
		return;
	}
	job->rq.today = job->today;
	web_job_answer(job, show_outcome);
}

static void run_answer(struct web_job *job)
{
	const char *params[3] = { job->fingerprint, job->ctx->cfg->timezone,
				  visibility_param(&job->vis) };

	web_job_query(job, sql_web_alert, 3, params, on_answer_alert);
}

static char *field(struct evkeyvalq *q, const char *name)
{
	const char *v = evhttp_find_header(q, name);

	return v && *v ? strdup(v) : NULL;
}

static int kind_of(const char *action, enum responses_kind *k)
{
	if (!action)
		return -1;
	if (strcmp(action, "acknowledge") == 0)
		*k = RESPONSES_ACKNOWLEDGE;
	else if (strcmp(action, "snooze") == 0)
		*k = RESPONSES_SNOOZE;
	else if (strcmp(action, "unsnooze") == 0)
		*k = RESPONSES_UNSNOOZE;
	else
		return -1;
	return 0;
}

/* Fills job from the form's fields; -1 when they are not a form of these pages. */
static int answer_fields(struct web_job *job, struct evkeyvalq *q)
{
	const char *alert = evhttp_find_header(q, "alert");

	if (kind_of(evhttp_find_header(q, "action"), &job->kind) < 0 || !alert ||
	    alert_fingerprint_parse(alert, strlen(alert), job->fingerprint) < 0 ||
	    !evhttp_find_header(q, "form"))
		return -1;
	job->token = strdup(evhttp_find_header(q, "form"));
	job->note = field(q, "note");
	job->stage = field(q, "stage");
	job->team = field(q, "team");
	if (job->kind == RESPONSES_SNOOZE) {
		job->until = field(q, "until");
		job->reason = field(q, "reason");
	}
	if (!job->token)
		return -1;
	job->rq.kind = job->kind;
	job->rq.fingerprint = job->fingerprint;
	job->rq.actor = job->person;
	job->rq.via = "page";
	job->rq.note = job->note;
	job->rq.reason = job->reason;
	job->rq.until = job->until;
	job->rq.stage = job->stage;
	return 0;
}

static void run_not_a_form(struct web_job *job)
{
	web_pages_error(job, 400, "This is not one of the pages' answer forms. Nothing was "
			"changed.");
}

static void answer(struct web_server *srv, struct evhttp_request *req, char *person)
{
	const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(req),
					       "Content-Type");
	struct evkeyvalq q;
	struct web_job *job;
	char *body;

	if (!ctype || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0) {
		free(person);
		refuse_now(req, 415, "This address takes only the pages' own answer forms.");
		return;
	}
	body = web_body(req);
	TAILQ_INIT(&q);
	if (!body || evhttp_parse_query_str(body, &q) < 0) {
		free(body);
		free(person);
		evhttp_clear_headers(&q);
		refuse_now(req, 400, "The form could not be read. Nothing was changed.");
		return;
	}
	free(body);
	job = web_job_add(srv, req, 0, web_job_visible);
	if (!job) {
		free(person);
		evhttp_clear_headers(&q);
		return;
	}
	job->page = 1;
	job->person = person;
	job->then = run_answer;
	/* answered in its turn: a job is freed only as the head of the queue */
	if (answer_fields(job, &q) < 0)
		job->run = run_not_a_form;
	evhttp_clear_headers(&q);
}

/* ---- the router ---- */

static int method_allowed(struct evhttp_request *req, enum web_pages_route route)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	int post = route == ROUTE_ANSWER;

	if (post ? cmd == EVHTTP_REQ_POST : (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD))
		return 1;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
			  post ? "POST" : "GET, HEAD");
	refuse_now(req, 405, post ? "This address takes only the answer forms' POST." :
		   "This page is only read (GET); its forms send their answers elsewhere.");
	return 0;
}

static void dispatch(struct web_server *srv, struct evhttp_request *req,
		     enum web_pages_route route, char *person, const char *id)
{
	switch (route) {
	case ROUTE_MINE:
		web_mine_page(srv, req, person);
		break;
	case ROUTE_TEAM:
		web_team_page(srv, req, person, id);
		break;
	case ROUTE_CHILD:
		web_child_page(srv, req, person, id);
		break;
	case ROUTE_SERVICE:
		web_service_page(srv, req, person);
		break;
	default:
		answer(srv, req, person);
		return;
	}
	free(person);
}

void web_pages_handle(struct web_server *srv, struct evhttp_request *req, const char *path)
{
	const char *rest, *why;
	enum web_pages_route route = route_of(path, &rest);
	char *id = NULL, *person = NULL;

	if (route == ROUTE_NONE || (rest && !(id = segment(rest)))) {
		refuse_now(req, 404, "There is no page at this address.");
		return;
	}
	if (!method_allowed(req, route)) {
		free(id);
		return;
	}
	if (web_person(srv, req, &person, &why) < 0) {
		free(id);
		sign_in_page(req, why);
		return;
	}
	dispatch(srv, req, route, person, id);
	free(id);
}
