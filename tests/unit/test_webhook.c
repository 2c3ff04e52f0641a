/* Unit tests of daemon/webhook.c: the Standard Webhooks test vector, secrets, Retry-After, the
 * outcome classifier and the request builder's refusals (backoff: test_backoff.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "driftwatch/curl_loop.h"
#include "driftwatch/webhook.h"
#include "tap.h"

/* The specification's published example (its libraries' test suites use the same). */
#define VEC_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VEC_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VEC_TS 1614265330LL
#define VEC_BODY "{\"test\": 2432232314}"
#define VEC_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* base64 of 23, 24, 64 and 65 bytes (0, 1, 2, ...) */
#define B64_23 "AAECAwQFBgcICQoLDA0ODxAREhMUFRY="
#define B64_24 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
#define B64_64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
#define B64_65 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A="

#define URL "https://hooks.la.example/drift"

/* Wed, 21 Oct 2015 07:28:00 GMT */
#define DATE_T 1445412480L

static void test_vector(void)
{
	struct webhook_secret s;
	char err[256] = "", sig[WEBHOOK_SIGNATURE_MAX];

	tap_int(webhook_secret_parse(VEC_SECRET, "vector", &s, err, sizeof(err)), 0,
		"the published secret parses");
	tap_int(s.len, 24, "the published secret is 24 bytes");
	tap_int(webhook_sign(&s, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig), 0,
		"signing the published vector succeeds");
	tap_str(sig, VEC_SIG, "the published test vector gives the published signature");

	/* the signature covers every part: id, timestamp and body */
	webhook_sign(&s, "msg_other", VEC_TS, VEC_BODY, strlen(VEC_BODY), sig);
	tap_ok(strcmp(sig, VEC_SIG) != 0, "another id gives another signature");
	webhook_sign(&s, VEC_ID, VEC_TS + 1, VEC_BODY, strlen(VEC_BODY), sig);
	tap_ok(strcmp(sig, VEC_SIG) != 0, "another timestamp gives another signature");
	webhook_sign(&s, VEC_ID, VEC_TS, "{\"test\": 2432232315}", strlen(VEC_BODY), sig);
	tap_ok(strcmp(sig, VEC_SIG) != 0, "another body gives another signature");

	/* HMAC-SHA256(key, "msg_1.1700000000.") computed with Python's hmac module */
	webhook_sign(&s, "msg_1", 1700000000LL, "", 0, sig);
	tap_str(sig, "v1,gSiPCGkMwgBPwtqun+0WQGJwP7wCS5MuBHUR5RLZhOo=",
		"an empty body signs id.timestamp. only");

	webhook_secret_clear(&s);
	tap_int(s.len, 0, "clearing a secret forgets its length");
}

/* One parse that must fail: its message names the source and says why, never the secret. */
static void expect_bad_secret(const char *text, const char *why, const char *name)
{
	struct webhook_secret s;
	char err[256] = "";
	const char *b64 = strncmp(text, "whsec_", 6) == 0 ? text + 6 : text;

	tap_int(webhook_secret_parse(text, "SRC", &s, err, sizeof(err)), -1, "%s is refused", name);
	tap_contains(err, "SRC: ", "%s: the message names the source", name);
	tap_contains(err, why, "%s: the message says why", name);
	if (strlen(b64) >= 4)
		tap_lacks(err, b64, "%s: the message does not show the secret", name);
	tap_int(s.len, 0, "%s leaves no key", name);
}

