/* deliver: takes due notices from the outbox and sends them over webhooks and email digests. */
#ifndef DRIFTWATCH_DELIVER_H
#define DRIFTWATCH_DELIVER_H

#include <stddef.h>

struct dw_ctx;
struct db_conn;
struct curl_loop;
struct deliver;

/* What a delivery pass did, for the summary and the metrics. */
struct deliver_stats {
	size_t claimed;
	size_t delivered;
	size_t retried;
	size_t failed;
	size_t emails_sent;      /* digests the SMTP server took */
	size_t webhooks_delivered;
};

typedef void (*deliver_done_cb)(const struct deliver_stats *st, const char *error, void *arg);

/* Loads the webhook secrets and the SMTP password now, so a missing file is reported at start.
 * Returns NULL with err filled. */
struct deliver *deliver_new(struct dw_ctx *ctx, struct db_conn *conn, struct curl_loop *loop,
			    char *err, size_t errsz);

/* One pass: claims every due notice (webhooks up to a batch), sends them concurrently and
 * records each result; cb runs once when every claimed notice has a recorded result. */
int deliver_pass(struct deliver *d, deliver_done_cb cb, void *arg);

void deliver_free(struct deliver *d);

#endif
