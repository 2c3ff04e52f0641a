/* eval: runs every enabled rule's query in one read-only snapshot and turns rows into alerts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"

enum eval_step { EVAL_BEGIN, EVAL_PREPARE, EVAL_RULE, EVAL_QUALITY, EVAL_COMMIT, EVAL_ROLLBACK };

static const char *const eval_step_names[] = { "begin", "prepare", "rule", "quality", "commit",
					       "rollback" };

struct eval_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	eval_done_cb cb;
	void *cb_arg;
	struct eval_result *res;
	enum eval_step step;
	size_t rule_i;           /* index into cfg->rules of the rule in flight */
	char *case_ident;        /* escaped case schema identifier */
	char *as_of_req;         /* --as-of, or NULL */
	char *kids;              /* text[] literal of the child ids, or NULL for everyone */
	char *timeout;           /* statement_timeout for the snapshot, e.g. "300s" */
	char *sql;               /* the statement in flight, owned here */
	int skip_rules;
	int count_bad_rows;      /* a full evaluation not told to skip them */
	struct timespec t0;
	struct timespec t_step;  /* when the rules, or the bad-row count, began */
	struct eval_quality *quality;  /* the bad-row count in progress, or NULL */
};

static void eval_next(struct eval_run *run);

static double eval_elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void eval_run_free(struct eval_run *run)
{
	free(run->case_ident);
	free(run->as_of_req);
	free(run->kids);
	free(run->timeout);
	free(run->sql);
	free(run->quality);
	free(run);
}

static void eval_finish(struct eval_run *run)
{
	struct eval_result *res = run->res;
	eval_done_cb cb = run->cb;
	void *cb_arg = run->cb_arg;

	res->seconds = eval_elapsed(&run->t0);
	eval_run_free(run);
	cb(res, cb_arg);
}

static void eval_on_rollback(struct db_conn *conn, PGresult *pg, void *arg)
{
	(void)conn;
	(void)pg;
	eval_finish(arg);
}

/* Records the first failure and ends the snapshot; the result carries the error. */
static void eval_fail(struct eval_run *run, const char *fmt, const char *detail)
{
	char msg[1024];
	size_t n;

	snprintf(msg, sizeof(msg), fmt, detail ? detail : "");
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (!run->res->error)
		run->res->error = strdup(msg);
	run->step = EVAL_ROLLBACK;
	if (db_query(run->conn, "ROLLBACK", 0, NULL, eval_on_rollback, run) < 0)
		eval_finish(run);
}

static const char *eval_result_error(struct db_conn *conn, PGresult *pg, ExecStatusType want)
{
	if (!pg)
		return db_error(conn);
	if (PQresultStatus(pg) != want)
		return PQresultErrorMessage(pg);
	return NULL;
}

/* ---- parameters ---- */

static size_t eval_strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static char *eval_categories(const struct dw_config *cfg, const struct config_rule *rc)
{
	const struct config_rule *cp = config_rule_find(cfg, "cp_neglect_duration");
	char *const *cats = rc && rc->neglect_categories ? rc->neglect_categories
		: cp ? cp->neglect_categories : NULL;
	static const char *const neg[] = { "NEG" };

	if (!cats)
		return strbuf_text_array(neg, 1);
	return strbuf_text_array((const char *const *)cats, eval_strv_len(cats));
}

