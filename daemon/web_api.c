/* web_api: the JSON API: alerts and their history, and answering them, for bearer tokens and
 * for people signed in through the authority's sign-on proxy, each seeing what is theirs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/http.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/web.h"
#include "driftwatch/web_api.h"
#include "driftwatch/web_tokens.h"

#define JSON "application/json"
/* web_alert.sql's columns used here */
enum { C_FOUND = 1, C_STATE = 8, C_ACK_CURRENT = 9, C_ACK_BY = 10, C_ACK_NOTE = 12,
       C_SN_UNTIL = 13, C_SN_REASON = 14, C_SN_NOTE = 15, C_SN_BY = 16, C_ALERT = 17,
       C_VISIBLE = 18 };

#define NOT_YOURS "no alert you may see has this fingerprint"

static char *error_json(const char *msg, const char *field)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *s;

	if (o && field)
		json_object_set_new(o, "field", json_string(field));
	s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	return s;
}

static void reply_error(struct evhttp_request *req, int code, const char *msg, const char *field)
{
	char *s = error_json(msg, field);

	if (code == 401)
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
				  "Bearer realm=\"driftwatch\"");
	http_reply(req, code, web_reason(code), JSON, s ? s : "{}", s ? strlen(s) : 2);
	free(s);
}

static void job_error_field(struct web_job *job, int code, const char *msg, const char *field)
{
	char *s = error_json(msg, field);

	web_job_reply(job, code, JSON, s ? s : "{}", s ? strlen(s) : 2);
	free(s);
}

void web_api_error(struct web_job *job, int code, const char *msg)
{
	job_error_field(job, code, msg, NULL);
}

static const char *val(PGresult *res, int col)
{
	return PQgetisnull(res, 0, col) ? NULL : PQgetvalue(res, 0, col);
}

static int same(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") == 0;
}

static int same_actor(const char *a, const char *b)
{
	return a && b && strcasecmp(a, b) == 0;
}

/* ---- answers ---- */

static void reply_alert(struct web_job *job, PGresult *res, int changed)
{
	struct strbuf b;

	strbuf_init(&b);
	if (job->respond)
		strbuf_printf(&b, "{\"changed\": %s, \"alert\": ", changed ? "true" : "false");
	strbuf_append(&b, val(res, C_ALERT));
	strbuf_append(&b, job->respond ? "}\n" : "\n");
	if (b.failed)
		web_api_error(job, 500, "out of memory");
	else
		web_job_reply(job, 200, JSON, b.buf, b.len);
	strbuf_free(&b);
}

/* Found and the caller's to see; else 404. An alert that is not theirs gets the same answer as
 * one that does not exist: a fingerprint is a digest of the rule, the child and the subject,
 * and for rules with no subject anyone could work it out from a child's id, so a 403 told any
 * member of staff whether a child had been "not brought" to appointments. */
static int found_and_visible(struct web_job *job, PGresult *res)
{
	if (PQntuples(res) != 1 || PQgetvalue(res, 0, C_FOUND)[0] != 't' ||
	    PQgetvalue(res, 0, C_VISIBLE)[0] != 't') {
		job_error_field(job, 404, NOT_YOURS, "fingerprint");
		return 0;
	}
	return 1;
}

static void on_alert(struct web_job *job, PGresult *res)
{
	if (found_and_visible(job, res))
		reply_alert(job, res, 0);
}

static void on_after(struct web_job *job, PGresult *res)
{
	reply_alert(job, res, 1);
}

static void on_recorded(const struct responses_result *r, void *arg)
{
	struct web_job *job = arg;
	const char *params[3] = { job->fingerprint, job->ctx->cfg->timezone,
				  visibility_param(&job->vis) };

	switch (r->outcome) {
	case RESPONSES_RECORDED:
		if ((unsigned)job->kind < METRICS_RESPONSE_KINDS)
			job->ctx->metrics.responses_total[job->kind]++;
		web_job_query(job, sql_web_alert, 3, params, on_after);
		return;
	case RESPONSES_INVALID:
		job_error_field(job, 400, r->error, r->field);
		return;
	case RESPONSES_NOT_FOUND:
		job_error_field(job, 404, r->error, "fingerprint");
		return;
	case RESPONSES_RESOLVED:
		web_api_error(job, 409, r->error);
		return;
	case RESPONSES_MOVED:
		job_error_field(job, 409, r->error, "stage");
		return;
	default:
		web_api_error(job, 503, "the database did not answer; nothing was changed");
	}
}

