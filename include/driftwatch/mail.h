/* mail: the email digest: one RFC 5322 message per recipient, and sending it over SMTP. */
#ifndef DRIFTWATCH_MAIL_H
#define DRIFTWATCH_MAIL_H

#include <stddef.h>
#include <time.h>

#include <jansson.h>

struct curl_loop;
struct config_email;
struct noticelinks;

/* ---- composing ---- */

/* One notice in a digest: one change of one alert, for this recipient. Nothing is copied.
 * type is "alert.firing", "alert.escalated", "alert.updated", "alert.resolved",
 * "alert.unanswered" (a stage nobody acknowledged or snoozed in time; its notice's "update"
 * says so in words), or
 * "delivery.failed" for the operators' report of a notice given up on (its alert then carries
 * rule "delivery", stage "failed" and a summary saying where it went and why it failed), or
 * one of the operators' other reports ("rule.failing", "rule.recovered", "data.bad_address",
 * "data.team_webhook", "data.record_wrong": rule "driftwatch" and the report's stage; a
 * record said to be wrong carries the child and its record link). Only
 * the alert's own fields are shown: child_id, subject_id, link, summary, facts, rule, stage;
 * never its recipients (no one sees who else was told). */
struct mail_notice {
	const char *type;
	const json_t *alert;   /* the alert object of ALERTS.md ("The notice as data") */
	/* the notice object kept with it when it was recorded (notice.h: label, subject,
	 * expected, update), or NULL: the alert's rule and stage are shown as they are, and
	 * generic lines stand for the rest */
	const json_t *notice;
	const char *key;       /* the notice's idempotency key (non-empty) */
	/* The alert's JSON text when alert holds only the members of mail_notice_head_keys,
	 * else NULL: a first day's digest for a head of service holds tens of thousands of
	 * notices, ordered and counted by those alone, and most of them are never shown.
	 * mail_notice_alert reads the whole alert from it for a notice shown in full or listed.
	 * Nothing is copied. */
	const char *alert_text;
	size_t alert_len;
};

/* The members of an alert a digest reads from every notice (NULL-terminated): its rule, stage,
 * family and child, which order, group and count the notices. Everything else is read from
 * the notices shown in full or listed, through mail_notice_alert. */
extern const char *const mail_notice_head_keys[];

/* The whole alert of n (a new reference): read from n->alert_text when n has it, else n->alert
 * itself. NULL when the text is not JSON or memory ran out. */
json_t *mail_notice_alert(const struct mail_notice *n);

struct mail_message {
	char *message_id;      /* "<HEX@driftwatch.HOST>": the same for the same keys and recipient */
	char *subject;         /* the subject as UTF-8 text, before RFC 2047 encoding */
	char *data;            /* the whole message, headers and body, CRLF line ends, 7-bit ASCII */
	size_t len;
	/* the notices (indexes into those given) the message does not tell of: neither shown in
	 * full nor in its attached list, which was cut to fit email.max_message_bytes. They are
	 * not delivered by it: the sender gives them back to the outbox for the next digest.
	 * NULL and 0 when it tells of every one. */
	size_t *untold;
	size_t n_untold;
};

/* Composes the digest of notices[0..n-1] (n >= 1) from `from` to `to` (each one plain address,
 * printable ASCII), dated date, in the reading order of mail_compose_with. The subject counts what is inside
 * ("3 drift alerts: 1 CP escalation at 15 months, 1 repeat CP plan, 1 was-not-brought"). The
 * Message-ID is derived from `to` and the sorted idempotency keys only, so recomposing after a
 * crash gives the same one. Pure: no I/O, no clock, no locale.
 * Returns 0 with *out filled (free it with mail_message_free), or -1 with err filled and *out
 * zeroed. */
int mail_compose(const char *from, const char *to, time_t date, const struct mail_notice *notices,
		 size_t n, struct mail_message *out, char *err, size_t errsz);

/* mail_compose, and each alert's notice carries the Acknowledge, Snooze and Open links of
 * noticelinks.h for `to` (the HTML part as buttons, the text part as URLs). links NULL, or
 * without a key, composes exactly what mail_compose does. The Message-ID does not depend on the
 * links. An alert whose links cannot be signed (no fingerprint or as_of) goes without them. */
int mail_compose_links(const char *from, const char *to, time_t date,
		       const struct noticelinks *links, const struct mail_notice *notices,
		       size_t n, struct mail_message *out, char *err, size_t errsz);

