/* curl_workers: blocking libcurl transfers (SMTP) on worker threads, their results back on the loop. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "driftwatch/curl_workers.h"

#define CURL_WORKERS_MAX 16
/* sockets a transfer may hold at once (happy eyeballs tries two families) */
#define CURL_WORKERS_SOCKS (CURL_WORKERS_MAX * 4)
#define CURL_WORKERS_WAIT_S 5

struct curl_workers_job {
	struct curl_workers *w;
	struct timespec started;      /* on the worker */
	long max_s;                   /* cut off this long after it started; 0: never */
	CURL *easy;
	curl_loop_done_cb cb;
	void *arg;
	CURLcode result;
	long code;
	struct curl_workers_job *next;
};

struct curl_workers_queue {
	struct curl_workers_job *head;
	struct curl_workers_job *tail;
	size_t n;
};

struct curl_workers_thread {
	struct curl_workers *w;
	pthread_t id;
	int exited;                   /* under mu */
};

/* A socket a running transfer opened: shut by curl_workers_free to end a blocking wait. */
struct curl_workers_sock {
	curl_socket_t fd;             /* CURL_SOCKET_BAD: a free slot */
	struct curl_workers_job *job;
};

struct curl_workers {
	struct event_base *base;
	struct event *wake_ev;
	int wake[2];                  /* a worker writes a byte to [1] when a result is ready */
	pthread_mutex_t mu;
	pthread_cond_t work_cv;       /* a transfer waits, or closing */
	pthread_cond_t exit_cv;       /* a worker ended */
	struct curl_workers_queue todo;
	struct curl_workers_queue done;
	struct curl_workers_thread threads[CURL_WORKERS_MAX];
	unsigned max_threads;
	unsigned n_threads;
	unsigned idle;
	unsigned running;
	struct curl_workers_sock socks[CURL_WORKERS_SOCKS];
	atomic_int closing;           /* read by the workers' progress callbacks without mu */
	/* the loop's thread only: */
	int freeing;
	size_t outstanding;           /* accepted, callback not yet called: wake_ev is added only
				       * while there are some, so a loop with nothing else to do
				       * still ends (event_base_dispatch returns when it is empty) */
};

/* ---- queues (under mu) ---- */

static void curl_workers_push(struct curl_workers_queue *q, struct curl_workers_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
	q->n++;
}

static struct curl_workers_job *curl_workers_pop(struct curl_workers_queue *q)
{
	struct curl_workers_job *j = q->head;

	if (!j)
		return NULL;
	q->head = j->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	j->next = NULL;
	return j;
}

static struct curl_workers_queue curl_workers_take(struct curl_workers_queue *q)
{
	struct curl_workers_queue all = *q;

	memset(q, 0, sizeof(*q));
	return all;
}

/* ---- on a worker ---- */

static curl_socket_t curl_workers_on_open(void *clientp, curlsocktype purpose,
					  struct curl_sockaddr *a)
{
	struct curl_workers_job *job = clientp;
	struct curl_workers *w = job->w;
	curl_socket_t fd;

	(void)purpose;
	fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
	if (fd < 0)
		return CURL_SOCKET_BAD;
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < CURL_WORKERS_SOCKS; i++)
		if (w->socks[i].fd == CURL_SOCKET_BAD) {
			w->socks[i].fd = fd;
			w->socks[i].job = job;
			break;
		}
	pthread_mutex_unlock(&w->mu);
	return fd;
}

/* Forgotten before it is closed, so curl_workers_free never shuts a number reused since. */
static int curl_workers_on_close(void *clientp, curl_socket_t fd)
{
	struct curl_workers_job *job = clientp;
	struct curl_workers *w = job->w;

	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < CURL_WORKERS_SOCKS; i++)
		if (w->socks[i].fd == fd)
			w->socks[i].fd = CURL_SOCKET_BAD;
	pthread_mutex_unlock(&w->mu);
	return close(fd);
}

/* Shuts the job's sockets: a blocking wait on one of them returns at once. */
static void curl_workers_shut(struct curl_workers *w, const struct curl_workers_job *job)
{
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < CURL_WORKERS_SOCKS; i++)
		if (w->socks[i].fd != CURL_SOCKET_BAD && (!job || w->socks[i].job == job))
			shutdown(w->socks[i].fd, SHUT_RDWR);
	pthread_mutex_unlock(&w->mu);
}

/* libcurl calls it about once a second even inside its blocking SMTP waits. Past its time a
 * transfer is cut off: libcurl's own timeout ends the transfer, but then it sends QUIT and
 * waits for the answer as long again (--once took 240 s at a relay that held the end of
 * DATA, where 120 s were promised). */
