/* contract_empty: which contract relations hold no row, and which enabled rules that leaves blind. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/case_columns.h"
#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/errlist.h"
#include "driftwatch/lockwait.h"
#include "driftwatch/log.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"

/* The rules name each relation they read as @case@.NAME (rules/rows_NAME.sql), so the rules'
 * own text says what they read and no list beside them can drift from it. */
static const char case_marker[] = "@case@.";

static int ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '$';
}

bool contract_sql_reads(const char *sql, const char *relation)
{
	size_t ml = sizeof(case_marker) - 1, rl = strlen(relation);
	const char *p = sql;

	if (!sql || !rl)
		return false;
	while ((p = strstr(p, case_marker)) != NULL) {
		p += ml;
		if (strncmp(p, relation, rl) == 0 && !ident_char(p[rl]))
			return true;
	}
	return false;
}

size_t contract_relation_count(void)
{
	size_t n, k = 0;
	const struct contract_column *c = contract_columns(&n);

	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(c[i].relation, c[i - 1].relation) != 0)
			k++;
	return k;
}

char *contract_relations_array(void)
{
	const char *names[32];
	size_t n = contract_relation_count();

	for (size_t i = 0; i < n && i < 32; i++)
		names[i] = contract_relation(i);
	return strbuf_text_array(names, n < 32 ? n : 32);
}

const char *contract_relation(size_t i)
{
	size_t n, k = 0;
	const struct contract_column *c = contract_columns(&n);

	for (size_t j = 0; j < n; j++) {
		if (j > 0 && strcmp(c[j].relation, c[j - 1].relation) == 0)
			continue;
		if (k++ == i)
			return c[j].relation;
	}
	return NULL;
}

/* "relation "s"."r" is empty...": what both the check and the daemon's log say, after their
 * own prefix; *blinded is how many enabled rules read it. NULL when out of memory. */
static char *empty_text(const char *schema, const char *relation,
			const struct config_rule *rules, size_t n_rules, size_t *blinded)
{
	struct strbuf names, sb;
	size_t enabled = 0, blind = 0;
	char *list;

	strbuf_init(&names);
	for (size_t i = 0; i < n_rules; i++) {
		if (!rules[i].enabled || !rules[i].def)
			continue;
		enabled++;
		if (!contract_sql_reads(rules[i].def->sql, relation))
			continue;
		strbuf_printf(&names, "%s%s", blind ? ", " : "", rules[i].def->name);
		blind++;
	}
	list = strbuf_take(&names);
	*blinded = blind;
	strbuf_init(&sb);
	if (blind == 0)
		strbuf_printf(&sb, "relation \"%s\".\"%s\" is empty; no enabled rule reads it",
			      schema, relation);
	else if (blind == enabled)
		strbuf_printf(&sb, "relation \"%s\".\"%s\" is empty, and every rule reads it: every "
			      "enabled rule sees none of its rows (%s)", schema, relation,
			      list ? list : "");
	else
		strbuf_printf(&sb, "relation \"%s\".\"%s\" is empty: it leaves blind the enabled "
			      "rule%s that read%s it: %s", schema, relation, blind == 1 ? "" : "s",
			      blind == 1 ? "s" : "", list ? list : "");
	free(list);
	return strbuf_take(&sb);
}

void contract_empty_warning(const char *file, const char *schema, const char *relation,
			    const struct config_rule *rules, size_t n_rules,
			    struct errlist *warnings)
{
	size_t blinded;
	char *text = empty_text(schema, relation, rules, n_rules, &blinded);

	errlist_add(warnings, "%s: database.case_schema: warning: %s", file,
		    text ? text : "out of memory");
	free(text);
}

/* ---- asking the database, one cheap EXISTS per relation ---- */

/* How long a check waits for a relation's lock before it gives up and says so: 3 s, or a
 * quarter of database.query_timeout_seconds when that is shorter, so that the connection's
 * own timeout (the query timeout) never comes first. */
#define EMPTY_LOCK_TIMEOUT_MS 3000

