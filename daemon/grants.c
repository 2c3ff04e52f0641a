/* grants: what --print-grants tells a DBA to give, and what a connected role has beyond it. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/errlist.h"
#include "driftwatch/grants.h"
#include "driftwatch/log.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"

/* The relations of CONTRACT.md, the only ones driftwatch reads. */
static const char *const grants_relations[] = { "teams", "workers", "children", "allocations",
						"referrals", "cin_plans", "cp_plans",
						"appointments", "strategies" };

#define GRANTS_N_RELATIONS (sizeof(grants_relations) / sizeof(grants_relations[0]))

/* The role libpq connects as when the conninfo names none: the user the daemon runs as, which
 * is driftwatch under the shipped unit (systemd/driftwatch.service, User=). */
#define GRANTS_DEFAULT_ROLE "driftwatch"

static char *grants_quote(const char *text, char q)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_appendn(&sb, &q, 1);
	for (const char *p = text; *p; p++) {
		if (*p == q)
			strbuf_appendn(&sb, &q, 1);
		strbuf_appendn(&sb, p, 1);
	}
	strbuf_appendn(&sb, &q, 1);
	return strbuf_take(&sb);
}

char *grants_quote_ident(const char *ident)
{
	return grants_quote(ident, '"');
}

char *grants_quote_literal(const char *text)
{
	return grants_quote(text, '\'');
}

/* The value of keyword in a parsed conninfo, or NULL when it is not given. */
static const char *grants_conn_value(const PQconninfoOption *opts, const char *keyword)
{
	for (const PQconninfoOption *o = opts; o && o->keyword; o++)
		if (strcmp(o->keyword, keyword) == 0)
			return o->val && *o->val ? o->val : NULL;
	return NULL;
}

struct grants_names {
	char *role;      /* quoted identifiers */
	char *role_lit;  /* the quoted identifier as a literal, for format() in a DO block */
	char *dbname;    /* NULL when the conninfo names no database */
	char *case_schema;
	char *state_schema;
};

static void grants_names_free(struct grants_names *n)
{
	free(n->role);
	free(n->role_lit);
	free(n->dbname);
	free(n->case_schema);
	free(n->state_schema);
}

static int grants_names_get(const struct dw_config *cfg, const PQconninfoOption *opts,
			    struct grants_names *n)
{
	const char *user = grants_conn_value(opts, "user");
	const char *dbname = grants_conn_value(opts, "dbname");

	n->role = grants_quote_ident(user ? user : GRANTS_DEFAULT_ROLE);
	n->role_lit = n->role ? grants_quote_literal(n->role) : NULL;
	n->dbname = dbname ? grants_quote_ident(dbname) : NULL;
	n->case_schema = grants_quote_ident(cfg->case_schema);
	n->state_schema = grants_quote_ident(cfg->state_schema);
	if (!n->role || !n->role_lit || (dbname && !n->dbname) || !n->case_schema ||
	    !n->state_schema)
		return -1;
	return 0;
}

/* A comment ends at a newline: text from outside goes in with its control characters shown
 * as '?', so that no name or path can put a statement into the script. */
static void grants_comment_text(struct strbuf *sb, const char *text)
{
	for (const char *p = text; *p; p++)
		strbuf_appendn(sb, (unsigned char)*p < 0x20 || *p == 0x7f ? "?" : p, 1);
}

static void grants_print_head(const struct dw_config *cfg, const PQconninfoOption *opts,
			      struct strbuf *sb)
{
	strbuf_append(sb, "-- driftwatch: the role and grants driftwatchd needs, and nothing else "
		      "(driftwatchd -c ");
	grants_comment_text(sb, cfg->path);
	strbuf_append(sb, " --print-grants).\n-- Run it once as a superuser, connected to the "
		      "case database (database.conninfo's dbname),\n-- e.g. psql -v ON_ERROR_STOP=1 "
		      "-f FILE.\n");
	if (!grants_conn_value(opts, "user"))
		strbuf_printf(sb, "-- database.conninfo names no user=, so libpq connects as the "
			      "user the daemon runs as: %s under the shipped unit.\n",
			      GRANTS_DEFAULT_ROLE);
	strbuf_append(sb, "-- No password is set here: give one (ALTER ROLE ... PASSWORD) or let "
		      "pg_hba.conf use peer or certificate authentication.\n\n");
}

