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
#include "driftwatch/rule.h"
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

/* The sections of a digest, in reading order: first the seriousness each notice's rule declared
 * for its stage (rule.h, enum rule_seriousness: 1 to 5), then notices recorded before notices
 * carried it, then resolutions (good news, last), then driftwatch's reports on itself. */
enum mail_section {
	MAIL_SEC_OTHER = RULE_SERIOUS_DRIFT + 1, MAIL_SEC_RESOLVED, MAIL_SEC_REPORTS
};
#define MAIL_N_SECTIONS (MAIL_SEC_REPORTS + 1)

static const char *const mail_section_titles[MAIL_N_SECTIONS] = {
	[RULE_SERIOUS_ESCALATION] = "CP escalations",
	[RULE_SERIOUS_RETURN] = "Returns to a plan and re-referral cycles",
	[RULE_SERIOUS_MISSED] = "Children not brought to appointments",
	[RULE_SERIOUS_HANDOVER] = "Handovers to a new worker",
	[RULE_SERIOUS_DRIFT] = "Drift: plan durations and worker churn",
	[MAIL_SEC_OTHER] = "Other changes",
	[MAIL_SEC_RESOLVED] = "Good news: no longer a concern",
	[MAIL_SEC_REPORTS] = "About driftwatch itself",
};

/* A mark at the left of each section's heading in the HTML part: colour that reads on a light
 * and on a dark background alike, never the only sign (the heading says it in words). */
static const char *const mail_section_colours[MAIL_N_SECTIONS] = {
	[RULE_SERIOUS_ESCALATION] = "#d32f2f", [RULE_SERIOUS_RETURN] = "#e65100",
	[RULE_SERIOUS_MISSED] = "#b8860b", [RULE_SERIOUS_HANDOVER] = "#1e88e5",
	[RULE_SERIOUS_DRIFT] = "#7e57c2", [MAIL_SEC_OTHER] = "#808080",
	[MAIL_SEC_RESOLVED] = "#2e7d32", [MAIL_SEC_REPORTS] = "#808080",
};

struct mail_item {
	const struct mail_notice *n;
	int kind;
	int section;
	int urgent;          /* the rule declared this stage urgent, and there is something to do */
	char *label;         /* singular label, for the headings and grouping */
};

/* One entry of a digest: items[first .. first + n), siblings of one family (the same rule,
 * stage and kind) when n > 1. */
struct mail_entry {
	size_t first;
	size_t n;
};

struct mail_digest {
	struct mail_item *items;     /* in reading order, siblings next to each other */
	size_t n;
	struct mail_entry *entries;
	size_t n_entries;
	size_t n_full;               /* entries shown in full; the rest only counted (the cap) */
	size_t fresh;                /* items that are news about a child, not a resolution */
	const char *to;              /* the person it goes to */
	const struct mail_options *o;
};

static void mail_digest_free(struct mail_digest *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->items[i].label);
	free(d->items);
	free(d->entries);
	d->items = NULL;
	d->entries = NULL;
	d->n = d->n_entries = 0;
}

static int mail_section_of(const struct mail_notice *n, int kind)
{
	json_int_t s = json_integer_value(json_object_get(n->notice, "seriousness"));

	if (mail_kind_report(kind))
		return MAIL_SEC_REPORTS;
	if (kind == MAIL_KIND_RESOLVED)
		return MAIL_SEC_RESOLVED;
	if (s >= RULE_SERIOUS_ESCALATION && s <= RULE_SERIOUS_DRIFT)
		return (int)s;
	return MAIL_SEC_OTHER;
}

static int mail_item_fill(struct mail_item *it, const struct mail_notice *n, int kind)
{
	struct strbuf sb;

	strbuf_init(&sb);
	mail_append_label(&sb, n, 1);
	it->n = n;
	it->kind = kind;
	it->section = mail_section_of(n, kind);
	it->urgent = it->section < MAIL_SEC_RESOLVED &&
		     json_is_true(json_object_get(n->notice, "urgent"));
	it->label = strbuf_take(&sb);
	return it->label ? 0 : -1;
}