static void test_secret_parse(void)
{
	struct webhook_secret s;
	char err[256] = "";

	expect_bad_secret(B64_24, "must start with \"whsec_\"", "a secret without its prefix");
	expect_bad_secret("WHSEC_" B64_24, "must start with \"whsec_\"", "an upper-case prefix");
	expect_bad_secret("whsec_", "empty", "an empty secret");
	expect_bad_secret("whsec_" B64_24 "!", "not valid base64", "a secret with a bad character");
	expect_bad_secret("whsec_" B64_24 "A", "not valid base64", "a secret of bad length");
	expect_bad_secret("whsec_AAAA=AAAAAAAAAAAAAAAAAAAAAAAAAAA", "not valid base64",
			  "padding inside a secret");
	expect_bad_secret("whsec_AAAA AAAAAAAAAAAAAAAAAAAAAAAAAAA", "not valid base64",
			  "a blank inside a secret");
	expect_bad_secret("whsec_-_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "not valid base64",
			  "URL-safe base64");
	expect_bad_secret("whsec_" B64_23, "23 bytes", "a 23-byte key");
	expect_bad_secret("whsec_" B64_65, "65 bytes", "a 65-byte key");
	expect_bad_secret("whsec_" B64_64 B64_64, "longer than 64", "a 128-byte key");

	tap_int(webhook_secret_parse("whsec_" B64_24, "x", &s, err, sizeof(err)), 0,
		"a 24-byte key is accepted");
	tap_ok(s.len == 24 && s.key[0] == 0 && s.key[23] == 23, "a 24-byte key decodes");
	tap_int(webhook_secret_parse("whsec_" B64_64, "x", &s, err, sizeof(err)), 0,
		"a 64-byte key is accepted");
	tap_ok(s.len == 64 && s.key[63] == 63, "a 64-byte key decodes");
}

static char tmpdir[256];

static size_t probe_sink(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		tap_diag("cannot write %s", path);
		return;
	}
	fputs(text, f);
	fclose(f);
}

static void test_secret_load(void)
{
	struct webhook_secret s;
	char path[512], err[512] = "", sig[WEBHOOK_SIGNATURE_MAX];

	snprintf(path, sizeof(path), "%s/hook-secret", tmpdir);
	write_file(path, VEC_SECRET "\n");
	tap_int(webhook_secret_load(path, &s, err, sizeof(err)), 0,
		"a secret file with a trailing newline loads");
	webhook_sign(&s, VEC_ID, VEC_TS, VEC_BODY, strlen(VEC_BODY), sig);
	tap_str(sig, VEC_SIG, "a secret from a file signs like the inline one");

	write_file(path, VEC_SECRET "\r\n\n");
	tap_int(webhook_secret_load(path, &s, err, sizeof(err)), 0,
		"a secret file with CRLF and blank lines after it loads");
	write_file(path, VEC_SECRET);
	tap_int(webhook_secret_load(path, &s, err, sizeof(err)), 0,
		"a secret file without a newline loads");

	write_file(path, "\n");
	tap_int(webhook_secret_load(path, &s, err, sizeof(err)), -1, "an empty secret file fails");
	tap_contains(err, path, "the empty file's message names the file");
	tap_contains(err, "empty", "the empty file's message says it is empty");

	write_file(path, VEC_SECRET "\nwhsec_" B64_24 "\n");
	tap_int(webhook_secret_load(path, &s, err, sizeof(err)), -1, "a two-line secret file fails");
	tap_contains(err, "one line", "the two-line file's message says so");
	tap_lacks(err, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "the two-line message hides the secret");

	write_file(path, "hunter2hunter2hunter2hunter2\n");
	tap_int(webhook_secret_load(path, &s, err, sizeof(err)), -1,
		"a secret file without whsec_ fails");
	tap_contains(err, path, "the bad secret's message names the file");
	tap_lacks(err, "hunter2", "the bad secret's message hides the secret");

	unlink(path);
	tap_int(webhook_secret_load(path, &s, err, sizeof(err)), -1, "a missing secret file fails");
	tap_contains(err, path, "the missing file's message names the file");
	tap_contains(err, "No such file", "the missing file's message says why");
}

static void expect_retry_after(const char *value, time_t now, int rc, long want)
{
	long got = -7;

	tap_int(webhook_parse_retry_after(value, now, &got), rc, "Retry-After \"%s\" %s", value,
		rc == 0 ? "parses" : "is refused");
	if (rc == 0)
		tap_int(got, want, "Retry-After \"%s\" is %ld s", value, want);
}

