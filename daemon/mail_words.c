/* mail_words: a digest's notices in plain words: labels, headings, facts, one-line entries. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/facts.h"
#include "driftwatch/mail.h"
#include "driftwatch/mail_digest.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/responses.h"
#include "driftwatch/strbuf.h"

#define MAIL_FACTS_DEPTH 3     /* nested facts deeper than this are not spelled out */

const char *mail_words_alert(const json_t *alert, const char *key)
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
	{ "driftwatch", "record_wrong", "case record said to be wrong",
	  "case records said to be wrong" },
};

/* A string of the notice object, or NULL (a notice recorded before notices carried words). */
const char *mail_words_notice(const struct mail_notice *n, const char *key)
{
	const char *s = json_string_value(json_object_get(n->notice, key));

	return s && *s ? s : NULL;
}

/* Control characters (a CR or LF above all) never reach a header or break a body line. */
void mail_words_clean(struct strbuf *out, const char *s)
{
	for (const char *p = s; *p; p++) {
		unsigned char c = (unsigned char)*p;

		strbuf_appendn(out, c < 0x20 || c == 0x7f ? " " : p, 1);
	}
}

/* "plan_start" -> "plan start" (and control characters as spaces, as above) */
void mail_words_key(struct strbuf *out, const char *key)
{
	for (const char *p = key; *p; p++) {
		unsigned char c = (unsigned char)*p;

		strbuf_appendn(out, c == '_' || c < 0x20 || c == 0x7f ? " " : p, 1);
	}
}

/* The notice's own label; a report's from the list above; else the rule's name and stage in
 * plain characters (a notice recorded before notices carried their words). */
void mail_words_label(struct strbuf *out, const struct mail_notice *n, size_t count)
{
	const char *rule = mail_words_alert(n->alert, "rule");
	const char *stage = mail_words_alert(n->alert, "stage");
	const char *own = mail_words_notice(n, count == 1 ? "label" : "label_many");

	if (own) {
		mail_words_clean(out, own);
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
	mail_words_key(out, rule);
	if (*stage) {
		strbuf_append(out, " ");
		mail_words_clean(out, stage);
	}
}

/* What a subject's group says after its label: news of the alert itself says nothing more. */
const char *mail_words_suffix(int kind)
{
	if (kind == MAIL_DIGEST_RESOLVED)
		return " resolved";
	if (kind == MAIL_DIGEST_UNANSWERED)
		return " not answered";
	return "";
}

enum mail_words_told mail_words_told(const struct mail_digest_item *it)
{
	if (it->kind != MAIL_DIGEST_FIRING)
		return MAIL_WORDS_FIRST;
	if (json_is_true(json_object_get(it->n->notice, "reminder")))
		return MAIL_WORDS_REMINDER;
	if (json_is_true(json_object_get(it->n->notice, "again")))
		return MAIL_WORDS_AGAIN;
	return MAIL_WORDS_FIRST;
}

int mail_words_lowered(const struct mail_digest_item *it)
{
	return it->kind == MAIL_DIGEST_UPDATED &&
	       json_is_true(json_object_get(it->n->notice, "lowered"));
}

const char *mail_words_item_suffix(const struct mail_digest_item *it)
{
	if (it->section == MAIL_DIGEST_SEC_STALE)
		return " (out of date)";
	if (mail_words_lowered(it))
		return " (lowered)";
	switch (mail_words_told(it)) {
	case MAIL_WORDS_REMINDER: return " (reminder)";
	case MAIL_WORDS_AGAIN: return " (firing again)";
	default: return mail_words_suffix(it->kind);
	}
}

/* "3 CP plans at 9 months", "1 CP escalation at 15 months resolved" */
void mail_words_count(struct strbuf *sb, const struct mail_digest *d,
		      const struct mail_digest_count *c)
{
	const struct mail_digest_item *it = &d->items[c->first];

	strbuf_printf(sb, "%zu ", c->n);
	mail_words_label(sb, it->n, c->n);
	strbuf_append(sb, mail_words_item_suffix(it));
}

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

void mail_words_fact(struct strbuf *out, const json_t *v, int depth)
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
			mail_words_clean(out, json_string_value(v));
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
			mail_words_fact(out, item, depth + 1);
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
			mail_words_key(out, key);
			strbuf_append(out, " ");
			mail_words_fact(out, item, depth + 1);
		}
		strbuf_append(out, ")");
		return;
	}
}

