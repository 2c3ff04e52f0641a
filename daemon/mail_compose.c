/* mail_compose: one recipient's digest of notices as a complete multipart RFC 5322 message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "driftwatch/errmsg.h"
#include "driftwatch/facts.h"
#include "driftwatch/html.h"
#include "driftwatch/mail.h"
#include "driftwatch/mailaddr.h"
#include "driftwatch/noticelinks.h"
#include "driftwatch/strbuf.h"

#define MAIL_LINE_MAX 76       /* RFC 2045 and 2047: encoded lines stay within this */
#define MAIL_TEXT_WIDTH 72     /* the plain text part is wrapped here for readers */
#define MAIL_FACTS_DEPTH 3     /* nested facts deeper than this are not spelled out */

/* ---- errors ---- */

/* ---- what a notice is ---- */

/* In reading order. A failure report goes to the operators: a notice that could not be
 * delivered and will not be tried again. */
enum mail_kind {
	MAIL_KIND_UNANSWERED, MAIL_KIND_ESCALATED, MAIL_KIND_FIRING, MAIL_KIND_UPDATED,
	MAIL_KIND_RESOLVED, MAIL_KIND_FAILED, MAIL_KIND_RULE_FAILING, MAIL_KIND_RULE_RECOVERED,
	MAIL_KIND_BAD_ADDRESS, MAIL_KIND_TEAM_WEBHOOK
};
#define MAIL_N_KINDS 10

static const char *const mail_kind_types[MAIL_N_KINDS] = {
	"alert.unanswered", "alert.escalated", "alert.firing", "alert.updated", "alert.resolved",
	"delivery.failed", "rule.failing", "rule.recovered", "data.bad_address", "data.team_webhook"
};

/* Reports to the operators about driftwatch itself, not news about a child. */
static int mail_kind_report(int kind)
{
	return kind == MAIL_KIND_FAILED || kind == MAIL_KIND_RULE_FAILING ||
	       kind == MAIL_KIND_RULE_RECOVERED || kind == MAIL_KIND_BAD_ADDRESS ||
	       kind == MAIL_KIND_TEAM_WEBHOOK;
}

static int mail_kind_of(const char *type)
{
	for (int k = 0; k < MAIL_N_KINDS; k++)
		if (type && strcmp(type, mail_kind_types[k]) == 0)
			return k;
	return -1;
}

static const char *mail_alert_str(const json_t *alert, const char *key)
{
	const char *s = json_string_value(json_object_get(alert, key));

	return s && *s ? s : NULL;
}

/* How driftwatch's own reports read in a subject after a count. An alert's notice carries its
 * own words, from its rule when it was recorded (notice.h). */
struct mail_label {
	const char *rule;
	const char *stage;
	const char *one;
	const char *many;
};

static const struct mail_label mail_report_labels[] = {
	{ "delivery", "failed", "undelivered notice", "undelivered notices" },
	{ "driftwatch", "rule_failing", "failing rule", "failing rules" },
	{ "driftwatch", "rule_recovered", "recovered rule", "recovered rules" },
	{ "driftwatch", "bad_address", "unusable address", "unusable addresses" },
	{ "driftwatch", "team_webhook", "refused team webhook", "refused team webhooks" },
};

/* A string of the notice object, or NULL (a notice recorded before notices carried words). */
static const char *mail_notice_str(const struct mail_notice *n, const char *key)
{
	const char *s = json_string_value(json_object_get(n->notice, key));

	return s && *s ? s : NULL;
}

/* Control characters (a CR or LF above all) never reach a header or break a body line. */
static void mail_append_clean(struct strbuf *out, const char *s)
{
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		strbuf_appendn(out, c < 0x20 || c == 0x7f ? " " : p, 1);
	}
}

/* "plan_start" -> "plan start" (and control characters as spaces, as above) */
static void mail_key_words(struct strbuf *out, const char *key)
{
	for (const char *p = key; *p; p++) {
		unsigned char c = (unsigned char)*p;

		strbuf_appendn(out, c == '_' || c < 0x20 || c == 0x7f ? " " : p, 1);
	}
}

/* The notice's own label; a report's from the list above; else the rule's name and stage in
 * plain characters (a notice recorded before notices carried their words). */
static void mail_append_label(struct strbuf *out, const struct mail_notice *n, size_t count)
{
	const char *rule = mail_alert_str(n->alert, "rule");
	const char *stage = mail_alert_str(n->alert, "stage");
	const char *own = mail_notice_str(n, count == 1 ? "label" : "label_many");

	if (own) {
		mail_append_clean(out, own);
		return;
	}
	rule = rule ? rule : "unknown rule";
	stage = stage ? stage : "";
	for (size_t i = 0; i < sizeof(mail_report_labels) / sizeof(mail_report_labels[0]); i++) {
		const struct mail_label *l = &mail_report_labels[i];

		if (strcmp(l->rule, rule) != 0 || strcmp(l->stage, stage) != 0)
			continue;
		strbuf_append(out, count == 1 ? l->one : l->many);
		return;
	}
	mail_key_words(out, rule);
	if (*stage) {
		strbuf_append(out, " ");
		mail_append_clean(out, stage);
	}
}

