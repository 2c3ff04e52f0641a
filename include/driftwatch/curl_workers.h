/* curl_workers: libcurl transfers whose protocol code blocks (SMTP), on threads of their own. */
#ifndef DRIFTWATCH_CURL_WORKERS_H
#define DRIFTWATCH_CURL_WORKERS_H

#include <stddef.h>

#include <curl/curl.h>

#include "driftwatch/curl_loop.h"

struct event_base;
struct curl_workers;

/* libcurl's SMTP waits for the answer to the end of DATA, and to QUIT, inside the call that
 * drives it, even under the multi interface (smtp_done and smtp_disconnect block for up to the
 * server's response timeout; curl/curl#8555): a relay that takes its time froze the daemon's
 * whole event loop. A worker runs one such transfer at a time with curl_easy_perform, where
 * the wait costs only that worker; the result comes back to the loop through a pipe, and the
 * callback runs on the loop's thread as curl_loop's do (curl_loop_done_cb).
 *
 * At most max_threads workers (0 means 1), started as transfers arrive; more transfers wait in
 * order. Returns NULL when memory, a pipe or libevent ran out. */
struct curl_workers *curl_workers_new(struct event_base *base, unsigned max_threads);

/* Hands over a configured easy handle. The workers set its CURLOPT_FORBID_REUSE (so that its
 * connection, and libcurl's QUIT, end on the worker, never in the caller's curl_easy_cleanup),
 * its progress callback and its socket callbacks: callers must not. max_s (0: none) cuts the
 * transfer off that many seconds after it starts, whatever libcurl waits for then (its own
 * CURLOPT_TIMEOUT does not bound the QUIT it sends after a failure); it then ends with
 * CURLE_OPERATION_TIMEDOUT. Returns 0 when accepted (cb is called exactly once, on the loop),
 * -1 when not (out of memory, or being freed). */
int curl_workers_add(struct curl_workers *w, CURL *easy, long max_s, curl_loop_done_cb cb,
		     void *arg);

/* Cancels every transfer: waiting ones at once, running ones by shutting their sockets and
 * aborting them from their progress callback, each callback called with CURL_LOOP_CANCELLED
 * (or its own result, had it just finished); waits up to 5 s for the workers. A worker that
 * still does not end is left to end with the process, with its transfer's callback never
 * called (the notice's lease runs out and it is sent again with the same Message-ID). Never
 * call it from a callback. NULL is fine. */
void curl_workers_free(struct curl_workers *w);

/* Transfers running on a worker now, and transfers waiting for one. */
size_t curl_workers_running(struct curl_workers *w);
size_t curl_workers_queued(struct curl_workers *w);

#endif
