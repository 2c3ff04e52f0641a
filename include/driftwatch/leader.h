/* leader: which of several daemons on one database evaluates, by an advisory lock. */
#ifndef DRIFTWATCH_LEADER_H
#define DRIFTWATCH_LEADER_H

struct dw_ctx;
struct leader;

/* Called when this instance becomes (1) or stops being (0) the one that evaluates. */
typedef void (*leader_change_cb)(int leading, void *arg);

/* Holds PostgreSQL advisory lock "driftwatch:<state schema>" on a connection of its own; while
 * it is held this instance evaluates. Instances that do not hold it try again every
 * evaluation.takeover_seconds, so when the holder dies (its session ends and PostgreSQL frees
 * the lock) another takes over within that time. Losing the connection loses the lead at once. */
struct leader *leader_new(struct dw_ctx *ctx, leader_change_cb cb, void *arg);
void leader_free(struct leader *l);
int leader_is_leading(const struct leader *l);

#endif
