/* http: serves /healthz and /metrics with evhttp on the daemon's loop; nothing else, no bodies. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/util.h>

#include "driftwatch/ctx.h"
#include "driftwatch/errmsg.h"
#include "driftwatch/http.h"
#include "driftwatch/log.h"
#include "driftwatch/metrics_text.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

#define HTTP_BACKLOG 64
#define HTTP_TEXT "text/plain; charset=utf-8"
#define HTTP_ALLOW "GET, HEAD"
/* The type evhttp 2.1 gives a method it does not know (EVHTTP_REQ_UNKNOWN_ in its
 * http-internal.h). Allowing it lets "FOO /metrics" reach http_handle for a 405, where evhttp
 * alone would answer 501. */
#define HTTP_REQ_UNKNOWN (1 << 15)
#define HTTP_ALL_METHODS                                                                     \
	(EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |               \
	 EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |    \
	 EVHTTP_REQ_PATCH | HTTP_REQ_UNKNOWN)

/* An address can resolve to a few (IPv4 and IPv6): more are not bound. */
#define HTTP_MAX_LISTENERS 8
/* How long accepting pauses when the process is out of file descriptors. */
#define HTTP_PAUSE_S 1

struct http_server;

/* One open connection, from its accept to its close; the list is kept least recently active
 * first, which is the one closed when the cap is reached. */
struct http_conn {
	struct http_server *srv;
	struct bufferevent *bev;          /* made by http_new_bev for evhttp */
	struct evhttp_connection *evcon;  /* NULL until http_on_attach found it */
	unsigned held;                    /* requests answered later (http_hold): not shed */
	struct http_conn *prev;
	struct http_conn *next;
};

struct http_server {
	struct dw_ctx *ctx;
	const char *name;       /* for the log: "http", "web" */
	http_handler_cb handler;
	void *handler_arg;
	struct evhttp *evh;     /* owns the listeners and every open connection */
	struct evconnlistener *listeners[HTTP_MAX_LISTENERS];  /* evhttp's to free */
	size_t n_listeners;
	unsigned max_conns;
	size_t n_conns;
	struct http_conn *oldest;
	struct http_conn *newest;
	size_t unattached;      /* connections http_on_attach has yet to see */
	int held;               /* accepting stopped until http_on_attach has seen them */
	unsigned long accepted; /* since the last tick */
	unsigned accept_streak; /* ticks in a row that saw connections accepted */
	struct event *ev_attach;
	struct event *ev_tick;  /* each second: listeners paused for lack of descriptors resume */
};

enum http_route { HTTP_ROUTE_NONE, HTTP_ROUTE_HEALTHZ, HTTP_ROUTE_METRICS };

static const char *const http_route_names[] = { "other", "/healthz", "/metrics" };

/* ---- health ---- */

/* "what: why\n" with only why's first line, control characters blanked: a PostgreSQL error's
 * DETAIL line can quote the failing row, which may be about a child. */
static void http_reason(struct strbuf *out, const char *what, const char *why, size_t whysz)
{
	size_t n = strnlen(why, whysz);
	const char *nl = memchr(why, '\n', n);

	if (nl)
		n = (size_t)(nl - why);
	strbuf_append(out, what);
	if (n > 0)
		strbuf_append(out, ": ");
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)why[i];

		strbuf_appendn(out, c < 0x20 || c == 0x7f ? " " : why + i, 1);
	}
	strbuf_append(out, "\n");
}

int http_health(const struct dw_metrics *m, struct strbuf *reason)
{
	int healthy = 1;

	if (!m->db_up) {
		http_reason(reason, "database unreachable", m->db_error, sizeof(m->db_error));
		healthy = 0;
	}
	/* A standby evaluates nothing until the leader stops: its evaluations are no measure of it
	 * (one that never led answered 503 "no evaluation yet" for ever, while one that once led
	 * answered 200, and a monitor would have restarted a good standby). */
	if (m->standby && !m->leading)
		return healthy;
	if (m->evaluations_total == 0) {
		strbuf_append(reason, "no evaluation yet\n");
		healthy = 0;
	} else if (!m->last_eval_ok) {
		http_reason(reason, "last evaluation failed", m->last_eval_error,
			    sizeof(m->last_eval_error));
		healthy = 0;
	}
	return healthy;
}

