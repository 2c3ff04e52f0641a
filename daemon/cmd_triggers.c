/* cmd_triggers: installs or removes the NOTIFY triggers on the contract tables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/log.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"

struct trig_run {
	struct dw_ctx *ctx;
	int install;
	char *case_ident;
	char *state_ident;
	int n_tables;        /* tables the script puts a trigger on, or takes it off */
	int status;
};

static void trig_stop(struct trig_run *tr, int status)
{
	tr->status = status;
	event_base_loopbreak(tr->ctx->base);
}

static void trig_subst(struct strbuf *sb, const char *sql, const struct trig_run *tr)
{
	const char *pairs[] = { "@state@", tr->state_ident, "@case@", tr->case_ident, NULL };
	char *text = strbuf_subst_all(sql, pairs);

	if (!text) {
		sb->failed = 1; /* strbuf_take gives NULL: "out of memory" where it is used */
		return;
	}
	strbuf_append(sb, text);
	free(text);
}

static void trig_on_done(struct db_conn *conn, PGresult *res, void *arg)
{
	struct trig_run *tr = arg;

	if (!res || PQresultStatus(res) == PGRES_FATAL_ERROR) {
		log_err(tr->ctx, "%s triggers in schema %s failed: %s",
			tr->install ? "installing" : "removing", tr->ctx->cfg->case_schema,
			res ? PQresultErrorMessage(res) : db_error(conn));
		trig_stop(tr, 1);
		return;
	}
	printf("driftwatch: triggers %s %d table%s of schema %s\n",
	       tr->install ? "installed on" : "removed from", tr->n_tables,
	       tr->n_tables == 1 ? "" : "s", tr->ctx->cfg->case_schema);
	trig_stop(tr, 0);
}

/* relname is one of our own fixed table names, never configuration text. A table that names a
 * child says which child changed; teams and workers say only that they changed, and the daemon
 * evaluates everyone: a supervisor's email, a worker's team or a team's manager changes where
 * the alerts of all their children go, which stayed wrong until the next full evaluation
 * (audit 15; triggers_install.sql, notify_staff). */
static void trig_table(struct strbuf *sb, const struct trig_run *tr, const char *relname,
		       int names_child)
{
	strbuf_printf(sb, "DROP TRIGGER IF EXISTS driftwatch_notify ON %s.%s;\n", tr->case_ident,
		      relname);
	strbuf_printf(sb, "DROP TRIGGER IF EXISTS driftwatch_notify_truncate ON %s.%s;\n",
		      tr->case_ident, relname);
	if (!tr->install)
		return;
	strbuf_printf(sb, "CREATE TRIGGER driftwatch_notify AFTER INSERT OR UPDATE OR DELETE "
		      "ON %s.%s FOR EACH ROW EXECUTE FUNCTION %s.%s();\n", tr->case_ident, relname,
		      tr->state_ident, names_child ? "notify_child" : "notify_staff");
	strbuf_printf(sb, "CREATE TRIGGER driftwatch_notify_truncate AFTER TRUNCATE ON %s.%s "
		      "FOR EACH STATEMENT EXECUTE FUNCTION %s.notify_all();\n", tr->case_ident,
		      relname, tr->state_ident);
}

static int trig_count_tables(PGresult *res)
{
	int n = 0;

	for (int r = 0; r < PQntuples(res); r++) {
		const char *kind = PQgetvalue(res, r, 1);

		n += strcmp(kind, "r") == 0 || strcmp(kind, "p") == 0;
	}
	return n;
}

