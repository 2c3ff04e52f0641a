/* test_noticelinks: the Acknowledge, Snooze and Open links in digests and webhook payloads:
 * each token verifies for the person the notice went to and the purpose of its link, and a
 * notice without links configured is byte for byte what it was. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "driftwatch/calendar.h"
#include "driftwatch/linktoken.h"
#include "driftwatch/mail.h"
#include "driftwatch/noticelinks.h"
#include "tap.h"

#define SECRET "0123456789abcdefghijklmnopqrstuvwxyzABCDEF"
#define OTHER_SECRET "a different secret of more than thirty-two bytes"
#define PUBLIC "https://driftwatch.la.example/dw"
#define FROM "driftwatch@la.example"
#define TO "chair@la.example"
#define DATE 1795000000
#define FP1 "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define FP2 "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752"
#define AS_OF "2026-11-22"
#define DAYS 30

static json_t *alert(const char *fp, const char *status)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{s:i}, s:[{s:s, s:s},"
			      " {s:s, s:s}, {s:s, s:s}, {s:s, s:s}], s:s, s:s}",
			      "rule", "cp_neglect_duration", "stage", "15m", "status", status,
			      "child_id", "C-1042", "subject_id", "CPP-77", "fingerprint", fp,
			      "as_of", AS_OF, "facts", "months", 15, "recipients",
			      "role", "cp_chair", "email", TO,
			      "role", "supervisor", "email", "sup@la.example",
			      "role", "cp_manager", "email", "CHAIR@la.example",
			      "role", "fallback", "email", "not an address",
			      "link", "https://lcs.example/person/C-1042",
			      "summary", "Child C-1042 has been on a plan for 15 months.");

	if (!a) {
		tap_diag("fixture alert did not build");
		exit(1);
	}
	return a;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Quoted-printable (as mail_compose writes it) to text with "\n" line ends. */
static char *qp_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	for (size_t i = 0; out && i < len; i++) {
		if (s[i] == '=' && i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
		} else if (s[i] == '=' && i + 2 < len && unhex(s[i + 1]) >= 0 &&
			   unhex(s[i + 2]) >= 0) {
			out[n++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
			i += 2;
		} else if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
			out[n++] = '\n';
			i++;
		} else {
			out[n++] = s[i];
		}
	}
	if (out)
		out[n] = '\0';
	return out;
}

/* The decoded body of the part of this Content-Type (the parts end at the next "\r\n--=_"). */
static char *part(const char *msg, const char *type)
{
	char want[64];
	const char *p, *body, *end;

	snprintf(want, sizeof(want), "Content-Type: %s;", type);
	p = strstr(msg, want);
	body = p ? strstr(p, "\r\n\r\n") : NULL;
	if (!body)
		return NULL;
	body += 4;
	end = strstr(body, "\r\n--=_driftwatch_");
	return end ? qp_decode(body, (size_t)(end - body) + 2) : NULL;
}

struct found {
	char *urls[16];
	size_t n;
};

static void found_free(struct found *f)
{
	for (size_t i = 0; i < f->n; i++)
		free(f->urls[i]);
	f->n = 0;
}

/* Every PUBLIC "/r/..." link in text, in order: a URL runs to the first character base64url
 * does not use (a line end, a quote). */
static void find_links(const char *text, struct found *f)
{
	const char *prefix = PUBLIC "/r/";

	f->n = 0;
	for (const char *p = text ? strstr(text, prefix) : NULL; p && f->n < 16;
	     p = strstr(p + 1, prefix)) {
		size_t len = strlen(prefix) + strspn(p + strlen(prefix), "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
						      "abcdefghijklmnopqrstuvwxyz0123456789-_");

		f->urls[f->n] = strndup(p, len);
		f->n++;
	}
}

static const char *token_of(const char *url)
{
	return url + strlen(PUBLIC "/r/");
}

static int32_t last_day(void)
{
	int32_t d = 0;

	calendar_day_parse(AS_OF, &d);
	return d + DAYS;
}

/* The token in url is good for exactly purpose, for recipient and alert fp, through AS_OF +
 * DAYS and not a day more. */