/* Whether b is a sibling of a in one entry: one family, one rule, one stage, one kind of news. */
static int mail_siblings(const struct mail_item *a, const struct mail_item *b)
{
	const char *fa = mail_alert_str(a->n->alert, "family_id");
	const char *fb = mail_alert_str(b->n->alert, "family_id");
	const char *ra = mail_alert_str(a->n->alert, "rule");
	const char *rb = mail_alert_str(b->n->alert, "rule");
	const char *sa = mail_alert_str(a->n->alert, "stage");
	const char *sb = mail_alert_str(b->n->alert, "stage");

	/* an update or an unanswered stage says what it is about in its own words, per child */
	if (!fa || !fb || !ra || !rb || a->kind != b->kind || a->section != b->section ||
	    (a->kind != MAIL_KIND_FIRING && a->kind != MAIL_KIND_ESCALATED &&
	     a->kind != MAIL_KIND_RESOLVED))
		return 0;
	return strcmp(fa, fb) == 0 && strcmp(ra, rb) == 0 &&
	       strcmp(sa ? sa : "", sb ? sb : "") == 0;
}

/* Reading order: by section, then by kind (a stage nobody answered, an escalation, new, updated),
 * each in the order given; then siblings pulled up next to the first of their family. */
static int mail_digest_order(struct mail_digest *d, struct mail_item *sorted, size_t n)
{
	char *used = calloc(n, 1);
	size_t at = 0;

	d->entries = calloc(n, sizeof(*d->entries));
	if (!used || !d->entries) {
		free(used);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		struct mail_entry *e;

		if (used[i])
			continue;
		e = &d->entries[d->n_entries++];
		e->first = at;
		for (size_t j = i; j < n; j++) {
			if (used[j] || (j != i && !mail_siblings(&sorted[i], &sorted[j])))
				continue;
			used[j] = 1;
			d->items[at++] = sorted[j];
			e->n++;
		}
	}
	free(used);
	return 0;
}

/* How many entries are shown in full: all, unless the person's new items pass the cap; then the
 * most serious entries up to the cap (always at least one). */
static size_t mail_digest_full(const struct mail_digest *d)
{
	size_t max = d->o ? d->o->max_items : 0;
	size_t shown = 0, e;

	if (max == 0 || d->fresh <= max)
		return d->n_entries;
	for (e = 0; e < d->n_entries; e++) {
		if (e > 0 && shown + d->entries[e].n > max)
			break;
		shown += d->entries[e].n;
	}
	return e;
}

