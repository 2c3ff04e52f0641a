/* pgfixture: what the C integration tests share to reach the test PostgreSQL of tests/run.sh
 * (PGHOST, PGPORT, PGUSER, PGDATABASE): a shell command, a configuration naming a case schema,
 * and a connection made and waited for, so that a server that never answers fails the test. */
#ifndef DRIFTWATCH_PGFIXTURE_H
#define DRIFTWATCH_PGFIXTURE_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/errlist.h"
#include "evwait.h"
#include "tap.h"

/* psql as the tests run it: no .psqlrc, quiet, stopping at the first error. */
#define PGFIX_PSQL "psql -X -q -v ON_ERROR_STOP=1"

static inline int pgfix_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline int pgfix_sh(const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return system(cmd);
}

/* Loads into ctx->cfg (allocated here) a configuration for the test server as user (NULL:
 * PGUSER) with case_schema schema; more is "" or further members of the top object, each
 * after a comma. Each error of the configuration is a TAP diagnostic. */
static inline int pgfix_config(struct dw_ctx *ctx, const char *user, const char *schema,
			       const char *more)
{
	struct errlist errs = { 0 };
	char json[2048];
	int rc;

	snprintf(json, sizeof(json),
		 "{\"database\": {\"conninfo\": \"host=%s port=%s dbname=%s user=%s\", "
		 "\"case_schema\": \"%s\"}%s}",
		 getenv("PGHOST") ? getenv("PGHOST") : "127.0.0.1", getenv("PGPORT"),
		 getenv("PGDATABASE") ? getenv("PGDATABASE") : "dwtest",
		 user ? user : getenv("PGUSER") ? getenv("PGUSER") : "dwtest", schema, more);
	ctx->cfg = calloc(1, sizeof(*ctx->cfg));
	if (!ctx->cfg)
		return -1;
	rc = config_load_text("test", json, ctx->cfg, &errs);
	for (size_t i = 0; i < errs.n; i++)
		tap_diag("config: %s", errs.msgs[i]);
	errlist_free(&errs);
	return rc < 0 ? -1 : 0;
}

/* Frees what pgfix_config and the test made of ctx: its configuration and its loop. */
static inline void pgfix_free(struct dw_ctx *ctx)
{
	if (ctx->cfg)
		config_free(ctx->cfg);
	free(ctx->cfg);
	ctx->cfg = NULL;
	if (ctx->base)
		event_base_free(ctx->base);
	ctx->base = NULL;
}

static inline void pgfix_on_connect(struct db_conn *conn, int ok, void *arg)
{
	(void)conn;
	*(int *)arg = ok ? 1 : -1;
}

/* Connects conn and waits up to seconds: 0 when it is up. */
static inline int pgfix_connect(struct event_base *base, struct db_conn *conn, int seconds)
{
	int state = 0;

	if (db_connect(conn, pgfix_on_connect, &state) < 0 ||
	    evwait_for(base, &state, seconds) < 0)
		return -1;
	return state == 1 ? 0 : -1;
}

/* A new connection with ctx's conninfo in *conn, connected within seconds: 0 when it is up
 * (*conn is set either way, for the caller to free). */
static inline int pgfix_open(struct dw_ctx *ctx, struct db_conn **conn, int seconds)
{
	*conn = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);
	return *conn ? pgfix_connect(ctx->base, *conn, seconds) : -1;
}

#endif