static void check_token(const struct linktoken_key *key, const char *url,
			enum linktoken_purpose purpose, const char *recipient, const char *fp,
			const char *what)
{
	struct linktoken_claims c;
	unsigned others = 0;

	for (int p = 1; p <= LINKTOKEN_PURPOSE_MAX; p++)
		if (p != (int)purpose)
			others |= LINKTOKEN_ACCEPT(p);
	tap_int(linktoken_verify(key, token_of(url), last_day(), LINKTOKEN_ACCEPT(purpose), &c),
		LINKTOKEN_OK, "%s: verifies on its last day", what);
	tap_str(c.recipient, recipient, "%s: names the recipient", what);
	tap_str(c.fingerprint, fp, "%s: names the alert", what);
	tap_int(c.last_day, last_day(), "%s: good for web.link_days after as_of", what);
	tap_int(linktoken_verify(key, token_of(url), last_day() + 1, LINKTOKEN_ACCEPT(purpose),
				 &c), LINKTOKEN_EXPIRED, "%s: expired the day after", what);
	tap_int(linktoken_verify(key, token_of(url), last_day(), others, &c),
		LINKTOKEN_WRONG_PURPOSE, "%s: good for nothing else", what);
}

static void load_key(struct linktoken_key *key, const char *secret)
{
	char err[256];

	if (linktoken_key_init(key, secret, strlen(secret), err, sizeof(err)) < 0) {
		tap_diag("key: %s", err);
		exit(1);
	}
}

static void test_digest(void)
{
	struct linktoken_key key, other;
	struct noticelinks nl = { PUBLIC, &key, DAYS };
	json_t *firing = alert(FP1, "firing"), *resolved = alert(FP2, "resolved");
	json_t *report = json_pack("{s:s, s:s, s:s, s:s, s:{}}", "rule", "driftwatch", "stage",
				   "rule_failing", "summary", "rule x fails", "fingerprint", FP1,
				   "facts");
	struct mail_notice n[3] = {
		{ "alert.resolved", resolved, NULL, "k2", NULL, 0 },
		{ "rule.failing", report, NULL, "k3", NULL, 0 },
		{ "alert.firing", firing, NULL, "k1", NULL, 0 },
	};
	struct mail_message m, plain;
	struct found t = { { NULL }, 0 }, h = { { NULL }, 0 };
	char err[256], *text, *html;
	struct linktoken_claims c;

	load_key(&key, SECRET);
	load_key(&other, OTHER_SECRET);
	tap_int(mail_compose_links(FROM, TO, DATE, &nl, n, 3, &m, err, sizeof(err)), 0,
		"digest with links composes");
	tap_int(mail_compose(FROM, TO, DATE, n, 3, &plain, err, sizeof(err)), 0,
		"digest without links composes");
	tap_str(m.message_id, plain.message_id, "links do not change the Message-ID");
	text = part(m.data, "text/plain");
	html = part(m.data, "text/html");
	tap_ok(text && html, "both parts decode");
	find_links(text, &t);
	find_links(html, &h);
	/* firing first (kind order): Acknowledge, Snooze, Open; then the resolution's Open */
	tap_int((long long)t.n, 4, "text part: 3 links for the firing alert, Open for the resolved");
	tap_int((long long)h.n, 4, "HTML part: the same 4 links");
	if (t.n == 4 && h.n == 4) {
		check_token(&key, t.urls[0], LINKTOKEN_LINK_ACKNOWLEDGE, TO, FP1, "text acknowledge");
		check_token(&key, t.urls[1], LINKTOKEN_LINK_SNOOZE, TO, FP1, "text snooze");
		check_token(&key, t.urls[2], LINKTOKEN_LINK_OPEN, TO, FP1, "text open");
		check_token(&key, t.urls[3], LINKTOKEN_LINK_OPEN, TO, FP2, "text open (resolved)");
		for (size_t i = 0; i < 4; i++)
			tap_str(h.urls[i], t.urls[i], "HTML link %zu is the text part's", i);
		tap_int(linktoken_verify(&other, token_of(t.urls[0]), last_day(),
					 LINKTOKEN_ACCEPT(LINKTOKEN_LINK_ACKNOWLEDGE), &c),
			LINKTOKEN_FOREIGN, "another installation's key refuses it");
	}
	/* a reader sees each URL whole, on a line saying what it does */
	tap_ok(text && t.n == 4 && strstr(text, "   Acknowledge: " PUBLIC "/r/") &&
	       strstr(text, "   Snooze: " PUBLIC "/r/") && strstr(text, "   Open: " PUBLIC "/r/"),
	       "text part: \"Acknowledge: URL\", \"Snooze: URL\", \"Open: URL\"");
	tap_contains(html, ">Acknowledge</a>", "HTML: the acknowledge button is a link with words");
	tap_contains(html, ">Snooze</a>", "HTML: the snooze button is a link with words");
	tap_contains(html, ">Open</a>", "HTML: the open button is a link with words");
	tap_contains(html, "aria-label=\"Acknowledge this alert (child C-1042)\"",
		     "HTML: each button says which alert it answers");
	tap_lacks(html, "<img", "HTML: no images");
	tap_lacks(html, "<style", "HTML: no style sheet a mail program would drop");
	found_free(&t);
	found_free(&h);
	free(text);
	free(html);

	/* without links: byte for byte what mail_compose makes, and no link anywhere */
	{
		struct noticelinks off = { PUBLIC, NULL, DAYS };
		struct mail_message a, b;

		tap_int(mail_compose_links(FROM, TO, DATE, NULL, n, 3, &a, err, sizeof(err)), 0,
			"NULL links composes");
		tap_int(mail_compose_links(FROM, TO, DATE, &off, n, 3, &b, err, sizeof(err)), 0,
			"links without a key compose");
		tap_ok(a.data && plain.data && a.len == plain.len &&
		       memcmp(a.data, plain.data, a.len) == 0, "NULL links: byte-identical");
		tap_ok(b.data && plain.data && b.len == plain.len &&
		       memcmp(b.data, plain.data, b.len) == 0, "no key: byte-identical");
		tap_lacks(plain.data, "/r/", "no link without links configured");
		tap_lacks(plain.data, "Acknowledge", "no Acknowledge without links configured");
		mail_message_free(&a);
		mail_message_free(&b);
	}
	mail_message_free(&m);
	mail_message_free(&plain);
	json_decref(firing);
	json_decref(resolved);
	json_decref(report);
	linktoken_key_clear(&key);
	linktoken_key_clear(&other);
}

