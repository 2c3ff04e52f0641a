/* curl_loop: libcurl multi transfers driven by libevent socket and timer events; never blocks. */
#include <stdlib.h>

#include <sys/socket.h>

#include <event2/event.h>

#include "driftwatch/curl_loop.h"
#include "driftwatch/curl_workers.h"

/* One transfer, running (in the multi handle) or queued (waiting for a slot). */
struct curl_loop_xfer {
	CURL *easy;
	curl_loop_done_cb cb;
	void *arg;
	struct curl_loop_xfer *prev;
	struct curl_loop_xfer *next;
};

struct curl_loop_list {
	struct curl_loop_xfer *head;
	struct curl_loop_xfer *tail;
	size_t n;
};

/* One socket libcurl asked us to watch; kept on a list so that sockets libcurl never told us
 * to forget can still be freed with the loop. */
struct curl_loop_sock {
	struct curl_loop *loop;
	curl_socket_t fd;
	struct event *ev;
	short events;         /* what ev waits for */
	struct curl_loop_sock *prev;
	struct curl_loop_sock *next;
};

struct curl_loop {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	unsigned max_transfers;
	struct curl_loop_list running;
	struct curl_loop_list queued;
	struct curl_loop_sock *socks;
	struct curl_workers *workers; /* transfers whose libcurl code blocks; made on first use */
	int closing;          /* curl_loop_free is cancelling transfers: refuse new ones */
};

/* ---- lists ---- */

static void curl_loop_list_push(struct curl_loop_list *l, struct curl_loop_xfer *x)
{
	x->next = NULL;
	x->prev = l->tail;
	if (l->tail)
		l->tail->next = x;
	else
		l->head = x;
	l->tail = x;
	l->n++;
}

static void curl_loop_list_unlink(struct curl_loop_list *l, struct curl_loop_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		l->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		l->tail = x->prev;
	x->prev = x->next = NULL;
	l->n--;
}

/* Gives the handle back to its owner through the callback and forgets the transfer. */
static void curl_loop_finish(struct curl_loop_xfer *x, CURLcode result, long code)
{
	curl_loop_done_cb cb = x->cb;
	CURL *easy = x->easy;
	void *arg = x->arg;

	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(x);
	cb(easy, result, code, arg);
}

/* ---- starting transfers ---- */

static CURLMcode curl_loop_start(struct curl_loop *loop, struct curl_loop_xfer *x)
{
	CURLMcode mc;

	curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
	mc = curl_multi_add_handle(loop->multi, x->easy);
	if (mc != CURLM_OK) {
		curl_easy_setopt(x->easy, CURLOPT_PRIVATE, NULL);
		return mc;
	}
	curl_loop_list_push(&loop->running, x);
	return CURLM_OK;
}

/* Fills free slots from the queue, oldest first. A transfer libcurl refuses now is finished
 * with an error instead of being retried, so a bad handle cannot wedge the queue. */
static void curl_loop_start_queued(struct curl_loop *loop)
{
	while (!loop->closing && loop->queued.head && loop->running.n < loop->max_transfers) {
		struct curl_loop_xfer *x = loop->queued.head;

		curl_loop_list_unlink(&loop->queued, x);
		if (curl_loop_start(loop, x) != CURLM_OK)
			curl_loop_finish(x, CURLE_FAILED_INIT, 0);
	}
}

/* ---- completions ---- */

static void curl_loop_check_done(struct curl_loop *loop)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(loop->multi, &left))) {
		struct curl_loop_xfer *x;
		CURL *easy = msg->easy_handle;
		char *priv = NULL;
		CURLcode result = msg->data.result;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is invalid once the handle is removed: everything is copied out first */
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
		curl_multi_remove_handle(loop->multi, easy);
		x = (struct curl_loop_xfer *)priv;
		if (!x)
			continue;
		curl_loop_list_unlink(&loop->running, x);
		/* the freed slot goes to the oldest queued transfer before the callback can add more */
		curl_loop_start_queued(loop);
		curl_loop_finish(x, result, code);
	}
}

/* ---- libevent side ---- */

static void curl_loop_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct curl_loop *loop = arg;
	int action = 0;
	int running;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(loop->multi, fd, action, &running);
	curl_loop_check_done(loop);
}

static void curl_loop_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct curl_loop *loop = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(loop->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curl_loop_check_done(loop);
}

/* ---- libcurl side ---- */

static void curl_loop_sock_free(struct curl_loop *loop, struct curl_loop_sock *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		loop->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (s->ev)
		event_free(s->ev);
	free(s);
}

static struct curl_loop_sock *curl_loop_sock_new(struct curl_loop *loop, curl_socket_t fd)
{
	struct curl_loop_sock *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (curl_multi_assign(loop->multi, fd, s) != CURLM_OK) {
		free(s);
		return NULL;
	}
	s->loop = loop;
	s->fd = fd;
	s->next = loop->socks;
	if (loop->socks)
		loop->socks->prev = s;
	loop->socks = s;
	return s;
}

