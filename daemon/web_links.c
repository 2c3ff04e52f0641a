/* web_links: a link's page (GET changes nothing) and its form's POST, which records the answer. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>

#include "driftwatch/alert_view.h"
#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/html.h"
#include "driftwatch/http.h"
#include "driftwatch/page.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/web.h"
#include "driftwatch/web_links.h"

#define LINK_PURPOSES                                                                        \
	(LINKTOKEN_ACCEPT(LINKTOKEN_LINK_OPEN) | LINKTOKEN_ACCEPT(LINKTOKEN_LINK_ACKNOWLEDGE) |  \
	 LINKTOKEN_ACCEPT(LINKTOKEN_LINK_SNOOZE))
#define FORM_PURPOSES                                                                        \
	(LINKTOKEN_ACCEPT(LINKTOKEN_FORM_ACKNOWLEDGE) | LINKTOKEN_ACCEPT(LINKTOKEN_FORM_SNOOZE) | \
	 LINKTOKEN_ACCEPT(LINKTOKEN_FORM_UNSNOOZE))
/* linktoken_verify checks the signature and purpose without knowing today; the day comes
 * from the database with the alert, and the token is checked again with it. */
#define ANY_DAY INT32_MIN

/* Columns of web_alert.sql. */
enum { C_TODAY, C_FOUND, C_RULE, C_STAGE, C_CHILD, C_STATUS, C_SINCE, C_SUMMARY, C_STATE,
       C_ACK_CURRENT, C_ACK_BY, C_ACK_ON, C_ACK_NOTE, C_SN_UNTIL, C_SN_REASON, C_SN_NOTE,
       C_SN_BY, C_ALERT };

/* The token is in the address: no page of a link may send it on, even to driftwatch's own pages
 * (a proxy's access log keeps the Referer). Set before page_send, which keeps it. */
static void no_referrer(struct evhttp_request *req)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Referrer-Policy", "no-referrer");
}

static void send_page(struct web_job *job, int code, struct strbuf *p)
{
	no_referrer(job->req);
	page_send(job, code, p);
}

/* The link pages are at /r/{token}: "../" is web.listen's root. */
#define LINK_ROOT "../"

static void error_page(struct strbuf *p, int code, const char *msg)
{
	page_open(p, LINK_ROOT, code == 503 ? "Please try again later" : "This link cannot be used",
		  NULL);
	strbuf_append(p, "<p>");
	html_escape(p, msg);
	strbuf_append(p, "</p>\n");
	page_close(p);
}

void web_links_error(struct web_job *job, int code, const char *msg)
{
	struct strbuf p;

	error_page(&p, code, msg);
	send_page(job, code, &p);
}

static int refusal_code(enum linktoken_status st)
{
	switch (st) {
	case LINKTOKEN_FOREIGN:
	case LINKTOKEN_ALTERED:
		return 403;
	case LINKTOKEN_EXPIRED:
		return 410;
	default:
		return 400;
	}
}

/* A refusal before any job: nothing about the alert, nothing from the database. */
static void refuse_now(struct evhttp_request *req, int code, const char *msg)
{
	struct strbuf p;

	error_page(&p, code, msg);
	no_referrer(req);
	page_reply(req, code, &p);
}