static void test_retry_after(void)
{
	expect_retry_after("120", 0, 0, 120);
	expect_retry_after("0", 0, 0, 0);
	expect_retry_after(" 7 ", 0, 0, 7);
	expect_retry_after("99999999999999999999", 0, 0, 999999999L);
	expect_retry_after("", 0, -1, 0);
	expect_retry_after("   ", 0, -1, 0);
	expect_retry_after("-5", 0, -1, 0);
	expect_retry_after("1.5", 0, -1, 0);
	expect_retry_after("12abc", 0, -1, 0);
	expect_retry_after("soon", 0, -1, 0);
	/* the three HTTP-date forms, a minute ahead of now */
	expect_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", DATE_T - 60, 0, 60);
	expect_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", DATE_T - 60, 0, 60);
	expect_retry_after("Wed Oct 21 07:28:00 2015", DATE_T - 60, 0, 60);
	/* a date already past means: now */
	expect_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", DATE_T + 3600, 0, 0);
}

struct case_ {
	CURLcode result;
	long code;
	const char *retry_after;
	const char *location;
	enum webhook_verdict want;
	long want_retry_after;
	const char *reason_has;
};

static void test_classify(void)
{
	static const struct case_ cases[] = {
		{ CURLE_OK, 200, NULL, NULL, WEBHOOK_DELIVERED, -1, "HTTP 200" },
		{ CURLE_OK, 202, NULL, NULL, WEBHOOK_DELIVERED, -1, "HTTP 202" },
		{ CURLE_OK, 204, NULL, NULL, WEBHOOK_DELIVERED, -1, "HTTP 204" },
		{ CURLE_OK, 410, NULL, NULL, WEBHOOK_GONE, -1, "410 Gone" },
		{ CURLE_OK, 429, "30", NULL, WEBHOOK_RETRY, 30, "Retry-After 30 s" },
		{ CURLE_OK, 429, NULL, NULL, WEBHOOK_RETRY, -1, "HTTP 429" },
		{ CURLE_OK, 429, "whenever", NULL, WEBHOOK_RETRY, -1, "HTTP 429" },
		{ CURLE_OK, 503, "Wed, 21 Oct 2015 07:28:00 GMT", NULL, WEBHOOK_RETRY, 120,
		  "HTTP 503" },
		{ CURLE_OK, 500, NULL, NULL, WEBHOOK_RETRY, -1, "HTTP 500" },
		{ CURLE_OK, 502, NULL, NULL, WEBHOOK_RETRY, -1, "HTTP 502" },
		{ CURLE_OK, 408, NULL, NULL, WEBHOOK_RETRY, -1, "HTTP 408" },
		{ CURLE_OK, 302, NULL, "https://login.example/", WEBHOOK_MISCONFIGURED, -1,
		  "redirect to https://login.example/ not followed" },
		{ CURLE_OK, 301, NULL, NULL, WEBHOOK_MISCONFIGURED, -1, "(no Location)" },
		{ CURLE_OK, 308, "5", "https://x/", WEBHOOK_MISCONFIGURED, -1, "HTTP 308" },
		{ CURLE_OK, 400, NULL, NULL, WEBHOOK_MISCONFIGURED, -1, "HTTP 400" },
		{ CURLE_OK, 401, NULL, NULL, WEBHOOK_MISCONFIGURED, -1, "HTTP 401" },
		{ CURLE_OK, 404, NULL, NULL, WEBHOOK_MISCONFIGURED, -1, "HTTP 404" },
		{ CURLE_OK, 422, NULL, NULL, WEBHOOK_MISCONFIGURED, -1, "HTTP 422" },
		{ CURLE_COULDNT_CONNECT, 0, NULL, NULL, WEBHOOK_RETRY, -1, "connect" },
		{ CURLE_OPERATION_TIMEDOUT, 0, NULL, NULL, WEBHOOK_RETRY, -1, "Timeout" },
		{ CURLE_OPERATION_TIMEDOUT, 200, NULL, NULL, WEBHOOK_RETRY, -1, "Timeout" },
		{ CURLE_COULDNT_RESOLVE_HOST, 0, NULL, NULL, WEBHOOK_RETRY, -1, "resolve" },
		{ CURLE_GOT_NOTHING, 0, NULL, NULL, WEBHOOK_RETRY, -1, "nothing" },
		{ CURLE_RECV_ERROR, 0, NULL, NULL, WEBHOOK_RETRY, -1, "receiv" },
		{ CURLE_PEER_FAILED_VERIFICATION, 0, NULL, NULL, WEBHOOK_MISCONFIGURED, -1, "SSL" },
		{ CURLE_UNSUPPORTED_PROTOCOL, 0, NULL, NULL, WEBHOOK_MISCONFIGURED, -1, "protocol" },
		{ CURL_LOOP_CANCELLED, 0, NULL, NULL, WEBHOOK_CANCELLED, -1, "cancelled" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct case_ *c = &cases[i];
		struct webhook_outcome o;
		char name[128];

		snprintf(name, sizeof(name), "curl %d, HTTP %ld", (int)c->result, c->code);
		webhook_classify(URL, c->result, c->code, c->retry_after, c->location,
				 "details from libcurl", DATE_T - 120, &o);
		tap_str(webhook_verdict_name(o.verdict), webhook_verdict_name(c->want),
			"%s is classified %s", name, webhook_verdict_name(c->want));
		tap_int(o.retry_after_s, c->want_retry_after, "%s: retry_after_s", name);
		tap_contains(o.reason, URL ": ", "%s: the reason names the endpoint", name);
		tap_contains(o.reason, c->reason_has, "%s: the reason says %s", name, c->reason_has);
	}
	{
		struct webhook_outcome o;

		webhook_classify(URL, CURLE_COULDNT_CONNECT, 0, NULL, NULL,
				 "Failed to connect to 127.0.0.1 port 9", 0, &o);
		tap_contains(o.reason, "Failed to connect to 127.0.0.1 port 9",
			     "a curl failure's reason has libcurl's details");
		webhook_classify(URL, CURLE_OK, 200, NULL, NULL, NULL, 0, &o);
		tap_int(o.http_code, 200, "the outcome keeps the HTTP code");
	}
	tap_str(webhook_verdict_name(WEBHOOK_DELIVERED), "delivered", "verdict name delivered");
	tap_str(webhook_verdict_name(WEBHOOK_MISCONFIGURED), "misconfigured",
		"verdict name misconfigured");
}

static void test_request(void)
{
	struct webhook_secret s;
	struct webhook_request *req;
	char err[512] = "";

	webhook_secret_parse(VEC_SECRET, "vector", &s, err, sizeof(err));
	req = webhook_request_new(URL, &s, "msg 1", 1, "{}", NULL, err, sizeof(err));
	tap_ok(req == NULL, "a webhook-id with a space is refused");
	tap_contains(err, URL ": webhook-id", "the refusal names the endpoint and the header");
	req = webhook_request_new(URL, &s, "msg_1\r\nX-Evil: 1", 1, "{}", NULL, err, sizeof(err));
	tap_ok(req == NULL, "a webhook-id with CR LF (header injection) is refused");
	req = webhook_request_new(URL, &s, "", 1, "{}", NULL, err, sizeof(err));
	tap_ok(req == NULL, "an empty webhook-id is refused");

	req = webhook_request_new(URL, &s, VEC_ID, VEC_TS, VEC_BODY, NULL, err, sizeof(err));
	tap_ok(req != NULL, "a request is built");
	if (req) {
		struct webhook_outcome o;

		tap_ok(webhook_request_easy(req) != NULL, "the request has an easy handle");
		tap_str(webhook_request_url(req), URL, "the request keeps its URL");
		tap_ok(webhook_request_retry_after(req) == NULL, "no Retry-After before an answer");
		tap_ok(webhook_request_location(req) == NULL, "no Location before an answer");
		webhook_request_classify(req, CURLE_OK, 204, 0, &o);
		tap_int(o.verdict, WEBHOOK_DELIVERED, "a request's 204 is delivered");
		webhook_request_free(req);
	}
	webhook_request_free(NULL);
	webhook_secret_clear(&s);
}

/* ---- curl_loop without a network: file:// transfers and cancellation ---- */

struct loop_probe {
	struct curl_loop *loop;
	struct event_base *base;
	int order[8];
	CURLcode results[8];
	int n;
	size_t max_running;
	int add_during_free;   /* what curl_loop_add answered from a callback during free */
	int try_add;
};

struct loop_item {
	struct loop_probe *p;
	int id;
};

static void probe_done(CURL *easy, CURLcode result, long code, void *arg)
{
	struct loop_item *it = arg;
	struct loop_probe *p = it->p;

	(void)code;
	if (p->n < 8) {
		p->order[p->n] = it->id;
		p->results[p->n] = result;
	}
	p->n++;
	if (curl_loop_running(p->loop) > p->max_running)
		p->max_running = curl_loop_running(p->loop);
	if (p->try_add)
		p->add_during_free = curl_loop_add(p->loop, easy, probe_done, arg);
	curl_easy_cleanup(easy);
	if (p->n == 5 && p->base)
		event_base_loopbreak(p->base);
}

static CURL *file_easy(const char *url)
{
	CURL *e = curl_easy_init();

	if (e) {
		curl_easy_setopt(e, CURLOPT_URL, url);
		curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, probe_sink);
	}
	return e;
}