/* "plan start: 14 Aug 2025; months: 15" */
void mail_words_facts(struct strbuf *sb, const json_t *facts)
{
	const char *key;
	json_t *v;
	size_t i = 0;

	json_object_foreach((json_t *)facts, key, v) {
		strbuf_append(sb, i++ ? "; " : "");
		mail_words_key(sb, key);
		strbuf_append(sb, ": ");
		mail_words_fact(sb, v, 1);
	}
}

/* Why a fallback address (a duty team) got a notice meant for someone else, from the alert's
 * recipient entry for this address; NULL when it is the person's own. */
const char *mail_words_why_you(const json_t *alert, const char *to)
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

int mail_words_instead_of(struct strbuf *sb, const struct mail_notice *n)
{
	const json_t *io = json_object_get(n->notice, "instead_of");
	const char *email = mail_words_alert(io, "email");
	const char *role = mail_words_alert(io, "role");
	const char *refusal = mail_words_alert(io, "refusal");

	if (!email)
		return 0;
	strbuf_append(sb, "sent to you, the fallback address, because the mail server refused ");
	mail_words_clean(sb, email);
	if (role) {
		strbuf_append(sb, " (");
		mail_words_clean(sb, role);
		strbuf_append(sb, ")");
	}
	strbuf_append(sb, " for good");
	if (refusal) {
		strbuf_append(sb, " (\"");
		mail_words_clean(sb, refusal);
		strbuf_append(sb, "\")");
	}
	strbuf_append(sb, "; please see that it reaches them or their team (the operators have "
		      "been told of the address)");
	return 1;
}

/* The response a notice carries (record.sql, outbox_claim_email.sql) when its state is want;
 * NULL otherwise. */
static const json_t *words_response(const json_t *alert, const char *want)
{
	const json_t *r = json_object_get(alert, "response");
	const char *state = mail_words_alert(r, "state");

	return state && strcmp(state, want) == 0 ? r : NULL;
}

/* " by x@la.example", then ": reason" when given, then " — note": who answered, why, and
 * what they wrote. A snooze made with the SQL function snooze() (README) has nobody's name. */
static void words_by(struct strbuf *sb, const json_t *r, const char *reason)
{
	const char *by = mail_words_alert(r, "by");
	const char *note = mail_words_alert(r, "note");

	if (by) {
		strbuf_append(sb, " by ");
		mail_words_clean(sb, by);
	}
	if (reason) {
		strbuf_append(sb, ": ");
		mail_words_clean(sb, responses_reason_label(reason));
	}
	if (note) {
		strbuf_append(sb, " \xe2\x80\x94 ");   /* an em dash */
		mail_words_clean(sb, note);
	}
}

/* "until 3 Mar 2027 by x@la.example: Legal planning (pre-proceedings or PLO) — note", from the
 * "response" a notice of a snoozed alert carries (record.sql); nothing when it carries none. */
int mail_words_snooze(struct strbuf *sb, const json_t *alert)
{
	const json_t *r = words_response(alert, "snoozed");
	const json_t *until = json_object_get(r, "until");

	if (!r || !json_is_string(until))
		return 0;
	strbuf_append(sb, "until ");
	mail_words_fact(sb, until, 1);
	words_by(sb, r, mail_words_alert(r, "reason"));
	return 1;
}

int mail_words_acknowledged(struct strbuf *sb, const json_t *alert)
{
	const json_t *r = words_response(alert, "acknowledged");

	if (!r)
		return 0;
	strbuf_append(sb, "for this stage");
	words_by(sb, r, NULL);
	return 1;
}