/* Whom the evaluation's and the recording's sessions wait for, once asked (service_blockers.c):
 * a reload's lock is named before the statement's lock timeout cancels it. */
static void http_blocked_eval(struct strbuf *reason, const struct dw_metrics *m)
{
	const char *eval = metrics_blocked_text(m, METRICS_BLOCKED_EVAL);
	const char *record = metrics_blocked_text(m, METRICS_BLOCKED_RECORD);

	if (!*eval && !*record) {
		strbuf_append(reason, "waiting on a lock?\n");
		return;
	}
	if (*eval)
		strbuf_printf(reason, "the evaluation is %s%s", eval, *record ? "; " : "");
	if (*record)
		strbuf_printf(reason, "the recording is %s", record);
	strbuf_append(reason, "\n");
}

int http_degraded(const struct dw_metrics *m, struct strbuf *reason)
{
	size_t n_rules = rule_registry_count();
	int degraded = 0;
	char what[96];
	time_t running = m->eval_running_since ? time(NULL) - m->eval_running_since : 0;
	time_t waiting = m->deliver_waiting_since ? time(NULL) - m->deliver_waiting_since : 0;

	/* A lock on a relation or on the state can hold an evaluation until query_timeout_seconds
	 * cancels it: long before that, whoever watches should know nothing is being recorded. */
	if (m->stall_s > 0 && running > m->stall_s) {
		strbuf_printf(reason, "evaluation and recording running for %lld s without "
			      "finishing (health.stall_seconds %d): ", (long long)running, m->stall_s);
		http_blocked_eval(reason, m);
		degraded = 1;
	}
	if (m->stall_s > 0 && waiting > m->stall_s) {
		const char *deliver = metrics_blocked_text(m, METRICS_BLOCKED_DELIVER);

		strbuf_printf(reason, "delivery waiting %lld s for the database to answer a statement "
			      "on the outbox (health.stall_seconds %d): %s%s\n", (long long)waiting,
			      m->stall_s, *deliver ? "its connection is " : "waiting on a lock?",
			      deliver);
		degraded = 1;
	}

	if (m->web_problem[0]) {
		strbuf_printf(reason, "the pages: %s\n", m->web_problem);
		degraded = 1;
	}
	for (size_t i = 0; i < n_rules && i < RULE_REGISTRY_MAX; i++) {
		if (!m->rule_failing[i])
			continue;
		snprintf(what, sizeof(what), "rule %s failing", rule_registry_get(i)->name);
		http_reason(reason, what, m->rule_error[i], sizeof(m->rule_error[i]));
		degraded = 1;
	}
	return degraded;
}

/* ---- requests ---- */

int http_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
		     const char *body, size_t len)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char n[24];

	/* The length is set here, not left to evhttp: it leaves it out for some methods, and a
	 * client on a kept-alive connection then cannot tell where the reply ends. evhttp 2.1
	 * would also send a HEAD reply's body, so HEAD gets the length without the body. */
	snprintf(n, sizeof(n), "%zu", len);
	/* a handler that set them for every answer of its own (web.c) is not repeated */
	if (evhttp_add_header(h, "Content-Type", ctype) < 0 ||
	    evhttp_add_header(h, "Content-Length", n) < 0 ||
	    (!evhttp_find_header(h, "Cache-Control") &&
	     evhttp_add_header(h, "Cache-Control", "no-store") < 0) ||
	    (!evhttp_find_header(h, "X-Content-Type-Options") &&
	     evhttp_add_header(h, "X-Content-Type-Options", "nosniff") < 0) ||
	    (evhttp_request_get_command(req) != EVHTTP_REQ_HEAD &&
	     evbuffer_add(evhttp_request_get_output_buffer(req), body, len) < 0)) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return HTTP_INTERNAL;
	}
	evhttp_send_reply(req, code, reason, NULL);
	return code;
}

static int http_text(struct evhttp_request *req, int code, const char *reason, const char *body)
{
	return http_reply(req, code, reason, HTTP_TEXT, body, strlen(body));
}

static int http_out_of_memory(struct evhttp_request *req)
{
	return http_text(req, HTTP_INTERNAL, "Internal Server Error", "out of memory\n");
}