static void test_curl_loop(void)
{
	struct loop_probe p;
	struct loop_item items[5];
	struct event_base *base = event_base_new();
	char url[600];
	int i, fifo = 1, all_ok = 1, added = 1;

	memset(&p, 0, sizeof(p));
	snprintf(url, sizeof(url), "file://%s/payload", tmpdir);
	write_file(url + strlen("file://"), "{}");

	/* five transfers through two slots: all complete, in order, never more than two at once */
	p.base = base;
	p.loop = base ? curl_loop_new(base, 2) : NULL;
	tap_ok(p.loop != NULL, "curl_loop_new makes a loop");
	if (!p.loop)
		return;
	for (i = 0; i < 5; i++) {
		items[i].p = &p;
		items[i].id = i;
		if (curl_loop_add(p.loop, file_easy(url), probe_done, &items[i]) < 0)
			added = 0;
	}
	tap_ok(added, "five transfers are accepted");
	tap_int(curl_loop_running(p.loop), 2, "two run at once");
	tap_int(curl_loop_queued(p.loop), 3, "three wait in the queue");
	event_base_dispatch(base);
	tap_int(p.n, 5, "every transfer's callback ran once");
	for (i = 0; i < 5 && i < p.n; i++) {
		if (p.order[i] != i)
			fifo = 0;
		if (p.results[i] != CURLE_OK)
			all_ok = 0;
	}
	tap_ok(fifo, "transfers finish in the order they were queued");
	tap_ok(all_ok, "every file:// transfer succeeded");
	tap_ok(p.max_running <= 2, "never more than two were running (%zu)", p.max_running);
	tap_int(curl_loop_running(p.loop) + curl_loop_queued(p.loop), 0, "the loop is empty");
	curl_loop_free(p.loop);

	/* freeing cancels running ones first, then queued ones in order, each callback once */
	memset(&p, 0, sizeof(p));
	p.loop = curl_loop_new(base, 0);
	tap_ok(p.loop != NULL, "a loop with max 0 (taken as 1) is made");
	if (!p.loop)
		return;
	for (i = 0; i < 3; i++) {
		items[i].p = &p;
		items[i].id = i;
		curl_loop_add(p.loop, file_easy(url), probe_done, &items[i]);
	}
	tap_int(curl_loop_running(p.loop), 1, "max 0 runs one at a time");
	tap_int(curl_loop_add(p.loop, NULL, probe_done, &items[0]), -1, "a NULL handle is refused");
	p.try_add = 1;
	curl_loop_free(p.loop);
	tap_int(p.n, 3, "curl_loop_free called every callback once");
	tap_ok(p.order[0] == 0 && p.order[1] == 1 && p.order[2] == 2,
	       "running first, then queued in order");
	tap_ok(p.results[0] == CURL_LOOP_CANCELLED && p.results[1] == CURL_LOOP_CANCELLED &&
	       p.results[2] == CURL_LOOP_CANCELLED, "each with CURL_LOOP_CANCELLED");
	tap_int(p.add_during_free, -1, "curl_loop_add is refused while the loop is being freed");
	curl_loop_free(NULL);
	unlink(url + strlen("file://"));
	event_base_free(base);
}

int main(void)
{
	char tmpl[] = "/tmp/test_webhook.XXXXXX";

	if (!mkdtemp(tmpl)) {
		tap_ok(false, "a temporary directory under /tmp: %s", strerror(errno));
		return tap_status();
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	test_vector();
	test_secret_parse();
	test_secret_load();
	test_retry_after();
	test_classify();
	test_request();
	test_curl_loop();
	curl_global_cleanup();
	rmdir(tmpdir);
	return tap_status();
}
