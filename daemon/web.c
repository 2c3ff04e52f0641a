/* web: the web.listen listener: its database connections, its secrets, its requests in turn. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "driftwatch/case_columns.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/http.h"
#include "driftwatch/log.h"
#include "driftwatch/schedule.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/web.h"
#include "driftwatch/web_pages.h"
#include "driftwatch/web_api.h"
#include "driftwatch/web_links.h"
#include "driftwatch/web_tokens.h"
#include "driftwatch/visibility.h"

/* After the database connection is lost or refused, connecting again waits 1 s, doubling to
 * 30 s, as the daemon's own connections do. */
#define WEB_RECONNECT_S 1
#define WEB_RECONNECT_MAX_S 30

/* The state's connection, and the case data's when state.conninfo puts the state in a
 * database of its own (the case database may then be a read-only hot standby). */
enum web_side { WEB_STATE, WEB_CASE, WEB_SIDES };

struct web_conn {
	struct web_server *srv;
	struct db_conn *db;
	struct event *ev_reconnect;
	const char *name;        /* for the log: "state", "case" */
	const char *key;         /* its configuration key */
	int delay_s;             /* the last wait before reconnecting (0: none yet) */
	int failures;            /* attempts failed since it was last up: only the first is logged
				  * at warning (an outage is one line, not 720 an hour) */
	int settled;             /* the first attempt to connect has ended, either way */
};

struct web_server {
	struct dw_ctx *ctx;
	struct http_server *http;
	struct web_conn conns[WEB_SIDES];
	int n_conns;             /* 1: the case data and the state share one database */
	struct linktoken_key key;
	int have_key;
	int key_broken;          /* web.link_secret_file is set but could not be read */
	struct linktoken_key page_key;
	struct web_tokens *tokens;
	struct web_job *head, *tail;
	int running;             /* head is running */
	int stopping;
	struct web_service_cache *svc_cache;  /* /service's figures for everyone (web_service.c) */
};

const char *web_reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 503: return "Service Unavailable";
	default: return "Internal Server Error";
	}
}

struct web_service_cache **web_service_cache_slot(struct web_server *srv)
{
	return &srv->svc_cache;
}

int web_link_key_broken(const struct web_server *srv)
{
	return srv->key_broken;
}

const struct linktoken_key *web_link_key(const struct web_server *srv)
{
	return srv->have_key ? &srv->key : NULL;
}

const struct linktoken_key *web_page_key(const struct web_server *srv)
{
	return &srv->page_key;
}

const struct web_tokens *web_api_tokens(const struct web_server *srv)
{
	return srv->tokens;
}

char *web_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	char *s = malloc(n + 1);

	if (!s)
		return NULL;
	if (n > 0 && evbuffer_copyout(in, s, n) != (ev_ssize_t)n) {
		free(s);
		return NULL;
	}
	s[n] = '\0';
	if (strlen(s) != n) {
		free(s);
		return NULL;
	}
	return s;
}

/* ---- the database connections ---- */

static void web_connect(struct web_conn *wc);

static void web_on_reconnect(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	web_connect(arg);
}

static void web_retry_later(struct web_conn *wc)
{
	struct timeval tv = { 0, 0 };

	wc->delay_s = schedule_backoff(wc->delay_s, WEB_RECONNECT_S, WEB_RECONNECT_MAX_S);
	tv.tv_sec = wc->delay_s;
	if (!wc->srv->stopping)
		evtimer_add(wc->ev_reconnect, &tv);
}

static void web_failed(struct web_conn *wc, const char *how, const char *why)
{
	int prio = wc->failures++ == 0 ? LOG_PRIO_WARNING : LOG_PRIO_DEBUG;

	log_write(wc->srv->ctx->log_level, prio, "web: %s the %s database (%s): %s; trying again "
		  "with backoff (up to %d s)%s", how, wc->name, wc->key, why, WEB_RECONNECT_MAX_S,
		  prio == LOG_PRIO_WARNING ? "" : " (still)");
	web_retry_later(wc);
}

static void web_job_next(struct web_server *srv);

