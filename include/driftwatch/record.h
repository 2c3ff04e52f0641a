/* record: an evaluation's alerts written into the state schema as they stream, rule by rule. */
#ifndef DRIFTWATCH_RECORD_H
#define DRIFTWATCH_RECORD_H

struct dw_ctx;
struct db_conn;
struct eval_result;
struct eval_request;
struct eval_sink;
struct record;

/* What recording one evaluation changed. */
struct record_changes {
	long long firing, escalated, updated, resolved, reminders;
	long long email_notices, webhook_notices;
	long long reports;          /* notices to the operators: rules failing or recovering,
				     * addresses in the case data that cannot be used */
	/* the digest key its email notices went under when nothing was held: the escalation
	 * pass that follows puts its own in the same digest (unanswered_run) */
	char digest_key[64];
};

/* Called once: ok 1 when the evaluation was committed, else 0 with error naming what failed
 * (NULL when the caller asked for the roll back). */
typedef void (*record_done_cb)(int ok, const char *error, const struct record_changes *ch,
			       void *arg);

/* A recording of one evaluation on conn (the state database, connected, idle, and used for
 * nothing else until record_finish's callback): one transaction under an advisory lock, each
 * rule inside a savepoint of its own. A rule's alerts are diffed against the stored ones as they
 * arrive, a batch at a time; once the rule has run to its end, what it no longer yields
 * resolves; a rule that failed changes nothing. req names the children evaluated (all when it
 * names none: only they can resolve) and must live until the callback. With hold_email (the
 * daemon), people's email notices wait in the outbox for their digest slot or urgent window
 * (digest_slot.h); without (--once), every notice is due at once. NULL when out of memory. */
struct record *record_new(struct dw_ctx *ctx, struct db_conn *conn,
			  const struct eval_request *req, int hold_email);

/* The sink to give eval_start for this recording. */
void record_sink(struct record *rec, struct eval_sink *sink);

/* After the evaluation ended: with keep and no error in res, writes its figures and the rules'
 * health and commits; otherwise rolls everything back. cb runs once and rec is freed. */
void record_finish(struct record *rec, const struct eval_result *res, int keep,
		   record_done_cb cb, void *arg);

/* Frees a recording whose evaluation never started (NULL is fine). */
void record_cancel(struct record *rec);

/* record_resolve.sql's text (its schema substituted or not) for a few given children: the
 * "$3 IS NULL OR" branch for everyone taken out, so that a generic plan reads only their
 * alerts. NULL when the text does not hold that branch exactly once, or memory ran out. */
char *record_resolve_for_children(const char *sql);

#endif