static char *eval_options_json(const struct config_rule *rc)
{
	const struct rule_def *def = rc->def;
	json_t *o = json_object();
	char *text;

	if (!o)
		return NULL;
	for (size_t i = 0; i < def->n_opts; i++)
		json_object_set_new(o, def->opts[i].key, json_integer(rc->opts[i]));
	for (size_t i = 0; i < def->n_stages; i++)
		if (def->stages[i].threshold_key)
			json_object_set_new(o, def->stages[i].name, json_integer(rc->thresholds[i]));
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

/* common.sql + body + tail with @case@ replaced by the escaped schema identifier. */
static char *eval_build_sql(const char *case_ident, const char *body, const char *tail)
{
	struct strbuf sb;
	char *joined, *sql;

	strbuf_init(&sb);
	strbuf_append(&sb, sql_common);
	if (body)
		strbuf_append(&sb, body);
	strbuf_append(&sb, tail);
	joined = strbuf_take(&sb);
	sql = joined ? strbuf_subst(joined, "@case@", case_ident) : NULL;
	free(joined);
	return sql;
}

/* The branch of each X_rows filter in common.sql that lets $2 = NULL mean "every child". An
 * incremental statement replaces it with "false OR" (folded away by the planner), or its
 * generic plan could not use the (child_id, ...) indexes and would read every child; the unit
 * test test_eval_sql fails if common.sql stops spelling it this way. */
#define EVAL_ALL_CHILDREN "$2::text[] IS NULL OR"
#define EVAL_ONLY_CHILDREN "false OR"

char *eval_rule_sql(const char *case_ident, const struct rule_def *def, int incremental)
{
	char *sql = eval_build_sql(case_ident, def->sql, sql_alert_rows);
	char *inc;

	if (!sql || !incremental)
		return sql;
	inc = strbuf_subst(sql, EVAL_ALL_CHILDREN, EVAL_ONLY_CHILDREN);
	free(sql);
	return inc;
}

static int eval_send(struct eval_run *run, const char *rule_name, const char *cats,
		     const char *opts, db_result_cb cb)
{
	const char *params[6] = { run->res->as_of, run->kids, run->ctx->cfg->timezone, cats, opts,
				  rule_name };

	return db_query(run->conn, run->sql, 6, params, cb, run);
}

/* The name an incremental rule statement is prepared under, one per rule and session. */
static void eval_stmt_name(char *buf, size_t size, const struct rule_def *def)
{
	snprintf(buf, size, "dw_inc_%s", def->name);
}

static int eval_send_prepared(struct eval_run *run, const struct rule_def *def,
			      const char *cats, const char *opts, db_result_cb cb)
{
	const char *params[6] = { run->res->as_of, run->kids, run->ctx->cfg->timezone, cats, opts,
				  def->name };
	char name[DB_STMT_NAME_MAX];

	eval_stmt_name(name, sizeof(name), def);
	return db_query_prepared(run->conn, name, 6, params, cb, run);
}

/* ---- rows to alerts ---- */

static char *eval_col(PGresult *pg, int row, int col)
{
	return PQgetisnull(pg, row, col) ? NULL : strdup(PQgetvalue(pg, row, col));
}

static struct alert *eval_new_alert(struct eval_result *res)
{
	if (res->n_alerts == res->cap_alerts) {
		size_t cap = res->cap_alerts ? res->cap_alerts * 2 : 64;
		struct alert *a = realloc(res->alerts, cap * sizeof(*a));

		if (!a)
			return NULL;
		res->alerts = a;
		res->cap_alerts = cap;
	}
	memset(&res->alerts[res->n_alerts], 0, sizeof(struct alert));
	return &res->alerts[res->n_alerts++];
}

/* Column order fixed by rules/alert_rows.sql (docs/internals.md). */
enum { COL_CHILD, COL_SUBJECT, COL_STAGE, COL_SINCE, COL_FACTS, COL_FAMILY, COL_FINGERPRINT,
       COL_ALLOC_ID, COL_ALLOC_EMAIL, COL_SUP_ID, COL_SUP_EMAIL, COL_TEAM_EMAIL, COL_CHAIR_ID,
       COL_CHAIR_EMAIL, COL_TEAM_WEBHOOK, COL_COUNT };

static int eval_fill_alert(struct eval_run *run, const struct config_rule *rc, PGresult *pg,
			   int row, struct alert *a)
{
	const struct dw_config *cfg = run->ctx->cfg;
	struct strbuf sb;
	json_error_t jerr;

	a->rule = rc->def;
	a->stage = rule_stage_index(rc->def, PQgetvalue(pg, row, COL_STAGE));
	if (a->stage < 0)
		return -1;
	a->child_id = eval_col(pg, row, COL_CHILD);
	a->subject_id = eval_col(pg, row, COL_SUBJECT);
	a->since = eval_col(pg, row, COL_SINCE);
	a->family_id = eval_col(pg, row, COL_FAMILY);
	a->fingerprint = eval_col(pg, row, COL_FINGERPRINT);
	a->as_of = strdup(run->res->as_of);
	a->facts = json_loads(PQgetvalue(pg, row, COL_FACTS), 0, &jerr);
	a->contacts.alloc_worker_id = eval_col(pg, row, COL_ALLOC_ID);
	a->contacts.alloc_worker_email = eval_col(pg, row, COL_ALLOC_EMAIL);
	a->contacts.supervisor_id = eval_col(pg, row, COL_SUP_ID);
	a->contacts.supervisor_email = eval_col(pg, row, COL_SUP_EMAIL);
	a->contacts.team_manager_email = eval_col(pg, row, COL_TEAM_EMAIL);
	a->contacts.chair_id = eval_col(pg, row, COL_CHAIR_ID);
	a->contacts.chair_email = eval_col(pg, row, COL_CHAIR_EMAIL);
	a->contacts.team_webhook_url = eval_col(pg, row, COL_TEAM_WEBHOOK);
	if (!a->child_id || !a->fingerprint || !a->as_of || !json_is_object(a->facts))
		return -1;
	if (alert_resolve_recipients(a, (const char *const *)rc->roles[a->stage],
				     &cfg->addresses) < 0 ||
	    alert_build_link(a, cfg->link_template) < 0)
		return -1;
	strbuf_init(&sb);
	rc->def->summarize(a, &sb);
	a->summary = strbuf_take(&sb);
	/* Held until recorded with every other alert of the evaluation: compact (alert.h). */
	return a->summary ? alert_compact(a) : -1;
}

static int eval_take_rows(struct eval_run *run, const struct config_rule *rc, PGresult *pg)
{
	struct eval_result *res = run->res;
	int rows = PQntuples(pg);

	if (PQnfields(pg) != COL_COUNT)
		return -1;
	for (int r = 0; r < rows; r++) {
		struct alert *a = eval_new_alert(res);

		if (!a)
			return -1;
		if (eval_fill_alert(run, rc, pg, r, a) < 0) {
			alert_free(a);
			res->n_alerts--;
			return -1;
		}
		res->by_stage[run->rule_i][a->stage]++;
		res->used_fallback += (size_t)a->used_fallback;
		res->unroutable += (size_t)a->unroutable;
	}
	return 0;
}

/* ---- the steps ---- */

static void eval_on_rule(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const struct config_rule *rc = &run->ctx->cfg->rules[run->rule_i];
	const char *err = eval_result_error(conn, pg, PGRES_TUPLES_OK);
	char where[160];

	if (err) {
		snprintf(where, sizeof(where), "rule %s failed: %%s", rc->def->name);
		eval_fail(run, where, err);
		return;
	}
	if (eval_take_rows(run, rc, pg) < 0) {
		eval_fail(run, "rule %s returned a row driftwatch cannot read (a bug: please report "
			  "it)", rc->def->name);
		return;
	}
	log_debug(run->ctx, "eval: rule %s: %d alerts", rc->def->name, PQntuples(pg));
	run->rule_i++;
	eval_next(run);
}

/* Sends run->sql for the rule in turn: its text for a full evaluation, its prepared statement
 * for an incremental one. */
static void eval_send_rule(struct eval_run *run, const struct config_rule *rc)
{
	char *cats = eval_categories(run->ctx->cfg, rc);
	char *opts = eval_options_json(rc);
	int rc_send;

	if (!cats || !opts) {
		free(cats);
		free(opts);
		eval_fail(run, "out of memory preparing rule %s", rc->def->name);
		return;
	}
	rc_send = run->kids ? eval_send_prepared(run, rc->def, cats, opts, eval_on_rule)
			    : eval_send(run, rc->def->name, cats, opts, eval_on_rule);
	free(cats);
	free(opts);
	if (rc_send < 0)
		eval_fail(run, "could not send a rule's query: %s", db_error(run->conn));
}

static void eval_on_rule_prepared(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const struct config_rule *rc = &run->ctx->cfg->rules[run->rule_i];
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);
	char where[160];

	if (err) {
		snprintf(where, sizeof(where), "rule %s: could not prepare its statement: %%s",
			 rc->def->name);
		eval_fail(run, where, err);
		return;
	}
	log_debug(run->ctx, "eval: rule %s: prepared for database session %lu", rc->def->name,
		  db_session(conn));
	eval_send_rule(run, rc);
}