/* ---- the notices in reading order ---- */

struct mail_item {
	const struct mail_notice *n;
	int kind;
	char *label;         /* singular label, for the headings and grouping */
};

struct mail_digest {
	struct mail_item *items;
	size_t n;
	const char *to;      /* the person it goes to */
	const struct noticelinks *links; /* NULL: no links (as before links existed) */
};

static void mail_digest_free(struct mail_digest *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->items[i].label);
	free(d->items);
	d->items = NULL;
	d->n = 0;
}

static int mail_digest_build(const struct mail_notice *notices, size_t n, struct mail_digest *d,
			     char *err, size_t errsz)
{
	size_t at = 0;

	d->n = 0;
	d->items = calloc(n, sizeof(*d->items));
	if (!d->items)
		return errmsg_set(err, errsz, "out of memory");
	/* a stable order by kind: escalations are what a reader must see first */
	for (int k = 0; k < MAIL_N_KINDS; k++) {
		for (size_t i = 0; i < n; i++) {
			struct strbuf sb;

			if (mail_kind_of(notices[i].type) != k)
				continue;
			strbuf_init(&sb);
			mail_append_label(&sb, &notices[i], 1);
			d->items[at].n = &notices[i];
			d->items[at].kind = k;
			d->items[at].label = strbuf_take(&sb);
			d->n = ++at;
			if (!d->items[at - 1].label)
				return errmsg_set(err, errsz, "out of memory");
		}
	}
	return 0;
}

/* ---- subject ---- */

static size_t mail_count_kind(const struct mail_digest *d, int (*is)(int kind))
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += is(d->items[i].kind);
	return n;
}

static int mail_kind_is_failed(int kind)
{
	return kind == MAIL_KIND_FAILED;
}

static size_t mail_count_failed(const struct mail_digest *d)
{
	return mail_count_kind(d, mail_kind_is_failed);
}

/* "3 drift alerts", "2 drift alerts and 1 undelivered notice", "driftwatch: 2 undelivered
 * notices": an operators' report must not read like news about a child. */
static void mail_subject_head(struct strbuf *sb, const struct mail_digest *d)
{
	size_t failed = mail_count_failed(d);
	size_t alerts = d->n - mail_count_kind(d, mail_kind_report);

	if (alerts)
		strbuf_printf(sb, "%zu drift alert%s", alerts, alerts == 1 ? "" : "s");
	if (failed)
		strbuf_printf(sb, "%s%zu undelivered notice%s", alerts ? " and " : "driftwatch: ",
			      failed, failed == 1 ? "" : "s");
	if (!alerts && !failed)
		strbuf_append(sb, "driftwatch");
}

/* What a subject's group says after its label: news of the alert itself says nothing more. */
static const char *mail_subject_suffix(int kind)
{
	if (kind == MAIL_KIND_RESOLVED)
		return " resolved";
	if (kind == MAIL_KIND_UNANSWERED)
		return " not answered";
	return "";
}

/* "3 drift alerts: 1 CP escalation at 15 months, 1 repeat CP plan, 1 was-not-brought" */
static char *mail_subject(const struct mail_digest *d)
{
	struct strbuf sb;
	char *done = calloc(d->n ? d->n : 1, 1);

	if (!done)
		return NULL;
	strbuf_init(&sb);
	mail_subject_head(&sb, d);
	for (size_t i = 0, groups = 0; i < d->n; i++) {
		size_t count = 0;
		const char *suffix = mail_subject_suffix(d->items[i].kind);

		if (done[i] || d->items[i].kind == MAIL_KIND_FAILED)
			continue;
		/* the same label counts once per group; a resolution, or a stage nobody answered, is
		 * a group of its own */
		for (size_t j = i; j < d->n; j++) {
			if (done[j] || strcmp(d->items[j].label, d->items[i].label) != 0 ||
			    mail_subject_suffix(d->items[j].kind) != suffix)
				continue;
			done[j] = 1;
			count++;
		}
		strbuf_printf(&sb, "%s %zu ", groups++ ? "," : ":", count);
		mail_append_label(&sb, d->items[i].n, count);
		strbuf_append(&sb, suffix);
	}
	free(done);
	return strbuf_take(&sb);
}

/* ---- header encoding ---- */

static int mail_is_ascii_text(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	return 1;
}

/* An ASCII value folded before spaces so no line passes MAIL_LINE_MAX (a longer word stays
 * whole: RFC 5322 allows up to 998). */