static long empty_lock_timeout_ms(const struct dw_config *cfg)
{
	long quarter = (long)cfg->query_timeout_s * 1000 / 4;

	return quarter > 0 && quarter < EMPTY_LOCK_TIMEOUT_MS ? quarter : EMPTY_LOCK_TIMEOUT_MS;
}

/* How long a check may run at all: a view over a slow source answered its EXISTS only after
 * its whole query, 45 s before a one-shot run's evaluation could begin (audit 12, F8). The
 * check is advice: one that takes longer is a note, as a lock is. Half the query timeout (at
 * most 10 s), so that the lock timeout (a quarter, at most 3 s) comes first on a lock, and its
 * note names the holder as a lock. */
#define EMPTY_STATEMENT_TIMEOUT_MS 10000

static long empty_statement_timeout_ms(const struct dw_config *cfg)
{
	long half = (long)cfg->query_timeout_s * 1000 / 2;

	return half > 0 && half < EMPTY_STATEMENT_TIMEOUT_MS ? half : EMPTY_STATEMENT_TIMEOUT_MS;
}

struct empty_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	struct errlist *warnings;   /* NULL: logged instead (the daemon's start) */
	struct errlist *notes;      /* NULL: logged at debug */
	struct errlist *problems;   /* NULL: logged as errors */
	contract_empty_cb cb;       /* NULL: nobody waits */
	void *arg;
	char *schema_ident;
	size_t i;               /* the relation being asked about */
	char *sql;
	char **rls_said;        /* the row-level security lines said, kept for the caller */
	char *denied;           /* the refusal whose cause is being asked about */
};

static void empty_finish(struct empty_run *er)
{
	contract_empty_cb cb = er->cb;
	void *arg = er->arg;

	free(er->schema_ident);
	free(er->sql);
	free(er->denied);
	free(er);
	if (cb)
		cb(arg);
}

/* Blinding a rule is what an operator must hear of; a relation no rule reads is only news. */
static void empty_log(struct empty_run *er, const char *rel)
{
	const struct dw_config *cfg = er->ctx->cfg;
	size_t blinded = 0;
	char *text = empty_text(cfg->case_schema, rel, cfg->rules, cfg->n_rules, &blinded);

	log_write(er->ctx->log_level, blinded ? LOG_PRIO_WARNING : LOG_PRIO_NOTICE, "database (%s: database.case_schema): %s", cfg->path,
		  text ? text : "out of memory");
	free(text);
}

static void empty_note(struct empty_run *er, const char *rel, const char *why)
{
	if (er->notes)
		errlist_add(er->notes, "could not check whether relation \"%s\".\"%s\" is empty: %s",
			    er->ctx->cfg->case_schema, rel, why);
	else
		log_debug(er->ctx, "database: could not check whether relation \"%s\".\"%s\" is "
			  "empty: %s", er->ctx->cfg->case_schema, rel, why);
}

static void empty_next(struct empty_run *er);

static void empty_on_locks(const char *said, void *arg)
{
	struct empty_run *er = arg;

	empty_note(er, contract_relation(er->i), said);
	er->i++;
	empty_next(er);
}

/* The check gave up on a lock: ask who holds it, so that the note names them. 0 when asked. */
static int empty_ask_locks(struct empty_run *er, PGresult *res)
{
	const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	const char *rel = contract_relation(er->i);

	if (!lockwait_cancelled(res) || !primary)
		return -1;
	return lockwait_explain(er->conn, er->ctx->cfg->case_schema, &rel, 1, NULL, primary,
				empty_on_locks, er);
}

/* undefined_table, insufficient_privilege: the contract check names them */
static int empty_named_elsewhere(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state && (strcmp(state, "42P01") == 0 || strcmp(state, "42501") == 0);
}

static const char *empty_why(struct db_conn *conn, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (primary)
		return primary;
	return res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : db_error(conn);
}

/* Refused though the role may SELECT the relation itself: what it reads is not granted. The
 * contract check looks at the relation's own privileges only, and said nothing (audit 17: a
 * security_invoker view, --check-config "good", two rules failing on every run). */