/* How a digest is composed beyond its notices. */
struct mail_options {
	const struct noticelinks *links; /* NULL: no Acknowledge, Snooze, Open links */
	/* web.public_url when the pages are served (web.listen set), else NULL: a child's
	 * identifier then links to {pages_url}/child/{id}, and a capped digest sends the reader
	 * to {pages_url}/ for the rest */
	const char *pages_url;
	/* email.digest_max_items: a digest with more new items (not resolutions) than this shows
	 * the most serious in full, counts all of them by rule and stage, and lists the rest in
	 * one line each (or points to the pages); 0: no cap */
	size_t max_items;
	/* email.max_message_bytes: the list attached to a capped digest takes at most 60% of
	 * this (base64 makes it 80%), the most serious rows first; 0: no limit */
	size_t max_message_bytes;
};

/* mail_compose_links with options (o NULL: as mail_compose). Reading order, whatever the order
 * given: a summary of what needs action now (the stages their rules declare urgent), then
 * sections by the seriousness each notice's rule declared (notice.h), resolutions last, reports
 * about driftwatch itself after them. Notices of one family (the alert's family_id) with the
 * same rule, stage and kind are one entry naming each child. */
int mail_compose_with(const char *from, const char *to, time_t date,
		      const struct mail_options *o, const struct mail_notice *notices, size_t n,
		      struct mail_message *out, char *err, size_t errsz);

void mail_message_free(struct mail_message *m);

/* ---- sending ---- */

enum mail_outcome {
	MAIL_DELIVERED,   /* the server took the message (250 after DATA) */
	MAIL_RETRY,       /* not delivered, may be later: no connection, timeout, TLS or STARTTLS
			   * failure, authentication refused, a 4xx, or cancelled by
			   * curl_loop_free (the server may have taken it: resend with the same
			   * Message-ID) */
	MAIL_PERMANENT,   /* the server refused this message with a 5xx (5.3.4 too big, 5.6.x
			   * content refused): retrying cannot help. A 5xx greeting, AUTH refusal
			   * or refusal by policy (5.7.x) is MAIL_RETRY. */
	MAIL_NO_MAILBOX   /* the server refused the recipient for good: 5.1.x (mailbox unknown)
			   * or 5.2.x (disabled, full) at any step, or a 5xx to RCPT with no
			   * enhanced code. Retrying cannot help, but another address can: the
			   * deliverer sends such notices on to the fallback address. */
};

/* Called exactly once per message mail_send accepted. msg says what happened in one line naming
 * the server (host:port, never credentials) and the recipient, e.g. "SMTP mail.la.example:587:
 * to chair@la.example: 550 5.1.1 mailbox unknown (permanent)". timed_out: the server took
 * longer than the connect or the whole timeout (a MAIL_RETRY): the sender holds a connection
 * for that long each time, where a refusal holds none. */
typedef void (*mail_sent_cb)(enum mail_outcome outcome, int timed_out, const char *msg,
			     void *arg);

struct mail_sender;

/* email.ca_file, if set, is a readable file holding at least one PEM certificate. Returns 0,
 * or -1 with err filled ("email.ca_file: PATH: what is wrong"). */
int mail_ca_file_check(const char *path, char *err, size_t errsz);

/* A sender for the configured server. Reads password_file now, once (trailing newline trimmed;
 * it never appears in a message), and checks ca_file (mail_ca_file_check). Returns NULL with
 * err filled (naming the file or the URL). */
struct mail_sender *mail_sender_new(struct curl_loop *loop, const struct config_email *email,
				    char *err, size_t errsz);

/* Seconds to connect (default 15) and for the whole transfer (default 120). */
void mail_sender_set_timeouts(struct mail_sender *s, long connect_s, long total_s);

/* Sends message m (copied) to the one address `to` on the loop. Returns 0 when accepted (cb will
 * be called exactly once, never from inside this call), or -1 with err filled (cb not called). */
int mail_send(struct mail_sender *s, const char *to, const struct mail_message *m,
	      mail_sent_cb cb, void *arg, char *err, size_t errsz);

/* Frees the sender. Transfers already handed to the loop do not need it and finish (or are
 * cancelled by curl_loop_free) as usual. NULL is fine. */
void mail_sender_free(struct mail_sender *s);

/* "delivered", "retry", "permanent" */
const char *mail_outcome_name(enum mail_outcome o);

#endif
