/* webhook_send: test driver that sends signed webhooks concurrently through curl_loop. */
/*
 * webhook_send --secret-file FILE [--max N] [--connect-timeout-ms MS] [--timeout-ms MS]
 *              [--cancel-after-ms MS] [--refuse-local 0|1] [--send NAME=URL]...
 *              [--vector NAME=URL]...
 *
 * --send posts an alert-shaped JSON body with webhook-id "msg_NAME_<pid>" and the current
 * time; --vector posts the Standard Webhooks published test vector's id, timestamp and body.
 * All are added to one curl_loop at once (at most --max running). Each completion prints one
 * line:
 *   done NAME verdict=V http=CODE retry_after=S elapsed_ms=MS running=R queued=Q reason=...
 * and at the end "peak_running=N". --cancel-after-ms frees the loop after MS, so transfers
 * still running or queued end with verdict=cancelled. --refuse-local 1 sends as a team's URL
 * allowed by a "*." pattern is sent (no loopback or link-local address). Exits 0 when every
 * transfer ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "driftwatch/curl_loop.h"
#include "driftwatch/webhook.h"

#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330LL
#define VEC_BODY "{\"test\": 2432232314}"
#define SEND_MAX_ITEMS 64

struct send_item {
	struct send_driver *d;
	char name[64];
	const char *url;
	int vector;
	struct webhook_request *req;
	struct timespec started;
	int done;
};

struct send_driver {
	struct event_base *base;
	struct curl_loop *loop;
	struct send_item items[SEND_MAX_ITEMS];
	size_t n;
	size_t left;
	size_t peak_running;
};

static long send_ms_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static void send_done(CURL *easy, CURLcode result, long code, void *arg)
{
	struct send_item *it = arg;
	struct send_driver *d = it->d;
	struct webhook_outcome o;

	(void)easy;
	webhook_request_classify(it->req, result, code, time(NULL), &o);
	printf("done %s verdict=%s http=%ld retry_after=%ld elapsed_ms=%ld running=%zu "
	       "queued=%zu reason=%s\n", it->name, webhook_verdict_name(o.verdict), o.http_code,
	       o.retry_after_s, send_ms_since(&it->started),
	       d->loop ? curl_loop_running(d->loop) : 0, d->loop ? curl_loop_queued(d->loop) : 0,
	       o.reason);
	fflush(stdout);
	webhook_request_free(it->req);
	it->req = NULL;
	it->done = 1;
	if (--d->left == 0)
		event_base_loopbreak(d->base);
}

static void send_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct send_driver *d = arg;
	struct curl_loop *loop = d->loop;

	(void)fd;
	(void)what;
	printf("cancelling running=%zu queued=%zu\n", curl_loop_running(loop),
	       curl_loop_queued(loop));
	d->loop = NULL;
	curl_loop_free(loop);
	event_base_loopbreak(d->base);
}

static int send_parse_item(struct send_driver *d, const char *spec, int vector)
{
	struct send_item *it;
	const char *eq = strchr(spec, '=');

	if (!eq || eq == spec || (size_t)(eq - spec) >= sizeof(it->name) || d->n == SEND_MAX_ITEMS) {
		fprintf(stderr, "webhook_send: bad item %s (NAME=URL)\n", spec);
		return -1;
	}
	it = &d->items[d->n++];
	it->d = d;
	memcpy(it->name, spec, (size_t)(eq - spec));
	it->name[eq - spec] = '\0';
	it->url = eq + 1;
	it->vector = vector;
	return 0;
}

static int send_start(struct send_driver *d, struct send_item *it,
		      const struct webhook_secret *secret, const struct webhook_http_opts *opts)
{
	char err[512], id[128], body[512], when[32];
	time_t now = time(NULL);
	long long ts = (long long)now;
	struct tm tm;

	if (it->vector) {
		snprintf(id, sizeof(id), "%s", VEC_ID);
		snprintf(body, sizeof(body), "%s", VEC_BODY);
		ts = VEC_TS;
	} else {
		gmtime_r(&now, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		snprintf(id, sizeof(id), "msg_%s_%ld", it->name, (long)getpid());
		/* non-ASCII text, so the verifier sees the very bytes that were signed */
		snprintf(body, sizeof(body),
			 "{\"type\": \"alert.firing\", \"timestamp\": \"%s\", \"data\": "
			 "{\"rule\": \"cp_neglect_duration\", \"child_id\": \"C-%s\", "
			 "\"summary\": \"Caf\xc3\xa9 \u2013 15 months\"}}", when, it->name);
	}
	it->req = webhook_request_new(it->url, secret, id, ts, body, opts, err, sizeof(err));
	if (!it->req) {
		fprintf(stderr, "webhook_send: %s\n", err);
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &it->started);
	if (curl_loop_add(d->loop, webhook_request_easy(it->req), send_done, it) < 0) {
		fprintf(stderr, "webhook_send: %s: curl_loop_add failed\n", it->url);
		webhook_request_free(it->req);
		it->req = NULL;
		return -1;
	}
	d->left++;
	if (curl_loop_running(d->loop) > d->peak_running)
		d->peak_running = curl_loop_running(d->loop);
	return 0;
}