/* The same answer from the same caller already in force changes nothing (a retried request). */
static int already(struct web_job *job, PGresult *res)
{
	switch (job->kind) {
	case RESPONSES_ACKNOWLEDGE:
		return PQgetvalue(res, 0, C_ACK_CURRENT)[0] == 't' &&
		       same_actor(val(res, C_ACK_BY), job->actor) &&
		       same(val(res, C_ACK_NOTE), job->note);
	case RESPONSES_SNOOZE:
		return same_actor(val(res, C_SN_BY), job->actor) &&
		       same(val(res, C_SN_UNTIL), job->until) &&
		       same(val(res, C_SN_REASON), job->reason) &&
		       same(val(res, C_SN_NOTE), job->note);
	default:
		return val(res, C_SN_UNTIL) == NULL;
	}
}

static void on_respond_alert(struct web_job *job, PGresult *res)
{
	/* one may answer only what one may see (RESPONSES.md, "Who is who") */
	if (!found_and_visible(job, res))
		return;
	if (strcmp(val(res, C_STATE), "resolved") == 0) {
		web_api_error(job, 409, "the alert is resolved: there is nothing left to answer");
		return;
	}
	if (already(job, res)) {
		reply_alert(job, res, 0);
		return;
	}
	job->rq.today = (int32_t)atol(PQgetvalue(res, 0, 0));
	web_job_record(job, on_recorded);
}

static void run_alert(struct web_job *job)
{
	const char *params[3] = { job->fingerprint, job->ctx->cfg->timezone,
				  visibility_param(&job->vis) };

	web_job_query(job, sql_web_alert, 3, params, job->respond ? on_respond_alert : on_alert);
}

static void on_list(struct web_job *job, PGresult *res)
{
	const char *s = PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "{\"alerts\": []}";

	web_job_reply(job, 200, JSON, s, strlen(s));
}

/* A filter naming what the database cannot hold ("Ł" in a WIN1252 one) matches nothing, as a
 * name no alert has does. */
static void on_list_unstorable(struct web_job *job)
{
	static const char none[] = "{\"alerts\": []}";

	web_job_reply(job, 200, JSON, none, sizeof(none) - 1);
}

static void run_list(struct web_job *job)
{
	const char *params[6] = { job->ctx->cfg->timezone, job->status, job->rule, job->child_id,
				  job->team, visibility_param(&job->vis) };

	job->on_unstorable = on_list_unstorable;
	web_job_query(job, sql_web_alerts, 6, params, on_list);
}

/* ---- requests ---- */

/* Who is asking: a bearer token's name in *token, or a person's email in *person (malloc'd);
 * -1 answered 401. A request with an Authorization header is a token's, whatever else it
 * carries: a wrong token is not retried as a person. */
static int caller(struct web_server *srv, struct evhttp_request *req, const char **token,
		  char **person)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	const char *why;

	*token = NULL;
	*person = NULL;
	if (!h) {
		if (web_person(srv, req, person, &why) == 0)
			return 0;
		reply_error(req, 401, why, NULL);
		return -1;
	}
	if (strncasecmp(h, "Bearer ", 7) == 0) {
		h += 7;
		while (*h == ' ')
			h++;
		*token = web_tokens_match(web_api_tokens(srv), h, strlen(h));
	}
	if (!*token) {
		reply_error(req, 401, "a valid bearer token is required (Authorization: Bearer "
			    "TOKEN)", NULL);
		return -1;
	}
	return 0;
}

/* A job that first finds what the caller may see (web_job_visible), then runs then. It owns
 * *person from here on. */