/* A few notified children are evaluated with statements prepared once per database session
 * and planned once (generic plans, eval_prepare): parsing and planning 25 KB of SQL took
 * three quarters of an incremental evaluation. The text is compared on every use, so a
 * statement prepared for another case schema (before a reload) is prepared again, never used. A
 * full evaluation sends the text, planned for the whole population. */
static void eval_run_rule(struct eval_run *run)
{
	const struct config_rule *rc = &run->ctx->cfg->rules[run->rule_i];
	char name[DB_STMT_NAME_MAX];

	free(run->sql);
	run->sql = eval_rule_sql(run->case_ident, rc->def, run->kids != NULL);
	if (!run->sql) {
		eval_fail(run, "out of memory preparing rule %s", rc->def->name);
		return;
	}
	eval_stmt_name(name, sizeof(name), rc->def);
	if (!run->kids || db_prepared(run->conn, name, run->sql)) {
		eval_send_rule(run, rc);
		return;
	}
	if (db_prepare(run->conn, name, run->sql, eval_on_rule_prepared, run) < 0)
		eval_fail(run, "could not send a rule's statement to prepare: %s",
			  db_error(run->conn));
}

static int eval_add_bad(struct eval_result *res, const char *kind, long long n)
{
	struct eval_bad_rows *b = realloc(res->bad, (res->n_bad + 1) * sizeof(*b));

	if (!b)
		return -1;
	res->bad = b;
	b[res->n_bad].kind = strdup(kind);
	b[res->n_bad].count = n;
	if (!b[res->n_bad].kind)
		return -1;
	res->n_bad++;
	return 0;
}