static int mail_digest_build(const struct mail_notice *notices, size_t n, struct mail_digest *d,
			     char *err, size_t errsz)
{
	struct mail_item *sorted = calloc(n, sizeof(*sorted));
	size_t at = 0;
	int rc = 0;

	d->n = 0;
	d->items = calloc(n, sizeof(*d->items));
	if (!d->items || !sorted) {
		free(sorted);
		return errmsg_set(err, errsz, "out of memory");
	}
	for (int s = 1; s < MAIL_N_SECTIONS; s++) {
		for (int k = 0; k < MAIL_N_KINDS; k++) {
			for (size_t i = 0; i < n; i++) {
				int kind = mail_kind_of(notices[i].type);

				if (kind != k || mail_section_of(&notices[i], kind) != s)
					continue;
				if (mail_item_fill(&sorted[at++], &notices[i], kind) < 0)
					rc = -1;
			}
		}
	}
	/* every item is in sorted now (labels freed through d->items once ordered) */
	if (rc == 0 && mail_digest_order(d, sorted, at) < 0)
		rc = -1;
	if (rc < 0) {
		for (size_t i = 0; i < at; i++)
			free(sorted[i].label);
		free(sorted);
		return errmsg_set(err, errsz, "out of memory");
	}
	d->n = at;
	for (size_t i = 0; i < d->n; i++)
		d->fresh += d->items[i].section < MAIL_SEC_RESOLVED;
	d->n_full = mail_digest_full(d);
	free(sorted);
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

/* Items counted under one label: the first of them, and how many. */
struct mail_count {
	size_t first;
	size_t n;
};

/* The items of d for which keep() holds, counted by label (a resolution, or a stage nobody
 * answered, is a group of its own), in reading order. *n_out groups; NULL when out of memory. */
static struct mail_count *mail_counts(const struct mail_digest *d,
				      int (*keep)(const struct mail_item *it), size_t *n_out)
{
	struct mail_count *c = calloc(d->n ? d->n : 1, sizeof(*c));
	char *done = calloc(d->n ? d->n : 1, 1);

	*n_out = 0;
	if (!c || !done) {
		free(c);
		free(done);
		return NULL;
	}
	for (size_t i = 0; i < d->n; i++) {
		const char *suffix = mail_subject_suffix(d->items[i].kind);

		if (done[i] || !keep(&d->items[i]))
			continue;
		c[*n_out].first = i;
		for (size_t j = i; j < d->n; j++) {
			if (done[j] || !keep(&d->items[j]) ||
			    strcmp(d->items[j].label, d->items[i].label) != 0 ||
			    mail_subject_suffix(d->items[j].kind) != suffix)
				continue;
			done[j] = 1;
			c[*n_out].n++;
		}
		(*n_out)++;
	}
	free(done);
	return c;
}

static int mail_keep_subject(const struct mail_item *it)
{
	return it->kind != MAIL_KIND_FAILED;
}

/* "3 CP plans at 9 months", "1 CP escalation at 15 months resolved" */
static void mail_count_words(struct strbuf *sb, const struct mail_digest *d,
			     const struct mail_count *c)
{
	const struct mail_item *it = &d->items[c->first];

	strbuf_printf(sb, "%zu ", c->n);
	mail_append_label(sb, it->n, c->n);
	strbuf_append(sb, mail_subject_suffix(it->kind));
}

/* "3 drift alerts: 1 CP escalation at 15 months, 1 repeat CP plan, 1 was-not-brought", most
 * serious first */
static char *mail_subject(const struct mail_digest *d)
{
	struct strbuf sb;
	size_t n;
	struct mail_count *c = mail_counts(d, mail_keep_subject, &n);

	if (!c)
		return NULL;
	strbuf_init(&sb);
	mail_subject_head(&sb, d);
	for (size_t g = 0; g < n; g++) {
		strbuf_append(&sb, g ? ", " : ": ");
		mail_count_words(&sb, d, &c[g]);
	}
	free(c);
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

#define MAIL_NOTICE_LINES 10

struct mail_notice_text {
	char *heading;
	struct mail_line lines[MAIL_NOTICE_LINES];
	size_t n;
	/* the Acknowledge, Snooze and Open links (noticelinks.h) for this reader, or NULL each */
	char *actions[NOTICELINKS_KINDS];
	char *page;          /* the child's page on the pages, or NULL */
	int failed;
};

static void mail_notice_text_free(struct mail_notice_text *t)
{
	free(t->heading);
	for (size_t i = 0; i < t->n; i++)
		free(t->lines[i].text);
	noticelinks_free(t->actions);
	free(t->page);
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

/* The heading of an item, or of an entry of count siblings ("New: CP plans at 9 months"). */
static void mail_heading(struct strbuf *sb, const struct mail_item *it, size_t count)
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
	if (count == 1)
		strbuf_append(sb, it->label);
	else
		mail_append_label(sb, it->n, count);
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

/* {pages_url}/child/{id}: the child's chronology on the pages (RESPONSES.md) */
static void mail_child_page(struct strbuf *sb, const char *pages_url, const char *child)
{
	strbuf_append(sb, pages_url);
	strbuf_append(sb, "/child/");
	strbuf_url_escape(sb, child);
}

static int mail_notice_text(const struct mail_item *it, const char *to,
			    const struct mail_options *o, struct mail_notice_text *t)
{
	const struct noticelinks *links = o ? o->links : NULL;
	const char *pages = o ? o->pages_url : NULL;
	const char *since = mail_alert_str(it->n->alert, "since");
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
	mail_heading(&sb, it, 1);
	t->heading = strbuf_take(&sb);

	/* a report about driftwatch itself (a rule, an address) is about no child */
	if (!mail_kind_report(it->kind) || child) {
		mail_append_clean(&sb, child ? child : "(none given)");
		mail_notice_add(t, "Child", &sb, NULL);
		/* a link of another scheme (javascript:) is shown as text, never offered as one */
		mail_append_clean(&sb, link ? link : "no link configured");
		mail_notice_add(t, "Record", &sb, mail_link_ok(link) ? link : NULL);
	}
	if (!mail_kind_report(it->kind) && child && mail_link_ok(pages)) {
		mail_child_page(&sb, pages, child);
		t->page = strbuf_take(&sb);
		strbuf_append(&sb, t->page ? t->page : "");
		mail_notice_add(t, "Page", &sb, t->page);
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
	if (since && !mail_kind_report(it->kind)) {
		mail_fact_value(&sb, json_object_get(it->n->alert, "since"), 1);
		mail_notice_add(t, "Since", &sb, NULL);
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
	"Each entry below says which child it is about, what happened and since when, the facts "
	"it rests on and what is expected of you.";

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

/* ---- the summary on top ---- */

/* A stage its rule declared urgent, and news that asks for something (not a resolution). */
static int mail_keep_action(const struct mail_item *it)
{
	return it->urgent && (it->kind == MAIL_KIND_UNANSWERED || it->kind == MAIL_KIND_ESCALATED ||
			      it->kind == MAIL_KIND_FIRING || it->kind == MAIL_KIND_UPDATED);
}

static size_t mail_count_items(const struct mail_digest *d, int (*keep)(const struct mail_item *))
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += keep(&d->items[i]) != 0;
	return n;
}

/* Distinct children among the items keep() holds for (an item with no child counts as one). */
static size_t mail_count_children(const struct mail_digest *d,
				  int (*keep)(const struct mail_item *))
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++) {
		const char *c = mail_alert_str(d->items[i].n->alert, "child_id");
		size_t j = 0;

		if (!keep(&d->items[i]))
			continue;
		for (; c && j < i; j++) {
			const char *o = mail_alert_str(d->items[j].n->alert, "child_id");

			if (keep(&d->items[j]) && o && strcmp(o, c) == 0)
				break;
		}
		n += !c || j == i;
	}
	return n;
}

static int mail_keep_resolved(const struct mail_item *it)
{
	return it->section == MAIL_SEC_RESOLVED;
}

/* "2 children need action now: 1 CP escalation at 18 months, 1 repeat CP plan. Then 11 other
 * changes to review in supervision, and 1 concern resolved, which is good news." Empty for a
 * digest of driftwatch's reports on itself. */
static void mail_summary(struct strbuf *sb, const struct mail_digest *d)
{
	size_t groups, kids = mail_count_children(d, mail_keep_action);
	size_t other = d->fresh - mail_count_items(d, mail_keep_action);
	size_t resolved = mail_count_items(d, mail_keep_resolved);
	struct mail_count *c = mail_counts(d, mail_keep_action, &groups);

	if (!c) {
		sb->failed = 1;
		return;
	}
	if (groups) {
		strbuf_printf(sb, "%zu %s action now:", kids, kids == 1 ? "child needs" :
			      "children need");
		for (size_t g = 0; g < groups; g++) {
			strbuf_append(sb, g ? ", " : " ");
			mail_count_words(sb, d, &c[g]);
		}
		strbuf_append(sb, other || resolved ? ". Then " : ".");
	} else if (other) {
		strbuf_append(sb, "Nothing here is marked urgent: ");
	} else if (resolved) {
		strbuf_append(sb, "Good news: ");
	}
	free(c);
	if (other)
		strbuf_printf(sb, "%zu %schange%s to review in supervision", other,
			      groups ? "other " : "", other == 1 ? "" : "s");
	if (resolved)
		strbuf_printf(sb, "%s%zu concern%s resolved%s", other ? ", and " : "", resolved,
			      resolved == 1 ? "" : "s", other || groups ? ", which is good news" : "");
	if (other || resolved)
		strbuf_append(sb, ".");
}

/* Items shown in full: those of the first n_full entries. */
static size_t mail_shown_items(const struct mail_digest *d)
{
	size_t n = 0;

	for (size_t e = 0; e < d->n_full; e++)
		n += d->entries[e].n;
	return n;
}

/* What a capped digest is, and where the rest is. */
static void mail_cap_words(struct strbuf *sb, const struct mail_digest *d)
{
	size_t shown = mail_shown_items(d);
	size_t rest = d->n - shown;

	strbuf_printf(sb, "This digest is a summary: it holds %zu new items, more than the %zu a "
		      "digest shows in full (email.digest_max_items). The %zu most serious are in "
		      "full below, after the number of each kind; ", d->fresh, d->o->max_items, shown);
	if (d->o->pages_url && mail_link_ok(d->o->pages_url))
		strbuf_printf(sb, "the other %zu are on your driftwatch page, %s/ (and every child's "
			      "chronology is on its page there).", rest, d->o->pages_url);
	else
		strbuf_printf(sb, "the other %zu are listed at the end, one line each.", rest);
}

static int mail_capped(const struct mail_digest *d)
{
	return d->n_full < d->n_entries;
}

static int mail_keep_any(const struct mail_item *it)
{
	(void)it;
	return 1;
}

/* One line of the rest of a capped digest: "New: CP plans at 9 months: C-1, C-2 (since 14 Aug
 * 2025)" */
static void mail_entry_line(struct strbuf *sb, const struct mail_digest *d,
			    const struct mail_entry *e)
{
	const struct mail_item *it = &d->items[e->first];
	const json_t *since = json_object_get(it->n->alert, "since");

	mail_heading(sb, it, e->n);
	for (size_t i = 0; i < e->n; i++) {
		const char *c = mail_alert_str(d->items[e->first + i].n->alert, "child_id");

		strbuf_append(sb, i ? ", " : ": ");
		mail_append_clean(sb, c ? c : "(no child)");
	}
	if (json_is_string(since)) {
		strbuf_append(sb, " (since ");
		mail_fact_value(sb, since, 1);
		strbuf_append(sb, ")");
	}
}

/* "siblings in family F-310" after the heading of an entry naming more than one child */
static void mail_family_words(struct strbuf *sb, const struct mail_digest *d,
			      const struct mail_entry *e)
{
	strbuf_printf(sb, " (%zu siblings in family ", e->n);
	mail_append_clean(sb, mail_alert_str(d->items[e->first].n->alert, "family_id"));
	strbuf_append(sb, ")");
}

/* ---- the plain text part ---- */

static void mail_text_title(struct strbuf *out, const char *title, size_t count)
{
	size_t before = out->len, len;

	if (count)
		strbuf_printf(out, "%s (%zu)", title, count);
	else
		strbuf_append(out, title);
	len = out->len - before;
	strbuf_append(out, "\n");
	for (size_t i = 0; i < len && i < MAIL_TEXT_WIDTH; i++)
		strbuf_append(out, "=");
	strbuf_append(out, "\n\n");
}

/* A notice's lines and its links, under the heading already written. */
static void mail_text_lines(struct strbuf *out, const struct mail_notice_text *t)
{
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
}

/* One entry: "3. New: ..." and each child's lines (siblings: one heading, a block each). */
static void mail_text_entry(struct strbuf *out, size_t num, const struct mail_digest *d,
			    const struct mail_entry *e, const struct mail_notice_text *t)
{
	char first[32];
	struct strbuf h;
	char *head;

	snprintf(first, sizeof(first), "%zu. ", num);
	if (e->n == 1) {
		mail_wrap(out, first, "   ", t[0].heading);
	} else {
		strbuf_init(&h);
		mail_heading(&h, &d->items[e->first], e->n);
		mail_family_words(&h, d, e);
		head = strbuf_take(&h);
		if (!head) {
			out->failed = 1;
			return;
		}
		mail_wrap(out, first, "   ", head);
		free(head);
	}
	for (size_t i = 0; i < e->n; i++)
		mail_text_lines(out, &t[i]);
	strbuf_append(out, "\n");
}

static void mail_text_counts(struct strbuf *out, const struct mail_digest *d)
{
	size_t groups;
	struct mail_count *c = mail_counts(d, mail_keep_any, &groups);

	if (!c) {
		out->failed = 1;
		return;
	}
	mail_text_title(out, "All by rule and stage", d->n);
	for (size_t g = 0; g < groups; g++) {
		strbuf_append(out, "   ");
		mail_count_words(out, d, &c[g]);
		strbuf_append(out, "\n");
	}
	strbuf_append(out, "\n");
	free(c);
}

static void mail_text_rest(struct strbuf *out, const struct mail_digest *d)
{
	mail_text_title(out, "The rest, one line each", d->n - mail_shown_items(d));
	for (size_t e = d->n_full; e < d->n_entries; e++) {
		struct strbuf line;
		char *s;

		strbuf_init(&line);
		mail_entry_line(&line, d, &d->entries[e]);
		s = strbuf_take(&line);
		if (!s) {
			out->failed = 1;
			return;
		}
		mail_wrap(out, "- ", "  ", s);
		free(s);
	}
	strbuf_append(out, "\n");
}

/* ---- the HTML part ---- */

/* Inline styles only (mail programs drop <style>), tables for layout (Outlook's Word engine
 * knows no other), no background colours and no text colour but the links': a mail program in
 * dark mode then inverts nothing badly. Borders and accents are mid-tones that read on both. */
#define MAIL_CELL_STYLE "padding:6px 8px;border-top:1px solid #8c8c8c;vertical-align:top;" \
	"text-align:left"
#define MAIL_TH_STYLE "padding:4px 8px;border-bottom:2px solid #8c8c8c;text-align:left;" \
	"font-size:13px"
#define MAIL_SMALL_STYLE "font-size:12px"
#define MAIL_BUTTON_STYLE "display:inline-block;padding:3px 10px;margin:0 4px 4px 0;" \
	"border:2px solid #3d7bd9;border-radius:4px;color:#3d7bd9;font-weight:bold;" \
	"text-decoration:none;white-space:nowrap"

static const char *const mail_button_purpose[NOTICELINKS_KINDS] = {
	"Acknowledge this alert", "Snooze this alert", "Open this alert's page"
};

static int mail_has_actions(const struct mail_notice_text *t)
{
	for (int k = 0; k < NOTICELINKS_KINDS; k++)
		if (t->actions[k])
			return 1;
	return 0;
}

/* The links as buttons: real links with words, never images; each names what it does to
 * which alert, since a digest holds many with the same three words. */
static void mail_html_actions(struct strbuf *out, const struct mail_notice_text *t,
			      const char *child)
{
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
}

static const struct mail_line *mail_line_of(const struct mail_notice_text *t, const char *label)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->lines[i].label, label) == 0)
			return &t->lines[i];
	return NULL;
}