static void web_on_connected(struct db_conn *conn, int ok, void *arg)
{
	struct web_conn *wc = arg;

	wc->settled = 1;
	if (ok) {
		log_info(wc->srv->ctx, "web: connected to the %s database (%s)%s", wc->name, wc->key,
			 wc->failures ? " again" : "");
		wc->failures = 0;
		wc->delay_s = 0;
	} else {
		web_failed(wc, "cannot connect to", db_error(conn));
	}
	web_job_next(wc->srv);
}

static void web_on_lost(struct db_conn *conn, void *arg)
{
	web_failed(arg, "lost the connection to", db_error(conn));
}

static void web_connect(struct web_conn *wc)
{
	if (db_connect(wc->db, web_on_connected, wc) < 0) {
		wc->settled = 1;
		web_failed(wc, "cannot connect to", db_error(wc->db));
		web_job_next(wc->srv);
	}
}

/* A statement runs where what it reads is: one naming the case schema on the case data's
 * connection, any other on the state's. None names both (the two may be different databases):
 * such a statement is a bug, refused here rather than failing only where they differ. */
static struct web_conn *web_conn_for(struct web_server *srv, const char *sql)
{
	int reads_case = strstr(sql, "@case@") != NULL;

	if (reads_case && strstr(sql, "@state@")) {
		log_err(srv->ctx, "web: a statement reads the case data and the state together (a "
			"bug: please report it)");
		return NULL;
	}
	return &srv->conns[reads_case && srv->n_conns > 1 ? WEB_CASE : WEB_STATE];
}

/* ---- jobs, one at a time ---- */

static void web_job_free(struct web_job *job)
{
	free((char *)job->token);
	free(job->actor);
	free(job->reason);
	free(job->note);
	free(job->until);
	free(job->stage);
	free(job->status);
	free(job->rule);
	free(job->child_id);
	free(job->team);
	free(job->person);
	visibility_clear(&job->vis);
	if (job->data_free)
		job->data_free(job->data);
	free(job);
}

/* The web server is made anew at every SIGHUP, and with it its connections. A request that
 * came in while the first attempt was under way was answered "not reachable" though nothing
 * was wrong (CI, test_web_secrets): requests wait for that attempt, which the connect timeout
 * bounds. Later outages answer at once. */
static int web_conns_settled(const struct web_server *srv)
{
	for (int i = 0; i < srv->n_conns; i++)
		if (!srv->conns[i].settled)
			return 0;
	return 1;
}

static void web_job_next(struct web_server *srv)
{
	if (!web_conns_settled(srv))
		return;
	while (!srv->running && srv->head && !srv->stopping) {
		srv->running = 1;
		srv->head->run(srv->head);
	}
}

struct web_job *web_job_add(struct web_server *srv, struct evhttp_request *req, int api,
			    web_job_cb run)
{
	struct web_job *job = calloc(1, sizeof(*job));

	if (!job) {
		http_reply(req, 500, web_reason(500), "text/plain; charset=utf-8",
			   "out of memory\n", 14);
		return NULL;
	}
	job->srv = srv;
	job->ctx = srv->ctx;
	job->req = req;
	job->api = api;
	job->run = run;
	http_hold(srv->http, req);
	if (srv->tail)
		srv->tail->next = job;
	else
		srv->head = job;
	srv->tail = job;
	return job;
}

/* Called by the handlers once a job is added and filled: starts it if it is first. */
static void web_job_kick(struct web_server *srv)
{
	web_job_next(srv);
}

void web_job_reply(struct web_job *job, int code, const char *ctype, const char *body,
		   size_t len)
{
	struct web_server *srv = job->srv;

	if (!srv->stopping) {
		http_release(srv->http, job->req);
		http_reply(job->req, code, web_reason(code), ctype, body, len);
	}
	if (srv->head == job) {
		srv->head = job->next;
		if (!srv->head)
			srv->tail = NULL;
		srv->running = 0;
	}
	web_job_free(job);
	web_job_next(srv);
}

