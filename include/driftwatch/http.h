/* http: the /healthz and /metrics listener (libevent's evhttp) on the daemon's event base. */
#ifndef DRIFTWATCH_HTTP_H
#define DRIFTWATCH_HTTP_H

#include <stddef.h>

#include "driftwatch/metrics.h"

struct dw_ctx;
struct evhttp_request;
struct http_server;
struct strbuf;

/* A server's handler: answers req now (http_reply) or later (http_hold first). */
typedef void (*http_handler_cb)(struct http_server *srv, struct evhttp_request *req, void *arg);

/* A body over a handler's limit is still read, up to this, so that the handler refuses it in
 * its own way (the API's JSON 413): 1 MiB is nginx's default client_max_body_size, so whatever
 * a proxy left at its defaults lets through gets the handler's answer. Past it evhttp answers
 * 413 with an HTML page of its own (libevent 2.1 has no hook for it). */
#define HTTP_BODY_READ_CAP (1024 * 1024)

struct http_serve_opts {
	const char *name;        /* the log's prefix ("web"); a literal: it is not copied */
	size_t max_body;         /* request bodies up to this: the handler refuses a longer one
				  * (read up to HTTP_BODY_READ_CAP; 0: every body is
				  * evhttp's 413) */
	http_handler_cb handler;
	void *arg;
};

/* Splits "HOST:PORT", "[IPv6]:PORT" or ":PORT" into host ("" = every address) and port (its
 * digits). Returns 0, or -1 with err saying what is wrong with listen. */
int http_listen_split(const char *listen, char *host, size_t hostsz, char *port, size_t portsz,
		      char *err, size_t errsz);

/* A connection that sends or accepts nothing for this long is closed. */
#define HTTP_TIMEOUT_S 10
/* Request line and headers together; more gets a 4xx. Request bodies are refused. */
#define HTTP_MAX_HEADERS_SIZE 8192

/* Listens on listen ("HOST:PORT", "[IPv6]:PORT", or ":PORT" for every address) and serves
 * GET and HEAD of /healthz and /metrics from ctx->metrics, read at each request, on ctx->base.
 * HOST may be a name; each of its addresses is bound (one the machine lacks is skipped with a
 * warning). At most max_connections are open at once (fdbudget sizes it): past that the one
 * idle longest is closed, so a flood of idle connections cannot keep a health check out nor
 * take the descriptors the database and the deliveries need. When the process runs out of
 * descriptors anyway, accepting pauses a second at a time, logged once, instead of spinning.
 * Returns 0 and *out, or -1 with err naming the address and why (bad syntax, port in use, no
 * such host). ctx must outlive the server. The process must ignore SIGPIPE: libevent writes
 * with writev(2), so a client hanging up mid-reply would otherwise end the daemon. */
int http_start(struct dw_ctx *ctx, const char *listen, unsigned max_connections,
	       struct http_server **out, char *err, size_t errsz);

/* http_start's listener and connection handling (the cap, shedding, pausing without
 * descriptors) with another handler: the web listener's (web.h). */
int http_serve(struct dw_ctx *ctx, const char *listen, unsigned max_connections,
	       const struct http_serve_opts *opts, struct http_server **out, char *err,
	       size_t errsz);

/* Sends one reply with Content-Type ctype, Content-Length, Cache-Control: no-store and
 * X-Content-Type-Options: nosniff (no body for HEAD); returns code, for the log line. */
int http_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
	       const char *body, size_t len);

/* A request answered later (after the database): its connection is not shed by the cap until
 * http_release, which comes just before the reply. */
void http_hold(struct http_server *srv, struct evhttp_request *req);
void http_release(struct http_server *srv, struct evhttp_request *req);

/* Closes the listener and every open connection; NULL is a no-op. */
void http_stop(struct http_server *srv);

/* Whether m says the daemon is healthy: the latest evaluation succeeded and the database is
 * reachable. When not, appends the reasons to reason, one line each ending in '\n' (first lines
 * of the stored errors only: a server's DETAIL line may quote row data). Returns 1 or 0. */
int http_health(const struct dw_metrics *m, struct strbuf *reason);

/* Whether a healthy daemon is degraded: some rules fail while the others alert. Appends one
 * line per failing rule ("rule NAME failing: why") to reason. Returns 1 or 0. */
int http_degraded(const struct dw_metrics *m, struct strbuf *reason);

#endif