static void mail_html_link(struct strbuf *out, const char *href, const char *style,
			   const char *text)
{
	strbuf_append(out, "<a href=\"");
	html_escape(out, href);
	strbuf_append(out, style ? "\" style=\"" : "");
	strbuf_append(out, style ? style : "");
	strbuf_append(out, "\">");
	html_escape(out, text);
	strbuf_append(out, "</a>");
}

/* The child's identifier, linked to its page when the pages are there, else to its record. */
static void mail_html_child(struct strbuf *out, const struct mail_notice_text *t,
			    const char *child)
{
	const struct mail_line *rec = mail_line_of(t, "Record");
	const char *record = rec ? rec->href : NULL;

	if (!child) {
		strbuf_append(out, "&mdash;");
		return;
	}
	/* nowrap: a narrow column would break "C-1042" at its hyphen, and it reads as two */
	if (t->page || record) {
		mail_html_link(out, t->page ? t->page : record,
			       "font-weight:bold;white-space:nowrap", child);
	} else {
		strbuf_append(out, "<span style=\"white-space:nowrap\">");
		html_escape(out, child);
		strbuf_append(out, "</span>");
	}
	if (t->page && record) {
		strbuf_append(out, "<br>");
		mail_html_link(out, record, MAIL_SMALL_STYLE, "case record");
	} else if (!t->page && !record && rec) {
		strbuf_append(out, "<br><span style=\"" MAIL_SMALL_STYLE "\">");
		html_escape(out, rec->text);
		strbuf_append(out, "</span>");
	}
}