static enum http_route http_route_of(const char *path)
{
	if (strcmp(path, "/healthz") == 0)
		return HTTP_ROUTE_HEALTHZ;
	if (strcmp(path, "/metrics") == 0)
		return HTTP_ROUTE_METRICS;
	return HTTP_ROUTE_NONE;
}

/* evhttp reads no body for GET or HEAD, so one announced anyway would be parsed as the next
 * request on the connection: such a request is refused and the connection closed. */
static int http_has_body(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *len = evhttp_find_header(h, "Content-Length");

	if (evbuffer_get_length(evhttp_request_get_input_buffer(req)) > 0)
		return 1;
	if (evhttp_find_header(h, "Transfer-Encoding"))
		return 1;
	return len && strcmp(len, "0") != 0;
}

static int http_healthz(struct http_server *srv, struct evhttp_request *req)
{
	struct strbuf reason;
	int code;

	strbuf_init(&reason);
	if (http_health(&srv->ctx->metrics, &reason)) {
		/* Degraded is not down: the other rules still alert, so a supervisor restarting the
		 * service would gain nothing; the body says what is failing and why. */
		strbuf_append(&reason, "degraded\n");
		if (srv->ctx->metrics.standby && !srv->ctx->metrics.leading)
			code = http_text(req, HTTP_OK, "OK", "ok: standby: another instance holds "
					 "the leader lock and evaluates; this one delivers, and takes "
					 "over if it stops\n");
		else if (!http_degraded(&srv->ctx->metrics, &reason))
			code = http_text(req, HTTP_OK, "OK", "ok\n");
		else if (reason.failed)
			code = http_out_of_memory(req);
		else
			code = http_reply(req, HTTP_OK, "OK", HTTP_TEXT, reason.buf, reason.len);
	} else {
		/* down, and why in detail: every rule failing is each rule's own reason */
		http_degraded(&srv->ctx->metrics, &reason);
		code = reason.failed ? http_out_of_memory(req) :
		       http_reply(req, HTTP_SERVUNAVAIL, "Service Unavailable", HTTP_TEXT,
				  reason.buf, reason.len);
	}
	strbuf_free(&reason);
	return code;
}

static int http_metrics(struct http_server *srv, struct evhttp_request *req)
{
	struct strbuf text;
	int code;

	strbuf_init(&text);
	metrics_text_render(&srv->ctx->metrics, &text);
	if (text.failed)
		code = http_out_of_memory(req);
	else
		code = http_reply(req, HTTP_OK, "OK", METRICS_TEXT_CONTENT_TYPE, text.buf, text.len);
	strbuf_free(&text);
	return code;
}

static int http_dispatch(struct http_server *srv, struct evhttp_request *req,
			 enum evhttp_cmd_type cmd, const char *path, enum http_route route)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);

	if (!path)
		return http_text(req, HTTP_BADREQUEST, "Bad Request", "bad request\n");
	if (http_has_body(req)) {
		evhttp_add_header(out, "Connection", "close");
		return http_text(req, HTTP_ENTITYTOOLARGE, "Payload Too Large", "request bodies are not accepted\n");
	}
	/* Before the path: a CONNECT or OPTIONS target is not a path at all. */
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", HTTP_ALLOW);
		return http_text(req, HTTP_BADMETHOD, "Method Not Allowed",
				 "only GET and HEAD are allowed\n");
	}
	if (route == HTTP_ROUTE_NONE)
		return http_text(req, HTTP_NOTFOUND, "Not Found", "not found\n");
	if (route == HTTP_ROUTE_HEALTHZ)
		return http_healthz(srv, req);
	return http_metrics(srv, req);
}

static void http_touch(struct http_server *srv, struct evhttp_connection *evcon);

/* evhttp's one callback: the connection that asks is not idle (the cap closes others first),
 * then the server's own handler. */
static void http_on_request(struct evhttp_request *req, void *arg)
{
	struct http_server *srv = arg;

	http_touch(srv, evhttp_request_get_connection(req));
	srv->handler(srv, req, srv->handler_arg);
}