static void grants_print_case(const struct grants_names *n, struct strbuf *sb)
{
	strbuf_printf(sb, "CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
		      "NOBYPASSRLS;\n", n->role);
	if (n->dbname)
		strbuf_printf(sb, "GRANT CONNECT ON DATABASE %s TO %s;\n", n->dbname, n->role);
	else /* the database the DBA is connected to: the conninfo names none */
		strbuf_printf(sb, "DO $grant$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %%I "
			      "TO %%s', current_database(), %s); END $grant$;\n", n->role_lit);
	strbuf_append(sb, "\n-- The case data: read only, the nine relations of the contract "
		      "(tables or views).\n");
	strbuf_printf(sb, "GRANT USAGE ON SCHEMA %s TO %s;\n", n->case_schema, n->role);
	strbuf_append(sb, "GRANT SELECT ON");
	for (size_t i = 0; i < GRANTS_N_RELATIONS; i++)
		strbuf_printf(sb, "%s\n    %s.\"%s\"", i ? "," : "", n->case_schema,
			      grants_relations[i]);
	strbuf_printf(sb, "\n  TO %s;\n", n->role);
}

static void grants_print_state(const struct grants_names *n, struct strbuf *sb)
{
	strbuf_append(sb, "\n-- driftwatch's own state (alerts, outbox, responses): a schema the "
		      "role owns, where it\n-- creates and migrates its tables. No CREATE on the "
		      "database is needed.\n");
	strbuf_printf(sb, "CREATE SCHEMA %s AUTHORIZATION %s;\n", n->state_schema, n->role);
}

/* Roles belong to a server, not to a database: a state database on the same server as the case
 * data (same host and port) has the role already when the user is the same. */
static int grants_same_server(const PQconninfoOption *a, const PQconninfoOption *b)
{
	static const char *const keys[] = { "host", "hostaddr", "port" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *x = grants_conn_value(a, keys[i]), *y = grants_conn_value(b, keys[i]);

		if ((x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0))
			return 0;
	}
	return 1;
}

/* state.conninfo: the state schema in a database of its own, perhaps on another server, while
 * the case data may come from a read-only hot standby. */
static void grants_print_own_state(const struct grants_names *cn, const PQconninfoOption *copts,
				   const PQconninfoOption *sopts, const struct grants_names *n,
				   struct strbuf *sb)
{
	strbuf_append(sb, "\n-- The state is in a database of its own (state.conninfo): run what "
		      "follows connected to it,\n-- as a superuser (psql: \\connect DBNAME). On a "
		      "hot standby the case database's grants\n-- above are run on its primary: "
		      "they reach the standby by replication.\n");
	/* Another host may still be the same cluster (the primary of a standby named by another
	 * address): the role may be there already. A name holding the dollar quote's tag (none
	 * real) gets the plain statement. */
	if (grants_same_server(copts, sopts) && strcmp(cn->role, n->role) == 0)
		;
	else if (strstr(n->role, "$grant$"))
		strbuf_printf(sb, "CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
			      "NOREPLICATION NOBYPASSRLS;\n", n->role);
	else
		strbuf_printf(sb, "DO $grant$ BEGIN CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB "
			      "NOCREATEROLE NOREPLICATION NOBYPASSRLS; EXCEPTION WHEN duplicate_object "
			      "THEN NULL; END $grant$; -- unless it is there (the same cluster)\n",
			      n->role);
	if (n->dbname)
		strbuf_printf(sb, "GRANT CONNECT ON DATABASE %s TO %s;\n", n->dbname, n->role);
	else
		strbuf_printf(sb, "DO $grant$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %%I "
			      "TO %%s', current_database(), %s); END $grant$;\n", n->role_lit);
	grants_print_state(n, sb);
}

/* The triggers are optional (polling finds every change) and need more than the daemon's role
 * has: only a table's owner may put a trigger on it. */
static void grants_print_triggers(const struct grants_names *n, struct strbuf *sb)
{
	strbuf_printf(sb, "\n-- Optional, and not for this role: NOTIFY triggers, so that a change is "
		      "evaluated at once\n-- rather than at the next poll. Only the owner of the "
		      "case tables may add them: that owner\n-- runs `driftwatchd -c FILE "
		      "--install-triggers` with a configuration whose database.conninfo\n-- "
		      "names the owner, after this (the trigger functions live in schema %s):\n"
		      "--   GRANT USAGE, CREATE ON SCHEMA %s TO the_case_tables_owner;\n-- The roles "
		      "that write the case tables need nothing more: the functions look up nothing "
		      "by name.\n-- Views cannot have them; a hot standby cannot either (see the "
		      "README).\n", n->state_schema, n->state_schema);
}