static void mail_html_small_line(struct strbuf *out, const struct mail_notice_text *t,
				 const char *label)
{
	const struct mail_line *l = mail_line_of(t, label);

	if (!l)
		return;
	strbuf_append(out, "<br><span style=\"" MAIL_SMALL_STYLE "\">");
	html_escape(out, label);
	strbuf_append(out, ": ");
	html_escape(out, l->text);
	strbuf_append(out, "</span>");
}

static void mail_html_cell_open(struct strbuf *out, size_t rowspan)
{
	if (rowspan > 1)
		strbuf_printf(out, "<td rowspan=\"%zu\" style=\"" MAIL_CELL_STYLE "\">", rowspan);
	else
		strbuf_append(out, "<td style=\"" MAIL_CELL_STYLE "\">");
}

/* What the entry is: its heading, what is expected of the reader and why they were told. */
static void mail_html_what(struct strbuf *out, const struct mail_digest *d,
			   const struct mail_entry *e, const struct mail_notice_text *t)
{
	struct strbuf h;

	strbuf_init(&h);
	mail_heading(&h, &d->items[e->first], e->n);
	if (e->n > 1)
		mail_family_words(&h, d, e);
	mail_html_cell_open(out, e->n);
	strbuf_append(out, "<strong>");
	html_escape(out, h.failed ? "" : h.buf ? h.buf : "");
	out->failed |= h.failed;
	strbuf_free(&h);
	strbuf_append(out, "</strong>");
	mail_html_small_line(out, t, "Expected of you");
	mail_html_small_line(out, t, "Why you");
	strbuf_append(out, "</td>");
}

