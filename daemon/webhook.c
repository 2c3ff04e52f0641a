/* webhook: Standard Webhooks signatures, the signed POST request and the classification of its answer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <sys/socket.h>

#include "driftwatch/curl_loop.h"
#include "driftwatch/hostmatch.h"
#include "driftwatch/url_redact.h"
#include "driftwatch/secret.h"
#include "driftwatch/webhook.h"

#ifndef DW_VERSION
#define DW_VERSION "unknown"
#endif

#define WEBHOOK_CONNECT_TIMEOUT_MS 10000L
#define WEBHOOK_TIMEOUT_MS 30000L
#define WEBHOOK_MSG_ID_MAX 255

/* ---- secrets ---- */

static int webhook_is_b64(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/* Standard base64 with padding, nothing else: EVP_DecodeBlock alone would skip blanks and
 * cannot say how much padding it consumed. */
static int webhook_check_b64(const char *s, size_t n, size_t *pad)
{
	size_t i;

	if (n == 0 || n % 4 != 0)
		return -1;
	*pad = 0;
	if (s[n - 1] == '=')
		(*pad)++;
	if (s[n - 2] == '=')
		(*pad)++;
	for (i = 0; i < n - *pad; i++)
		if (!webhook_is_b64(s[i]))
			return -1;
	return 0;
}

int webhook_secret_parse(const char *text, const char *name, struct webhook_secret *out,
			 char *err, size_t errsz)
{
	static const size_t plen = sizeof(WEBHOOK_SECRET_PREFIX) - 1;
	unsigned char tmp[WEBHOOK_KEY_MAX + 3];
	const char *b64;
	size_t n, pad;
	int got;

	memset(out, 0, sizeof(*out));
	if (strncmp(text, WEBHOOK_SECRET_PREFIX, plen) != 0) {
		snprintf(err, errsz, "%s: a webhook secret must start with \"%s\"", name,
			 WEBHOOK_SECRET_PREFIX);
		return -1;
	}
	b64 = text + plen;
	n = strlen(b64);
	if (n == 0) {
		snprintf(err, errsz, "%s: the webhook secret is empty after \"%s\"", name,
			 WEBHOOK_SECRET_PREFIX);
		return -1;
	}
	if (n / 4 * 3 > sizeof(tmp)) {
		snprintf(err, errsz, "%s: the webhook secret is longer than %d bytes", name,
			 WEBHOOK_KEY_MAX);
		return -1;
	}
	if (webhook_check_b64(b64, n, &pad) < 0) {
		snprintf(err, errsz, "%s: the webhook secret is not valid base64 after \"%s\"", name,
			 WEBHOOK_SECRET_PREFIX);
		return -1;
	}
	got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)n);
	if (got < 0 || (size_t)got < pad) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		snprintf(err, errsz, "%s: the webhook secret is not valid base64 after \"%s\"", name,
			 WEBHOOK_SECRET_PREFIX);
		return -1;
	}
	if ((size_t)got - pad < WEBHOOK_KEY_MIN || (size_t)got - pad > WEBHOOK_KEY_MAX) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		snprintf(err, errsz, "%s: the webhook secret is %zu bytes; the specification asks "
			 "for %d to %d", name, (size_t)got - pad, WEBHOOK_KEY_MIN, WEBHOOK_KEY_MAX);
		return -1;
	}
	out->len = (size_t)got - pad;
	memcpy(out->key, tmp, out->len);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return 0;
}

int webhook_secret_load(const char *path, struct webhook_secret *out, char *err, size_t errsz)
{
	char *text;
	int rc;

	memset(out, 0, sizeof(*out));
	/* the one reader of secret files (secret.h): never blocks on a FIFO, trims line ends */
	if (secret_read(path, &text, err, errsz) < 0)
		return -1;
	if (strchr(text, '\n')) {
		snprintf(err, errsz, "%s: the webhook secret file must hold one line", path);
		rc = -1;
	} else {
		rc = webhook_secret_parse(text, path, out, err, errsz);
	}
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rc;
}

void webhook_secret_clear(struct webhook_secret *s)
{
	OPENSSL_cleanse(s->key, sizeof(s->key));
	s->len = 0;
}

/* ---- signing ---- */