static void http_handle(struct http_server *srv, struct evhttp_request *req, void *arg)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
	enum http_route route = path ? http_route_of(path) : HTTP_ROUTE_NONE;
	int code;

	(void)arg;
	/* req may be gone once replied to, so everything logged is read first. The path itself
	 * is not logged: it is whatever a client sent. */
	code = http_dispatch(srv, req, cmd, path, route);
	log_debug(srv->ctx, "http: %s %s: %d",
		  cmd == EVHTTP_REQ_GET ? "GET" : cmd == EVHTTP_REQ_HEAD ? "HEAD" : "other method",
		  http_route_names[route], code);
}


/* ---- connections: at most max_conns, the one idle longest closed first ---- */

static void http_conn_append(struct http_server *srv, struct http_conn *c)
{
	c->next = NULL;
	c->prev = srv->newest;
	if (srv->newest)
		srv->newest->next = c;
	else
		srv->oldest = c;
	srv->newest = c;
	srv->n_conns++;
}

static void http_conn_unlink(struct http_server *srv, struct http_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->oldest = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		srv->newest = c->prev;
	c->prev = c->next = NULL;
	srv->n_conns--;
}

/* libevent accepts in a loop until the backlog is empty, and a connection cannot be shed before
 * http_on_attach has seen it: a flood of 8,000 connections held 5,400 descriptors for a moment,
 * against a cap of 256. Disabling the listeners ends that loop; http_on_attach enables them
 * again once it has shed down to the cap. */
static void http_hold_accepting(struct http_server *srv)
{
	srv->held = 1;
	for (size_t i = 0; i < srv->n_listeners; i++)
		evconnlistener_disable(srv->listeners[i]);
}

/* Connections answered later (http_hold) cannot be shed: accepting waits for one to close. */
static void http_resume_accepting(struct http_server *srv)
{
	if (!srv->held || srv->n_conns > srv->max_conns)
		return;
	srv->held = 0;
	for (size_t i = 0; i < srv->n_listeners; i++)
		evconnlistener_enable(srv->listeners[i]);
}

/* evhttp closes a connection (the client hung up, the idle timeout, http_shed, http_stop). */
static void http_on_close(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn *c = arg;

	(void)evcon;
	http_conn_unlink(c->srv, c);
	http_resume_accepting(c->srv);
	free(c);
}

/* Closes the connection idle longest, through evhttp as its idle timeout would. Returns 0 when
 * there is none it may close yet (all of them just accepted). */
static int http_shed(struct http_server *srv)
{
	for (struct http_conn *c = srv->oldest; c; c = c->next) {
		if (!c->evcon || c->held)
			continue;
		log_debug(srv->ctx, "%s: %zu connections open, %u allowed: closing the one idle "
			  "longest", srv->name, srv->n_conns, srv->max_conns);
		evhttp_connection_free(c->evcon); /* http_on_close frees c */
		return 1;
	}
	return 0;
}

static struct http_conn *http_conn_of(struct http_server *srv, struct evhttp_connection *evcon)
{
	for (struct http_conn *c = srv->newest; c && evcon; c = c->prev)
		if (c->evcon == evcon)
			return c;
	return NULL;
}

/* evhttp frees a connection's requests with it, so one whose answer waits on the database must
 * not be shed. A request whose connection evhttp closed itself (the client hung up, the timeout)
 * has no connection any more: evhttp keeps it for the reply, which then frees it. */
void http_hold(struct http_server *srv, struct evhttp_request *req)
{
	struct http_conn *c = http_conn_of(srv, evhttp_request_get_connection(req));

	if (c)
		c->held++;
}

void http_release(struct http_server *srv, struct evhttp_request *req)
{
	struct http_conn *c = http_conn_of(srv, evhttp_request_get_connection(req));

	if (c && c->held)
		c->held--;
}

static void http_touch(struct http_server *srv, struct evhttp_connection *evcon)
{
	for (struct http_conn *c = srv->newest; c && evcon; c = c->prev) {
		if (c->evcon != evcon)
			continue;
		http_conn_unlink(srv, c);
		http_conn_append(srv, c);
		return;
	}
}

/* evhttp asks for each accepted connection's bufferevent here (evhttp_set_bevcb): the one hook
 * libevent 2.1 gives into its accepting. The connection is tracked from now, and the one idle
 * longest closed when there are too many. A reference held until http_on_attach keeps the
 * bufferevent (and its descriptor) ours to inspect even if evhttp gives up on it at once. */
