/* retention: prunes delivered notices and old evaluations, in small batches that never block. */
#ifndef DRIFTWATCH_RETENTION_H
#define DRIFTWATCH_RETENTION_H

struct dw_ctx;
struct db_conn;

/* Called once: what was pruned, or error (then the counts are what was pruned before it). */
typedef void (*retention_done_cb)(long long notices, long long evaluations, const char *error,
				  void *arg);

/* Deletes delivered notices (and their delivery attempts) and evaluations older than
 * retention.days from the state schema on conn, RETENTION_BATCH rows at a time, each batch its
 * own transaction waiting at most a second for any lock, until a batch comes back short or
 * RETENTION_MAX_BATCHES have run (the rest waits for the next call). Alerts, their events and
 * responses are never deleted. Returns 0 when started (cb is then called once). */
int retention_prune(struct dw_ctx *ctx, struct db_conn *conn, retention_done_cb cb, void *arg);

#define RETENTION_BATCH 1000
#define RETENTION_MAX_BATCHES 50

#endif