void web_job_oom(struct web_job *job)
{
	web_job_reply(job, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
}

void web_job_error(struct web_job *job, int code, const char *msg)
{
	if (job->api)
		web_api_error(job, code, msg);
	else if (job->page)
		web_pages_error(job, code, msg);
	else
		web_links_error(job, code, msg);
}

/* The statement failed or got no answer: the job's fallback has it when it has one. */
static void web_job_failed(struct web_job *job, const char *why)
{
	web_fail_cb fail = job->on_error;

	job->on_error = NULL;
	if (fail) {
		fail(job, why);
		return;
	}
	/* the server's words stay in the log: a DETAIL line may quote a row */
	log_err(job->ctx, "web: a query failed: %s", why);
	web_job_error(job, 503, "The database did not answer. Nothing was changed; please try "
		      "again in a few minutes.");
}

/* A database in an encoding other than UTF-8 (WIN1252) cannot hold every character a request
 * may name ("/child/Ł", a signed-in "łukasz@..."): the server refuses the parameter, and
 * nothing there can have that name. Said as that (404), not as "the database did not answer".
 * The pages' own output is sent with such characters as '?' (@shown@), so a refusal on a query
 * with a parameter beyond ASCII is taken as the parameter's; a filter (job->on_unstorable)
 * matches nothing instead. 1 when answered. */
static int web_unstorable(struct web_job *job, PGresult *res)
{
	const char *why = db_untranslatable(res);
	char msg[384];

	if (!job->query_not_ascii || !why)
		return 0;
	job->on_error = NULL;
	if (job->on_unstorable) {
		job->on_unstorable(job);
		return 1;
	}
	snprintf(msg, sizeof(msg), "Nothing here has that name: driftwatch's database cannot "
		 "hold a character of what was asked for (%s).", why);
	web_job_error(job, 404, msg);
	return 1;
}

static void web_on_result(struct db_conn *conn, PGresult *res, void *arg)
{
	struct web_job *job = arg;

	if (job->srv->stopping) {
		web_job_reply(job, 503, NULL, NULL, 0);
		return;
	}
	if (!res || (PQresultStatus(res) != PGRES_TUPLES_OK &&
		     PQresultStatus(res) != PGRES_COMMAND_OK)) {
		if (web_unstorable(job, res))
			return;
		web_job_failed(job, res ? PQresultErrorMessage(res) : db_error(conn));
		return;
	}
	job->on_error = NULL;
	job->on_result(job, res);
}

int web_job_query(struct web_job *job, const char *sql, int n, const char *const *params,
		  web_result_cb cb)
{
	struct web_conn *wc = web_conn_for(job->srv, sql);
	char *ident = NULL, *text = NULL, *cident = NULL, *full = NULL;
	int rc = -1;

	if (!wc) {
		job->on_error = NULL;
		web_job_error(job, 500, "The page could not be made (a bug: please report it).");
		return -1;
	}
	if (db_is_up(wc->db)) {
		ident = db_escape_identifier(wc->db, job->ctx->cfg->state_schema);
		cident = db_escape_identifier(wc->db, job->ctx->cfg->case_schema);
		text = ident ? strbuf_subst(sql, "@state@", ident) : NULL;
		/* a column withheld by a grant reads as NULL, as in the rules (case_columns.h) */
		full = text && cident ? case_columns_sql(text, cident, job->ctx->case_withheld)
				      : NULL;
		job->on_result = cb;
		job->query_not_ascii = 0;
		for (int i = 0; i < n; i++)
			for (const unsigned char *c = (const unsigned char *)params[i]; c && *c; c++)
				job->query_not_ascii |= *c >= 0x80;
		rc = full ? db_query(wc->db, full, n, params, web_on_result, job) : -1;
	}
	free(ident);
	free(cident);
	free(text);
	free(full);
	if (rc == 0)
		return 0;
	if (job->on_error) {
		/* the case database (a standby) may be down while the state's is not */
		char why[320];

		snprintf(why, sizeof(why), "%s", "out of memory");
		if (!db_is_up(wc->db))
			snprintf(why, sizeof(why), "not connected to the %s database (%s): %s",
				 wc->name, wc->key, db_error(wc->db));
		web_job_failed(job, why);
		return 0;
	}
	web_job_error(job, 503, "The database is not reachable just now. Nothing was changed; "
		      "please try again in a few minutes.");
	return -1;
}

int web_job_record(struct web_job *job, responses_done_cb cb)
{
	struct responses_result refused;
	int rc = responses_record(job->ctx, job->srv->conns[WEB_STATE].db, &job->rq, &refused, cb,
				  job);

	if (rc == 1)
		cb(&refused, job);
	else if (rc < 0)
		web_job_error(job, 503, "The database is not reachable just now. Nothing was "
			      "changed; please try again in a few minutes.");
	return rc;
}

static void web_job_on_answered(const struct responses_result *r, void *arg)
{
	struct web_job *job = arg;
	const char *title;
	char text[1024];
	int code = responses_outcome_words(r, job->kind, job->until, job->reason, &title, text,
					   sizeof(text));

	if (code == 200 && (unsigned)job->kind < METRICS_RESPONSE_KINDS)
		job->ctx->metrics.responses_total[job->kind]++;
	job->show(job, code, title, text);
}

int web_job_answer(struct web_job *job, web_outcome_cb show)
{
	job->show = show;
	return web_job_record(job, web_job_on_answered);
}

/* ---- who is asking, and what they may see ---- */

/* How many times the request carries header name (any case). */
static int web_header_count(struct evhttp_request *req, const char *name)
{
	const struct evkeyvalq *hs = evhttp_request_get_input_headers(req);
	const struct evkeyval *kv;
	int n = 0;

	TAILQ_FOREACH(kv, hs, next)
		n += strcasecmp(kv->key, name) == 0;
	return n;
}

int web_person(struct web_server *srv, struct evhttp_request *req, char **email,
	       const char **why)
{
	const struct config_web *w = &srv->ctx->cfg->web;
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), w->user_header);
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	const struct sockaddr *peer = evcon ? evhttp_connection_get_addr(evcon) : NULL;

	*email = NULL;
	if (!h) {
		*why = "sign in through the authority's single sign-on, or send a bearer token "
		       "(Authorization: Bearer TOKEN)";
		return -1;
	}
	/* anyone can send the header: only the sign-on proxy's word counts */
	if (!visibility_trusted_peer(srv->ctx->cfg, peer)) {
		*why = "the sign-on header is believed only from the authority's sign-on proxy "
		       "(web.trusted_proxies)";
		return -1;
	}
	/* a proxy that adds its header rather than replacing the browser's would let the browser
	 * choose who it is, were the first copy believed */
	if (web_header_count(req, w->user_header) > 1) {
		*why = "the sign-on header is sent more than once: the sign-on proxy must replace "
		       "any the browser sent";
		return -1;
	}
	if (!(*email = visibility_person(h))) {
		*why = "the sign-on header does not hold one email address";
		return -1;
	}
	return 0;
}