static struct web_job *caller_job(struct web_server *srv, struct evhttp_request *req,
				  char **person, web_job_cb then)
{
	struct web_job *job = web_job_add(srv, req, 1, web_job_visible);

	if (job) {
		job->then = then;
		job->person = *person;
	} else {
		free(*person);
	}
	*person = NULL;
	return job;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

static void list(struct web_server *srv, struct evhttp_request *req, char **person)
{
	const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	static const char *const states[] = { "open", "acknowledged", "snoozed", "resolved" };
	struct evkeyvalq q;
	struct evkeyval *kv;
	struct web_job *job;
	int ok = 0;

	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) < 0) {
		reply_error(req, 400, "the query string could not be read", "query");
		return;
	}
	TAILQ_FOREACH(kv, &q, next) {
		if (strcmp(kv->key, "status") && strcmp(kv->key, "rule") &&
		    strcmp(kv->key, "team") && strcmp(kv->key, "child_id")) {
			reply_error(req, 400, "unknown filter (status, rule, team, child_id)", kv->key);
			evhttp_clear_headers(&q);
			return;
		}
	}
	if (evhttp_find_header(&q, "status")) {
		for (size_t i = 0; i < 4; i++)
			ok |= strcmp(evhttp_find_header(&q, "status"), states[i]) == 0;
		if (!ok) {
			reply_error(req, 400, "status: one of open, acknowledged, snoozed, resolved",
				    "status");
			evhttp_clear_headers(&q);
			return;
		}
	}
	job = caller_job(srv, req, person, run_list);
	if (job) {
		job->status = dup_or_null(evhttp_find_header(&q, "status"));
		job->rule = dup_or_null(evhttp_find_header(&q, "rule"));
		job->child_id = dup_or_null(evhttp_find_header(&q, "child_id"));
		job->team = dup_or_null(evhttp_find_header(&q, "team"));
	}
	evhttp_clear_headers(&q);
}

/* The body's fields, each a string (or null, or absent); any other field is refused. 0, or -1
 * answered. */
static int body_fields(struct evhttp_request *req, struct web_job *job)
{
	static const char *const allowed[3][3] = {
		/* stage, beyond RESPONSES.md: the stage the caller saw, so that an answer to one
		 * stage is never recorded for the next (409 when it has moved on) */
		[RESPONSES_ACKNOWLEDGE] = { "note", "stage" },
		[RESPONSES_SNOOZE] = { "until", "reason", "note" },
		[RESPONSES_UNSNOOZE] = { NULL },
	};
	char *body = web_body(req);
	json_t *o, *v;
	const char *k;
	json_error_t je;

	if (!body) {
		reply_error(req, 400, "body: not text", "body");
		return -1;
	}
	if (strspn(body, " \t\r\n") == strlen(body)) {
		free(body);
		return 0;
	}
	/* a key given twice is refused, not read as its last value (audit 14) */
	o = json_loads(body, JSON_REJECT_DUPLICATES, &je);
	free(body);
	if (!json_is_object(o)) {
		char msg[200];

		snprintf(msg, sizeof(msg), "body: not a JSON object%s%.150s%s", o ? "" : " (",
			 o ? "" : je.text, o ? "" : ")");
		json_decref(o);
		reply_error(req, 400, msg, "body");
		return -1;
	}
	json_object_foreach(o, k, v) {
		int known = 0;
		char msg[160];

		for (size_t i = 0; i < 3; i++)
			known |= allowed[job->kind][i] && strcmp(allowed[job->kind][i], k) == 0;
		if (!known || !(json_is_string(v) || json_is_null(v))) {
			snprintf(msg, sizeof(msg), "%.60s: %s", k, known ? "must be a string" :
				 "not a field of this request");
			reply_error(req, 400, msg, k);
			json_decref(o);
			return -1;
		}
	}
	job->note = dup_or_null(json_string_value(json_object_get(o, "note")));
	job->until = dup_or_null(json_string_value(json_object_get(o, "until")));
	job->reason = dup_or_null(json_string_value(json_object_get(o, "reason")));
	job->stage = dup_or_null(json_string_value(json_object_get(o, "stage")));
	json_decref(o);
	return 0;
}

