/* curl_loop: libcurl's multi socket interface on the libevent loop, at most N transfers at once. */
#ifndef DRIFTWATCH_CURL_LOOP_H
#define DRIFTWATCH_CURL_LOOP_H

#include <stddef.h>

#include <curl/curl.h>

struct event_base;
struct curl_loop;

/* The result a transfer's callback receives when curl_loop_free cancelled it before it finished
 * (response_code is then 0). Whether the receiver got the request is unknown: resend it later
 * with the same idempotency key. */
#define CURL_LOOP_CANCELLED CURLE_ABORTED_BY_CALLBACK

/* Called exactly once per transfer accepted by curl_loop_add: when it finished (result is
 * CURLE_OK or libcurl's error; response_code is the last HTTP or SMTP response code, 0 if none),
 * when it could not be started (result is libcurl's error), or when curl_loop_free cancelled it
 * (result CURL_LOOP_CANCELLED). The handle is no longer in the loop when this runs: the callback
 * owns it again and must curl_easy_cleanup it (or reuse it) and free whatever it points at
 * (header lists, body buffers). The callback may call curl_loop_add, except while
 * curl_loop_free runs; it must not call curl_loop_free. */
typedef void (*curl_loop_done_cb)(CURL *easy, CURLcode result, long response_code, void *arg);

/* A loop on base running at most max_transfers transfers at once (0 means 1); more are queued
 * in the order they were added and started as running ones finish, so a transfer's timeouts
 * only start counting when it runs. Returns NULL if memory or libcurl ran out. Call
 * curl_global_init once before the first loop. Name lookups stay off the loop only with a
 * libcurl built with AsynchDNS (Debian's is: threaded resolver). */
struct curl_loop *curl_loop_new(struct event_base *base, unsigned max_transfers);

/* Removes every running and queued transfer and calls its callback with CURL_LOOP_CANCELLED
 * (running ones first, then queued ones in order), then frees the loop: free it before anything
 * those callbacks use. Never call it from a curl_loop_done_cb. NULL is fine. */
void curl_loop_free(struct curl_loop *loop);

/* Hands over a configured easy handle (URL, options, body, headers) to be run on the loop;
 * the loop uses the handle's CURLOPT_PRIVATE, so callers must not. Never blocks: the transfer
 * starts now or is queued. Returns 0 when accepted (cb will be called exactly once), or -1 when
 * not (out of memory, libcurl refused the handle, or the loop is being freed); then cb is not
 * called and the caller still owns easy. */
int curl_loop_add(struct curl_loop *loop, CURL *easy, curl_loop_done_cb cb, void *arg);

/* The same for a transfer whose protocol libcurl drives with blocking waits (SMTP: the end of
 * DATA, QUIT): it runs on a worker thread (curl_workers.h), at most CURL_LOOP_WORKERS (or the
 * loop's max_transfers, if fewer) at once, and its callback runs on the loop as above. The
 * workers set the handle's FORBID_REUSE, progress and socket callbacks, and cut it off max_s
 * seconds after it starts (0: never; curl_workers_add). */
#define CURL_LOOP_WORKERS 8
int curl_loop_add_blocking(struct curl_loop *loop, CURL *easy, long max_s, curl_loop_done_cb cb,
			   void *arg);

/* Transfers running now, transfers waiting for a free slot (both counting the workers'), and
 * the most that run at once on the loop. */
size_t curl_loop_running(const struct curl_loop *loop);
size_t curl_loop_queued(const struct curl_loop *loop);
size_t curl_loop_max(const struct curl_loop *loop);

#endif