/* ---- the bad-row count ---- */

/* One statement per relation (rules/quality_*.sql), each in a savepoint of its own, so that a
 * relation nobody may read, or one missing a column, stops only its own count; then the child
 * ids across the relations that could be read (rules/quality_child_ids.sql). */
static const struct eval_quality_relation {
	const char *name;
	const char *sql;
	int src;        /* in quality_child_ids.sql: 0 children, 1 reported missing, 2 named; -1 no */
} eval_quality_relations[] = {
	{ "teams", sql_quality_teams, -1 },
	{ "workers", sql_quality_workers, -1 },
	{ "children", sql_quality_children, 0 },
	{ "allocations", sql_quality_allocations, 1 },
	{ "referrals", sql_quality_referrals, 2 },
	{ "cin_plans", sql_quality_cin_plans, 1 },
	{ "cp_plans", sql_quality_cp_plans, 1 },
	{ "appointments", sql_quality_appointments, 1 },
	{ "strategies", sql_quality_strategies, 2 },
};

#define EVAL_QUALITY_N (sizeof(eval_quality_relations) / sizeof(eval_quality_relations[0]))
#define EVAL_QUALITY_CHILDREN 2   /* the index of children above */

struct eval_quality {
	size_t i;                      /* statement in turn: a relation's, then the child ids' */
	int started;                   /* the first savepoint was set */
	int failed;                    /* the statement in turn failed: undo its savepoint */
	char readable[EVAL_QUALITY_N]; /* that relation's own count succeeded */
};

static void eval_quality_next(struct eval_run *run);

/* quality_child_ids.sql with one branch per relation that names a child and could be read;
 * NULL when none could, or when out of memory (*oom set). Relation names are the contract's,
 * fixed above, never configuration. */
static char *eval_quality_child_ids_sql(struct eval_run *run, int *oom)
{
	struct strbuf sb;
	char *branches, *sql, *out;
	int any = 0;

	*oom = 0;
	strbuf_init(&sb);
	for (size_t i = 0; i < EVAL_QUALITY_N; i++) {
		const struct eval_quality_relation *r = &eval_quality_relations[i];

		if (r->src < 0 || !run->quality->readable[i])
			continue;
		strbuf_printf(&sb, "%s    SELECT hashtextextended(child_id, 0), %d FROM @case@.%s\n"
			      "    WHERE child_id IS NOT NULL AND ($2::text[] IS NULL OR child_id = "
			      "ANY ($2::text[]))\n", any ? "    UNION ALL\n" : "", r->src, r->name);
		any = 1;
	}
	branches = strbuf_take(&sb);
	if (!branches || !any) {
		*oom = !branches;
		free(branches);
		return NULL;
	}
	sql = strbuf_subst(sql_quality_child_ids, "@named@", branches);
	free(branches);
	out = sql ? strbuf_subst(sql, "@case@", run->case_ident) : NULL;
	free(sql);
	*oom = !out;
	return out;
}

