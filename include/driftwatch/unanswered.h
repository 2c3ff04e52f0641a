/* unanswered: after a full evaluation, queues alert.unanswered for each stage nobody answered in
 * its working days (RESPONSES.md, "Escalation when nobody answers"). */
#ifndef DRIFTWATCH_UNANSWERED_H
#define DRIFTWATCH_UNANSWERED_H

#include "driftwatch/rule.h"

struct dw_ctx;
struct db_conn;

struct unanswered_stats {
	long long candidates;       /* firing stages nobody answered (due or not) */
	long long unanswered;       /* alert.unanswered events queued now */
	long long email_notices, webhook_notices;
	long long by_stage[RULE_REGISTRY_MAX][RULE_MAX_STAGES]; /* unanswered, registry order */
};

/* Called once: ok 1 (committed), or 0 with error naming what failed (nothing was queued). */
typedef void (*unanswered_done_cb)(int ok, const char *error, const struct unanswered_stats *st,
				   void *arg);

/*
 * For the evaluation of everyone on as_of (YYYY-MM-DD) just committed on conn (the state
 * database, idle and used for nothing else until cb): in one transaction under the recording
 * lock, reads the unanswered firing stages, works out in C with escalation_due and the configured
 * calendar which are due on or before as_of, and queues one alert.unanswered per due stage to
 * the alert's destinations and to the addresses of responses.escalate's roles (service_manager
 * read from the case schema in one statement under a savepoint, or on case_conn when the state
 * is in a database of its own (state.conninfo; NULL: conn): a missing link of the chain or
 * unreadable case data sends it to head_of_service, the event saying why). The day each is
 * due is worked out in C, not SQL: the calendar (bank holidays by rule, substitute days,
 * closures) is the one --check-config and the unit tests check, and only the few unanswered
 * stages need it. With hold_email (the daemon), people's email notices wait for their digest
 * slot or urgent window (digest_slot.h); without (--once) they are due at once, under
 * digest_key: the key the evaluation just recorded used (record_changes), so that a person gets
 * one email of that evaluation's news and its escalations, not two (ALERTS.md: "One message per
 * recipient per digest"); NULL or empty: a key of its own. Returns 0 when started, -1 when it
 * could not be (cb never runs).
 */
int unanswered_run(struct dw_ctx *ctx, struct db_conn *conn, struct db_conn *case_conn,
		   const char *as_of, int hold_email, const char *digest_key,
		   unanswered_done_cb cb, void *arg);

#endif