static void trig_on_tables(struct db_conn *conn, PGresult *res, void *arg)
{
	struct trig_run *tr = arg;
	struct strbuf sb;
	char *script;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_err(tr->ctx, "reading the tables of schema %s failed: %s",
			tr->ctx->cfg->case_schema, res ? PQresultErrorMessage(res) : db_error(conn));
		trig_stop(tr, 1);
		return;
	}
	/* A misspelt case_schema would otherwise "install" nothing and say it succeeded. */
	if (tr->install && PQntuples(res) == 0) {
		log_err(tr->ctx, "%s: database.case_schema: schema %s has none of the contract's "
			"relations; no trigger installed", tr->ctx->cfg->path,
			tr->ctx->cfg->case_schema);
		trig_stop(tr, 1);
		return;
	}
	/* Every relation a view: nothing to install, and nothing to create (a least-privilege
	 * role may not create anything here). */
	if (tr->install && trig_count_tables(res) == 0) {
		for (int r = 0; r < PQntuples(res); r++)
			printf("driftwatch: %s.%s is not a table (a view?): no trigger; polling "
			       "covers it\n", tr->ctx->cfg->case_schema, PQgetvalue(res, r, 0));
		printf("driftwatch: no table to install triggers on in schema %s: changes are found "
		       "by polling every evaluation.interval_seconds\n", tr->ctx->cfg->case_schema);
		trig_stop(tr, 0);
		return;
	}
	strbuf_init(&sb);
	if (tr->install && strcmp(PQgetvalue(res, 0, 2), "t") != 0)
		strbuf_printf(&sb, "CREATE SCHEMA %s;\n", tr->state_ident);
	if (tr->install)
		trig_subst(&sb, sql_triggers_install, tr);
	for (int r = 0; r < PQntuples(res); r++) {
		const char *rel = PQgetvalue(res, r, 0), *kind = PQgetvalue(res, r, 1);

		if (strcmp(kind, "r") != 0 && strcmp(kind, "p") != 0) {
			if (!tr->install)
				continue;
			printf("driftwatch: %s.%s is not a table (a view?): no trigger; polling "
			       "covers it\n", tr->ctx->cfg->case_schema, rel);
			continue;
		}
		trig_table(&sb, tr, rel, strcmp(PQgetvalue(res, r, 3), "t") == 0);
		tr->n_tables++;
	}
	if (!tr->install)
		strbuf_printf(&sb, "DROP FUNCTION IF EXISTS %s.notify_child();\n"
			      "DROP FUNCTION IF EXISTS %s.notify_one(text);\n"
			      "DROP FUNCTION IF EXISTS %s.notify_all();\n"
			      "DROP FUNCTION IF EXISTS %s.notify_staff();\n", tr->state_ident,
			      tr->state_ident, tr->state_ident, tr->state_ident);
	script = strbuf_take(&sb);
	/* One simple-query script is one implicit transaction: all triggers or none. */
	if (!script || db_script(conn, script, trig_on_done, tr) < 0) {
		log_err(tr->ctx, "could not send the trigger script: %s", db_error(conn));
		trig_stop(tr, 1);
	}
	free(script);
}

static void trig_on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct trig_run *tr = arg;
	const char *params[2] = { tr->ctx->cfg->case_schema, tr->ctx->cfg->state_schema };

	if (!ok) {
		log_err(tr->ctx, "database (%s: database.conninfo): %s", tr->ctx->cfg->path,
			db_error(conn));
		trig_stop(tr, 1);
		return;
	}
	tr->case_ident = db_escape_identifier(conn, tr->ctx->cfg->case_schema);
	tr->state_ident = db_escape_identifier(conn, tr->ctx->cfg->state_schema);
	if (!tr->case_ident || !tr->state_ident ||
	    db_query(conn, sql_triggers_tables, 2, params, trig_on_tables, tr) < 0) {
		log_err(tr->ctx, "could not query the case schema: %s", db_error(conn));
		trig_stop(tr, 1);
	}
}

int cmd_triggers(struct dw_ctx *ctx, int install)
{
	struct trig_run tr = { ctx, install, NULL, NULL, 0, 1 };
	struct db_conn *conn = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);

	if (!conn)
		return 1;
	db_set_query_timeout(conn, ctx->cfg->query_timeout_s);
	if (db_connect(conn, trig_on_connect, &tr) < 0)
		log_err(ctx, "database (%s: database.conninfo): %s", ctx->cfg->path, db_error(conn));
	else
		event_base_dispatch(ctx->base);
	free(tr.case_ident);
	free(tr.state_ident);
	db_conn_free(conn);
	return tr.status;
}