int webhook_sign(const struct webhook_secret *secret, const char *msg_id, long long timestamp,
		 const char *body, size_t body_len, char sig[WEBHOOK_SIGNATURE_MAX])
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char ts[32];
	size_t id_len = strlen(msg_id), ts_len, n;
	unsigned char *content;

	ts_len = (size_t)snprintf(ts, sizeof(ts), "%lld", timestamp);
	n = id_len + 1 + ts_len + 1 + body_len;
	content = malloc(n ? n : 1);
	if (!content)
		return -1;
	memcpy(content, msg_id, id_len);
	content[id_len] = '.';
	memcpy(content + id_len + 1, ts, ts_len);
	content[id_len + 1 + ts_len] = '.';
	memcpy(content + id_len + 1 + ts_len + 1, body, body_len);
	if (!HMAC(EVP_sha256(), secret->key, (int)secret->len, content, n, mac, &mac_len)) {
		free(content);
		return -1;
	}
	free(content);
	memcpy(sig, "v1,", 3);
	/* 32 bytes of MAC make 44 base64 characters and a NUL: well inside the buffer */
	EVP_EncodeBlock((unsigned char *)sig + 3, mac, (int)mac_len);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}

/* ---- the request ---- */

struct webhook_request {
	CURL *easy;
	struct curl_slist *headers;
	char *url;
	char *body;
	char retry_after[128];   /* "" when the final response had none */
	char location[1024];
	char errbuf[CURL_ERROR_SIZE];
	int refused_local;       /* an address was refused by webhook_open_socket */
};

static int webhook_msg_id_ok(const char *id)
{
	size_t n = strlen(id), i;

	if (n == 0 || n > WEBHOOK_MSG_ID_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)id[i] < 0x21 || (unsigned char)id[i] > 0x7e)
			return 0;
	return 1;
}

static void webhook_copy_value(char *dst, size_t dstsz, const char *v, size_t n)
{
	while (n > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		n--;
	}
	while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' ||
			 v[n - 1] == '\t'))
		n--;
	if (n >= dstsz)
		n = dstsz - 1;
	memcpy(dst, v, n);
	dst[n] = '\0';
}

/* Keeps the headers the classifier needs from the final response only: a new status line
 * (after "100 Continue") forgets what came before. */
static size_t webhook_on_header(char *line, size_t size, size_t nmemb, void *arg)
{
	struct webhook_request *req = arg;
	size_t n = size * nmemb;
	static const char ra[] = "retry-after:", loc[] = "location:";

	if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
		req->retry_after[0] = '\0';
		req->location[0] = '\0';
	} else if (n >= sizeof(ra) - 1 && strncasecmp(line, ra, sizeof(ra) - 1) == 0) {
		webhook_copy_value(req->retry_after, sizeof(req->retry_after),
				   line + sizeof(ra) - 1, n - (sizeof(ra) - 1));
	} else if (n >= sizeof(loc) - 1 && strncasecmp(line, loc, sizeof(loc) - 1) == 0) {
		webhook_copy_value(req->location, sizeof(req->location), line + sizeof(loc) - 1,
				   n - (sizeof(loc) - 1));
	}
	return n;
}

/* The receiver's answer body is not used; without this libcurl would print it to stdout. */
static size_t webhook_on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/* "Name: value", or "Name:" which tells libcurl not to send a header it would add itself. */
static int webhook_add_header(struct webhook_request *req, const char *name, const char *value)
{
	char line[512];
	struct curl_slist *l;

	if (*value)
		snprintf(line, sizeof(line), "%s: %s", name, value);
	else
		snprintf(line, sizeof(line), "%s:", name);
	l = curl_slist_append(req->headers, line);
	if (!l)
		return -1;
	req->headers = l;
	return 0;
}

/* A team's URL is checked by name before it is used; this checks the address its name
 * resolves to, at connect time, so a name under an allowed domain pointed at this machine or
 * its link (a metadata service, an admin port) is refused. libcurl tries the next address. */
static curl_socket_t webhook_open_socket(void *arg, curlsocktype purpose,
					 struct curl_sockaddr *addr)
{
	struct webhook_request *req = arg;

	if (purpose == CURLSOCKTYPE_IPCXN && hostmatch_addr_local(&addr->addr)) {
		req->refused_local = 1;
		return CURL_SOCKET_BAD;
	}
	return socket(addr->family, addr->socktype, addr->protocol);
}

static int webhook_set_options(struct webhook_request *req, const struct webhook_http_opts *o)
{
	CURL *e = req->easy;
	long connect_ms = o && o->connect_timeout_ms > 0 ? o->connect_timeout_ms
							  : WEBHOOK_CONNECT_TIMEOUT_MS;
	long total_ms = o && o->timeout_ms > 0 ? o->timeout_ms : WEBHOOK_TIMEOUT_MS;

	if (curl_easy_setopt(e, CURLOPT_URL, req->url) ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") ||
#else
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS,
			     (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS)) ||
#endif
	    curl_easy_setopt(e, CURLOPT_POST, 1L) ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(req->body)) ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body) ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, req->headers) ||
	    curl_easy_setopt(e, CURLOPT_USERAGENT, "driftwatch/" DW_VERSION) ||
	    /* a redirect would carry a signed notice somewhere nobody configured */
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) ||
	    /* signals for DNS timeouts would interrupt the whole daemon */
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms) ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms) ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, req->errbuf) ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, webhook_on_header) ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, req) ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, webhook_on_body) ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, req))
		return -1;
	if (o && o->ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, o->ca_file))
		return -1;
	if (o && o->refuse_local &&
	    (curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, webhook_open_socket) ||
	     curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, req)))
		return -1;
	return 0;
}