static void empty_on_privilege(struct db_conn *conn, PGresult *res, void *arg)
{
	struct empty_run *er = arg;
	const struct dw_config *cfg = er->ctx->cfg;
	const char *rel = contract_relation(er->i);

	(void)conn;
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		char text[768];

		snprintf(text, sizeof(text), "relation \"%s\".\"%s\": this role may SELECT it "
			 "but not what it reads (%s): every rule that reads it fails. A view with "
			 "security_invoker checks the role's privileges on its tables: GRANT SELECT on "
			 "them to the role in database.conninfo", cfg->case_schema, rel,
			 er->denied ? er->denied : "permission denied");
		if (er->problems)
			errlist_add(er->problems, "%s: database.case_schema: %s", cfg->path, text);
		else
			log_err(er->ctx, "database (%s: database.case_schema): %s", cfg->path, text);
	}
	free(er->denied);
	er->denied = NULL;
	er->i++;
	empty_next(er);
}

/* 0 when the privilege on the refused relation itself is being asked about. */
static int empty_ask_privilege(struct empty_run *er, const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	const char *params[2] = { er->ctx->cfg->case_schema, contract_relation(er->i) };

	if (!state || strcmp(state, "42501") != 0)
		return -1;
	free(er->denied);
	er->denied = strdup(empty_why(er->conn, res));
	return db_query(er->conn, "SELECT pg_catalog.has_table_privilege(c.oid, 'SELECT') "
			"FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
			"ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2", 2,
			params, empty_on_privilege, er);
}

static void empty_on_row(struct db_conn *conn, PGresult *res, void *arg)
{
	struct empty_run *er = arg;
	const struct dw_config *cfg = er->ctx->cfg;
	const char *rel = contract_relation(er->i);

	if (res && (empty_ask_locks(er, res) == 0 || empty_ask_privilege(er, res) == 0))
		return;
	/* A relation missing or not readable is contract_compare's problem to name: said again
	 * here, with the statement's text that PQresultErrorMessage quotes, it only buried that
	 * line. Anything else is a note that the relation's emptiness is unknown, in
	 * PostgreSQL's primary message alone. */
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		if (!res || !empty_named_elsewhere(res))
			empty_note(er, rel, empty_why(conn, res));
	} else if (strcmp(PQgetvalue(res, 0, 0), "f") == 0 && er->warnings)
		contract_empty_warning(cfg->path, cfg->case_schema, rel, cfg->rules, cfg->n_rules,
				       er->warnings);
	else if (strcmp(PQgetvalue(res, 0, 0), "f") == 0)
		empty_log(er, rel);
	er->i++;
	empty_next(er);
}

static void empty_next(struct empty_run *er)
{
	char *rel_ident;
	struct strbuf sb;

	for (; er->i < contract_relation_count(); er->i++) {
		rel_ident = db_escape_identifier(er->conn, contract_relation(er->i));
		if (!rel_ident)
			continue;
		strbuf_init(&sb);
		/* One implicit transaction: the lock_timeout is set before the EXISTS takes its
		 * lock, and ends with it. A relation that a reload holds locked is a note, never a
		 * wait that takes the connection down with it (the query's own timeout). */
		strbuf_printf(&sb, "SELECT set_config('lock_timeout', '%ld', true), "
			      "set_config('statement_timeout', '%ld', true); "
			      "SELECT EXISTS (SELECT 1 FROM %s.%s)", empty_lock_timeout_ms(er->ctx->cfg),
			      empty_statement_timeout_ms(er->ctx->cfg), er->schema_ident, rel_ident);
		free(rel_ident);
		free(er->sql);
		er->sql = strbuf_take(&sb);
		if (er->sql && db_script(er->conn, er->sql, empty_on_row, er) == 0)
			return;
		empty_note(er, contract_relation(er->i), db_error(er->conn));
	}
	empty_finish(er);
}

static int contract_check_empty_new(struct dw_ctx *ctx, struct db_conn *conn,
				    struct errlist *warnings, struct errlist *notes,
				    contract_empty_cb cb, void *arg, struct empty_run **out)
{
	struct empty_run *er = calloc(1, sizeof(*er));

	if (!er)
		return -1;
	er->ctx = ctx;
	er->conn = conn;
	er->warnings = warnings;
	er->notes = notes;
	er->cb = cb;
	er->arg = arg;
	er->schema_ident = db_escape_identifier(conn, ctx->cfg->case_schema);
	if (!er->schema_ident) {
		free(er);
		return -1;
	}
	*out = er;
	return 0;
}