static struct bufferevent *http_new_bev(struct event_base *base, void *arg)
{
	struct http_server *srv = arg;
	struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	struct http_conn *c;

	srv->accepted++;
	if (!bev)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return bev; /* untracked: the idle timeout still closes it */
	c->srv = srv;
	c->bev = bev;
	bufferevent_incref(bev);
	http_conn_append(srv, c);
	srv->unattached++;
	event_active(srv->ev_attach, EV_TIMEOUT, 0);
	while (srv->n_conns > srv->max_conns && http_shed(srv))
		;
	if (srv->n_conns > srv->max_conns)
		http_hold_accepting(srv);
	return bev;
}

/* Once evhttp has set the new connections up: each one's evhttp_connection is the argument
 * evhttp gives its bufferevent's callbacks (libevent 2.1 and 2.2 alike), so its close can be
 * heard. One whose callbacks are gone was freed by evhttp already: ours was the last reference. */
static void http_attach(struct http_server *srv, struct http_conn *c)
{
	bufferevent_data_cb rcb, wcb;
	bufferevent_event_cb ecb;
	void *cbarg = NULL;

	srv->unattached--;
	bufferevent_getcb(c->bev, &rcb, &wcb, &ecb, &cbarg);
	if (!ecb || !cbarg) {
		http_conn_unlink(srv, c);
		bufferevent_decref(c->bev);
		free(c);
		return;
	}
	c->evcon = cbarg;
	evhttp_connection_set_closecb(c->evcon, http_on_close, c);
	bufferevent_decref(c->bev);
}

static void http_on_attach(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;
	struct http_conn *c, *next;

	(void)fd;
	(void)what;
	for (c = srv->oldest; c && srv->unattached; c = next) {
		next = c->next;
		if (!c->evcon)
			http_attach(srv, c);
	}
	while (srv->n_conns > srv->max_conns && http_shed(srv))
		;
	http_resume_accepting(srv);
}

/* ---- running out of descriptors ---- */

/* libevent retries an accept that failed for want of a descriptor at once, for ever (it logged
 * "Error from accept() call" three million times in eight seconds): the listener pauses instead,
 * and the tick below resumes it. The error callback gets evhttp's argument, not ours
 * (evhttp_bind_listener sets the listener's callback and argument), so the one thing it
 * remembers is which callback is set: the first failure logs, the ones after it only pause,
 * until connections have been accepted for two ticks in a row (one burst accepted just before
 * the failure does not end it). */
static void http_on_accept_error_again(struct evconnlistener *lev, void *arg)
{
	(void)arg;
	evconnlistener_disable(lev);
}

static void http_on_accept_error(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)arg;
	evconnlistener_disable(lev);
	evconnlistener_set_error_cb(lev, http_on_accept_error_again);
	log_write(LOG_PRIO_ERR, LOG_PRIO_ERR, "http: cannot accept connections: %s; not "
		  "accepting for %d s at a time until it can again (logged once until then)",
		  evutil_socket_error_to_string(err), HTTP_PAUSE_S);
}

static void http_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct http_server *srv = arg;

	(void)fd;
	(void)what;
	srv->accept_streak = srv->accepted ? srv->accept_streak + 1 : 0;
	for (size_t i = 0; i < srv->n_listeners; i++) {
		if (srv->accept_streak >= 2)
			evconnlistener_set_error_cb(srv->listeners[i], http_on_accept_error);
		evconnlistener_enable(srv->listeners[i]);
	}
	srv->accepted = 0;
}

/* ---- listening ---- */

static int http_fail(char *err, size_t errsz, const char *listen, const char *why)
{
	return errmsg_set(err, errsz, "cannot listen on \"%s\": %s", listen, why);
}

