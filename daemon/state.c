/* state: creates driftwatch's own schema and migrates it forward, one version at a time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/advlock.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/log.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/state.h"
#include "driftwatch/strbuf.h"

/* Migration N (1-based) brings the schema from version N-1 to N. */
static const char *const migrations[] = { sql_state_v1, sql_state_v2, sql_state_v3,
						 sql_state_v4, sql_state_v5, sql_state_v6,
						 sql_state_v7, sql_state_v8, sql_state_v9,
						 sql_state_v10, sql_state_v11, sql_state_v12,
						 sql_state_v13, sql_state_v14 };

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == STATE_SCHEMA_VERSION,
	       "one migration per schema version");

/* Any constant works; it only has to be the same for every driftwatchd. */

struct state_op {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	char *ident;            /* escaped state schema */
	state_done_cb done;
	void *arg;
	int version;            /* current version while migrating */
	int schema_exists;      /* the schema is there already (a DBA may have made it) */
	int raced;              /* migrations lost to another daemon starting at once */
};

static struct state_op *state_op_new(struct dw_ctx *ctx, struct db_conn *conn, void *arg)
{
	struct state_op *op = calloc(1, sizeof(*op));

	if (!op)
		return NULL;
	op->ctx = ctx;
	op->conn = conn;
	op->arg = arg;
	op->ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	if (!op->ident) {
		free(op);
		return NULL;
	}
	return op;
}

static void state_op_free(struct state_op *op)
{
	free(op->ident);
	free(op);
}

/* ---- migration ---- */

static void state_migrate_end(struct state_op *op, const char *error)
{
	state_done_cb cb = op->done;
	void *arg = op->arg;

	state_op_free(op);
	cb(error == NULL, error, arg);
}

static void state_apply_next(struct state_op *op);
static int state_check_version(struct state_op *op);

/* Another daemon that started at the same moment applied this migration first (it held the
 * lock while this one read the old version): read the version again instead of failing. With
 * three daemons starting together one can lose at several versions in a row (audit 9 saw "<3>
 * migration to version 11 failed ... already exists" though all ended right): each loss means
 * another committed a migration, so at most one retry a version is needed. */
static int state_lost_race(struct state_op *op, PGresult *res)
{
	const char *code = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (op->raced > STATE_SCHEMA_VERSION || !code ||
	    (strcmp(code, "42P07") != 0 && strcmp(code, "42P06") != 0 &&
	     strcmp(code, "42701") != 0 && strcmp(code, "42710") != 0 &&
	     strcmp(code, "42723") != 0 && strcmp(code, "23505") != 0))
		return 0;
	op->raced++;
	log_info(op->ctx, "state schema %s: another driftwatchd migrated it first; reading the "
		 "version again", op->ctx->cfg->state_schema);
	return state_check_version(op) == 0;
}

static void state_on_applied(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_op *op = arg;
	char msg[1024];

	if (state_lost_race(op, res))
		return;
	if (!res || PQresultStatus(res) == PGRES_FATAL_ERROR) {
		snprintf(msg, sizeof(msg), "state schema %s: migration to version %d failed: %s",
			 op->ctx->cfg->state_schema, op->version + 1,
			 res ? PQresultErrorMessage(res) : db_error(conn));
		state_migrate_end(op, msg);
		return;
	}
	op->version++;
	log_notice(op->ctx, "state schema %s: now at version %d", op->ctx->cfg->state_schema,
		   op->version);
	state_apply_next(op);
}

static void state_apply_next(struct state_op *op)
{
	struct strbuf sb;
	char *body, *script;

	if (op->version >= STATE_SCHEMA_VERSION) {
		state_migrate_end(op, NULL);
		return;
	}
	body = strbuf_subst(migrations[op->version], "@state@", op->ident);
	strbuf_init(&sb);
	/* A script without BEGIN runs as one implicit transaction: all of it or none. The lock
	 * makes a second daemon wait, and the version check makes its attempt a no-op error. */
	strbuf_append(&sb, "SELECT pg_advisory_xact_lock(" ADVLOCK_MIGRATE_KEY ");\n");
	/* CREATE SCHEMA IF NOT EXISTS would ask for CREATE on the database even when the schema
	 * is there: a least-privilege role that owns a schema its DBA made could not migrate. */
	if (op->version == 0 && !op->schema_exists)
		strbuf_printf(&sb, "CREATE SCHEMA %s;\n", op->ident);
	strbuf_append(&sb, body ? body : "");
	script = body ? strbuf_take(&sb) : NULL;
	strbuf_free(&sb);
	free(body);
	if (!script || db_script(op->conn, script, state_on_applied, op) < 0) {
		free(script);
		state_migrate_end(op, "state schema: could not send a migration");
		return;
	}
	free(script);
}

static void state_on_version(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_op *op = arg;
	char msg[1024];

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(msg, sizeof(msg), "state schema %s: could not read its version: %s",
			 op->ctx->cfg->state_schema, res ? PQresultErrorMessage(res) : db_error(conn));
		state_migrate_end(op, msg);
		return;
	}
	op->version = PQgetisnull(res, 0, 0) ? 0 : atoi(PQgetvalue(res, 0, 0));
	if (op->version > STATE_SCHEMA_VERSION) {
		snprintf(msg, sizeof(msg), "state schema %s is at version %d, newer than this "
			 "driftwatchd knows (%d): upgrade driftwatchd", op->ctx->cfg->state_schema,
			 op->version, STATE_SCHEMA_VERSION);
		state_migrate_end(op, msg);
		return;
	}
	state_apply_next(op);
}

static void state_on_exists(struct db_conn *conn, PGresult *res, void *arg)
{
	struct state_op *op = arg;
	char msg[1024];
	char *sql;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(msg, sizeof(msg), "state schema %s: could not look for it: %s",
			 op->ctx->cfg->state_schema, res ? PQresultErrorMessage(res) : db_error(conn));
		state_migrate_end(op, msg);
		return;
	}
	op->schema_exists = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	/* A new database has no version table: that is version 0. */
	if (PQgetisnull(res, 0, 0)) {
		op->version = 0;
		state_apply_next(op);
		return;
	}
	sql = strbuf_subst("SELECT max(version) FROM @state@.schema_version", "@state@",
			   op->ident);
	if (!sql || db_query(conn, sql, 0, NULL, state_on_version, op) < 0)
		state_migrate_end(op, "state schema: could not send the version query");
	free(sql);
}

static int state_check_version(struct state_op *op)
{
	char *name = strbuf_subst("@state@.schema_version", "@state@", op->ident);
	const char *params[2] = { name, op->ctx->cfg->state_schema };
	int rc;

	rc = name ? db_query(op->conn, "SELECT to_regclass($1)::text, EXISTS (SELECT 1 FROM "
			     "pg_namespace WHERE nspname = $2)", 2, params, state_on_exists, op)
		  : -1;
	free(name);
	return rc;
}

int state_migrate(struct dw_ctx *ctx, struct db_conn *conn, state_done_cb cb, void *arg)
{
	struct state_op *op = state_op_new(ctx, conn, arg);

	if (!op)
		return -1;
	op->done = cb;
	if (state_check_version(op) < 0) {
		state_op_free(op);
		return -1;
	}
	return 0;
}
