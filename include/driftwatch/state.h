/* state: driftwatch's own schema (alerts, history, outbox): migrating it and recording into it. */
#ifndef DRIFTWATCH_STATE_H
#define DRIFTWATCH_STATE_H

struct dw_ctx;
struct db_conn;
struct eval_result;
struct eval_request;

#define STATE_SCHEMA_VERSION 1

/* Called once: ok 1, or 0 with error naming what failed. */
typedef void (*state_done_cb)(int ok, const char *error, void *arg);

/* Creates the state schema or brings it to STATE_SCHEMA_VERSION, one migration per version,
 * each in its own transaction under an advisory lock so two daemons cannot race. */
int state_migrate(struct dw_ctx *ctx, struct db_conn *conn, state_done_cb cb, void *arg);

/* What recording one evaluation changed. */
struct state_changes {
	long long firing, escalated, updated, resolved, reminders;
	long long email_notices, webhook_notices;
};

typedef void (*state_record_cb)(int ok, const char *error, const struct state_changes *ch,
				void *arg);

/* Diffs res against the stored alerts and writes the changes, their events and their notices
 * in one transaction (all or nothing), in batches of alerts so that memory does not grow with
 * the evaluation. Only the children of req (all when it names none) can resolve. Children and
 * bad rows are recorded as NULL when res did not count them. Returns 0 when started (cb is
 * then called once; res must live, and nothing else be sent on conn, until it is), or -1 (cb is
 * not called). */
int state_record(struct dw_ctx *ctx, struct db_conn *conn, const struct eval_result *res,
		 const struct eval_request *req, state_record_cb cb, void *arg);

#endif