int http_listen_split(const char *listen, char *host, size_t hostsz, char *port, size_t portsz,
		      char *err, size_t errsz)
{
	const char *h = listen, *end, *p;
	long v;

	if (listen[0] == '[') {
		end = strchr(listen, ']');
		if (!end || end[1] != ':' || end == listen + 1)
			return http_fail(err, errsz, listen, "expected \"[IPv6 address]:PORT\"");
		h = listen + 1;
		p = end + 2;
	} else {
		end = strrchr(listen, ':');
		if (!end)
			return http_fail(err, errsz, listen, "expected \"HOST:PORT\"");
		if (memchr(listen, ':', (size_t)(end - listen)))
			return http_fail(err, errsz, listen,
					 "an IPv6 address needs brackets: \"[ADDRESS]:PORT\"");
		p = end + 1;
	}
	if ((size_t)(end - h) >= hostsz)
		return http_fail(err, errsz, listen, "the host is too long");
	if (*p == '\0' || strlen(p) > 5 || strspn(p, "0123456789") != strlen(p))
		return http_fail(err, errsz, listen, "the port must be a number from 1 to 65535");
	v = strtol(p, NULL, 10);
	if (v < 1 || v > 65535)
		return http_fail(err, errsz, listen, "the port must be a number from 1 to 65535");
	memcpy(host, h, (size_t)(end - h));
	host[end - h] = '\0';
	snprintf(port, portsz, "%ld", v);
	return 0;
}

static int http_socket_setup(evutil_socket_t fd, const struct addrinfo *ai)
{
	int one = 1;

	if (evutil_make_socket_closeonexec(fd) < 0 || evutil_make_socket_nonblocking(fd) < 0 ||
	    evutil_make_listen_socket_reuseable(fd) < 0)
		return -1;
	/* A v6 socket must not also claim the v4 port, so ":PORT" can bind both families. */
	if (ai->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)
		return -1;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, HTTP_BACKLOG) < 0)
		return -1;
	return 0;
}

/* A listening socket on one address, or -1 with errno set. */
static evutil_socket_t http_socket(const struct addrinfo *ai)
{
	evutil_socket_t fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
	int saved;

	if (fd < 0)
		return -1;
	if (http_socket_setup(fd, ai) == 0)
		return fd;
	saved = errno;
	evutil_closesocket(fd);
	errno = saved;
	return -1;
}

/* A listener of our own on fd, handed to evhttp, so that its accept errors are ours to handle.
 * The fd is closed on failure, and with the listener (by evhttp_free) otherwise. */
static int http_listen_on(struct http_server *srv, evutil_socket_t fd)
{
	struct evconnlistener *lev = NULL;

	if (srv->n_listeners < HTTP_MAX_LISTENERS)
		lev = evconnlistener_new(srv->ctx->base, NULL, NULL,
					 LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!lev) {
		evutil_closesocket(fd);
		return -1;
	}
	if (!evhttp_bind_listener(srv->evh, lev)) {
		evconnlistener_free(lev);
		return -1;
	}
	evconnlistener_set_error_cb(lev, http_on_accept_error);
	srv->listeners[srv->n_listeners++] = lev;
	return 0;
}

/* Returns 1 when bound, 0 when the machine lacks this address (skipped), -1 on a fault. */
static int http_bind_one(struct http_server *srv, const char *listen, const char *host,
			 const struct addrinfo *ai, char *err, size_t errsz)
{
	char addr[INET6_ADDRSTRLEN + 1], why[256];
	evutil_socket_t fd;
	int e;

	if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0,
			NI_NUMERICHOST) != 0)
		snprintf(addr, sizeof(addr), "?");
	fd = http_socket(ai);
	if (fd < 0) {
		e = errno;
		if (strcmp(addr, host) == 0)
			snprintf(why, sizeof(why), "%s", strerror(e));
		else
			snprintf(why, sizeof(why), "address %s: %s", addr, strerror(e));
		http_fail(err, errsz, listen, why);
		/* "localhost" on a machine without IPv6 still listens on 127.0.0.1. */
		if (e == EADDRNOTAVAIL || e == EAFNOSUPPORT) {
			log_warn(srv->ctx, "%s: %s; skipped", srv->name, err);
			return 0;
		}
		return -1;
	}
	if (http_listen_on(srv, fd) < 0) {
		snprintf(why, sizeof(why), "address %s: evhttp cannot accept on it", addr);
		return http_fail(err, errsz, listen, why);
	}
	log_info(srv->ctx, "%s: listening on %s (address %s)", srv->name, listen, addr);
	return 1;
}