static int curl_workers_on_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
				    curl_off_t ultotal, curl_off_t ulnow)
{
	struct curl_workers_job *job = clientp;
	struct timespec now;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (atomic_load(&job->w->closing))
		return 1;
	if (job->max_s <= 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec - job->started.tv_sec <= job->max_s)
		return 0;
	curl_workers_shut(job->w, job);
	return 1;
}

/* Whatever of the transfer's sockets is still open after it (none, with FORBID_REUSE) is
 * closed by libcurl's own close later: it is no longer ours to shut. */
static void curl_workers_forget_socks(struct curl_workers *w, struct curl_workers_job *job)
{
	pthread_mutex_lock(&w->mu);
	for (size_t i = 0; i < CURL_WORKERS_SOCKS; i++)
		if (w->socks[i].fd != CURL_SOCKET_BAD && w->socks[i].job == job)
			w->socks[i].fd = CURL_SOCKET_BAD;
	pthread_mutex_unlock(&w->mu);
}

static void curl_workers_perform(struct curl_workers *w, struct curl_workers_job *job)
{
	CURL *e = job->easy;

	job->code = 0;
	if (curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L) ||
	    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L) ||
	    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, curl_workers_on_progress) ||
	    curl_easy_setopt(e, CURLOPT_XFERINFODATA, job) ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, curl_workers_on_open) ||
	    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, job) ||
	    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, curl_workers_on_close) ||
	    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, job)) {
		job->result = CURLE_FAILED_INIT;
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &job->started);
	job->result = atomic_load(&w->closing) ? CURL_LOOP_CANCELLED : curl_easy_perform(e);
	/* a transfer that failed because its socket was shut at the stop was cancelled */
	if (job->result != CURLE_OK && atomic_load(&w->closing))
		job->result = CURL_LOOP_CANCELLED;
	else if (job->result == CURLE_ABORTED_BY_CALLBACK)
		job->result = CURLE_OPERATION_TIMEDOUT;
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &job->code);
	/* the handle goes back to the loop's thread: nothing of it may call into us again */
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 1L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, NULL);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, NULL);
	curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, NULL);
	curl_workers_forget_socks(w, job);
}

/* Under mu. A full pipe already holds a wake-up: nothing is lost when the write fails. */
static void curl_workers_ring(struct curl_workers *w)
{
	char b = 1;
	ssize_t n = write(w->wake[1], &b, 1);

	(void)n;
}

static void *curl_workers_main(void *arg)
{
	struct curl_workers_thread *t = arg;
	struct curl_workers *w = t->w;
	struct curl_workers_job *job;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (!w->todo.head && !atomic_load(&w->closing)) {
			w->idle++;
			pthread_cond_wait(&w->work_cv, &w->mu);
			w->idle--;
		}
		if (atomic_load(&w->closing))
			break;
		job = curl_workers_pop(&w->todo);
		w->running++;
		pthread_mutex_unlock(&w->mu);
		curl_workers_perform(w, job);
		pthread_mutex_lock(&w->mu);
		w->running--;
		curl_workers_push(&w->done, job);
		curl_workers_ring(w);
	}
	t->exited = 1;
	pthread_cond_broadcast(&w->exit_cv);
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* ---- on the loop's thread ---- */

static void curl_workers_finish(struct curl_workers *w, struct curl_workers_queue *q)
{
	struct curl_workers_job *job;

	while ((job = curl_workers_pop(q))) {
		curl_loop_done_cb cb = job->cb;
		CURL *easy = job->easy;
		void *arg = job->arg;
		CURLcode result = job->result;
		long code = job->code;

		free(job);
		if (--w->outstanding == 0 && w->wake_ev)
			event_del(w->wake_ev);
		cb(easy, result, code, arg);
	}
}

static void curl_workers_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct curl_workers *w = arg;
	struct curl_workers_queue done;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&w->mu);
	done = curl_workers_take(&w->done);
	pthread_mutex_unlock(&w->mu);
	curl_workers_finish(w, &done);
}

/* Under mu. Workers take no signals: the loop's thread handles them. */
static int curl_workers_spawn(struct curl_workers *w)
{
	struct curl_workers_thread *t = &w->threads[w->n_threads];
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	t->w = w;
	t->exited = 0;
	rc = pthread_create(&t->id, NULL, curl_workers_main, t);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -1;
	w->n_threads++;
	return 0;
}