/* CURLMOPT_SOCKETFUNCTION: watch fd for what libcurl wants now, or stop watching it. */
static int curl_loop_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
			       void *socketp)
{
	struct curl_loop *loop = userp;
	struct curl_loop_sock *s = socketp;
	short events = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s)
			curl_loop_sock_free(loop, s);
		return 0;
	}
	if (!s) {
		s = curl_loop_sock_new(loop, fd);
		if (!s)
			return -1;
	}
	if (what & CURL_POLL_IN)
		events |= EV_READ;
	if (what & CURL_POLL_OUT)
		events |= EV_WRITE;
	if (s->ev && s->events == events)
		return 0;
	/* freeing an event from inside its own callback is safe in libevent 2.1; the callback
	 * gets the loop, not this struct, so nothing touches the old event afterwards */
	if (s->ev)
		event_free(s->ev);
	s->events = events;
	s->ev = event_new(loop->base, fd, events, curl_loop_on_event, loop);
	if (!s->ev || event_add(s->ev, NULL) < 0)
		return -1;
	return 0;
}

/* CURLMOPT_TIMERFUNCTION: one timer for the whole multi handle; -1 means none is wanted.
 * A zero timeout still goes through the loop, since libcurl must not be re-entered from here. */
static int curl_loop_on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
	struct curl_loop *loop = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(loop->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(loop->timer, &tv) < 0 ? -1 : 0;
}

/* ---- public ---- */

struct curl_loop *curl_loop_new(struct event_base *base, unsigned max_transfers)
{
	struct curl_loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return NULL;
	loop->base = base;
	loop->max_transfers = max_transfers ? max_transfers : 1;
	loop->timer = evtimer_new(base, curl_loop_on_timer, loop);
	loop->multi = curl_multi_init();
	if (!loop->timer || !loop->multi) {
		curl_loop_free(loop);
		return NULL;
	}
	if (curl_multi_setopt(loop->multi, CURLMOPT_SOCKETFUNCTION, curl_loop_on_socket) ||
	    curl_multi_setopt(loop->multi, CURLMOPT_SOCKETDATA, loop) ||
	    curl_multi_setopt(loop->multi, CURLMOPT_TIMERFUNCTION, curl_loop_on_timeout) ||
	    curl_multi_setopt(loop->multi, CURLMOPT_TIMERDATA, loop) ||
	    curl_multi_setopt(loop->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
			      (long)loop->max_transfers) ||
	    /* idle connections kept for reuse are file descriptors too: no more than could run */
	    curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, (long)loop->max_transfers)) {
		curl_loop_free(loop);
		return NULL;
	}
	return loop;
}

/* libcurl 7.88 ends an SMTP upload removed before its end as if it had ended: it sends the
 * message's end and waits for the server's answer, blocking, for up to its response timeout
 * (smtp_done). A mail server that stopped answering held the daemon's stop, and its event
 * loop, for minutes. Shut, the running transfers' sockets end every such wait at once;
 * libcurl still closes them. */
static void curl_loop_sever(struct curl_loop *loop)
{
	for (struct curl_loop_sock *s = loop->socks; s; s = s->next)
		shutdown(s->fd, SHUT_RDWR);
}

void curl_loop_free(struct curl_loop *loop)
{
	struct curl_loop_xfer *x;

	if (!loop)
		return;
	loop->closing = 1;
	curl_workers_free(loop->workers);
	loop->workers = NULL;
	if (loop->running.head)
		curl_loop_sever(loop);
	while ((x = loop->running.head)) {
		curl_loop_list_unlink(&loop->running, x);
		curl_multi_remove_handle(loop->multi, x->easy);
		curl_loop_finish(x, CURL_LOOP_CANCELLED, 0);
	}
	while ((x = loop->queued.head)) {
		curl_loop_list_unlink(&loop->queued, x);
		curl_loop_finish(x, CURL_LOOP_CANCELLED, 0);
	}
	/* cleanup closes cached connections and may still call both callbacks */
	if (loop->multi)
		curl_multi_cleanup(loop->multi);
	while (loop->socks)
		curl_loop_sock_free(loop, loop->socks);
	if (loop->timer)
		event_free(loop->timer);
	free(loop);
}

int curl_loop_add(struct curl_loop *loop, CURL *easy, curl_loop_done_cb cb, void *arg)
{
	struct curl_loop_xfer *x;

	if (loop->closing || !easy || !cb)
		return -1;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -1;
	x->easy = easy;
	x->cb = cb;
	x->arg = arg;
	/* FIFO: a new transfer never overtakes queued ones */
	if (loop->queued.head || loop->running.n >= loop->max_transfers) {
		curl_loop_list_push(&loop->queued, x);
		return 0;
	}
	if (curl_loop_start(loop, x) != CURLM_OK) {
		free(x);
		return -1;
	}
	return 0;
}

int curl_loop_add_blocking(struct curl_loop *loop, CURL *easy, long max_s, curl_loop_done_cb cb,
			   void *arg)
{
	if (loop->closing || !easy || !cb)
		return -1;
	if (!loop->workers &&
	    !(loop->workers = curl_workers_new(loop->base, loop->max_transfers < CURL_LOOP_WORKERS
							   ? loop->max_transfers
							   : CURL_LOOP_WORKERS)))
		return -1;
	return curl_workers_add(loop->workers, easy, max_s, cb, arg);
}

size_t curl_loop_running(const struct curl_loop *loop)
{
	return loop->running.n + (loop->workers ? curl_workers_running(loop->workers) : 0);
}

size_t curl_loop_queued(const struct curl_loop *loop)
{
	return loop->queued.n + (loop->workers ? curl_workers_queued(loop->workers) : 0);
}

size_t curl_loop_max(const struct curl_loop *loop)
{
	return loop->max_transfers;
}