static void mail_header_folded(struct strbuf *out, const char *name, const char *value)
{
	size_t col = strlen(name) + 2;
	const char *p = value;

	strbuf_printf(out, "%s: ", name);
	while (*p) {
		const char *sp = strchr(p + 1, ' ');
		size_t word = sp ? (size_t)(sp - p) : strlen(p);

		if (p != value && *p == ' ' && col + word > MAIL_LINE_MAX) {
			strbuf_append(out, "\r\n");
			col = 0;
		}
		strbuf_appendn(out, p, word);
		col += word;
		p += word;
	}
	strbuf_append(out, "\r\n");
}

/* Base64 by OpenSSL (linked for signing anyway), in chunks so no length needs a big buffer. */
static void mail_base64(struct strbuf *out, const unsigned char *p, size_t n)
{
	unsigned char q[4 * 16 + 1];

	while (n > 0) {
		size_t take = n < 48 ? n : 48;
		int len = EVP_EncodeBlock(q, p, (int)take);

		strbuf_appendn(out, (const char *)q, (size_t)len);
		p += take;
		n -= take;
	}
}

/* A UTF-8 value as RFC 2047 "B" encoded-words, one per line, each ending on a character
 * boundary (a split character would decode as garbage in every mail reader). */
static void mail_header_encoded(struct strbuf *out, const char *name, const char *value)
{
	static const size_t overhead = sizeof("=?UTF-8?B?" "?=") - 1;
	const unsigned char *p = (const unsigned char *)value;
	size_t left = strlen(value);
	size_t indent = strlen(name) + 2;   /* "Subject: " on the first line, " " after */

	strbuf_printf(out, "%s: ", name);
	for (int first = 1; left > 0; first = 0) {
		size_t room = (MAIL_LINE_MAX - indent - overhead) / 4 * 3;
		size_t take = left < room ? left : room;

		/* back off from the middle of a multi-byte character (room is far above the 4
		 * bytes one can take, so take never reaches 0) */
		while (take < left && take > 1 && (p[take] & 0xc0) == 0x80)
			take--;
		if (!first)
			strbuf_append(out, "\r\n ");
		strbuf_append(out, "=?UTF-8?B?");
		mail_base64(out, p, take);
		strbuf_append(out, "?=");
		p += take;
		left -= take;
		indent = 1;
	}
	strbuf_append(out, "\r\n");
}

static void mail_header_text(struct strbuf *out, const char *name, const char *value)
{
	if (mail_is_ascii_text(value))
		mail_header_folded(out, name, value);
	else
		mail_header_encoded(out, name, value);
}

/* Only a plain addr-spec goes into From and To: anything else could smuggle in a header. */
static int mail_address_ok(const char *a)
{
	return mailaddr_usable(a, NULL);
}