static int eval_quality_take(struct eval_run *run, PGresult *pg)
{
	for (int r = 0; r < PQntuples(pg); r++) {
		const char *kind = PQgetvalue(pg, r, 0);
		long long n = strtoll(PQgetvalue(pg, r, 1), NULL, 10);

		if (strcmp(kind, "children_evaluated") == 0) {
			run->res->children = n;
			run->res->counted = 1;
			continue;
		}
		/* With no children rows to compare with, every named child would look missing. */
		if (strcmp(kind, "children.missing") == 0 &&
		    !run->quality->readable[EVAL_QUALITY_CHILDREN])
			continue;
		if (eval_add_bad(run->res, kind, n) < 0)
			return -1;
	}
	return 0;
}

static void eval_on_quality(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	struct eval_quality *q = run->quality;
	char msg[1024];
	size_t n;

	if (!pg) {
		eval_fail(run, "data quality query failed: %s", db_error(conn));
		return;
	}
	if (PQresultStatus(pg) != PGRES_TUPLES_OK) {
		/* That relation's fault, not the evaluation's: the others are still counted. */
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(pg));
		n = strlen(msg);
		while (n > 0 && msg[n - 1] == '\n')
			msg[--n] = '\0';
		if (q->i < EVAL_QUALITY_N)
			log_warn(run->ctx, "bad rows of %s could not be counted: %s",
				 eval_quality_relations[q->i].name, msg);
		else
			log_warn(run->ctx, "children could not be counted (children_evaluated, "
				 "children.missing): %s", msg);
		q->failed = 1;
	} else {
		if (q->i < EVAL_QUALITY_N)
			q->readable[q->i] = 1;
		if (eval_quality_take(run, pg) < 0) {
			eval_fail(run, "out of memory%s", NULL);
			return;
		}
	}
	q->i++;
	eval_quality_next(run);
}

/* The statement in turn, once its savepoint is set. */
static void eval_on_quality_savepoint(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);
	char *cats;
	int rc_send;

	if (err) {
		eval_fail(run, "could not count bad rows: %s", err);
		return;
	}
	cats = eval_categories(run->ctx->cfg, NULL);
	if (!cats) {
		eval_fail(run, "out of memory%s", NULL);
		return;
	}
	rc_send = eval_send(run, "", cats, "{}", eval_on_quality);
	free(cats);
	if (rc_send < 0)
		eval_fail(run, "could not send the data quality query: %s", db_error(run->conn));
}

static int eval_bad_cmp(const void *a, const void *b)
{
	return strcmp(((const struct eval_bad_rows *)a)->kind, ((const struct eval_bad_rows *)b)->kind);
}

/* Kinds are reported sorted, as one statement once returned them. */
static void eval_quality_finish(struct eval_run *run)
{
	if (run->res->n_bad > 1)
		qsort(run->res->bad, run->res->n_bad, sizeof(*run->res->bad), eval_bad_cmp);
	run->res->bad_rows_seconds = eval_elapsed(&run->t_step);
	run->step = EVAL_COMMIT;
	eval_next(run);
}

/* The last savepoint is ended: commit. */
static void eval_on_quality_done(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);

	if (err) {
		eval_fail(run, "could not count bad rows: %s", err);
		return;
	}
	eval_quality_finish(run);
}

/* Sets run->sql to the statement in turn, skipping the child ids when no relation that names
 * a child could be read; NULL when every statement ran. Returns -1 when out of memory. */