/* One row per child; the entry's "what" spans its siblings' rows. */
static void mail_html_entry(struct strbuf *out, const struct mail_digest *d,
			    const struct mail_entry *e, const struct mail_notice_text *t,
			    int actions)
{
	for (size_t i = 0; i < e->n; i++) {
		const char *child = mail_alert_str(d->items[e->first + i].n->alert, "child_id");
		const struct mail_line *since = mail_line_of(&t[i], "Since");
		const struct mail_line *brief = mail_line_of(&t[i], "In brief");

		strbuf_append(out, "<tr>");
		mail_html_cell_open(out, 1);
		mail_html_child(out, &t[i], child);
		strbuf_append(out, "</td>");
		if (i == 0)
			mail_html_what(out, d, e, &t[0]);
		mail_html_cell_open(out, 1);
		html_escape(out, since ? since->text : "");
		strbuf_append(out, "</td>");
		mail_html_cell_open(out, 1);
		html_escape(out, brief ? brief->text : "");
		mail_html_small_line(out, &t[i], "Facts");
		mail_html_small_line(out, &t[i], "Rule");
		strbuf_append(out, "</td>");
		if (actions) {
			mail_html_cell_open(out, 1);
			mail_html_actions(out, &t[i], child);
			strbuf_append(out, "</td>");
		}
		strbuf_append(out, "</tr>\n");
	}
}

