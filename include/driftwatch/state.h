/* state: driftwatch's own schema (alerts, history, outbox): creating and migrating it. */
#ifndef DRIFTWATCH_STATE_H
#define DRIFTWATCH_STATE_H

struct dw_ctx;
struct db_conn;

#define STATE_SCHEMA_VERSION 13

/* Called once: ok 1, or 0 with error naming what failed. */
typedef void (*state_done_cb)(int ok, const char *error, void *arg);

/* Creates the state schema or brings it to STATE_SCHEMA_VERSION, one migration per version,
 * each in its own transaction under an advisory lock so two daemons cannot race. */
int state_migrate(struct dw_ctx *ctx, struct db_conn *conn, state_done_cb cb, void *arg);

#endif
