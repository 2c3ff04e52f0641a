/* webhook: Standard Webhooks signing, the signed POST, what its answer means, and retry backoff. */
#ifndef DRIFTWATCH_WEBHOOK_H
#define DRIFTWATCH_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <curl/curl.h>

/* ---- secrets ---- */

#define WEBHOOK_SECRET_PREFIX "whsec_"
/* The key lengths the Standard Webhooks specification allows (config.c checks the same). */
#define WEBHOOK_KEY_MIN 24
#define WEBHOOK_KEY_MAX 64

/* The HMAC key: the base64-decoded part of a "whsec_..." secret. Clear it when done. */
struct webhook_secret {
	unsigned char key[WEBHOOK_KEY_MAX];
	size_t len;
};

/* Parses "whsec_" + standard padded base64 of 24 to 64 bytes into *out. name says where the text came from ("inline secret of
 * https://...", a file name) and starts every message written to err; the secret itself never
 * appears in a message. Returns 0, or -1 with err filled. */
int webhook_secret_parse(const char *text, const char *name, struct webhook_secret *out,
			 char *err, size_t errsz);

/* Reads a secret from path (one line; trailing newline and blanks ignored) and parses it.
 * Messages name the file. Returns 0, or -1 with err filled. */
int webhook_secret_load(const char *path, struct webhook_secret *out, char *err, size_t errsz);

/* Overwrites the key so it does not linger in memory. */
void webhook_secret_clear(struct webhook_secret *s);

/* ---- signing ---- */

/* "v1," + 44 base64 characters + NUL, with room to spare */
#define WEBHOOK_SIGNATURE_MAX 64

/* Writes "v1," + base64(HMAC-SHA256(key, msg_id "." timestamp "." body)) into sig.
 * Returns 0, or -1 if memory ran out. */
int webhook_sign(const struct webhook_secret *secret, const char *msg_id, long long timestamp,
		 const char *body, size_t body_len, char sig[WEBHOOK_SIGNATURE_MAX]);

/* ---- the request ---- */

struct webhook_request;

struct webhook_http_opts {
	long connect_timeout_ms;  /* 0: 10 s */
	long timeout_ms;          /* whole transfer; 0: 30 s */
	const char *ca_file;      /* PEM bundle to trust instead of the system's; NULL: system */
	int refuse_local;         /* refuse to connect to a loopback or link-local address (a team's
				   * URL whose host an allowed_hosts "*." pattern matched): the
				   * verdict is WEBHOOK_REJECTED */
};

/* Builds a POST of body (JSON, copied) to url with Content-Type application/json, User-Agent
 * driftwatch/VERSION and the three Standard Webhooks headers (webhook-id msg_id,
 * webhook-timestamp timestamp, webhook-signature; no signature when secret is NULL, for a
 * team's URL with no team_webhook_secret_file). Redirects are not followed, only http and
 * https are allowed, no signals are used, the response body is discarded. msg_id must be
 * 1-255 printable ASCII characters without spaces (it is a header value). Each attempt needs a
 * new request: the same msg_id (the idempotency key) but timestamp = now, because receivers
 * reject a timestamp more than five minutes old. Returns NULL with err filled (naming url as
 * url_redact shows it) on failure. Run it with curl_loop_add(loop, webhook_request_easy(req),
 * ...); free it (which cleans up the easy handle) in the completion callback. */
struct webhook_request *webhook_request_new(const char *url, const struct webhook_secret *secret,
					    const char *msg_id, long long timestamp,
					    const char *body, const struct webhook_http_opts *opts,
					    char *err, size_t errsz);
void webhook_request_free(struct webhook_request *req);

CURL *webhook_request_easy(struct webhook_request *req);
const char *webhook_request_url(const struct webhook_request *req);
/* The final response's Retry-After and Location header values, or NULL when absent. */
const char *webhook_request_retry_after(const struct webhook_request *req);
const char *webhook_request_location(const struct webhook_request *req);
/* libcurl's error text for the last transfer ("" when none). */
const char *webhook_request_curl_error(const struct webhook_request *req);

/* ---- what the answer means ---- */

enum webhook_verdict {
	WEBHOOK_DELIVERED,     /* 2xx: done */
	WEBHOOK_RETRY,         /* 429, 5xx, 408, or no answer (refused, timeout, DNS, TLS, reset):
				* retry on backoff, not sooner than retry_after_s when set */
	WEBHOOK_MISCONFIGURED, /* 3xx (a redirect is not followed), any other 4xx (a secret or a
				* route the receiver no longer takes), 1xx or 6xx, or a URL or
				* certificate libcurl refuses: not delivered; logged as an error and
				* retried on backoff up to the notice's age, since only a person can
				* fix it and the notice must not be lost while they do */
	WEBHOOK_GONE,          /* 410: disable the endpoint and tell the operators */
	WEBHOOK_REJECTED,      /* a team's URL whose host resolves to an address driftwatch does
				* not post to: retrying cannot help: fail it and tell the operators */
	WEBHOOK_CANCELLED      /* curl_loop_free cancelled it: not an attempt; it stays due */
};

struct webhook_outcome {
	enum webhook_verdict verdict;
	long http_code;        /* 0 when no answer */
	long retry_after_s;    /* from Retry-After (429, 503 or any retried answer); -1 when none */
	char reason[800];      /* "URL: HTTP 503" / "URL: Timeout was reached ..." for logs and
				* the outbox, the URL (and a redirect's Location) shown by
				* url_redact: scheme://host[:port]/path, never its credentials */
};

/* Classifies a finished transfer. retry_after and location are the response headers (NULL when
 * absent), curl_error libcurl's error buffer ("" or NULL when none), now the time to measure an
 * HTTP-date Retry-After from. Pure: no I/O. */
void webhook_classify(const char *url, CURLcode result, long http_code, const char *retry_after,
		      const char *location, const char *curl_error, time_t now,
		      struct webhook_outcome *out);

/* The classification of a finished request (reads its headers and error buffer). */
void webhook_request_classify(const struct webhook_request *req, CURLcode result,
			      long http_code, time_t now, struct webhook_outcome *out);

/* "delivered", "retry", "misconfigured", "gone", "rejected", "cancelled" */
const char *webhook_verdict_name(enum webhook_verdict v);

/* Parses a Retry-After value: delay-seconds or an HTTP-date (IMF-fixdate, RFC 850 or asctime),
 * measured from now; a date in the past gives 0. Returns 0 with *delay_s set, or -1 if value is
 * neither. */
int webhook_parse_retry_after(const char *value, time_t now, long *delay_s);

#endif