/* What is expected of the reader: the rule's words kept with the notice, else words for what
 * driftwatch reports on itself. */
/* How the alert of an out-of-date notice now stands (notice.since, outbox_claim_email.sql):
 * "resolved on 3 Dec 2026", "now at stage 15m, ... Now: Child C-3 has been ...",
 * "acknowledged". 0 when the notice is not out of date. */
int mail_words_since(struct strbuf *sb, const struct mail_notice *n)
{
	const json_t *since = json_object_get(n->notice, "since");
	const char *status = json_string_value(json_object_get(since, "status"));
	const json_t *on = json_object_get(since, "on");
	const char *summary = json_string_value(json_object_get(since, "summary"));

	if (!json_is_object(since))
		return 0;
	if (status && strcmp(status, "resolved") == 0) {
		strbuf_append(sb, "the alert was resolved");
		if (json_is_string(on)) {
			strbuf_append(sb, " on ");
			mail_words_fact(sb, on, 1);
		}
		strbuf_append(sb, ", after this notice was queued for you: the rule no longer holds "
			      "for this child");
	} else if (status && strcmp(status, "moved") == 0) {
		strbuf_append(sb, "the alert is now at stage ");
		mail_words_clean(sb, json_string_value(json_object_get(since, "stage")) ?
				 json_string_value(json_object_get(since, "stage")) : "(none)");
		strbuf_append(sb, ", a change made after this notice was queued for you, with a "
			      "notice of its own");
		if (summary && *summary) {
			strbuf_append(sb, ". Now: ");
			mail_words_clean(sb, summary);
		}
	} else if (status && (strcmp(status, "acknowledged") == 0 ||
			      strcmp(status, "snoozed") == 0)) {
		strbuf_printf(sb, "the alert was %s after this notice was queued for you", status);
	} else {
		strbuf_append(sb, "the alert has changed since this notice was queued for you");
	}
	return 1;
}

void mail_words_expected(struct strbuf *sb, const struct mail_digest_item *it)
{
	if (it->section == MAIL_DIGEST_SEC_STALE)
		strbuf_append(sb, "nothing for this notice: it is listed so that nothing queued for "
			      "you goes untold; how the alert now stands is under \"Out of date\" above");
	else if (it->kind == MAIL_DIGEST_RESOLVED)
		strbuf_append(sb, "nothing further: the rule no longer holds for this child");
	else if (mail_words_notice(it->n, "expected"))
		mail_words_clean(sb, mail_words_notice(it->n, "expected"));
	else if (it->kind == MAIL_DIGEST_FAILED)
		strbuf_printf(sb, "check the receiver named above and the configuration; driftwatch "
			      "has stopped trying to deliver %s",
			      mail_digest_item_notices(it) > 1 ? "these notices" : "this notice");
	else if (it->kind == MAIL_DIGEST_RULE_FAILING)
		strbuf_append(sb, "fix the cause named above (a grant, a view, the case database); "
			      "driftwatch tries the rule again at every evaluation and says when it "
			      "runs again");
	else if (it->kind == MAIL_DIGEST_RULE_RECOVERED)
		strbuf_append(sb, "nothing: the rule runs again");
	else if (it->kind == MAIL_DIGEST_BAD_ADDRESS)
		strbuf_append(sb, "correct the address in the case system; until then this "
			      "person's notices go to the next address their role has (the team "
			      "manager, the CP chairs' address or the fallback)");
	else if (it->kind == MAIL_DIGEST_TEAM_WEBHOOK)
		strbuf_append(sb, "if the team's channel is genuine, add its host to "
			      "team_webhooks.allowed_hosts; otherwise correct teams.webhook_url");
	else if (it->kind == MAIL_DIGEST_RECORD_WRONG)
		strbuf_append(sb, "see that the case record is corrected in the case system; until "
			      "the snooze ends there are no reminders or escalation for this alert");
	else
		strbuf_append(sb, "review in supervision");
}

