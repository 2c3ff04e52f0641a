/* deliver: takes due notices from the outbox and sends them, each receiver on a lane of its own. */
#ifndef DRIFTWATCH_DELIVER_H
#define DRIFTWATCH_DELIVER_H

#include <stddef.h>

struct dw_ctx;
struct db_conn;
struct curl_loop;
struct deliver;

/* What the deliverer did since it was made (or since deliver_pass began), for the summary. The
 * daemon's /metrics figures (ctx->metrics.deliveries_*) are kept up to date as it goes. */
struct deliver_stats {
	size_t claimed;
	size_t delivered;
	size_t retried;
	size_t failed;
	size_t emails_sent;      /* digests the SMTP server took */
	size_t webhooks_delivered;
	long long left_due;      /* --once: due by its start and not sent by it (-1: not counted) */
	long long left_people;   /* ... and their destinations */
};

typedef void (*deliver_done_cb)(const struct deliver_stats *st, const char *error, void *arg);

/* Loads the webhook secrets and the SMTP password now, so a missing file is reported at start.
 * Every webhook URL (and the mail server) is a lane with transfer slots of its own, sized from
 * curl_loop_max(loop) (half of it for a webhook, up to 16; a quarter for the mail server, up to
 * 8): one that stalls holds its own slots and nobody else's, and one slot from a transfer
 * that timed out until its receiver answers again; the loop's last eighth is kept for lanes
 * with nothing running. Both connections are to the state database: conn carries the webhook
 * claims and every result, mail_conn the email claims (NULL: conn carries them too), which
 * take conn while mail_conn is down. Returns NULL with err filled. */
struct deliver *deliver_new(struct dw_ctx *ctx, struct db_conn *conn, struct db_conn *mail_conn,
			    struct curl_loop *loop, char *err, size_t errsz);

/* The daemon: claims what is due now for every lane with room, and again whenever a lane has
 * room and may have more. Call it when recording committed new notices, when the delivery
 * connection comes up, and from a timer (retries fall due as time passes). Never blocks. */
void deliver_kick(struct deliver *d);

/* --once: claims every notice due now (a batch at a time), sends them and records each result;
 * cb runs once when nothing claimed is left in flight. Returns -1 if one is running already or
 * the first claim could not be sent. */
int deliver_pass(struct deliver *d, deliver_done_cb cb, void *arg);

/* A reload: the webhook secrets and the mail settings are read again from ctx->cfg (the new
 * configuration, in place already). Transfers running finish and their results are recorded;
 * notices claimed but not started yet go back to the outbox unsent, to be claimed again under
 * the new settings. On failure (a secret file that cannot be read) err says why and the
 * deliverer keeps what it had. The state schema and the connection must be unchanged: for
 * another one, free the deliverer and make a new one. Returns 0 or -1. */
int deliver_reload(struct deliver *d, char *err, size_t errsz);

/* Stopping: nothing more is claimed, notices claimed and not started go back to the outbox
 * unsent (a claim answered meanwhile too), and cb runs once every transfer has ended
 * (curl_loop_free cancels the ones that take too long: their notices are due again) and every
 * result is recorded, or could not be. A claim still in flight is not waited for. */
void deliver_stop(struct deliver *d, deliver_done_cb cb, void *arg);

/* Frees the deliverer. Transfers still running and queries still waiting keep a retired copy
 * alive until they end, without recording anything more: their notices stay leased and go out
 * again when the lease ends, with the same idempotency key. NULL is fine. */
void deliver_free(struct deliver *d);

#endif