/* Recorded as the person's email, or as api:NAME for a token; through the API either way. */
static void respond(struct web_server *srv, struct evhttp_request *req, const char *fp,
		    const char *token, char **person, const char *verb)
{
	struct web_job tmp = { 0 };
	struct web_job *job;
	char actor[WEB_TOKEN_NAME_MAX + 5];

	tmp.kind = strcmp(verb, "acknowledge") == 0 ? RESPONSES_ACKNOWLEDGE :
		   strcmp(verb, "snooze") == 0 ? RESPONSES_SNOOZE : RESPONSES_UNSNOOZE;
	if (body_fields(req, &tmp) < 0)
		return;
	job = caller_job(srv, req, person, run_alert);
	if (!job) {
		free(tmp.note);
		free(tmp.until);
		free(tmp.reason);
		free(tmp.stage);
		return;
	}
	snprintf(actor, sizeof(actor), "api:%s", token ? token : "");
	snprintf(job->fingerprint, sizeof(job->fingerprint), "%s", fp);
	job->respond = 1;
	job->kind = tmp.kind;
	job->note = tmp.note;
	job->until = tmp.until;
	job->reason = tmp.reason;
	job->stage = tmp.stage;
	job->actor = strdup(job->person ? job->person : actor);
	job->rq.kind = job->kind;
	job->rq.fingerprint = job->fingerprint;
	job->rq.actor = job->actor;
	job->rq.via = "api";
	job->rq.note = job->note;
	job->rq.reason = job->reason;
	job->rq.until = job->until;
	job->rq.stage = job->stage;
}

/* RFC 9110: a 405 says which methods the resource takes (the pages' 405 did, the API's not). */
static void refuse_method(struct evhttp_request *req, const char *allow)
{
	char msg[32];

	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	snprintf(msg, sizeof(msg), "%s only", allow);
	reply_error(req, 405, msg, NULL);
}

/* The request's endpoint for a caller known to be someone; *person is taken by a job. */
static void route(struct web_server *srv, struct evhttp_request *req, const char *path,
		  const char *token, char **person)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const char *rest, *slash;
	char fp[ALERT_FINGERPRINT_LEN + 1];
	struct web_job *job;

	if (strcmp(path, "alerts") == 0) {
		if (cmd != EVHTTP_REQ_GET)
			refuse_method(req, "GET");
		else
			list(srv, req, person);
		return;
	}
	if (strncmp(path, "alerts/", 7) != 0) {
		reply_error(req, 404, "no such endpoint", NULL);
		return;
	}
	rest = path + 7;
	slash = strchr(rest, '/');
	if (alert_fingerprint_parse(rest, slash ? (size_t)(slash - rest) : strlen(rest), fp) < 0) {
		reply_error(req, 404, NOT_YOURS, "fingerprint");
		return;
	}
	if (!slash) {
		if (cmd != EVHTTP_REQ_GET) {
			refuse_method(req, "GET");
			return;
		}
		job = caller_job(srv, req, person, run_alert);
		if (job)
			snprintf(job->fingerprint, sizeof(job->fingerprint), "%s", fp);
		return;
	}
	if (strcmp(slash + 1, "acknowledge") && strcmp(slash + 1, "snooze") &&
	    strcmp(slash + 1, "unsnooze")) {
		reply_error(req, 404, "no such endpoint", NULL);
		return;
	}
	if (cmd != EVHTTP_REQ_POST) {
		refuse_method(req, "POST");
		return;
	}
	respond(srv, req, fp, token, person, slash + 1);
}

void web_api_handle(struct web_server *srv, struct evhttp_request *req, const char *path)
{
	const char *token;
	char *person;

	if (caller(srv, req, &token, &person) < 0)
		return;
	route(srv, req, path, token, &person);
	free(person);
}