int contract_check_empty(struct dw_ctx *ctx, struct db_conn *conn, struct errlist *warnings,
			 struct errlist *notes, struct errlist *problems, contract_empty_cb cb,
			 void *arg)
{
	struct empty_run *er;

	if (contract_check_empty_new(ctx, conn, warnings, notes, cb, arg, &er) < 0)
		return -1;
	er->problems = problems;
	empty_next(er);
	return 0;
}

static void empty_on_rls(struct db_conn *conn, PGresult *res, void *arg)
{
	struct empty_run *er = arg;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
		log_debug(er->ctx, "database: could not ask about row-level security: %s",
			  empty_why(conn, res));
	for (int r = 0; res && PQresultStatus(res) == PGRES_TUPLES_OK && r < PQntuples(res); r++)
		log_warn(er->ctx, "database (%s: database.case_schema): %s", er->ctx->cfg->path,
			 PQgetvalue(res, r, 0));
	if (er->rls_said) {
		free(*er->rls_said);
		*er->rls_said = contract_rls_text(res);
	}
	empty_next(er);
}

/* Row-level security on what the rules read, said at start as the contract's types are:
 * children hidden by a policy are otherwise left out without a word. */
static void empty_ask_rls(struct empty_run *er)
{
	if (contract_ask_rls(er->ctx, er->conn, empty_on_rls, er) < 0)
		empty_next(er);
}

/* The columns read as NULL from the start (case_columns.h): contract_compare has said so. */
static unsigned empty_withheld(const char *const *rows, size_t n)
{
	unsigned set = 0;

	for (size_t r = 0; r < n; r++)
		if (strcmp(rows[r * 4 + 3], "t") != 0)
			set |= case_columns_bit(rows[r * 4], rows[r * 4 + 1]);
	return set;
}

/* The contract's columns as --check-config compares them, said at start: a relation missing,
 * a column missing or of a type that is not usable. The rules that can run still run; but a
 * timestamp read where a date belongs shifts days and shows as a time in the facts, and a
 * one-shot run used to take it without a word. */
static void empty_on_catalog(struct db_conn *conn, PGresult *res, void *arg)
{
	struct empty_run *er = arg;
	struct errlist problems = { NULL, 0, 0 };
	const char **rows = NULL;
	int n;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_debug(er->ctx, "database: could not read the catalogue to compare the contract: %s",
			  empty_why(conn, res));
		empty_next(er);
		return;
	}
	n = PQntuples(res);
	rows = calloc((size_t)n * 4 + 1, sizeof(*rows));
	for (int r = 0; rows && r < n; r++)
		for (int c = 0; c < 4; c++)
			rows[r * 4 + c] = PQgetvalue(res, r, c);
	if (rows) {
		contract_compare(er->ctx->cfg->case_schema, rows, (size_t)n, &problems);
		er->ctx->case_withheld = empty_withheld(rows, (size_t)n);
		er->ctx->case_mistyped = contract_mistyped(rows, (size_t)n);
	}
	for (size_t i = 0; i < problems.n; i++)
		log_warn(er->ctx, "database (%s: database.case_schema): %s (driftwatchd "
			 "--check-config says what the contract needs)", er->ctx->cfg->path,
			 problems.msgs[i]);
	free(rows);
	errlist_free(&problems);
	empty_ask_rls(er);
}

int contract_note_empty(struct dw_ctx *ctx, struct db_conn *conn, char **rls_said,
			contract_empty_cb cb, void *arg)
{
	struct empty_run *er;
	const char *params[1] = { ctx->cfg->case_schema };

	if (contract_check_empty_new(ctx, conn, NULL, NULL, cb, arg, &er) < 0)
		return -1;
	er->rls_said = rls_said;
	if (db_query(conn, contract_catalog_sql, 1, params, empty_on_catalog, er) < 0)
		empty_next(er);
	return 0;
}