struct webhook_request *webhook_request_new(const char *url, const struct webhook_secret *secret,
					    const char *msg_id, long long timestamp,
					    const char *body, const struct webhook_http_opts *opts,
					    char *err, size_t errsz)
{
	struct webhook_request *req;
	char sig[WEBHOOK_SIGNATURE_MAX];
	char ts[32];
	char shown[URL_SHOWN_MAX];

	/* messages name the endpoint without its credentials */
	url_redact(url, shown, sizeof(shown));
	if (!webhook_msg_id_ok(msg_id)) {
		snprintf(err, errsz, "%s: webhook-id must be 1-%d printable characters without "
			 "spaces", shown, WEBHOOK_MSG_ID_MAX);
		return NULL;
	}
	/* NULL: unsigned (a team's URL with no team_webhook_secret_file, ALERTS.md) */
	if (secret && webhook_sign(secret, msg_id, timestamp, body, strlen(body), sig) < 0) {
		snprintf(err, errsz, "%s: cannot sign the webhook: out of memory", shown);
		return NULL;
	}
	snprintf(ts, sizeof(ts), "%lld", timestamp);
	req = calloc(1, sizeof(*req));
	if (!req) {
		snprintf(err, errsz, "%s: out of memory", shown);
		return NULL;
	}
	req->url = strdup(url);
	req->body = strdup(body);
	req->easy = curl_easy_init();
	if (!req->url || !req->body || !req->easy ||
	    webhook_add_header(req, "Content-Type", "application/json") < 0 ||
	    /* libcurl would otherwise wait for "100 Continue" before a large body */
	    webhook_add_header(req, "Expect", "") < 0 ||
	    webhook_add_header(req, "webhook-id", msg_id) < 0 ||
	    webhook_add_header(req, "webhook-timestamp", ts) < 0 ||
	    (secret && webhook_add_header(req, "webhook-signature", sig) < 0)) {
		snprintf(err, errsz, "%s: out of memory", shown);
		webhook_request_free(req);
		return NULL;
	}
	if (webhook_set_options(req, opts) < 0) {
		snprintf(err, errsz, "%s: libcurl refused an option (is it built with http?)", shown);
		webhook_request_free(req);
		return NULL;
	}
	return req;
}

void webhook_request_free(struct webhook_request *req)
{
	if (!req)
		return;
	if (req->easy)
		curl_easy_cleanup(req->easy);
	curl_slist_free_all(req->headers);
	free(req->url);
	free(req->body);
	free(req);
}

CURL *webhook_request_easy(struct webhook_request *req)
{
	return req->easy;
}

const char *webhook_request_url(const struct webhook_request *req)
{
	return req->url;
}

const char *webhook_request_retry_after(const struct webhook_request *req)
{
	return req->retry_after[0] ? req->retry_after : NULL;
}

const char *webhook_request_location(const struct webhook_request *req)
{
	return req->location[0] ? req->location : NULL;
}

const char *webhook_request_curl_error(const struct webhook_request *req)
{
	return req->errbuf;
}

/* ---- what the answer means ---- */

const char *webhook_verdict_name(enum webhook_verdict v)
{
	switch (v) {
	case WEBHOOK_DELIVERED: return "delivered";
	case WEBHOOK_RETRY: return "retry";
	case WEBHOOK_MISCONFIGURED: return "misconfigured";
	case WEBHOOK_GONE: return "gone";
	case WEBHOOK_REJECTED: return "rejected";
	case WEBHOOK_CANCELLED: return "cancelled";
	}
	return "unknown";
}

int webhook_parse_retry_after(const char *value, time_t now, long *delay_s)
{
	const char *p = value;
	long v = 0;
	time_t when;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p >= '0' && *p <= '9') {
		for (; *p >= '0' && *p <= '9'; p++) {
			/* absurd values saturate; the backoff caps them at the horizon anyway */
			if (v < 100000000L)
				v = v * 10 + (*p - '0');
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			return -1;
		*delay_s = v;
		return 0;
	}
	if (*p == '\0')
		return -1;
	/* libcurl's parser knows all three HTTP-date forms (RFC 9110 section 5.6.7) */
	when = curl_getdate(p, NULL);
	if (when == (time_t)-1)
		return -1;
	*delay_s = when > now ? (long)(when - now) : 0;
	return 0;
}