static void web_on_visible(struct web_job *job, PGresult *res)
{
	if (visibility_read(res, &job->vis) < 0) {
		web_job_error(job, 500, "what you may see could not be worked out");
		return;
	}
	if (!job->vis.known) {
		web_job_error(job, 403, "driftwatch does not know you: only the workers, managers "
			      "and chairs in the case data, the people sent its notices and the "
			      "configured addresses see alerts");
		return;
	}
	job->then(job);
}

/* The case data could not be read (a relation missing, a permission, a timeout, its database
 * down): the person still sees what they were sent, rather than nothing. */
static void web_on_visible_failed(struct web_job *job, const char *why)
{
	const char *params[VISIBILITY_STATE_PARAMS];

	log_warn(job->ctx, "web: the case data could not be read to find which alerts a person "
		 "may see (%s); they see only the alerts they were sent", why);
	visibility_state_params(job->person, NULL, params);
	web_job_query(job, visibility_sql_state(), VISIBILITY_STATE_PARAMS, params,
		      web_on_visible);
}

/* Who the case data says they are, then their alerts in the state. */
static void web_on_visible_case(struct web_job *job, PGresult *res)
{
	const char *params[VISIBILITY_STATE_PARAMS];
	struct visibility_case c = { 0 };

	if (visibility_case_read(res, &c) < 0) {
		web_job_error(job, 500, "what you may see could not be worked out");
		return;
	}
	visibility_state_params(job->person, &c, params);
	web_job_query(job, visibility_sql_state(), VISIBILITY_STATE_PARAMS, params,
		      web_on_visible);
	visibility_case_clear(&c);
}