/* An alert that cannot be linked (recorded without a fingerprint) still reaches its reader. */
static void test_digest_unlinkable(void)
{
	struct linktoken_key key;
	struct noticelinks nl = { PUBLIC, &key, DAYS };
	json_t *bad = alert("not-a-fingerprint", "firing"), *good = alert(FP1, "firing");
	struct mail_notice n[2] = { { "alert.firing", bad, NULL, "k1", NULL, 0 },
				    { "alert.escalated", good, NULL, "k2", NULL, 0 } };
	struct mail_message m;
	struct found t = { { NULL }, 0 };
	char err[256], *text;

	load_key(&key, SECRET);
	tap_int(mail_compose_links(FROM, TO, DATE, &nl, n, 2, &m, err, sizeof(err)), 0,
		"a digest with an unlinkable alert composes");
	text = m.data ? part(m.data, "text/plain") : NULL;
	find_links(text, &t);
	tap_int((long long)t.n, 3, "only the linkable alert has links");
	if (t.n == 3)
		check_token(&key, t.urls[0], LINKTOKEN_LINK_ACKNOWLEDGE, TO, FP1,
			    "escalated acknowledge");
	tap_int(text ? (long long)(strstr(text, "1. Escalated") != NULL) : 0, 1,
		"the escalation comes first");
	tap_contains(text, "2. New:", "the unlinkable alert is the digest's second notice");
	found_free(&t);
	free(text);
	mail_message_free(&m);
	json_decref(bad);
	json_decref(good);
	linktoken_key_clear(&key);
}