/* libcurl errors only a person can fix: retrying on backoff is still right, but the operators
 * must hear about it now rather than when the notice expires. */
static int webhook_curl_misconfigured(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
		return 1;
	default:
		return 0;
	}
}

void webhook_classify(const char *url, CURLcode result, long http_code, const char *retry_after,
		      const char *location, const char *curl_error, time_t now,
		      struct webhook_outcome *out)
{
	const char *raw = url;
	long delay;
	char shown[URL_SHOWN_MAX], where[URL_SHOWN_MAX], said[CURL_ERROR_SIZE];

	memset(out, 0, sizeof(*out));
	out->retry_after_s = -1;
	/* The reason goes to the log and the outbox: the endpoint is named without its
	 * credentials, and so is where a redirect pointed and whatever libcurl echoed. */
	url_redact(url, shown, sizeof(shown));
	url = shown;
	if (location)
		location = url_redact(location, where, sizeof(where));
	if (curl_error) {
		snprintf(said, sizeof(said), "%s", curl_error);
		url_scrub(said, sizeof(said), raw);
		curl_error = said;
	}
	if (result == CURL_LOOP_CANCELLED) {
		out->verdict = WEBHOOK_CANCELLED;
		snprintf(out->reason, sizeof(out->reason), "%s: cancelled at shutdown", url);
		return;
	}
	if (result != CURLE_OK) {
		/* no complete answer: the receiver may or may not have it, so resend (same id) */
		out->verdict = webhook_curl_misconfigured(result) ? WEBHOOK_MISCONFIGURED
								  : WEBHOOK_RETRY;
		snprintf(out->reason, sizeof(out->reason), "%s: %s%s%s", url,
			 curl_easy_strerror(result), curl_error && *curl_error ? ": " : "",
			 curl_error ? curl_error : "");
		return;
	}
	out->http_code = http_code;
	if (http_code >= 200 && http_code <= 299) {
		out->verdict = WEBHOOK_DELIVERED;
		snprintf(out->reason, sizeof(out->reason), "%s: HTTP %ld", url, http_code);
		return;
	}
	if (http_code >= 300 && http_code <= 399) {
		out->verdict = WEBHOOK_MISCONFIGURED;
		snprintf(out->reason, sizeof(out->reason),
			 "%s: HTTP %ld redirect to %s not followed; configure the final URL", url,
			 http_code, location ? location : "(no Location)");
		return;
	}
	if (http_code == 410) {
		out->verdict = WEBHOOK_GONE;
		snprintf(out->reason, sizeof(out->reason),
			 "%s: HTTP 410 Gone: the receiver asks for this endpoint to be disabled", url);
		return;
	}
	if (http_code == 429 || http_code == 408 || (http_code >= 500 && http_code <= 599) ||
	    http_code == 0) {
		out->verdict = WEBHOOK_RETRY;
		if (retry_after && webhook_parse_retry_after(retry_after, now, &delay) == 0)
			out->retry_after_s = delay;
		if (out->retry_after_s >= 0)
			snprintf(out->reason, sizeof(out->reason), "%s: HTTP %ld, Retry-After %ld s",
				 url, http_code, out->retry_after_s);
		else
			snprintf(out->reason, sizeof(out->reason), "%s: HTTP %ld", url, http_code);
		return;
	}
	/* ALERTS.md: retried up to the configured age, then failed and reported. A 401, 403 or
	 * 404 is most often a receiver being changed (a secret rotated, a route moved, a deploy):
	 * a person puts it right, and the notice must not be lost meanwhile. */
	out->verdict = WEBHOOK_MISCONFIGURED;
	snprintf(out->reason, sizeof(out->reason), "%s: HTTP %ld: the receiver refused the notice",
		 url, http_code);
}

void webhook_request_classify(const struct webhook_request *req, CURLcode result,
			      long http_code, time_t now, struct webhook_outcome *out)
{
	char shown[URL_SHOWN_MAX];

	if (req->refused_local && result == CURLE_COULDNT_CONNECT) {
		memset(out, 0, sizeof(*out));
		out->verdict = WEBHOOK_REJECTED;
		out->retry_after_s = -1;
		snprintf(out->reason, sizeof(out->reason), "%s: its host resolves to a loopback or "
			 "link-local address, and team_webhooks.allowed_hosts does not name the host "
			 "exactly", url_redact(req->url, shown, sizeof(shown)));
		return;
	}
	webhook_classify(req->url, result, http_code, webhook_request_retry_after(req),
			 webhook_request_location(req), req->errbuf, now, out);
}