static int eval_quality_sql(struct eval_run *run)
{
	struct eval_quality *q = run->quality;
	int oom = 0;

	free(run->sql);
	run->sql = NULL;
	if (q->i < EVAL_QUALITY_N) {
		run->sql = strbuf_subst(eval_quality_relations[q->i].sql, "@case@", run->case_ident);
		return run->sql ? 0 : -1;
	}
	if (q->i > EVAL_QUALITY_N)
		return 0;
	run->sql = eval_quality_child_ids_sql(run, &oom);
	if (!run->sql && !oom)
		log_warn(run->ctx, "children could not be counted: no relation that names a child "
			 "could be read");
	return oom ? -1 : 0;
}

/* The statement in turn, in a savepoint of its own; the previous statement's savepoint is
 * released, or undone when it failed, in the same round trip. After the last, commits. One
 * query at a time: a failure never finds another queued behind it. */
static void eval_quality_next(struct eval_run *run)
{
	struct eval_quality *q = run->quality;
	const char *end = q->failed ? "ROLLBACK TO SAVEPOINT dw_quality; "
				      "RELEASE SAVEPOINT dw_quality"
				    : "RELEASE SAVEPOINT dw_quality";
	char script[160];

	if (eval_quality_sql(run) < 0) {
		eval_fail(run, "out of memory%s", NULL);
		return;
	}
	if (!run->sql) {
		if (!q->started)
			eval_quality_finish(run);
		else if (db_script(run->conn, end, eval_on_quality_done, run) < 0)
			eval_fail(run, "could not count bad rows: %s", db_error(run->conn));
		return;
	}
	snprintf(script, sizeof(script), "%s; SAVEPOINT dw_quality",
		 q->started ? end : "SELECT set_config('enable_hashagg', 'off', true)");
	q->started = 1;
	q->failed = 0;
	if (db_script(run->conn, script, eval_on_quality_savepoint, run) < 0)
		eval_fail(run, "could not count bad rows: %s", db_error(run->conn));
}

static void eval_on_simple(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);

	if (err) {
		eval_fail(run, "could not run the evaluation's transaction: %s", err);
		return;
	}
	if (run->step == EVAL_COMMIT) {
		eval_finish(run);
		return;
	}
	run->step = EVAL_PREPARE;
	eval_next(run);
}

static void eval_on_prepare(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_TUPLES_OK);

	if (err) {
		eval_fail(run, "could not set up the evaluation (check \"timezone\" and --as-of): %s",
			  err);
		return;
	}
	snprintf(run->res->as_of, sizeof(run->res->as_of), "%s", PQgetvalue(pg, 0, 0));
	run->step = EVAL_RULE;
	run->rule_i = run->skip_rules ? run->ctx->cfg->n_rules : 0;
	clock_gettime(CLOCK_MONOTONIC, &run->t_step);
	eval_next(run);
}

/* One statement fixes T (today in the configured zone unless --as-of), proves the zone name is
 * one PostgreSQL knows, and bounds every query of the snapshot with statement_timeout. */
static void eval_prepare(struct eval_run *run)
{
	/* JIT compiling costs these statements more than it saves (100-400 ms each at a million
	 * children), and quality.sql's sorts want more than the default work_mem; both are set
	 * for this transaction only. */
#define EVAL_SETUP_SQL \
	"SELECT coalesce($1::date, (now() AT TIME ZONE $2)::date)::text, " \
	"set_config('statement_timeout', $3, true), set_config('jit', 'off', true), " \
	"set_config('work_mem', '64MB', true)"
	/* A full evaluation joins sets whose sizes the planner can only guess (candidates, hits):
	 * a guess of one row would make it loop over one set for each row of the other, reading a
	 * relation once per candidate where no index serves. The statements are written for hash
	 * joins and sorts; turning nested loops off makes sure a bad guess cannot choose one. */
	static const char sql[] = EVAL_SETUP_SQL ", set_config('enable_nestloop', 'off', true)";
	/* An incremental evaluation's prepared statements keep one generic plan per session
	 * instead of planning each execution for its values (~17 ms a statement at a million
	 * children); the full evaluation, planned for the whole population, keeps custom plans,
	 * so this too is for this transaction only. */
	static const char sql_inc[] =
		EVAL_SETUP_SQL ", set_config('plan_cache_mode', 'force_generic_plan', true)";
#undef EVAL_SETUP_SQL
	const char *params[3] = { run->as_of_req, run->ctx->cfg->timezone, run->timeout };

	if (db_query(run->conn, run->kids ? sql_inc : sql, 3, params, eval_on_prepare, run) < 0)
		eval_fail(run, "could not send the evaluation's first query: %s",
			  db_error(run->conn));
}

