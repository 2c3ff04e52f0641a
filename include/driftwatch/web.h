/* web: the listener on web.listen: answers to links in notices (/r/), the JSON API and the pages
 * for people. */
#ifndef DRIFTWATCH_WEB_H
#define DRIFTWATCH_WEB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "driftwatch/linktoken.h"
#include "driftwatch/responses.h"
#include "driftwatch/visibility.h"

struct dw_ctx;
struct dw_config;
struct evhttp_request;
struct web_server;
struct web_tokens;

/* RESPONSES.md: request bodies are at most 64 KiB; a longer one gets 413. */
#define WEB_MAX_BODY 65536

/* Listens on ctx->cfg->web.listen with its own database connection (never the evaluation's;
 * two when state.conninfo puts the state in a database of its own: one to the state, one to the
 * case data), the link secret (web.link_secret_file) and the API tokens
 * (web.api_tokens_file), each read once here. Without a link secret /r/ answers that links are
 * off; without tokens no bearer token is accepted. 0 and *out, or -1 with err saying why. */
int web_start(struct dw_ctx *ctx, unsigned max_connections, struct web_server **out, char *err,
	      size_t errsz);

/* Stops listening and closes the connection; requests waiting on the database get no answer
 * (their connections are closed). NULL is a no-op. */
void web_stop(struct web_server *srv);

/* ---- for web_links.c and web_api.c: one request's work, in turn ---- */

/* A request whose answer needs the database. Jobs run one at a time, in arrival order, so a
 * response's check of the alert's state and its recording are not interleaved with another's:
 * that is what makes a replayed form change nothing. */
struct web_job;
typedef void (*web_job_cb)(struct web_job *job);
typedef void (*web_result_cb)(struct web_job *job, PGresult *res);
/* why: the server's message, or why the statement could not be sent or got no answer */
typedef void (*web_fail_cb)(struct web_job *job, const char *why);
/* How an entrance shows an answer's outcome (code, title and words of responses_outcome_words):
 * its error page for 404 and 503, its result page otherwise. */
typedef void (*web_outcome_cb)(struct web_job *job, int code, const char *title,
			       const char *text);

struct web_job {
	struct web_server *srv;
	struct dw_ctx *ctx;
	struct evhttp_request *req;
	struct web_job *next;
	web_job_cb run;
	int api;                     /* errors as JSON */
	int page;                    /* errors as a page for people (web_pages_error) */
	web_result_cb on_result;
	web_fail_cb on_error;        /* once, instead of 503, when the next query fails or
				      * cannot be sent */
	int query_not_ascii;         /* the query in flight has a parameter beyond ASCII */
	web_job_cb on_unstorable;    /* instead of 404 when the database cannot hold such a
				      * parameter (a filter: nothing matches it) */
	web_job_cb then;             /* after web_job_visible: what the request asked */
	web_outcome_cb show;         /* web_job_answer's page */
	char *person;                /* the signed-in person's email (lower case), or NULL: a
				      * bearer token */
	struct visibility vis;       /* what the caller may see (web_job_visible) */
	/* what the handlers carry */
	struct linktoken_claims claims;
	const char *token;           /* the link's token text (owned) */
	enum responses_kind kind;
	int respond;                 /* a response to record */
	char fingerprint[ALERT_FINGERPRINT_LEN + 1];
	char *actor, *reason, *note, *until, *status, *rule, *child_id, *team;
	char *stage;                 /* acknowledge: the stage the answer was shown for */
	int32_t today;
	struct responses_request rq;
	void *data;                  /* a page's own, freed with data_free with the job */
	void (*data_free)(void *data);
};

/* A new job for req (held from shedding) that runs run when its turn comes; NULL when out of
 * memory (req answered 500). */
struct web_job *web_job_add(struct web_server *srv, struct evhttp_request *req, int api,
			    web_job_cb run);

/* Runs sql (its @state@ and @case@ replaced by the escaped state and case schemas) with params
 * where what it reads is: a statement naming @case@ on the case data's connection, any other on
 * the state's (the same connection unless state.conninfo is set); one naming both is refused
 * (500), since the two may be different databases. cb gets the result. A failed query, or one
 * that cannot be sent, is answered 503, unless job->on_error is set: then that gets it (once).
 * -1 when it could not be sent and was answered. */
int web_job_query(struct web_job *job, const char *sql, int n, const char *const *params,
		  web_result_cb cb);

/* A run callback: finds what the caller may see (job->vis: everything for a bearer token or a
 * configured address, else web_visible.sql on the case data then web_visible_state.sql on the
 * state for job->person, or only the alerts they were sent when the case data cannot be read),
 * then runs job->then; someone driftwatch does not know gets 403. */
void web_job_visible(struct web_job *job);

/* Who signed in through the authority's single sign-on proxy: 0 and *email (malloc'd, lower
 * case) when a peer in web.trusted_proxies sent web.user_header holding one email address, else
 * -1 with *why saying what is missing, for a 401. */
int web_person(struct web_server *srv, struct evhttp_request *req, char **email,
	       const char **why);

/* Records job->rq through responses_record on the web's connection. */
int web_job_record(struct web_job *job, responses_done_cb cb);

/* Records job->rq (web_job_record), counts an answer that took in /metrics and shows its
 * outcome through show: what the link pages and the pages share. */
int web_job_answer(struct web_job *job, web_outcome_cb show);

/* A run callback for a job that could not be filled for want of memory: answers 500. */
void web_job_oom(struct web_job *job);

/* Answers and ends the job (nothing is sent while stopping). */
void web_job_reply(struct web_job *job, int code, const char *ctype, const char *body,
		   size_t len);
void web_job_error(struct web_job *job, int code, const char *msg);

/* Where /service keeps its figures for everyone between requests (web_service.c owns what is
 * there; the server frees it with web_service_cache_free). */
struct web_service_cache;
struct web_service_cache **web_service_cache_slot(struct web_server *srv);

/* The link key, or NULL when links are off; the API tokens. */
const struct linktoken_key *web_link_key(const struct web_server *srv);
/* web.link_secret_file is set, but could not be read at the start or the last reload. */
int web_link_key_broken(const struct web_server *srv);
/* The key of the pages' anti-forgery tokens (formtoken.h): derived from the link secret, or
 * made at random at start when there is none (forms then last until a restart). */
const struct linktoken_key *web_page_key(const struct web_server *srv);
const struct web_tokens *web_api_tokens(const struct web_server *srv);

/* The request's body as a NUL-terminated string (malloc'd), or NULL (empty, or NUL inside). */
char *web_body(struct evhttp_request *req);

/* Reason phrases. */
const char *web_reason(int code);

#endif