static void test_webhook(void)
{
	struct linktoken_key key;
	struct noticelinks nl = { PUBLIC, &key, DAYS };
	json_t *a = alert(FP1, "firing"), *actions, *x;
	static const char *const kinds[] = { "acknowledge", "snooze", "open" };
	static const enum linktoken_purpose purposes[] = {
		LINKTOKEN_LINK_ACKNOWLEDGE, LINKTOKEN_LINK_SNOOZE, LINKTOKEN_LINK_OPEN
	};
	static const char *const who[] = { TO, "sup@la.example" };
	char err[256], what[64];
	size_t i;

	load_key(&key, SECRET);
	tap_int(noticelinks_webhook_actions(&nl, "alert.firing", a, err, sizeof(err)), 0,
		"webhook actions are made");
	actions = json_object_get(a, "actions");
	/* chair and supervisor; CHAIR@ is the chair again; "not an address" names nobody */
	tap_int((long long)json_array_size(actions), 6, "3 actions for each of 2 people");
	json_array_foreach(actions, i, x) {
		const char *url = json_string_value(json_object_get(x, "url"));

		if (i >= 6)
			break;
		tap_str(json_string_value(json_object_get(x, "kind")), kinds[i % 3],
			"action %zu: kind", i);
		tap_str(json_string_value(json_object_get(x, "recipient")), who[i / 3],
			"action %zu: whose it is", i);
		tap_ok(url && strncmp(url, PUBLIC "/r/", strlen(PUBLIC "/r/")) == 0,
		       "action %zu: {public_url}/r/{token}", i);
		snprintf(what, sizeof(what), "webhook action %zu", i);
		if (url)
			check_token(&key, url, purposes[i % 3], who[i / 3], FP1, what);
	}
	json_decref(a);

	a = alert(FP2, "resolved");
	tap_int(noticelinks_webhook_actions(&nl, "alert.resolved", a, err, sizeof(err)), 0,
		"resolved: made");
	tap_int((long long)json_array_size(json_object_get(a, "actions")), 2,
		"resolved: Open only, for each person");
	x = json_array_get(json_object_get(a, "actions"), 0);
	tap_str(json_string_value(json_object_get(x, "kind")), "open", "resolved: open");
	json_decref(a);

	a = alert(FP1, "firing");
	tap_int(noticelinks_webhook_actions(NULL, "alert.firing", a, err, sizeof(err)), 0,
		"off: nothing to do");
	tap_ok(json_object_get(a, "actions") == NULL, "off: no \"actions\" key at all");
	tap_int(noticelinks_webhook_actions(&nl, "alert.acknowledged", a, err, sizeof(err)), 0,
		"a response's notice: nothing to do");
	tap_ok(json_object_get(a, "actions") == NULL, "a response's notice: no actions");
	json_object_set_new(a, "recipients", json_array());
	tap_int(noticelinks_webhook_actions(&nl, "alert.firing", a, err, sizeof(err)), 0,
		"nobody to answer as: made");
	tap_ok(json_is_array(json_object_get(a, "actions")) &&
	       json_array_size(json_object_get(a, "actions")) == 0, "nobody to answer as: []");
	json_object_set_new(a, "fingerprint", json_string("short"));
	json_object_set_new(a, "recipients", json_pack("[{s:s}]", "email", TO));
	json_object_del(a, "actions");
	tap_int(noticelinks_webhook_actions(&nl, "alert.firing", a, err, sizeof(err)), -1,
		"a bad fingerprint is refused");
	tap_contains(err, "fingerprint", "and the error says so");
	tap_ok(json_object_get(a, "actions") == NULL, "refused: the payload is unchanged");
	json_decref(a);
	linktoken_key_clear(&key);
}

static void test_make(void)
{
	struct linktoken_key key;
	struct noticelinks nl = { PUBLIC, &key, DAYS };
	json_t *a = alert(FP1, "firing");
	char *urls[NOTICELINKS_KINDS], err[256];

	load_key(&key, SECRET);
	tap_int(noticelinks_make(&nl, "alert.updated", a, TO, urls, err, sizeof(err)), 3,
		"updated: three links");
	noticelinks_free(urls);
	tap_int(noticelinks_make(&nl, "delivery.failed", a, TO, urls, err, sizeof(err)), 0,
		"a failure report: none");
	tap_ok(!urls[0] && !urls[1] && !urls[2], "none means NULLs");
	/* a response's notice tells what was done: nothing left to answer through it */
	for (size_t i = 0; i < 3; i++) {
		static const char *const responses[] = {
			"alert.acknowledged", "alert.snoozed", "alert.unsnoozed"
		};

		tap_int(noticelinks_make(&nl, responses[i], a, TO, urls, err, sizeof(err)), 0,
			"%s: no links", responses[i]);
		tap_ok(noticelinks_wanted(responses[i]) == 0, "%s: none wanted", responses[i]);
	}
	tap_int(noticelinks_make(&nl, "alert.firing", a, "Chair <chair@la.example>", urls, err,
				 sizeof(err)), -1, "a recipient linktoken cannot name is refused");
	tap_ok(!urls[0] && !urls[1] && !urls[2], "refused leaves NULLs");
	json_object_del(a, "as_of");
	tap_int(noticelinks_make(&nl, "alert.firing", a, TO, urls, err, sizeof(err)), -1,
		"no as_of: refused");
	tap_contains(err, "as_of", "and the error names as_of");
	json_decref(a);
	linktoken_key_clear(&key);
}

int main(void)
{
	test_digest();
	test_digest_unlinkable();
	test_webhook();
	test_make();
	return tap_status();
}
