/* state: driftwatch's own schema (alerts, history, outbox): creating and migrating it. */
#ifndef DRIFTWATCH_STATE_H
#define DRIFTWATCH_STATE_H

struct dw_ctx;
struct db_conn;

#define STATE_SCHEMA_VERSION 14
/* The same as a statement's text parameter (--check-config's check_state.sql). */
#define STATE_VERSION_STR_(v) #v
#define STATE_VERSION_STR(v) STATE_VERSION_STR_(v)
#define STATE_VERSION_TEXT STATE_VERSION_STR(STATE_SCHEMA_VERSION)

/* Called once: ok 1, or 0 with error naming what failed. */
typedef void (*state_done_cb)(int ok, const char *error, void *arg);

/* Creates the state schema or brings it to STATE_SCHEMA_VERSION, one migration per version,
 * each in its own transaction under an advisory lock so two daemons cannot race. */
int state_migrate(struct dw_ctx *ctx, struct db_conn *conn, state_done_cb cb, void *arg);

#endif