/* A host name is resolved here, blocking, once at start: the loop is not serving yet. */
static int http_bind(struct http_server *srv, const char *listen, char *err, size_t errsz)
{
	char host[256], port[8];
	struct addrinfo hints, *res;
	int rc, bound = 0;

	if (http_listen_split(listen, host, sizeof(host), port, sizeof(port), err, errsz) < 0)
		return -1;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV | (listen[0] == '[' ? AI_NUMERICHOST : 0);
	rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (rc != 0)
		return http_fail(err, errsz, listen, gai_strerror(rc));
	for (const struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		rc = http_bind_one(srv, listen, host, ai, err, errsz);
		if (rc < 0) {
			freeaddrinfo(res);
			return -1;
		}
		bound += rc;
	}
	freeaddrinfo(res);
	/* err holds the last skipped address's reason */
	return bound > 0 ? 0 : -1;
}

/* How much of a request's body evhttp reads: none where the handler takes no body, else the
 * handler's limit or HTTP_BODY_READ_CAP, whichever is more. */
static size_t http_body_read_cap(size_t max_body)
{
	if (max_body == 0)
		return 0;
	return max_body > HTTP_BODY_READ_CAP ? max_body : HTTP_BODY_READ_CAP;
}

int http_serve(struct dw_ctx *ctx, const char *listen, unsigned max_connections,
	       const struct http_serve_opts *opts, struct http_server **out, char *err,
	       size_t errsz)
{
	struct http_server *srv;
	struct timeval tick = { HTTP_PAUSE_S, 0 };

	*out = NULL;
	if (!listen || !*listen) {
		snprintf(err, errsz, "no listen address");
		return -1;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return http_fail(err, errsz, listen, "out of memory");
	srv->ctx = ctx;
	srv->name = opts->name;
	srv->handler = opts->handler;
	srv->handler_arg = opts->arg;
	srv->max_conns = max_connections ? max_connections : 1;
	srv->evh = evhttp_new(ctx->base);
	srv->ev_attach = event_new(ctx->base, -1, 0, http_on_attach, srv);
	srv->ev_tick = event_new(ctx->base, -1, EV_PERSIST, http_on_tick, srv);
	if (!srv->evh || !srv->ev_attach || !srv->ev_tick || evtimer_add(srv->ev_tick, &tick) < 0) {
		http_stop(srv);
		return http_fail(err, errsz, listen, "evhttp_new failed");
	}
	evhttp_set_bevcb(srv->evh, http_new_bev, srv);
	evhttp_set_max_headers_size(srv->evh, HTTP_MAX_HEADERS_SIZE);
	/* evhttp answers a body past its cap with an HTML page of its own, before any handler
	 * sees the request: a handler that takes bodies has them read up to HTTP_BODY_READ_CAP
	 * (at most that much memory a connection), so that it answers one over its limit itself */
	evhttp_set_max_body_size(srv->evh, (ev_ssize_t)http_body_read_cap(opts->max_body));
	evhttp_set_timeout(srv->evh, HTTP_TIMEOUT_S);
	/* Every method reaches http_handle, which answers 405 with an Allow header; left alone,
	 * evhttp would answer 501 without one. */
	evhttp_set_allowed_methods(srv->evh, HTTP_ALL_METHODS);
	evhttp_set_gencb(srv->evh, http_on_request, srv);
	if (http_bind(srv, listen, err, errsz) < 0) {
		http_stop(srv);
		return -1;
	}
	*out = srv;
	return 0;
}

int http_start(struct dw_ctx *ctx, const char *listen, unsigned max_connections,
	       struct http_server **out, char *err, size_t errsz)
{
	struct http_serve_opts opts = { "http", 0, http_handle, NULL };

	return http_serve(ctx, listen, max_connections, &opts, out, err, errsz);
}

void http_stop(struct http_server *srv)
{
	struct http_conn *c;

	if (!srv)
		return;
	if (srv->ev_tick)
		event_free(srv->ev_tick);
	if (srv->ev_attach)
		event_free(srv->ev_attach);
	/* evhttp frees the listeners before the connections, whose closing must not enable them */
	srv->n_listeners = 0;
	/* every connection it closes tells http_on_close, which frees its record */
	if (srv->evh)
		evhttp_free(srv->evh);
	/* the ones not attached yet: our reference is the last */
	while ((c = srv->oldest) != NULL) {
		http_conn_unlink(srv, c);
		bufferevent_decref(c->bev);
		free(c);
	}
	free(srv);
}