struct curl_workers *curl_workers_new(struct event_base *base, unsigned max_threads)
{
	struct curl_workers *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->base = base;
	w->max_threads = max_threads == 0 ? 1 : max_threads > CURL_WORKERS_MAX ? CURL_WORKERS_MAX
										  : max_threads;
	for (size_t i = 0; i < CURL_WORKERS_SOCKS; i++)
		w->socks[i].fd = CURL_SOCKET_BAD;
	atomic_init(&w->closing, 0);
	if (pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) < 0) {
		free(w);
		return NULL;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->work_cv, NULL);
	pthread_cond_init(&w->exit_cv, NULL);
	w->wake_ev = event_new(base, w->wake[0], EV_READ | EV_PERSIST, curl_workers_on_wake, w);
	if (!w->wake_ev) {
		curl_workers_free(w);
		return NULL;
	}
	return w;
}

int curl_workers_add(struct curl_workers *w, CURL *easy, long max_s, curl_loop_done_cb cb,
		     void *arg)
{
	struct curl_workers_job *job;

	if (w->freeing || !easy || !cb)
		return -1;
	if (w->outstanding == 0 && event_add(w->wake_ev, NULL) < 0)
		return -1;
	job = calloc(1, sizeof(*job));
	if (!job) {
		if (w->outstanding == 0)
			event_del(w->wake_ev);
		return -1;
	}
	job->w = w;
	job->max_s = max_s;
	job->easy = easy;
	job->cb = cb;
	job->arg = arg;
	pthread_mutex_lock(&w->mu);
	curl_workers_push(&w->todo, job);
	if (w->todo.n > w->idle && w->n_threads < w->max_threads && curl_workers_spawn(w) < 0 &&
	    w->n_threads == 0) {
		/* no worker at all: refused, the caller keeps the handle */
		w->todo = (struct curl_workers_queue){ 0 };
		pthread_mutex_unlock(&w->mu);
		free(job);
		if (w->outstanding == 0)
			event_del(w->wake_ev);
		return -1;
	}
	pthread_cond_signal(&w->work_cv);
	pthread_mutex_unlock(&w->mu);
	w->outstanding++;
	return 0;
}

/* Under mu: every worker ended, or the deadline passed. */
static int curl_workers_wait(struct curl_workers *w)
{
	struct timespec deadline;
	unsigned left;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += CURL_WORKERS_WAIT_S;
	for (;;) {
		left = 0;
		for (unsigned i = 0; i < w->n_threads; i++)
			left += !w->threads[i].exited;
		if (!left)
			return 0;
		if (pthread_cond_timedwait(&w->exit_cv, &w->mu, &deadline) == ETIMEDOUT)
			return -1;
	}
}

void curl_workers_free(struct curl_workers *w)
{
	struct curl_workers_queue waiting, done;
	int stuck;

	if (!w)
		return;
	w->freeing = 1;
	pthread_mutex_lock(&w->mu);
	atomic_store(&w->closing, 1);
	waiting = curl_workers_take(&w->todo);
	pthread_cond_broadcast(&w->work_cv);
	pthread_mutex_unlock(&w->mu);
	/* a worker inside libcurl's blocking SMTP wait returns as soon as its socket is shut */
	curl_workers_shut(w, NULL);
	for (struct curl_workers_job *j = waiting.head; j; j = j->next)
		j->result = CURL_LOOP_CANCELLED;
	curl_workers_finish(w, &waiting);

	pthread_mutex_lock(&w->mu);
	stuck = curl_workers_wait(w) < 0;
	done = curl_workers_take(&w->done);
	pthread_mutex_unlock(&w->mu);
	curl_workers_finish(w, &done);
	if (w->wake_ev)
		event_free(w->wake_ev);
	w->wake_ev = NULL;
	if (stuck) {
		/* left to end with the process: w stays, as its workers still use it */
		for (unsigned i = 0; i < w->n_threads; i++)
			if (w->threads[i].exited)
				pthread_join(w->threads[i].id, NULL);
			else
				pthread_detach(w->threads[i].id);
		return;
	}
	for (unsigned i = 0; i < w->n_threads; i++)
		pthread_join(w->threads[i].id, NULL);
	close(w->wake[0]);
	close(w->wake[1]);
	pthread_cond_destroy(&w->exit_cv);
	pthread_cond_destroy(&w->work_cv);
	pthread_mutex_destroy(&w->mu);
	free(w);
}

size_t curl_workers_running(struct curl_workers *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->running;
	pthread_mutex_unlock(&w->mu);
	return n;
}

size_t curl_workers_queued(struct curl_workers *w)
{
	size_t n;

	pthread_mutex_lock(&w->mu);
	n = w->todo.n;
	pthread_mutex_unlock(&w->mu);
	return n;
}