/* What changed, in words, for an update: the rule said so when it was recorded. */
static void mail_update_words(struct strbuf *sb, const struct mail_notice *n)
{
	const char *words = mail_words_notice(n, "update");

	if (words)
		mail_words_clean(sb, words);
	else
		strbuf_append(sb, "the facts below changed");
}

/* Why silence is news: the escalation said so when it was queued (unanswered_queue.sql). */
static void mail_unanswered_words(struct strbuf *sb, const struct mail_notice *n)
{
	const char *words = mail_words_notice(n, "update");
	size_t len;

	if (!words) {
		strbuf_append(sb, "nobody has acknowledged or snoozed this stage");
		return;
	}
	/* the words are a sentence; inside the heading's brackets its full stop goes */
	len = strlen(words);
	if (len && words[len - 1] == '.') {
		char *cut = strndup(words, len - 1);

		mail_words_clean(sb, cut ? cut : words);
		free(cut);
		return;
	}
	mail_words_clean(sb, words);
}

/* The heading of an item, or of an entry of count siblings ("New: CP plans at 9 months"). */
void mail_words_heading(struct strbuf *sb, const struct mail_digest_item *it, size_t count)
{
	const char *stage = mail_words_alert(it->n->alert, "stage");

	switch (it->kind) {
	case MAIL_DIGEST_UNANSWERED:
		strbuf_append(sb, "Not answered (");
		mail_unanswered_words(sb, it->n);
		strbuf_append(sb, "): ");
		break;
	case MAIL_DIGEST_ESCALATED:
		strbuf_append(sb, "Escalated to ");
		mail_words_clean(sb, stage ? stage : "a higher stage");
		strbuf_append(sb, ": ");
		break;
	case MAIL_DIGEST_FIRING:
		/* record.sql marks the notices of an alert already told of */
		if (mail_words_told(it) == MAIL_WORDS_REMINDER)
			strbuf_append(sb, "Reminder, still not answered: ");
		else if (mail_words_told(it) == MAIL_WORDS_AGAIN)
			strbuf_append(sb, "Firing again: ");
		else
			strbuf_append(sb, "New: ");
		break;
	case MAIL_DIGEST_UPDATED:
		/* record.sql marks a stage gone down: its readers were told of the higher one */
		if (mail_words_lowered(it)) {
			strbuf_append(sb, "Lowered to ");
			mail_words_clean(sb, stage ? stage : "a lower stage");
			strbuf_append(sb, ": ");
			break;
		}
		strbuf_append(sb, "Updated (");
		mail_update_words(sb, it->n);
		strbuf_append(sb, "): ");
		break;
	case MAIL_DIGEST_RESOLVED:
		strbuf_append(sb, "Resolved: ");
		break;
	case MAIL_DIGEST_RULE_FAILING:
		strbuf_append(sb, "Rule failing: ");
		break;
	case MAIL_DIGEST_RULE_RECOVERED:
		strbuf_append(sb, "Rule running again: ");
		break;
	case MAIL_DIGEST_BAD_ADDRESS:
		strbuf_append(sb, "Address that cannot be used: ");
		break;
	case MAIL_DIGEST_TEAM_WEBHOOK:
		strbuf_append(sb, "Team webhook not used: ");
		break;
	case MAIL_DIGEST_RECORD_WRONG:
		strbuf_append(sb, "To correct: ");
		break;
	default:
		strbuf_append(sb, "Not delivered");
		return;
	}
	if (count == 1)
		strbuf_append(sb, it->label);
	else
		mail_words_label(sb, it->n, count);
}

int mail_words_link_ok(const char *link)
{
	return link && (strncmp(link, "https://", 8) == 0 || strncmp(link, "http://", 7) == 0);
}

/* "siblings in family F-310" after the heading of an entry naming more than one child */
void mail_words_family(struct strbuf *sb, const struct mail_digest *d,
		       const struct mail_digest_entry *e)
{
	strbuf_printf(sb, " (%zu siblings in family ", e->n);
	mail_words_clean(sb, mail_words_alert(d->items[e->first].n->alert, "family_id"));
	strbuf_append(sb, ")");
}
