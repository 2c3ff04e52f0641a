/* mail_words: a digest's notices in plain words: labels, headings, facts, one-line entries. */
#ifndef DRIFTWATCH_MAIL_WORDS_H
#define DRIFTWATCH_MAIL_WORDS_H

#include <stddef.h>

#include <jansson.h>

struct strbuf;
struct mail_notice;
struct mail_digest;
struct mail_digest_item;
struct mail_digest_entry;
struct mail_digest_count;

/* The alert's string under key, or NULL when it is missing or empty. */
const char *mail_words_alert(const json_t *alert, const char *key);

/* A string of the notice object, or NULL (a notice recorded before notices carried words). */
const char *mail_words_notice(const struct mail_notice *n, const char *key);

/* s with control characters (a CR or LF above all) as spaces: never a broken header or line. */
void mail_words_clean(struct strbuf *out, const char *s);

/* A key as words: "plan_start" -> "plan start" (control characters as spaces). */
void mail_words_key(struct strbuf *out, const char *key);

/* The notice's own label for count of it ("CP plan at 9 months", or label_many), a report's
 * label, else the rule's name and stage in plain characters. */
void mail_words_label(struct strbuf *out, const struct mail_notice *n, size_t count);

/* What a count's label is followed by for a kind: " resolved", " not answered" or "". Groups
 * of one label with different suffixes are counted apart (the pointer is compared). */
const char *mail_words_suffix(int kind);

/* An alert's notice that was told of before, as record.sql marks it: MAIL_WORDS_REMINDER (a
 * reminder, repeat_after_days), MAIL_WORDS_AGAIN (resolved, then firing again: a plan
 * reopened within its episode), else MAIL_WORDS_FIRST. Only alert.firing notices carry it. */
enum mail_words_told { MAIL_WORDS_FIRST, MAIL_WORDS_REMINDER, MAIL_WORDS_AGAIN };
enum mail_words_told mail_words_told(const struct mail_digest_item *it);

/* An update that is a stage gone down (notice.lowered, record.sql: a strategy now holds the
 * 15-month escalation, say), headed "Lowered to 12m: ". */
int mail_words_lowered(const struct mail_digest_item *it);

/* mail_words_suffix of the item's kind, and " (reminder)" or " (firing again)" for a notice
 * told of before: the subject and the summary count those apart from the new ones. */
const char *mail_words_item_suffix(const struct mail_digest_item *it);

/* "3 CP plans at 9 months", "1 CP escalation at 15 months resolved" */
void mail_words_count(struct strbuf *sb, const struct mail_digest *d,
		      const struct mail_digest_count *c);

/* A fact's value in words: a date as "14 Aug 2025", true as "yes", nesting down to a depth. */
void mail_words_fact(struct strbuf *out, const json_t *v, int depth);

/* Facts as "plan start: 14 Aug 2025; months: 15". */
void mail_words_facts(struct strbuf *sb, const json_t *facts);

/* Why a fallback address (a duty team) got a notice meant for someone else, from the alert's
 * recipient entry for address to; NULL when it is the person's own. */
const char *mail_words_why_you(const json_t *alert, const char *to);

/* The snooze a notice of a snoozed alert carries (its "response", as the API's), in words:
 * "until 3 Mar 2027 by x@la.example: Legal planning (pre-proceedings or PLO) — note".
 * Returns 1 when it wrote them, 0 when the alert carries no snooze. */
int mail_words_snooze(struct strbuf *sb, const json_t *alert);

/* "by x@la.example — note", from the "response" of a notice whose alert's current stage is
 * acknowledged (outbox_claim_email.sql: the answer as it stands when the email goes); nothing
 * otherwise. */
int mail_words_acknowledged(struct strbuf *sb, const json_t *alert);

/* Why a notice sent on to the fallback address came to its reader: "sent to you, the fallback
 * address, because the mail server refused dsup@la.example (supervisor) for good (...)" from
 * the "instead_of" of its notice (outbox_result.sql). Returns 0 and writes nothing when the
 * notice was not sent on. */
int mail_words_instead_of(struct strbuf *sb, const struct mail_notice *n);

/* How the alert of an out-of-date notice now stands (notice.since, outbox_claim_email.sql),
 * in words: "the alert was resolved on 3 Dec 2026, after ...". Returns 0 and writes nothing
 * when the notice is not out of date. */
int mail_words_since(struct strbuf *sb, const struct mail_notice *n);

/* What is expected of the reader of item it ("review in supervision"). */
void mail_words_expected(struct strbuf *sb, const struct mail_digest_item *it);

/* The heading of an item, or of an entry of count siblings ("New: CP plans at 9 months"). */
void mail_words_heading(struct strbuf *sb, const struct mail_digest_item *it, size_t count);

/* Whether link is http or https: only those are ever offered as links. */
int mail_words_link_ok(const char *link);

/* " (2 siblings in family F-310)", after the heading of an entry naming more than one child */
void mail_words_family(struct strbuf *sb, const struct mail_digest *d,
		       const struct mail_digest_entry *e);

#endif