int main(int argc, char **argv)
{
	struct send_driver d;
	struct webhook_secret secret;
	struct webhook_http_opts opts = { 0, 0, NULL, 0 };
	const char *secret_file = NULL;
	unsigned max = 8;
	long cancel_ms = -1;
	struct event *cancel_ev = NULL;
	char err[512];
	int i, rc = 0;
	size_t k;

	memset(&d, 0, sizeof(d));
	for (i = 1; i + 1 < argc; i += 2) {
		const char *k_ = argv[i], *v = argv[i + 1];

		if (strcmp(k_, "--secret-file") == 0)
			secret_file = v;
		else if (strcmp(k_, "--max") == 0)
			max = (unsigned)atoi(v);
		else if (strcmp(k_, "--connect-timeout-ms") == 0)
			opts.connect_timeout_ms = atol(v);
		else if (strcmp(k_, "--timeout-ms") == 0)
			opts.timeout_ms = atol(v);
		else if (strcmp(k_, "--cancel-after-ms") == 0)
			cancel_ms = atol(v);
		else if (strcmp(k_, "--refuse-local") == 0)
			opts.refuse_local = atoi(v);
		else if (strcmp(k_, "--send") == 0 || strcmp(k_, "--vector") == 0) {
			if (send_parse_item(&d, v, strcmp(k_, "--vector") == 0) < 0)
				return 2;
		} else {
			fprintf(stderr, "webhook_send: unknown option %s\n", k_);
			return 2;
		}
	}
	if (i != argc || !secret_file) {
		fprintf(stderr, "usage: webhook_send --secret-file FILE [options] --send NAME=URL...\n");
		return 2;
	}
	if (webhook_secret_load(secret_file, &secret, err, sizeof(err)) < 0) {
		fprintf(stderr, "webhook_send: %s\n", err);
		return 2;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	d.base = event_base_new();
	d.loop = d.base ? curl_loop_new(d.base, max) : NULL;
	if (!d.loop) {
		fprintf(stderr, "webhook_send: cannot make the event loop\n");
		rc = 1;
		goto out;
	}
	for (k = 0; k < d.n; k++)
		if (send_start(&d, &d.items[k], &secret, &opts) < 0)
			rc = 1;
	if (cancel_ms >= 0) {
		struct timeval tv = { cancel_ms / 1000, (cancel_ms % 1000) * 1000 };

		cancel_ev = evtimer_new(d.base, send_cancel, &d);
		if (!cancel_ev || evtimer_add(cancel_ev, &tv) < 0) {
			rc = 1;
			goto out;
		}
	}
	if (d.left > 0)
		event_base_dispatch(d.base);
	printf("peak_running=%zu\n", d.peak_running);
	for (k = 0; k < d.n; k++)
		if (!d.items[k].done)
			rc = 1;
out:
	curl_loop_free(d.loop);
	for (k = 0; k < d.n; k++)
		webhook_request_free(d.items[k].req);
	if (cancel_ev)
		event_free(cancel_ev);
	if (d.base)
		event_base_free(d.base);
	webhook_secret_clear(&secret);
	curl_global_cleanup();
	return rc;
}