/* The host part of From, kept to the characters a msg-id's right side may hold. */
static void mail_append_host(struct strbuf *out, const char *from)
{
	size_t before = out->len;

	for (const char *p = strrchr(from, '@') + 1; *p; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-')
			strbuf_appendn(out, p, 1);
	if (out->len == before)
		strbuf_append(out, "localdomain");
}

/* RFC 5322 date in UTC, spelled without the C locale's help so it never depends on LANG. */
static int mail_date(time_t t, char *buf, size_t sz)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return -1;
	snprintf(buf, sz, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

static int mail_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Hex digest of the recipient and the sorted keys: the order notices were claimed in does not
 * change it, so a resend after a crash has the same Message-ID and receivers can spot it. The
 * input is pinned by test_mail: changing it would give a resend across an upgrade a new one. */
static int mail_digest_key(const char *to, const struct mail_notice *notices, size_t n,
			   char hex[65])
{
	const char **keys = calloc(n, sizeof(*keys));
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct strbuf in;
	int ok;

	if (!keys)
		return -1;
	for (size_t i = 0; i < n; i++)
		keys[i] = notices[i].key;
	qsort(keys, n, sizeof(*keys), mail_cmp_str);
	strbuf_init(&in);
	strbuf_append(&in, "driftwatch digest v1\n");
	/* NUL-separated: no key or address can run into the next */
	strbuf_appendn(&in, to, strlen(to) + 1);
	for (size_t i = 0; i < n; i++)
		strbuf_appendn(&in, keys[i], strlen(keys[i]) + 1);
	free(keys);
	ok = !in.failed && EVP_Digest(in.buf, in.len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
	     mdlen == 32;
	strbuf_free(&in);
	if (!ok)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* ---- facts in plain words ---- */

static int mail_is_iso_date(const char *s)
{
	static const char shape[] = "dddd-dd-dd";

	if (strlen(s) != sizeof(shape) - 1)
		return 0;
	for (size_t i = 0; shape[i]; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return 0;
	return 1;
}


static void mail_fact_value(struct strbuf *out, const json_t *v, int depth)
{
	const char *key;
	json_t *item;
	size_t i;
	char date[32];

	switch (json_typeof(v)) {
	case JSON_STRING:
		if (mail_is_iso_date(json_string_value(v))) {
			facts_date_words(json_string_value(v), date, sizeof(date));
			strbuf_append(out, date);
		} else {
			mail_append_clean(out, json_string_value(v));
		}
		return;
	case JSON_INTEGER:
		strbuf_printf(out, "%lld", (long long)json_integer_value(v));
		return;
	case JSON_REAL:
		strbuf_printf(out, "%g", json_real_value(v));
		return;
	case JSON_TRUE:
		strbuf_append(out, "yes");
		return;
	case JSON_FALSE:
		strbuf_append(out, "no");
		return;
	case JSON_NULL:
		strbuf_append(out, "none");
		return;
	case JSON_ARRAY:
		if (json_array_size(v) == 0 || depth >= MAIL_FACTS_DEPTH) {
			strbuf_append(out, json_array_size(v) ? "(more)" : "none");
			return;
		}
		json_array_foreach(v, i, item) {
			strbuf_append(out, i ? ", " : "");
			mail_fact_value(out, item, depth + 1);
		}
		return;
	case JSON_OBJECT:
		if (json_object_size(v) == 0 || depth >= MAIL_FACTS_DEPTH) {
			strbuf_append(out, json_object_size(v) ? "(more)" : "none");
			return;
		}
		strbuf_append(out, "(");
		i = 0;
		json_object_foreach((json_t *)v, key, item) {
			strbuf_append(out, i++ ? ", " : "");
			mail_key_words(out, key);
			strbuf_append(out, " ");
			mail_fact_value(out, item, depth + 1);
		}
		strbuf_append(out, ")");
		return;
	}
}

/* ---- one notice, as lines of plain text; the HTML part is built from the same lines ---- */

/* A line of a notice under its heading: a label ("Child") and its text. */
struct mail_line {
	const char *label;
	char *text;
	const char *href;    /* the text is a link to this (already checked to be http or https) */
};

#define MAIL_NOTICE_LINES 8

struct mail_notice_text {
	char *heading;
	struct mail_line lines[MAIL_NOTICE_LINES];
	size_t n;
	/* the Acknowledge, Snooze and Open links (noticelinks.h) for this reader, or NULL each */
	char *actions[NOTICELINKS_KINDS];
	int failed;
};

static void mail_notice_text_free(struct mail_notice_text *t)
{
	free(t->heading);
	for (size_t i = 0; i < t->n; i++)
		free(t->lines[i].text);
	noticelinks_free(t->actions);
	memset(t, 0, sizeof(*t));
}

static void mail_notice_add(struct mail_notice_text *t, const char *label, struct strbuf *sb,
			    const char *href)
{
	char *s = strbuf_take(sb);

	if (!s || t->n == MAIL_NOTICE_LINES) {
		free(s);
		t->failed = 1;
		return;
	}
	t->lines[t->n].label = label;
	t->lines[t->n].text = s;
	t->lines[t->n].href = href;
	t->n++;
}

/* What changed, in words, for an update: the rule said so when it was recorded. */
static void mail_update_words(struct strbuf *sb, const struct mail_notice *n)
{
	const char *words = mail_notice_str(n, "update");

	if (words)
		mail_append_clean(sb, words);
	else
		strbuf_append(sb, "the facts below changed");
}

/* Why silence is news: the escalation said so when it was queued (unanswered_queue.sql). */
static void mail_unanswered_words(struct strbuf *sb, const struct mail_notice *n)
{
	const char *words = mail_notice_str(n, "update");
	size_t len;

	if (!words) {
		strbuf_append(sb, "nobody has acknowledged or snoozed this stage");
		return;
	}
	/* the words are a sentence; inside the heading's brackets its full stop goes */
	len = strlen(words);
	if (len && words[len - 1] == '.') {
		char *cut = strndup(words, len - 1);

		mail_append_clean(sb, cut ? cut : words);
		free(cut);
		return;
	}
	mail_append_clean(sb, words);
}

static void mail_heading(struct strbuf *sb, const struct mail_item *it)
{
	const char *stage = mail_alert_str(it->n->alert, "stage");

	switch (it->kind) {
	case MAIL_KIND_UNANSWERED:
		strbuf_append(sb, "Not answered (");
		mail_unanswered_words(sb, it->n);
		strbuf_append(sb, "): ");
		break;
	case MAIL_KIND_ESCALATED:
		strbuf_append(sb, "Escalated to ");
		mail_append_clean(sb, stage ? stage : "a higher stage");
		strbuf_append(sb, ": ");
		break;
	case MAIL_KIND_FIRING:
		strbuf_append(sb, "New: ");
		break;
	case MAIL_KIND_UPDATED:
		strbuf_append(sb, "Updated (");
		mail_update_words(sb, it->n);
		strbuf_append(sb, "): ");
		break;
	case MAIL_KIND_RESOLVED:
		strbuf_append(sb, "Resolved: ");
		break;
	case MAIL_KIND_RULE_FAILING:
		strbuf_append(sb, "Rule failing: ");
		break;
	case MAIL_KIND_RULE_RECOVERED:
		strbuf_append(sb, "Rule running again: ");
		break;
	case MAIL_KIND_BAD_ADDRESS:
		strbuf_append(sb, "Address that cannot be used: ");
		break;
	case MAIL_KIND_TEAM_WEBHOOK:
		strbuf_append(sb, "Team webhook not used: ");
		break;
	default:
		strbuf_append(sb, "Not delivered");
		return;
	}
	strbuf_append(sb, it->label);
}

static int mail_link_ok(const char *link)
{
	return link && (strncmp(link, "https://", 8) == 0 || strncmp(link, "http://", 7) == 0);
}

/* Why a fallback address (a duty team) got a notice meant for someone else, from the alert's
 * recipient entry for this address; NULL when it is the person's own. */
static const char *mail_why_you(const json_t *alert, const char *to)
{
	size_t i;
	json_t *r;

	json_array_foreach(json_object_get(alert, "recipients"), i, r) {
		const char *e = json_string_value(json_object_get(r, "email"));

		if (e && to && strcmp(e, to) == 0)
			return json_string_value(json_object_get(r, "reason"));
	}
	return NULL;
}

/* The links for this notice and reader. A link that cannot be signed (an alert recorded with
 * no fingerprint or day) leaves the notice without links rather than the reader without the
 * notice: the notice is what matters, and the links are a convenience. */
static void mail_notice_links(const struct mail_item *it, const struct noticelinks *links,
			      const char *to, struct mail_notice_text *t)
{
	char why[256];

	if (noticelinks_make(links, it->n->type, it->n->alert, to, t->actions, why,
			     sizeof(why)) < 0)
		noticelinks_free(t->actions);
}

static int mail_notice_text(const struct mail_item *it, const char *to,
			    const struct noticelinks *links, struct mail_notice_text *t)
{
	const char *why = mail_why_you(it->n->alert, to);
	const json_t *a = it->n->alert;
	const char *child = mail_alert_str(a, "child_id");
	const char *subject = mail_alert_str(a, "subject_id");
	const char *link = mail_alert_str(a, "link");
	const char *summary = mail_alert_str(a, "summary");
	const json_t *facts = json_object_get(a, "facts");
	struct strbuf sb;

	memset(t, 0, sizeof(*t));
	strbuf_init(&sb);
	mail_heading(&sb, it);
	t->heading = strbuf_take(&sb);

	/* a report about driftwatch itself (a rule, an address) is about no child */
	if (!mail_kind_report(it->kind) || child) {
		mail_append_clean(&sb, child ? child : "(none given)");
		mail_notice_add(t, "Child", &sb, NULL);
		/* a link of another scheme (javascript:) is shown as text, never offered as one */
		mail_append_clean(&sb, link ? link : "no link configured");
		mail_notice_add(t, "Record", &sb, mail_link_ok(link) ? link : NULL);
	}
	if (!mail_kind_report(it->kind)) {
		mail_append_clean(&sb, mail_alert_str(a, "rule") ? mail_alert_str(a, "rule") :
				  "unknown");
		strbuf_append(&sb, ", stage ");
		mail_append_clean(&sb, mail_alert_str(a, "stage") ? mail_alert_str(a, "stage") :
				  "none");
		/* "about plan 20", never "about 20", which reads as "roughly 20" */
		if (mail_notice_str(it->n, "subject")) {
			strbuf_append(&sb, ", about ");
			mail_append_clean(&sb, mail_notice_str(it->n, "subject"));
		} else if (subject) {
			strbuf_append(&sb, ", about the subject ");
			mail_append_clean(&sb, subject);
		}
		mail_notice_add(t, "Rule", &sb, NULL);
	}
	if (summary) {
		mail_append_clean(&sb, summary);
		mail_notice_add(t, "In brief", &sb, NULL);
	}
	if (why) {
		strbuf_append(&sb, "sent to you because ");
		mail_append_clean(&sb, why);
		mail_notice_add(t, "Why you", &sb, NULL);
	}
	if (json_object_size(facts) > 0) {
		const char *key;
		json_t *v;
		size_t i = 0;

		json_object_foreach((json_t *)facts, key, v) {
			strbuf_append(&sb, i++ ? "; " : "");
			mail_key_words(&sb, key);
			strbuf_append(&sb, ": ");
			mail_fact_value(&sb, v, 1);
		}
		mail_notice_add(t, "Facts", &sb, NULL);
	}
	if (it->kind == MAIL_KIND_RESOLVED)
		strbuf_append(&sb, "nothing further: the rule no longer holds for this child");
	else if (mail_notice_str(it->n, "expected"))
		mail_append_clean(&sb, mail_notice_str(it->n, "expected"));
	else if (it->kind == MAIL_KIND_FAILED)
		strbuf_append(&sb, "check the receiver named above and the configuration; driftwatch "
			      "has stopped trying to deliver this notice");
	else if (it->kind == MAIL_KIND_RULE_FAILING)
		strbuf_append(&sb, "fix the cause named above (a grant, a view, the case database); "
			      "driftwatch tries the rule again at every evaluation and says when it "
			      "runs again");
	else if (it->kind == MAIL_KIND_RULE_RECOVERED)
		strbuf_append(&sb, "nothing: the rule runs again");
	else if (it->kind == MAIL_KIND_BAD_ADDRESS)
		strbuf_append(&sb, "correct the address in the case system; until then this "
			      "person's notices go to the fallback address");
	else if (it->kind == MAIL_KIND_TEAM_WEBHOOK)
		strbuf_append(&sb, "if the team's channel is genuine, add its host to "
			      "team_webhooks.allowed_hosts; otherwise correct teams.webhook_url");
	else
		strbuf_append(&sb, "review in supervision");
	mail_notice_add(t, "Expected of you", &sb, NULL);
	strbuf_free(&sb);
	mail_notice_links(it, links, to, t);
	return !t->heading || t->failed ? -1 : 0;
}

/* ---- the plain text part ---- */

/* Appends text wrapped at MAIL_TEXT_WIDTH on spaces, continuation lines indented; a word
 * longer than a line (a link) stays whole and quoted-printable carries it. */
static void mail_wrap(struct strbuf *out, const char *first, const char *indent, const char *text)
{
	size_t col = strlen(first);
	int empty = 1;      /* nothing on this line yet but its lead-in */
	const char *p = text;

	strbuf_append(out, first);
	for (;;) {
		size_t word;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		word = strcspn(p, " ");
		if (!empty && col + 1 + word > MAIL_TEXT_WIDTH) {
			strbuf_append(out, "\n");
			strbuf_append(out, indent);
			col = strlen(indent);
			empty = 1;
		}
		if (!empty) {
			strbuf_append(out, " ");
			col++;
		}
		strbuf_appendn(out, p, word);
		col += word;
		p += word;
		empty = 0;
	}
	strbuf_append(out, "\n");
}

static const char mail_intro[] =
	"Driftwatch has found changes in cases you are told about. Each one below says what "
	"happened, which child it is about, the facts it rests on and what is expected of you.";

static const char mail_intro_failed[] =
	"Driftwatch could not deliver the notices below and has stopped trying. Each one says "
	"where it was going and why it failed.";

static const char mail_intro_reports[] =
	"Driftwatch reports on itself below: a rule that has started failing (the other rules go "
	"on, and the alerts it raised before stay as they were) or runs again, or an address in "
	"the case data that cannot be used.";

static const char mail_footer[] =
	"This message was generated automatically by driftwatch from the case records. It "
	"carries no names: open a child's record through its identifier or link.";

static void mail_text_notice(struct strbuf *out, size_t num, const struct mail_notice_text *t)
{
	char first[32];

	snprintf(first, sizeof(first), "%zu. ", num);
	mail_wrap(out, first, "   ", t->heading);
	for (size_t i = 0; i < t->n; i++) {
		struct strbuf head;
		char *h;

		strbuf_init(&head);
		strbuf_printf(&head, "   %s: ", t->lines[i].label);
		h = strbuf_take(&head);
		if (!h) {
			out->failed = 1;
			return;
		}
		mail_wrap(out, h, "      ", t->lines[i].text);
		free(h);
	}
	/* plain URLs, each on its own line, for a reader (or a mail program) without HTML */
	for (int k = 0; k < NOTICELINKS_KINDS; k++) {
		char lead[32];

		if (!t->actions[k])
			continue;
		snprintf(lead, sizeof(lead), "   %s: ", noticelinks_kind_label(k));
		mail_wrap(out, lead, "      ", t->actions[k]);
	}
	strbuf_append(out, "\n");
}

/* ---- the HTML part ---- */


/* Inline styles only (mail programs drop <style>): without them these are plain links with
 * their words, separated by spaces, which is what a screen reader or a text browser gets. */
#define MAIL_BUTTON_STYLE "display:inline-block;padding:6px 14px;margin:0 6px 6px 0;" \
	"border:2px solid #1d4f91;border-radius:4px;color:#1d4f91;font-weight:bold;" \
	"text-decoration:none"

static const char *const mail_button_purpose[NOTICELINKS_KINDS] = {
	"Acknowledge this alert", "Snooze this alert", "Open this alert's page"
};

/* The links as buttons: real links with words, never images; each names what it does to
 * which alert, since a digest holds many with the same three words. */
static void mail_html_actions(struct strbuf *out, const struct mail_notice_text *t,
			      const char *child)
{
	int any = 0;

	for (int k = 0; k < NOTICELINKS_KINDS; k++)
		any |= t->actions[k] != NULL;
	if (!any)
		return;
	strbuf_append(out, "<p>");
	for (int k = 0, first = 1; k < NOTICELINKS_KINDS; k++) {
		if (!t->actions[k])
			continue;
		strbuf_append(out, first ? "" : " ");
		first = 0;
		strbuf_append(out, "<a href=\"");
		html_escape(out, t->actions[k]);
		strbuf_append(out, "\" style=\"" MAIL_BUTTON_STYLE "\" aria-label=\"");
		html_escape(out, mail_button_purpose[k]);
		if (child) {
			strbuf_append(out, " (child ");
			html_escape(out, child);
			strbuf_append(out, ")");
		}
		strbuf_append(out, "\">");
		html_escape(out, noticelinks_kind_label(k));
		strbuf_append(out, "</a>");
	}
	strbuf_append(out, "</p>\n");
}

static void mail_html_notice(struct strbuf *out, const struct mail_notice_text *t,
			     const char *child)
{
	strbuf_append(out, "<li>\n<p><strong>");
	html_escape(out, t->heading);
	strbuf_append(out, "</strong></p>\n<ul>\n");
	for (size_t i = 0; i < t->n; i++) {
		strbuf_append(out, "<li>");
		html_escape(out, t->lines[i].label);
		strbuf_append(out, ": ");
		if (t->lines[i].href) {
			strbuf_append(out, "<a href=\"");
			html_escape(out, t->lines[i].href);
			strbuf_append(out, "\">");
		}
		html_escape(out, t->lines[i].text);
		strbuf_append(out, t->lines[i].href ? "</a></li>\n" : "</li>\n");
	}
	strbuf_append(out, "</ul>\n");
	mail_html_actions(out, t, child);
	strbuf_append(out, "</li>\n");
}

/* ---- quoted-printable (RFC 2045 6.7) ---- */

/* Encodes text whose lines end in "\n" with CRLF line ends, soft breaks keeping every line
 * within MAIL_LINE_MAX, and spaces before a line end encoded so no transport can strip them. */
static void mail_qp(struct strbuf *out, const char *text)
{
	size_t col = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		char tok[4];
		size_t len;
		int last = p[1] == '\n' || p[1] == '\0';

		if (*p == '\n') {
			strbuf_append(out, "\r\n");
			col = 0;
			continue;
		}
		if ((*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !last)) {
			tok[0] = (char)*p;
			len = 1;
		} else {
			snprintf(tok, sizeof(tok), "=%02X", *p);
			len = 3;
		}
		/* the last token of a line may use the column a soft break's "=" would take */
		if (col + len > MAIL_LINE_MAX - (last ? 0 : 1)) {
			strbuf_append(out, "=\r\n");
			col = 0;
		}
		strbuf_appendn(out, tok, len);
		col += len;
	}
	if (col > 0)
		strbuf_append(out, "\r\n");
}

/* ---- the message ---- */

static void mail_parts(struct strbuf *text, struct strbuf *html, const struct mail_digest *d,
		       const char *subject, const char *to)
{
	const char *intro = mail_count_failed(d) == d->n ? mail_intro_failed
			    : mail_count_kind(d, mail_kind_report) == d->n ? mail_intro_reports
			    : mail_intro;

	strbuf_append(html, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		      "<meta charset=\"utf-8\">\n<title>");
	html_escape(html, subject);
	strbuf_append(html, "</title>\n</head>\n<body>\n<p>");
	html_escape(html, intro);
	strbuf_append(html, "</p>\n<ol>\n");
	mail_wrap(text, "", "", intro);
	strbuf_append(text, "\n");
	for (size_t i = 0; i < d->n; i++) {
		struct mail_notice_text t;

		if (mail_notice_text(&d->items[i], d->to, d->links, &t) < 0) {
			text->failed = 1;
			mail_notice_text_free(&t);
			return;
		}
		mail_text_notice(text, i + 1, &t);
		mail_html_notice(html, &t, mail_alert_str(d->items[i].n->alert, "child_id"));
		mail_notice_text_free(&t);
	}
	strbuf_append(html, "</ol>\n<p><small>");
	html_escape(html, mail_footer);
	strbuf_append(html, " Sent to ");
	html_escape(html, to);
	strbuf_append(html, ".</small></p>\n</body>\n</html>\n");
	strbuf_append(text, "-- \n");
	mail_wrap(text, "", "", mail_footer);
	strbuf_printf(text, "Sent to %s.\n", to);
}

static int mail_check_input(const char *from, const char *to, const struct mail_notice *notices,
			    size_t n, char *err, size_t errsz)
{
	if (!from || !mail_address_ok(from))
		return errmsg_set(err, errsz, "email.from: not one plain email address");
	if (!to || !mail_address_ok(to))
		return errmsg_set(err, errsz, "recipient address \"%s\" is not one plain email address",
				 to && mail_is_ascii_text(to) ? to : "(unprintable)");
	if (n == 0)
		return errmsg_set(err, errsz, "digest for %s: no notices", to);
	for (size_t i = 0; i < n; i++) {
		if (mail_kind_of(notices[i].type) < 0)
			return errmsg_set(err, errsz, "digest for %s: notice %zu: unknown type \"%s\"",
					 to, i, notices[i].type ? notices[i].type : "(null)");
		if (!json_is_object(notices[i].alert))
			return errmsg_set(err, errsz, "digest for %s: notice %zu: alert is not an "
					 "object", to, i);
		if (!notices[i].key || !notices[i].key[0])
			return errmsg_set(err, errsz, "digest for %s: notice %zu: no idempotency key",
					 to, i);
	}
	return 0;
}

static char *mail_make_message_id(const char *hex, const char *from)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "<%.32s@driftwatch.", hex);
	mail_append_host(&sb, from);
	strbuf_append(&sb, ">");
	return strbuf_take(&sb);
}

static void mail_headers(struct strbuf *m, const char *from, const char *to, const char *date,
			 const struct mail_message *out, const char *boundary)
{
	strbuf_printf(m, "From: %s\r\n", from);
	strbuf_printf(m, "To: %s\r\n", to);
	strbuf_printf(m, "Date: %s\r\n", date);
	strbuf_printf(m, "Message-ID: %s\r\n", out->message_id);
	mail_header_text(m, "Subject", out->subject);
	strbuf_append(m, "MIME-Version: 1.0\r\n");
	strbuf_printf(m, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n", boundary);
	/* RFC 3834, and Exchange's own switch: no out-of-office replies to a robot */
	strbuf_append(m, "Auto-Submitted: auto-generated\r\n");
	strbuf_append(m, "X-Auto-Response-Suppress: All\r\n");
	strbuf_append(m, "\r\n");
}

static void mail_part(struct strbuf *m, const char *boundary, const char *type,
		      const char *content)
{
	strbuf_printf(m, "--%s\r\n", boundary);
	strbuf_printf(m, "Content-Type: %s; charset=UTF-8\r\n", type);
	strbuf_append(m, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mail_qp(m, content);
}

int mail_compose(const char *from, const char *to, time_t date, const struct mail_notice *notices,
		 size_t n, struct mail_message *out, char *err, size_t errsz)
{
	return mail_compose_links(from, to, date, NULL, notices, n, out, err, errsz);
}

int mail_compose_links(const char *from, const char *to, time_t date,
		       const struct noticelinks *links, const struct mail_notice *notices,
		       size_t n, struct mail_message *out, char *err, size_t errsz)
{
	struct mail_digest d = { NULL, 0, to, links };
	struct strbuf text, html, m;
	char hex[65], datebuf[64], boundary[48];

	memset(out, 0, sizeof(*out));
	if (mail_check_input(from, to, notices, n, err, errsz) < 0)
		return -1;
	if (mail_date(date, datebuf, sizeof(datebuf)) < 0)
		return errmsg_set(err, errsz, "digest for %s: date %lld out of range", to,
				 (long long)date);
	if (mail_digest_key(to, notices, n, hex) < 0 || mail_digest_build(notices, n, &d, err,
									 errsz) < 0) {
		mail_digest_free(&d);
		return errmsg_set(err, errsz, "digest for %s: out of memory", to);
	}
	/* "=_" never occurs in quoted-printable output, so the boundary cannot occur in a part */
	snprintf(boundary, sizeof(boundary), "=_driftwatch_%.24s", hex + 32);
	out->message_id = mail_make_message_id(hex, from);
	out->subject = mail_subject(&d);
	strbuf_init(&text);
	strbuf_init(&html);
	strbuf_init(&m);
	if (out->message_id && out->subject) {
		mail_parts(&text, &html, &d, out->subject, to);
		mail_headers(&m, from, to, datebuf, out, boundary);
		strbuf_append(&m, "This is a MIME message with text and HTML versions of one "
			      "digest.\r\n\r\n");
		if (!text.failed && !html.failed) {
			mail_part(&m, boundary, "text/plain", text.buf);
			mail_part(&m, boundary, "text/html", html.buf);
		}
		strbuf_printf(&m, "--%s--\r\n", boundary);
	}
	mail_digest_free(&d);
	out->len = m.len;
	out->data = text.failed || html.failed ? NULL : strbuf_take(&m);
	strbuf_free(&text);
	strbuf_free(&html);
	strbuf_free(&m);
	if (!out->message_id || !out->subject || !out->data) {
		mail_message_free(out);
		return errmsg_set(err, errsz, "digest for %s: out of memory", to);
	}
	return 0;
}

void mail_message_free(struct mail_message *m)
{
	if (!m)
		return;
	free(m->message_id);
	free(m->subject);
	free(m->data);
	memset(m, 0, sizeof(*m));
}
