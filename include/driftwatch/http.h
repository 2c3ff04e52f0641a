/* http: the /healthz and /metrics listener (libevent's evhttp) on the daemon's event base. */
#ifndef DRIFTWATCH_HTTP_H
#define DRIFTWATCH_HTTP_H

#include <stddef.h>

#include "driftwatch/metrics.h"

struct dw_ctx;
struct http_server;
struct strbuf;

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