/* Bad rows are counted after the rules, in the same snapshot. The configured neglect
 * categories are passed so that a local code (MUL) is not reported as an unknown category.
 * The counts group millions of keys, where a hash table misses the cache at every row (at five
 * million rows, twice the time of a sort), so hash aggregation is off for the rest of the
 * transaction: nothing else runs in it after the count. */
static void eval_run_quality(struct eval_run *run)
{
	run->quality = calloc(1, sizeof(*run->quality));
	if (!run->quality) {
		eval_fail(run, "out of memory%s", NULL);
		return;
	}
	run->step = EVAL_QUALITY;
	clock_gettime(CLOCK_MONOTONIC, &run->t_step);
	eval_quality_next(run);
}

static void eval_next(struct eval_run *run)
{
	const struct dw_config *cfg = run->ctx->cfg;

	log_debug(run->ctx, "eval: step %s", eval_step_names[run->step]);
	switch (run->step) {
	case EVAL_BEGIN:
		if (db_query(run->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL,
			     eval_on_simple, run) < 0)
			eval_fail(run, "could not begin the evaluation: %s", db_error(run->conn));
		return;
	case EVAL_PREPARE:
		eval_prepare(run);
		return;
	case EVAL_RULE:
		while (run->rule_i < cfg->n_rules && !cfg->rules[run->rule_i].enabled)
			run->rule_i++;
		if (run->rule_i < cfg->n_rules) {
			eval_run_rule(run);
			return;
		}
		if (!run->skip_rules)
			run->res->rules_seconds = eval_elapsed(&run->t_step);
		if (run->count_bad_rows) {
			eval_run_quality(run);
			return;
		}
		run->step = EVAL_COMMIT;
		eval_next(run);
		return;
	case EVAL_QUALITY:
		return;
	case EVAL_COMMIT:
		if (db_query(run->conn, "COMMIT", 0, NULL, eval_on_simple, run) < 0)
			eval_fail(run, "could not end the evaluation: %s", db_error(run->conn));
		return;
	case EVAL_ROLLBACK:
		return;
	}
}

int eval_start(struct dw_ctx *ctx, struct db_conn *conn, const struct eval_request *req,
	       eval_done_cb cb, void *arg)
{
	struct eval_run *run = calloc(1, sizeof(*run));
	char timeout[32];

	if (!run)
		return -1;
	run->res = calloc(1, sizeof(*run->res));
	snprintf(timeout, sizeof(timeout), "%ds", ctx->cfg->query_timeout_s);
	run->ctx = ctx;
	run->conn = conn;
	run->cb = cb;
	run->cb_arg = arg;
	run->case_ident = db_escape_identifier(conn, ctx->cfg->case_schema);
	run->as_of_req = req->as_of ? strdup(req->as_of) : NULL;
	run->kids = req->child_ids ? strbuf_text_array(req->child_ids, req->n_child_ids) : NULL;
	run->timeout = strdup(timeout);
	run->skip_rules = req->skip_rules;
	/* Bad rows are counted by full evaluations only: a handful of notified children is not
	 * worth a second pass over their rows. */
	run->count_bad_rows = !req->child_ids && !req->skip_bad_rows;
	if (!run->res || !run->case_ident || (req->as_of && !run->as_of_req) ||
	    (req->child_ids && !run->kids) || !run->timeout) {
		free(run->res);
		eval_run_free(run);
		return -1;
	}
	run->res->children = req->child_ids ? (long long)req->n_child_ids : 0;
	clock_gettime(CLOCK_MONOTONIC, &run->t0);
	run->step = EVAL_BEGIN;
	eval_next(run);
	return 0;
}

void eval_result_free(struct eval_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < res->n_alerts; i++)
		alert_free(&res->alerts[i]);
	free(res->alerts);
	for (size_t i = 0; i < res->n_bad; i++)
		free(res->bad[i].kind);
	free(res->bad);
	free(res->error);
	free(res);
}