static void mail_html_title(struct strbuf *out, const char *title, size_t count,
			    const char *colour)
{
	strbuf_printf(out, "<h2 style=\"font-size:17px;margin:22px 0 6px;padding:2px 0 2px 10px;"
		      "border-left:6px solid %s\">", colour);
	html_escape(out, title);
	if (count)
		strbuf_printf(out, " (%zu)", count);
	strbuf_append(out, "</h2>\n");
}

static void mail_html_table_open(struct strbuf *out, int actions)
{
	static const char *const cols[] = { "Child", "What", "Since", "The facts that matter",
					    "Respond" };

	strbuf_append(out, "<table role=\"table\" cellpadding=\"0\" cellspacing=\"0\" "
		      "style=\"border-collapse:collapse;width:100%;font-size:14px\">\n<thead><tr>");
	for (size_t i = 0; i < (actions ? 5u : 4u); i++)
		strbuf_printf(out, "<th scope=\"col\" style=\"" MAIL_TH_STYLE "\">%s</th>", cols[i]);
	strbuf_append(out, "</tr></thead>\n<tbody>\n");
}

static void mail_html_counts(struct strbuf *out, const struct mail_digest *d)
{
	size_t groups;
	struct mail_count *c = mail_counts(d, mail_keep_any, &groups);

	if (!c) {
		out->failed = 1;
		return;
	}
	mail_html_title(out, "All by rule and stage", d->n, "#808080");
	strbuf_append(out, "<table role=\"table\" style=\"border-collapse:collapse;font-size:14px\">"
		      "\n<tbody>\n");
	for (size_t g = 0; g < groups; g++) {
		const struct mail_item *it = &d->items[c[g].first];
		struct strbuf w;

		strbuf_printf(out, "<tr><td style=\"" MAIL_CELL_STYLE ";text-align:right\">%zu</td>"
			      "<td style=\"" MAIL_CELL_STYLE "\">", c[g].n);
		strbuf_init(&w);
		mail_append_label(&w, it->n, c[g].n);
		strbuf_append(&w, mail_subject_suffix(it->kind));
		html_escape(out, w.failed || !w.buf ? "" : w.buf);
		out->failed |= w.failed;
		strbuf_free(&w);
		strbuf_append(out, "</td></tr>\n");
	}
	strbuf_append(out, "</tbody></table>\n");
	free(c);
}

static void mail_html_rest(struct strbuf *out, const struct mail_digest *d)
{
	mail_html_title(out, "The rest, one line each", d->n - mail_shown_items(d), "#808080");
	strbuf_append(out, "<ul>\n");
	for (size_t e = d->n_full; e < d->n_entries; e++) {
		struct strbuf line;

		strbuf_init(&line);
		mail_entry_line(&line, d, &d->entries[e]);
		strbuf_append(out, "<li>");
		html_escape(out, line.failed || !line.buf ? "" : line.buf);
		out->failed |= line.failed;
		strbuf_free(&line);
		strbuf_append(out, "</li>\n");
	}
	strbuf_append(out, "</ul>\n");
}

/* ---- both parts, in one order ---- */

/* The texts of the first shown items (d->items order), or NULL when out of memory. */
static struct mail_notice_text *mail_texts(const struct mail_digest *d, size_t shown)
{
	struct mail_notice_text *t = calloc(shown ? shown : 1, sizeof(*t));

	for (size_t i = 0; t && i < shown; i++) {
		if (mail_notice_text(&d->items[i], d->to, d->o, &t[i]) == 0)
			continue;
		for (size_t j = 0; j <= i; j++)
			mail_notice_text_free(&t[j]);
		free(t);
		return NULL;
	}
	return t;
}

static size_t mail_section_items(const struct mail_digest *d, int section)
{
	size_t n = 0;

	for (size_t e = 0; e < d->n_full; e++)
		if (d->items[d->entries[e].first].section == section)
			n += d->entries[e].n;
	return n;
}