static const char *val(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

static int is_true(PGresult *res, int col)
{
	return !PQgetisnull(res, 0, col) && PQgetvalue(res, 0, col)[0] == 't';
}

static void dl_item(struct strbuf *p, const char *term, const char *value, int date)
{
	if (!value)
		return;
	strbuf_append(p, "<dt>");
	html_escape(p, term);
	strbuf_append(p, "</dt><dd>");
	if (date)
		html_date(p, value, 1);
	else
		html_escape(p, value);
	strbuf_append(p, "</dd>\n");
}

/* "Worker changes (worker_change)": the words a person reads, and the key the emails and the
 * API give, so either can be looked up. */
static void dl_named(struct strbuf *p, const char *term, const char *words, const char *key)
{
	if (!key)
		return;
	strbuf_append(p, "<dt>");
	html_escape(p, term);
	strbuf_append(p, "</dt><dd data-key=\"");
	html_escape(p, key);
	strbuf_append(p, "\">");
	html_escape(p, words ? words : key);
	if (words && strcmp(words, key) != 0) {
		strbuf_append(p, " <span class=\"muted\">(");
		html_escape(p, key);
		strbuf_append(p, ")</span>");
	}
	strbuf_append(p, "</dd>\n");
}

static void alert_facts(struct strbuf *p, PGresult *res)
{
	const char *rule = val(res, C_RULE), *stage = val(res, C_STAGE);

	strbuf_append(p, "<dl>\n");
	dl_named(p, "Rule", alert_view_rule_title(rule), rule);
	dl_named(p, "Stage", stage ? alert_view_stage_label(rule, stage) : NULL, stage);
	dl_item(p, "Child", val(res, C_CHILD), 0);
	dl_item(p, "Since", val(res, C_SINCE), 1);
	dl_item(p, "Summary", val(res, C_SUMMARY), 0);
	strbuf_append(p, "</dl>\n");
	if (strcmp(val(res, C_STATE), "acknowledged") == 0) {
		strbuf_append(p, "<p>Acknowledged for this stage by ");
		html_escape(p, val(res, C_ACK_BY));
		strbuf_append(p, " on ");
		html_date(p, val(res, C_ACK_ON), 1);
		strbuf_append(p, ".</p>\n");
	} else if (strcmp(val(res, C_STATE), "snoozed") == 0) {
		strbuf_append(p, "<p>Snoozed until ");
		html_date(p, val(res, C_SN_UNTIL), 1);
		strbuf_append(p, " by ");
		html_escape(p, val(res, C_SN_BY));
		strbuf_append(p, " (");
		html_escape(p, responses_reason_label(val(res, C_SN_REASON)));
		strbuf_append(p, ").</p>\n");
	}
}

static int form_token(struct web_job *job, enum linktoken_purpose purpose, char out[LINKTOKEN_BUF])
{
	char err[128];

	return linktoken_sign(web_link_key(job->srv), purpose, job->claims.fingerprint,
			      job->claims.recipient, job->claims.last_day, out, err, sizeof(err));
}

static void form_open(struct strbuf *p, const char *heading, const char *token)
{
	strbuf_append(p, "<form method=\"post\">\n<h2>");
	html_escape(p, heading);
	strbuf_append(p, "</h2>\n<input type=\"hidden\" name=\"form\" value=\"");
	html_escape(p, token);
	strbuf_append(p, "\">\n");
}

static void note_field(struct strbuf *p, const char *id, const char *label)
{
	strbuf_printf(p, "<label for=\"%s\">%s</label>\n<textarea id=\"%s\" name=\"note\" "
		      "rows=\"4\" cols=\"50\" maxlength=\"%d\"></textarea>\n", id, label, id,
		      RESPONSES_NOTE_MAX);
}

static int forms(struct web_job *job, struct strbuf *p, PGresult *res)
{
	enum linktoken_purpose pu = job->claims.purpose;
	char tok[LINKTOKEN_BUF], min[CALENDAR_DAY_LEN], max[CALENDAR_DAY_LEN];

	if (pu != LINKTOKEN_LINK_SNOOZE) {
		if (form_token(job, LINKTOKEN_FORM_ACKNOWLEDGE, tok) < 0)
			return -1;
		form_open(p, "Acknowledge", tok);
		/* the stage this page shows: an acknowledgement is for it alone (RESPONSES.md) */
		strbuf_append(p, "<input type=\"hidden\" name=\"stage\" value=\"");
		html_escape(p, val(res, C_STAGE));
		strbuf_append(p, "\">\n");
		strbuf_append(p, "<p>Acknowledging says you have seen this and it is being handled. "
			      "It stops reminders and escalation for this stage.</p>\n");
		note_field(p, "ack-note", "Note (optional)");
		strbuf_append(p, "<button type=\"submit\">Acknowledge</button>\n</form>\n");
	}
	if (pu == LINKTOKEN_LINK_ACKNOWLEDGE)
		return 0;
	if (form_token(job, LINKTOKEN_FORM_SNOOZE, tok) < 0)
		return -1;
	form_open(p, "Snooze", tok);
	strbuf_append(p, "<p>Snoozing says a decision has been made. No reminders or escalation "
		      "until the date; a new stage is still sent to you.</p>\n");
	calendar_day_format(job->today + 1, min, sizeof(min));
	calendar_day_format(job->today + job->ctx->cfg->responses.max_snooze_days, max,
			    sizeof(max));
	strbuf_printf(p, "<label for=\"until\">Snooze until</label>\n<input type=\"date\" "
		      "id=\"until\" name=\"until\" required min=\"%s\" max=\"%s\">\n"
		      "<label for=\"reason\">Reason</label>\n<select id=\"reason\" name=\"reason\" "
		      "required>\n<option value=\"\">Choose a reason</option>\n", min, max);
	for (size_t i = 0; i < RESPONSES_REASONS; i++)
		strbuf_printf(p, "<option value=\"%s\">%s</option>\n", responses_reason_name(i),
			      responses_reason_label(responses_reason_name(i)));
	strbuf_append(p, "</select>\n");
	note_field(p, "snooze-note", "Note (required when the reason is Other)");
	strbuf_append(p, "<button type=\"submit\">Snooze</button>\n</form>\n");
	if (strcmp(val(res, C_STATE), "snoozed") == 0) {
		if (form_token(job, LINKTOKEN_FORM_UNSNOOZE, tok) < 0)
			return -1;
		form_open(p, "Unsnooze", tok);
		strbuf_append(p, "<p>The decision no longer holds: reminders and escalation start "
			      "again from now.</p>\n<button type=\"submit\">Unsnooze</button>\n"
			      "</form>\n");
	}
	return 0;
}

/* The day from the database, and the token checked again with it. 0, or -1 answered. */
static int check_today(struct web_job *job, PGresult *res, unsigned accept)
{
	struct linktoken_claims again;
	enum linktoken_status st;

	job->today = (int32_t)atol(PQgetvalue(res, 0, C_TODAY));
	st = linktoken_verify(web_link_key(job->srv), job->token, job->today, accept, &again);
	if (st != LINKTOKEN_OK) {
		web_links_error(job, refusal_code(st), linktoken_status_text(st));
		return -1;
	}
	if (!is_true(res, C_FOUND)) {
		web_links_error(job, 404, "driftwatch no longer has the alert this link was for.");
		return -1;
	}
	return 0;
}

/* The Open link is for the child's page (RESPONSES.md, "Links in notices"): the chronology is
 * the people's pages', behind the authority's sign-on, so the link's own page leads there
 * first and still shows the alert and its forms for someone not signed in. */
static void child_page_link(struct strbuf *p, PGresult *res)
{
	strbuf_append(p, "<p class=\"lead\"><a href=\"" LINK_ROOT "child/");
	alert_view_segment(p, val(res, C_CHILD));
	strbuf_append(p, "\">Open the chronology of child ");
	html_escape(p, val(res, C_CHILD));
	strbuf_append(p, "</a>: plans and their episodes, workers, referrals, missed appointments "
		      "and every alert with its answers (for people signed in to driftwatch's "
		      "pages).</p>\n");
}

static void on_page(struct web_job *job, PGresult *res)
{
	struct strbuf p;

	struct strbuf title;

	if (check_today(job, res, LINK_PURPOSES) < 0)
		return;
	/* "Child C-1: CP escalation at 15 months", as the pages head a card */
	strbuf_init(&title);
	strbuf_append(&title, "Child ");
	strbuf_append(&title, val(res, C_CHILD) ? val(res, C_CHILD) : "?");
	strbuf_append(&title, ": ");
	strbuf_append(&title, alert_view_stage_label(val(res, C_RULE), val(res, C_STAGE)) ?
			      alert_view_stage_label(val(res, C_RULE), val(res, C_STAGE)) : "alert");
	page_open(&p, LINK_ROOT, title.failed ? "Alert" : title.buf, NULL);
	strbuf_free(&title);
	if (job->claims.purpose == LINKTOKEN_LINK_OPEN)
		child_page_link(&p, res);
	alert_facts(&p, res);
	/* a forwarded email's link still answers as the person it was sent to */
	strbuf_append(&p, "<p class=\"muted\">This link was sent to ");
	html_escape(&p, job->claims.recipient);
	strbuf_append(&p, ": an answer given through it is recorded as theirs.</p>\n");
	if (strcmp(val(res, C_STATE), "resolved") == 0)
		strbuf_append(&p, "<p>This alert is resolved: there is nothing left to answer."
			      "</p>\n");
	else if (forms(job, &p, res) < 0)
		p.failed = 1;
	page_close(&p);
	send_page(job, 200, &p);
}


static void done_page(struct web_job *job, int code, const char *title, const char *text)
{
	struct strbuf p;

	page_open(&p, LINK_ROOT, title, NULL);
	strbuf_append(&p, "<p>");
	html_escape(&p, text);
	strbuf_append(&p, "</p>\n");
	page_close(&p);
	send_page(job, code, &p);
}

static void show_outcome(struct web_job *job, int code, const char *title, const char *text)
{
	if (code == 404 || code == 503)
		web_links_error(job, code, text);
	else
		done_page(job, code, title, text);
}

/* A form sent again (a double click, the back button, a replay) must change nothing. Jobs run
 * one at a time, so no other answer comes between this check and the recording. */
static const char *already(struct web_job *job, PGresult *res)
{
	struct responses_current cur = {
		.ack_current = is_true(res, C_ACK_CURRENT),
		.ack_by = val(res, C_ACK_BY), .ack_note = val(res, C_ACK_NOTE),
		.snooze_by = val(res, C_SN_BY), .snooze_until = val(res, C_SN_UNTIL),
		.snooze_reason = val(res, C_SN_REASON), .snooze_note = val(res, C_SN_NOTE),
	};

	return responses_already(&cur, job->kind, job->rq.actor, job->note, job->until,
				 job->reason);
}

static void on_form_alert(struct web_job *job, PGresult *res)
{
	const char *again;

	if (check_today(job, res, FORM_PURPOSES) < 0)
		return;
	if (strcmp(val(res, C_STATE), "resolved") == 0) {
		done_page(job, 409, "Nothing to answer", "This alert is resolved: there is nothing "
			  "left to answer. Nothing was recorded.");
		return;
	}
	again = already(job, res);
	if (again) {
		done_page(job, 200, "Already recorded", again);
		return;
	}
	job->rq.today = job->today;
	web_job_answer(job, show_outcome);
}

static void run_lookup(struct web_job *job)
{
	/* the signed link is the recipient's leave to see and answer this one alert */
	const char *params[3] = { job->claims.fingerprint, job->ctx->cfg->timezone, NULL };

	web_job_query(job, sql_web_alert, 3, params, job->respond ? on_form_alert : on_page);
}

static void run_oom(struct web_job *job)
{
	web_job_reply(job, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
}

static char *field(struct evkeyvalq *q, const char *name)
{
	const char *v = evhttp_find_header(q, name);

	return v && *v ? strdup(v) : NULL;
}

static char *lower_dup(const char *s)
{
	char *out = strdup(s ? s : "");

	for (char *p = out; p && *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return out;
}

static enum responses_kind kind_of(enum linktoken_purpose p)
{
	return p == LINKTOKEN_FORM_ACKNOWLEDGE ? RESPONSES_ACKNOWLEDGE :
	       p == LINKTOKEN_FORM_SNOOZE ? RESPONSES_SNOOZE : RESPONSES_UNSNOOZE;
}

/* The form's POST: its token from the body, which must be a form's (a link's is refused) and
 * name the alert and person of the link in the address. */
static void post(struct web_server *srv, struct evhttp_request *req, const char *token)
{
	const struct linktoken_key *key = web_link_key(srv);
	const char *ctype = evhttp_find_header(evhttp_request_get_input_headers(req),
					       "Content-Type");
	struct linktoken_claims link, form;
	enum linktoken_status st;
	struct evkeyvalq q;
	struct web_job *job;
	char *body;

	if (!ctype || strncasecmp(ctype, "application/x-www-form-urlencoded", 33) != 0) {
		refuse_now(req, 415, "This address takes only its own form.");
		return;
	}
	st = linktoken_verify(key, token, ANY_DAY, LINK_PURPOSES, &link);
	if (st != LINKTOKEN_OK) {
		refuse_now(req, refusal_code(st), linktoken_status_text(st));
		return;
	}
	body = web_body(req);
	TAILQ_INIT(&q);
	if (!body || evhttp_parse_query_str(body, &q) < 0) {
		free(body);
		evhttp_clear_headers(&q);
		refuse_now(req, 400, "The form could not be read. Nothing was changed.");
		return;
	}
	free(body);
	st = linktoken_verify(key, evhttp_find_header(&q, "form"), ANY_DAY, FORM_PURPOSES, &form);
	if (st == LINKTOKEN_OK && (strcmp(form.fingerprint, link.fingerprint) != 0 ||
				   strcmp(form.recipient, link.recipient) != 0))
		st = LINKTOKEN_WRONG_PURPOSE;
	if (st != LINKTOKEN_OK) {
		evhttp_clear_headers(&q);
		refuse_now(req, refusal_code(st), linktoken_status_text(st));
		return;
	}
	job = web_job_add(srv, req, 0, run_lookup);
	if (!job) {
		evhttp_clear_headers(&q);
		return;
	}
	job->claims = form;
	job->token = strdup(evhttp_find_header(&q, "form"));
	job->respond = 1;
	job->kind = kind_of(form.purpose);
	job->note = field(&q, "note");
	job->stage = field(&q, "stage");
	if (job->kind == RESPONSES_SNOOZE) {
		job->until = field(&q, "until");
		job->reason = field(&q, "reason");
	}
	evhttp_clear_headers(&q);
	job->rq.kind = job->kind;
	job->rq.fingerprint = job->claims.fingerprint;
	/* in lower case, as the pages and the API record a person: one person, one spelling
	 * (a webhook's link carries the address as the case data spells it; audit 14) */
	job->actor = lower_dup(job->claims.recipient);
	job->rq.actor = job->actor;
	job->rq.via = "link";
	job->rq.note = job->note;
	job->rq.reason = job->reason;
	job->rq.until = job->until;
	job->rq.stage = job->stage;
	if (!job->token || !job->actor)
		job->run = run_oom;
}

void web_links_handle(struct web_server *srv, struct evhttp_request *req, const char *token)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct linktoken_claims claims;
	enum linktoken_status st;
	struct web_job *job;

	if (!web_link_key(srv)) {
		if (web_link_key_broken(srv))
			refuse_now(req, 503, "Links cannot be checked at the moment: nothing was "
				   "changed. Please try again later, or answer on the pages.");
		else
			refuse_now(req, 404, "Links are not turned on here.");
		return;
	}
	if (cmd == EVHTTP_REQ_POST) {
		post(srv, req, token);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD, POST");
		refuse_now(req, 405, "This address answers GET and its form's POST only.");
		return;
	}
	st = linktoken_verify(web_link_key(srv), token, ANY_DAY, LINK_PURPOSES, &claims);
	if (st != LINKTOKEN_OK) {
		refuse_now(req, refusal_code(st), linktoken_status_text(st));
		return;
	}
	job = web_job_add(srv, req, 0, run_lookup);
	if (!job)
		return;
	job->claims = claims;
	job->token = strdup(token);
	if (!job->token)
		job->run = run_oom;
}