void web_job_visible(struct web_job *job)
{
	const char *params[2] = { job->person, job->ctx->cfg->timezone };

	if (!job->person || visibility_sees_all(job->ctx->cfg, job->person)) {
		job->vis.all = true;
		job->vis.known = true;
		job->then(job);
		return;
	}
	job->on_error = web_on_visible_failed;
	web_job_query(job, visibility_sql_case(), 2, params, web_on_visible_case);
}

/* ---- requests ---- */

static void web_handle(struct http_server *http, struct evhttp_request *req, void *arg)
{
	struct web_server *srv = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;

	(void)http;
	/* Every answer here is about children and the people working with them: no cache between
	 * the daemon and the reader (the authority's proxy, a shared browser profile) may keep it. */
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_add_header(evhttp_request_get_output_headers(req), "X-Content-Type-Options",
			  "nosniff");
	/* evhttp reads bodies up to HTTP_BODY_READ_CAP (1 MiB, http.h): over the limit, the answer
	 * is RESPONSES.md's JSON; only a body past that cap gets evhttp's HTML page */
	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > WEB_MAX_BODY) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
		http_reply(req, 413, web_reason(413), "application/json",
			   "{\"error\": \"the request body is over 64 KiB\"}\n", 45);
		return;
	}
	if (!path) {
		http_reply(req, 400, web_reason(400), "text/plain; charset=utf-8",
			   "bad request\n", 12);
		return;
	}
	if (strncmp(path, "/r/", 3) == 0)
		web_links_handle(srv, req, path + 3);
	else if (strncmp(path, "/api/v1/", 8) == 0)
		web_api_handle(srv, req, path + 8);
	else
		web_pages_handle(srv, req, path);
	web_job_kick(srv);
}

/* ---- start and stop ---- */

/* The pages' forms are signed with a key of their own derived from the link secret (so that a
 * form's signature is never a link's), which every instance sharing the secret shares; without
 * a link secret, a random key, and a form shown before a restart is refused after it. */
static int web_page_key_init(struct web_server *srv, char *err, size_t errsz)
{
	static const char label[] = "driftwatch page form key";
	unsigned char k[32];
	unsigned int n = 0;
	char why[256];
	int rc;

	if (srv->have_key)
		rc = HMAC(EVP_sha256(), srv->key.secret, (int)srv->key.len,
			  (const unsigned char *)label, sizeof(label) - 1, k, &n) && n == sizeof(k) ?
		     0 : -1;
	else
		rc = RAND_bytes(k, sizeof(k)) == 1 ? 0 : -1;
	if (rc == 0)
		rc = linktoken_key_init(&srv->page_key, k, sizeof(k), why, sizeof(why));
	OPENSSL_cleanse(k, sizeof(k));
	if (rc < 0)
		return snprintf(err, errsz, "web: the pages' form key could not be made "
				"(libcrypto)"), -1;
	return 0;
}