static PQconninfoOption *grants_parse(const struct dw_config *cfg, const char *key,
				      const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);

	/* config.c parsed it already: only memory can fail here. libpq's message is not
	 * repeated (it may quote a piece of a password). */
	if (!opts)
		fprintf(stderr, "%s: %s: not a libpq connection string%s\n", cfg->path, key,
			err ? "" : " (or out of memory)");
	PQfreemem(err);
	return opts;
}

int grants_print(const struct dw_config *cfg, FILE *out)
{
	char *text = NULL;
	PQconninfoOption *opts = grants_parse(cfg, "database.conninfo", cfg->conninfo);
	PQconninfoOption *sopts = cfg->state_conninfo
					  ? grants_parse(cfg, "state.conninfo", cfg->state_conninfo)
					  : NULL;
	struct grants_names n = { NULL, NULL, NULL, NULL, NULL };
	struct grants_names sn = { NULL, NULL, NULL, NULL, NULL };
	struct strbuf sb;

	if (!opts || (cfg->state_conninfo && !sopts))
		goto out;
	if (grants_names_get(cfg, opts, &n) < 0 ||
	    (sopts && grants_names_get(cfg, sopts, &sn) < 0)) {
		fprintf(stderr, "driftwatchd: out of memory\n");
		goto out;
	}
	strbuf_init(&sb);
	grants_print_head(cfg, opts, &sb);
	grants_print_case(&n, &sb);
	if (sopts)
		grants_print_own_state(&n, opts, sopts, &sn, &sb);
	else
		grants_print_state(&n, &sb);
	grants_print_triggers(&n, &sb);
	text = strbuf_take(&sb);
	if (!text)
		fprintf(stderr, "driftwatchd: out of memory\n");
out:
	grants_names_free(&n);
	grants_names_free(&sn);
	PQconninfoFree(opts);
	PQconninfoFree(sopts);
	if (!text)
		return -1;
	fputs(text, out);
	free(text);
	return 0;
}

/* ---- what a connected role has beyond that ---- */

struct grants_run {
	struct dw_ctx *ctx;
	const char *which;
	struct errlist *warnings;  /* NULL: log instead */
	grants_checked_cb cb;
	void *arg;
};

static char *grants_excess_line(PGresult *res)
{
	struct strbuf sb;

	strbuf_init(&sb);
	for (int r = 0; r < PQntuples(res); r++)
		strbuf_printf(&sb, "%s%s", r ? "; " : "", PQgetvalue(res, r, 0));
	return strbuf_take(&sb);
}

static void grants_on_excess(struct db_conn *conn, PGresult *res, void *arg)
{
	struct grants_run *gr = arg;
	char *line = NULL;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* Advice only: the daemon works the same. */
		log_debug(gr->ctx, "database (%s): could not list the role's privileges: %s",
			  gr->which, res ? PQresultErrorMessage(res) : db_error(conn));
	} else if (PQntuples(res) > 0 && (line = grants_excess_line(res)) != NULL) {
		if (gr->warnings)
			errlist_add(gr->warnings, "%s: %s: warning: role %s has more than driftwatch "
				    "needs: it %s (driftwatchd --print-grants prints what it needs)",
				    gr->ctx->cfg->path, gr->which, PQgetvalue(res, 0, 1), line);
		else
			log_warn(gr->ctx, "database (%s): role %s has more than driftwatch needs: it "
				 "%s (driftwatchd --print-grants prints what it needs)", gr->which,
				 PQgetvalue(res, 0, 1), line);
	}
	free(line);
	if (gr->cb)
		gr->cb(gr->arg);
	free(gr);
}

static int grants_send(struct dw_ctx *ctx, struct db_conn *conn, const char *which,
		       struct errlist *warnings, grants_checked_cb cb, void *arg)
{
	struct grants_run *gr = calloc(1, sizeof(*gr));
	const char *params[1] = { ctx->cfg->case_schema };

	if (!gr)
		return -1;
	gr->ctx = ctx;
	gr->which = which;
	gr->warnings = warnings;
	gr->cb = cb;
	gr->arg = arg;
	if (db_query(conn, sql_grants_excess, 1, params, grants_on_excess, gr) < 0) {
		free(gr);
		return -1;
	}
	return 0;
}

int grants_note_excess(struct dw_ctx *ctx, struct db_conn *conn, const char *which)
{
	return grants_send(ctx, conn, which, NULL, NULL, NULL);
}

int grants_check_excess(struct dw_ctx *ctx, struct db_conn *conn, const char *which,
			struct errlist *warnings, grants_checked_cb cb, void *arg)
{
	return grants_send(ctx, conn, which, warnings, cb, arg);
}