/* The entries shown in full, a titled section (a table in HTML) per seriousness. */
static void mail_sections(struct strbuf *text, struct strbuf *html, const struct mail_digest *d,
			  const struct mail_notice_text *t, int actions)
{
	int sec = -1;

	for (size_t e = 0; e < d->n_full; e++) {
		const struct mail_entry *en = &d->entries[e];
		int s = d->items[en->first].section;

		if (s != sec) {
			if (sec >= 0)
				strbuf_append(html, "</tbody></table>\n");
			sec = s;
			mail_text_title(text, mail_section_titles[s], mail_section_items(d, s));
			mail_html_title(html, mail_section_titles[s], mail_section_items(d, s),
					mail_section_colours[s]);
			mail_html_table_open(html, actions);
		}
		mail_text_entry(text, e + 1, d, en, &t[en->first]);
		mail_html_entry(html, d, en, &t[en->first], actions);
	}
	if (sec >= 0)
		strbuf_append(html, "</tbody></table>\n");
}

static void mail_para(struct strbuf *text, struct strbuf *html, const char *style,
		      const char *words)
{
	strbuf_printf(html, "<p style=\"margin:0 0 10px%s\">", style);
	html_escape(html, words);
	strbuf_append(html, "</p>\n");
	mail_wrap(text, "", "", words);
	strbuf_append(text, "\n");
}

/* The summary on top, what the digest is, and when capped, what it leaves out. */
static void mail_opening(struct strbuf *text, struct strbuf *html, const struct mail_digest *d)
{
	const char *intro = mail_count_failed(d) == d->n ? mail_intro_failed
			    : mail_count_kind(d, mail_kind_report) == d->n ? mail_intro_reports
			    : mail_intro;
	struct strbuf sb;

	strbuf_init(&sb);
	mail_summary(&sb, d);
	if (sb.len)
		mail_para(text, html, ";font-size:16px;font-weight:bold", sb.buf);
	text->failed |= sb.failed;
	strbuf_free(&sb);
	mail_para(text, html, "", intro);
	if (!mail_capped(d))
		return;
	strbuf_init(&sb);
	mail_cap_words(&sb, d);
	if (sb.len)
		mail_para(text, html, "", sb.buf);
	text->failed |= sb.failed;
	strbuf_free(&sb);
	mail_text_counts(text, d);
	mail_html_counts(html, d);
}

static void mail_parts(struct strbuf *text, struct strbuf *html, const struct mail_digest *d,
		       const char *subject, const char *to)
{
	size_t shown = mail_shown_items(d);
	struct mail_notice_text *t = mail_texts(d, shown);
	int actions = 0;

	if (!t) {
		text->failed = 1;
		return;
	}
	for (size_t i = 0; i < shown; i++)
		actions |= mail_has_actions(&t[i]);
	strbuf_append(html, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		      "<meta charset=\"utf-8\">\n"
		      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		      "<meta name=\"color-scheme\" content=\"light dark\">\n"
		      "<meta name=\"supported-color-schemes\" content=\"light dark\">\n<title>");
	html_escape(html, subject);
	strbuf_append(html, "</title>\n</head>\n<body style=\"margin:0;padding:12px;"
		      "font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.45\">\n"
		      "<div style=\"max-width:860px\">\n");
	mail_opening(text, html, d);
	mail_sections(text, html, d, t, actions);
	if (mail_capped(d) && !(d->o->pages_url && mail_link_ok(d->o->pages_url))) {
		mail_text_rest(text, d);
		mail_html_rest(html, d);
	}
	for (size_t i = 0; i < shown; i++)
		mail_notice_text_free(&t[i]);
	free(t);
	strbuf_append(html, "<p style=\"margin-top:24px\"><small>");
	html_escape(html, mail_footer);
	strbuf_append(html, " Sent to ");
	html_escape(html, to);
	strbuf_append(html, ".</small></p>\n</div>\n</body>\n</html>\n");
	strbuf_append(text, "-- \n");
	mail_wrap(text, "", "", mail_footer);
	strbuf_printf(text, "Sent to %s.\n", to);
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
	return mail_compose_with(from, to, date, NULL, notices, n, out, err, errsz);
}

int mail_compose_links(const char *from, const char *to, time_t date,
		       const struct noticelinks *links, const struct mail_notice *notices,
		       size_t n, struct mail_message *out, char *err, size_t errsz)
{
	struct mail_options o = { links, NULL, 0 };

	return mail_compose_with(from, to, date, &o, notices, n, out, err, errsz);
}

int mail_compose_with(const char *from, const char *to, time_t date,
		      const struct mail_options *o, const struct mail_notice *notices, size_t n,
		      struct mail_message *out, char *err, size_t errsz)
{
	static const struct mail_options none = { NULL, NULL, 0 };
	struct mail_digest d = { .to = to, .o = o ? o : &none };
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