/* Logged, and kept for /healthz (the first problem; the log has them all). */
static void web_problem(struct web_server *srv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void web_problem(struct web_server *srv, const char *fmt, ...)
{
	char msg[sizeof(srv->ctx->metrics.web_problem)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err(srv->ctx, "web: %s", msg);
	if (!srv->ctx->metrics.web_problem[0])
		snprintf(srv->ctx->metrics.web_problem, sizeof(srv->ctx->metrics.web_problem), "%s",
			 msg);
}

static int web_secrets(struct web_server *srv, char *err, size_t errsz)
{
	const struct config_web *w = &srv->ctx->cfg->web;
	char why[512];

	/* A secret that cannot be read costs the links or the API, not the pages or the rest of
	 * the daemon: at a start it stopped the whole service (exit 2, never restarted), and at a
	 * reload it took every page down while /healthz said "ok". */
	if (w->link_secret_file) {
		if (linktoken_key_load(&srv->key, w->link_secret_file, why, sizeof(why)) < 0) {
			srv->key_broken = 1;
			web_problem(srv, "web.link_secret_file: %s: the links in notices answer that "
				    "they cannot be checked until it is fixed (SIGHUP)", why);
		} else {
			srv->have_key = 1;
		}
	} else {
		log_notice(srv->ctx, "web: no web.link_secret_file: /r/ links answer that links "
			   "are off, and the pages' forms last until a restart");
	}
	if (w->api_tokens_file) {
		if (web_tokens_load(w->api_tokens_file, &srv->tokens, why, sizeof(why)) < 0)
			web_problem(srv, "web.api_tokens_file: %s: every API client is refused (401) "
				    "until it is fixed (SIGHUP)", why);
		else
			log_info(srv->ctx, "web: %zu API tokens", web_tokens_count(srv->tokens));
	} else {
		log_notice(srv->ctx, "web: no web.api_tokens_file: no bearer token is accepted");
	}
	if (!w->trusted_proxies)
		log_notice(srv->ctx, "web: no web.trusted_proxies: nobody's %s is believed, so "
			   "people cannot sign in", w->user_header);
	return web_page_key_init(srv, err, errsz);
}

/* The state's connection, and the case data's when the state is in a database of its own
 * (state.conninfo); otherwise one connection reads both. Never the evaluation's connections. */
static int web_conns_new(struct web_server *srv)
{
	const struct dw_config *cfg = srv->ctx->cfg;

	srv->n_conns = cfg->state_conninfo ? WEB_SIDES : 1;
	for (int i = 0; i < srv->n_conns; i++) {
		struct web_conn *wc = &srv->conns[i];
		int state = i == WEB_STATE;

		wc->srv = srv;
		wc->name = state ? "state" : "case";
		wc->key = state && cfg->state_conninfo ? "state.conninfo" : "database.conninfo";
		wc->db = db_conn_new(srv->ctx->base, state ? config_state_conninfo(cfg)
							   : cfg->conninfo, srv->ctx->log_level);
		wc->ev_reconnect = evtimer_new(srv->ctx->base, web_on_reconnect, wc);
		if (!wc->db || !wc->ev_reconnect)
			return -1;
		db_set_lost_cb(wc->db, web_on_lost, wc);
		db_set_query_timeout(wc->db, cfg->query_timeout_s);
	}
	return 0;
}

int web_start(struct dw_ctx *ctx, unsigned max_connections, struct web_server **out, char *err,
	      size_t errsz)
{
	struct web_server *srv = calloc(1, sizeof(*srv));
	struct http_serve_opts opts = { "web", WEB_MAX_BODY, web_handle, NULL };

	*out = NULL;
	if (!srv)
		return snprintf(err, errsz, "out of memory"), -1;
	srv->ctx = ctx;
	opts.arg = srv;
	if (web_secrets(srv, err, errsz) < 0) {
		web_stop(srv);
		return -1;
	}
	if (web_conns_new(srv) < 0) {
		web_stop(srv);
		return snprintf(err, errsz, "out of memory"), -1;
	}
	if (http_serve(ctx, ctx->cfg->web.listen, max_connections, &opts, &srv->http, err,
		       errsz) < 0) {
		web_stop(srv);
		return -1;
	}
	for (int i = 0; i < srv->n_conns; i++)
		web_connect(&srv->conns[i]);
	*out = srv;
	return 0;
}

/* The connection goes first: every query waiting on it is told (and answers nothing, since
 * stopping), then the jobs not started, then evhttp frees their requests with the listener. */
void web_stop(struct web_server *srv)
{
	struct web_job *job;

	if (!srv)
		return;
	srv->stopping = 1;
	for (int i = 0; i < WEB_SIDES; i++) {
		if (srv->conns[i].ev_reconnect)
			event_free(srv->conns[i].ev_reconnect);
		if (srv->conns[i].db)
			db_conn_free(srv->conns[i].db);
	}
	while ((job = srv->head) != NULL) {
		srv->head = job->next;
		web_job_free(job);
	}
	http_stop(srv->http);
	web_tokens_free(srv->tokens);
	web_service_cache_free(srv->svc_cache);
	linktoken_key_clear(&srv->key);
	linktoken_key_clear(&srv->page_key);
	free(srv);
}
