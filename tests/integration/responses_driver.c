/* responses_driver: records one response through the responses module, for the Python tests.
 *   responses_driver -c CONFIG --today YYYY-MM-DD acknowledge|snooze|unsnooze FINGERPRINT
 *                    ACTOR VIA [--reason R] [--note N] [--until YYYY-MM-DD] [--stage S]
 * Prints "recorded STAGE", "invalid FIELD: ERROR", "not_found: ...", "resolved: ...",
 * "moved STAGE: ..." or "failed: ..." on stdout, and exits 0 when recorded, 3 invalid, 4 not
 * found, 5 resolved, 6 moved (an acknowledgement --stage S while the alert is at another),
 * 1 otherwise. The state schema must exist already (a --once run made it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/errlist.h"
#include "driftwatch/log.h"
#include "driftwatch/responses.h"

struct driver {
	struct dw_ctx *ctx;
	struct responses_request req;
	int code;
};

static int driver_print(const struct responses_result *r)
{
	switch (r->outcome) {
	case RESPONSES_RECORDED:
		printf("recorded %s\n", r->stage);
		return 0;
	case RESPONSES_INVALID:
		printf("invalid %s: %s\n", r->field, r->error);
		return 3;
	case RESPONSES_NOT_FOUND:
		printf("not_found: %s\n", r->error);
		return 4;
	case RESPONSES_RESOLVED:
		printf("resolved: %s\n", r->error);
		return 5;
	case RESPONSES_MOVED:
		printf("moved %s: %s\n", r->stage, r->error);
		return 6;
	case RESPONSES_FAILED:
		break;
	}
	printf("failed: %s\n", r->error);
	return 1;
}

static void on_done(const struct responses_result *r, void *arg)
{
	struct driver *d = arg;

	d->code = driver_print(r);
	event_base_loopbreak(d->ctx->base);
}

static void on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct driver *d = arg;
	struct responses_result refused;
	int rc;

	if (!ok) {
		printf("failed: %s\n", db_error(conn));
		event_base_loopbreak(d->ctx->base);
		return;
	}
	rc = responses_record(d->ctx, conn, &d->req, &refused, on_done, d);
	if (rc == 1)
		d->code = driver_print(&refused);
	if (rc != 0)
		event_base_loopbreak(d->ctx->base);
}

static int parse_kind(const char *s, enum responses_kind *k)
{
	if (strcmp(s, "acknowledge") == 0)
		*k = RESPONSES_ACKNOWLEDGE;
	else if (strcmp(s, "snooze") == 0)
		*k = RESPONSES_SNOOZE;
	else if (strcmp(s, "unsnooze") == 0)
		*k = RESPONSES_UNSNOOZE;
	else
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	struct dw_config cfg;
	struct errlist errs;
	struct dw_ctx ctx;
	struct driver d;
	struct db_conn *conn;
	int i;

	memset(&ctx, 0, sizeof(ctx));
	memset(&d, 0, sizeof(d));
	d.code = 1;
	d.ctx = &ctx;
	if (argc < 9 || strcmp(argv[1], "-c") != 0 || strcmp(argv[3], "--today") != 0 ||
	    calendar_day_parse(argv[4], &d.req.today) < 0 || parse_kind(argv[5], &d.req.kind) < 0) {
		fprintf(stderr, "usage: responses_driver -c CONFIG --today DAY KIND FP ACTOR VIA "
			"[--reason R] [--note N] [--until DAY]\n");
		return 2;
	}
	d.req.fingerprint = argv[6];
	d.req.actor = argv[7];
	d.req.via = argv[8];
	for (i = 9; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--reason") == 0)
			d.req.reason = argv[i + 1];
		else if (strcmp(argv[i], "--note") == 0)
			d.req.note = argv[i + 1];
		else if (strcmp(argv[i], "--until") == 0)
			d.req.until = argv[i + 1];
		else if (strcmp(argv[i], "--stage") == 0)
			d.req.stage = argv[i + 1];
		else
			return 2;
	}
	memset(&errs, 0, sizeof(errs));
	if (config_load(argv[2], &cfg, &errs) < 0) {
		fprintf(stderr, "responses_driver: %s: bad configuration\n", argv[2]);
		errlist_free(&errs);
		config_free(&cfg);
		return 2;
	}
	errlist_free(&errs);
	ctx.cfg = &cfg;
	ctx.log_level = LOG_PRIO_WARNING;
	ctx.base = event_base_new();
	conn = ctx.base ? db_conn_new(ctx.base, cfg.conninfo, ctx.log_level) : NULL;
	if (conn && db_connect(conn, on_connect, &d) == 0)
		event_base_dispatch(ctx.base);
	else
		printf("failed: could not connect\n");
	if (conn)
		db_conn_free(conn);
	if (ctx.base)
		event_base_free(ctx.base);
	config_free(&cfg);
	return d.code;
}
