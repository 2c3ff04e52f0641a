/* eval_quality: the bad-row count per relation, and what the evaluating run counts for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driftwatch/case_columns.h"
#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/lockwait.h"
#include "driftwatch/log.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"

#include "eval_run.h"

/* ---- bad rows ---- */

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

/* One statement per relation (rules/quality_*.sql), each in a savepoint of its own, so that a
 * relation nobody may read, or one missing a column, stops only its own count; then the child
 * ids across the relations that could be read (rules/quality_child_ids.sql). */
static const struct eval_quality_relation {
	const char *name;
	const char *sql;
	int src;        /* in quality_child_ids.sql: 0 children, 1 reported missing, 2 named; -1 no */
} eval_quality_relations[] = {
	/* The relations with the most rows first, as a rule: a helped run that is done with its
	 * rules counts from the other end (eval_steal_next), and the two meet in the middle. */
	{ "appointments", sql_quality_appointments, 1 },
	{ "allocations", sql_quality_allocations, 1 },
	{ "referrals", sql_quality_referrals, 2 },
	{ "children", sql_quality_children, 0 },
	{ "cin_plans", sql_quality_cin_plans, 1 },
	{ "cp_plans", sql_quality_cp_plans, 1 },
	{ "strategies", sql_quality_strategies, 2 },
	{ "workers", sql_quality_workers, -1 },
	{ "teams", sql_quality_teams, -1 },
};

#define EVAL_QUALITY_N (sizeof(eval_quality_relations) / sizeof(eval_quality_relations[0]))

/* A relation's count as sent: what it may read as NULL is what quality_NAME does not rank its
 * duplicates by (case_columns.h). */
static char *eval_quality_relation_sql(const struct eval_quality_relation *r,
				       const char *case_ident, unsigned withheld)
{
	char reader[64];

	snprintf(reader, sizeof(reader), "quality_%s", r->name);
	return case_columns_sql(r->sql, case_ident, case_columns_for(reader, withheld));
}
#define EVAL_QUALITY_CHILDREN 3   /* the index of children above */

/* The child ids' statement is the count's longest after appointments', and it needs to know
 * which relations could be read: it runs first as if all could, and its rows are used once
 * they all could; else it runs again at the end over those that could. */
#define EVAL_QUALITY_EARLY (EVAL_QUALITY_N + 1)

struct eval_quality {
	int early;                     /* the child ids' statement over all relations was sent */
	PGresult *early_rows;          /* its rows, when it ran well */
	size_t i;                      /* the next relation from the front */
	size_t back;                   /* relations from here on were taken by the helped run */
	size_t cur;                    /* the statement in flight: a relation's, or N: child ids' */
	int stolen;                    /* the helped run counts a relation it took */
	int ids;                       /* the child ids' statement was taken (or skipped) */
	int started;                   /* a savepoint is set */
	int failed;                    /* the statement in turn failed: undo its savepoint */
	char readable[EVAL_QUALITY_N]; /* that relation's own count succeeded */
};

static void eval_quality_next(struct eval_run *run);

void eval_quality_free(struct eval_quality *q)
{
	if (q && q->early_rows)
		PQclear(q->early_rows);
	free(q);
}

/* quality_child_ids.sql with one branch per relation that names a child and could be read
 * (every one that names a child when all is set); NULL when none could, or when out of memory
 * (*oom set). Relation names are the contract's, fixed above, never configuration. */
static char *eval_quality_child_ids_sql(struct eval_run *run, int all, int *oom)
{
	struct strbuf sb;
	char *branches, *sql, *out;
	int any = 0;

	*oom = 0;
	strbuf_init(&sb);
	for (size_t i = 0; i < EVAL_QUALITY_N; i++) {
		const struct eval_quality_relation *r = &eval_quality_relations[i];

		if (r->src < 0 || (!all && !run->quality->readable[i]))
			continue;
		char src[16], *named, *branch;

		snprintf(src, sizeof(src), "%d", r->src);
		named = strbuf_subst(sql_quality_child_ids_branch, "@relation@", r->name);
		branch = named ? strbuf_subst(named, "@src@", src) : NULL;
		strbuf_printf(&sb, "%s%s", any ? "    UNION ALL\n" : "", branch ? branch : "");
		if (!branch)
			sb.failed = 1;
		free(named);
		free(branch);
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
	out = sql ? case_columns_sql(sql, run->case_ident,
				     case_columns_for("quality_child_ids", run->ctx->case_withheld)) : NULL;
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

/* ---- a count a lock held: who holds it ---- */

/* A relation's count failed; its warning waits for the answer to who holds the lock. */
struct eval_quality_why {
	struct eval_run *run;
	size_t k;                          /* the relation */
	void (*then)(struct eval_run *);   /* goes on once the warning is logged */
};

static void eval_quality_warn(struct eval_run *run, size_t k, const char *msg)
{
	char cols[512];
	const char *name = eval_quality_relations[k].name;

	/* the server's error names no column of a type outside the contract (eval_error_where) */
	if (contract_mistyped_say(run->ctx->case_mistyped, run->ctx->cfg->case_schema, name, cols,
				  sizeof(cols)))
		log_warn(run->ctx, "bad rows of %s could not be counted: %s (of a type outside the "
			 "contract: %s)", name, msg, cols);
	else
		log_warn(run->ctx, "bad rows of %s could not be counted: %s", name, msg);
}

static void eval_on_quality_said(const char *said, void *arg)
{
	struct eval_quality_why *w = arg;

	eval_quality_warn(w->run, w->k, said);
	w->then(w->run);
	free(w);
}

/* Relation k's count failed with msg (on conn, its savepoint set and aborted): the warning,
 * then then(run). When the server cancelled it (a reload's lock, as in eval.c), the savepoint
 * is undone but kept, and the warning names who holds a lock on the relation; then's own undo
 * of the savepoint follows. */
static void eval_quality_failed(struct eval_run *run, struct db_conn *conn, PGresult *pg,
				size_t k, const char *msg, void (*then)(struct eval_run *))
{
	struct eval_quality_why *w = NULL;
	const char *name = eval_quality_relations[k].name;

	if (lockwait_cancelled(pg) && (w = calloc(1, sizeof(*w))) != NULL) {
		w->run = run;
		w->k = k;
		w->then = then;
		if (lockwait_explain(conn, run->ctx->cfg->case_schema, &name, 1,
				     "ROLLBACK TO SAVEPOINT dw_quality", msg, eval_on_quality_said,
				     w) == 0)
			return;
	}
	free(w);
	eval_quality_warn(run, k, msg);
	then(run);
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
	if (q->cur == EVAL_QUALITY_EARLY) {
		/* a relation that cannot be read says so in its own count */
		q->failed = PQresultStatus(pg) != PGRES_TUPLES_OK;
		if (!q->failed) {
			q->early_rows = pg;
			db_keep_result(conn);
		}
		eval_quality_next(run);
		return;
	}
	if (PQresultStatus(pg) != PGRES_TUPLES_OK && q->cur < EVAL_QUALITY_N) {
		/* That relation's fault, not the evaluation's: the others are still counted. Its
		 * primary message, one line, as when the helped run counts it. */
		q->failed = 1;
		eval_quality_failed(run, conn, pg, q->cur,
				    eval_result_error(conn, pg, PGRES_TUPLES_OK), eval_quality_next);
		return;
	}
	if (PQresultStatus(pg) != PGRES_TUPLES_OK) {
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(pg));
		n = strlen(msg);
		while (n > 0 && msg[n - 1] == '\n')
			msg[--n] = '\0';
		q->failed = 1;
		log_warn(run->ctx, "children could not be counted (children_evaluated, "
			 "children.missing): %s", msg);
	} else {
		if (q->cur < EVAL_QUALITY_N)
			q->readable[q->cur] = 1;
		if (eval_quality_take(run, pg) < 0) {
			eval_fail(run, "out of memory%s", NULL);
			return;
		}
	}
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
	cats = config_categories_param(run->ctx->cfg, NULL);
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

/* The relations whose own count failed (each said in a warning), for the summary. */
static void eval_quality_uncounted(struct eval_run *run)
{
	struct strbuf sb;

	if (!run->quality)
		return;
	strbuf_init(&sb);
	for (size_t i = 0; i < EVAL_QUALITY_N; i++)
		if (!run->quality->readable[i])
			strbuf_printf(&sb, "%s%s", sb.len ? ", " : "", eval_quality_relations[i].name);
	free(run->res->bad_rows_uncounted);
	run->res->bad_rows_uncounted = sb.len ? strbuf_take(&sb) : NULL;
	strbuf_free(&sb);
}

/* Kinds are reported sorted, as one statement once returned them. */
static void eval_quality_finish(struct eval_run *run)
{
	eval_quality_uncounted(run);
	if (run->res->n_bad > 1)
		qsort(run->res->bad, run->res->n_bad, sizeof(*run->res->bad), eval_bad_cmp);
	run->res->bad_rows_seconds = eval_elapsed(&run->t_step);
	run->step = EVAL_COMMIT;
	eval_next(run);
}

/* No statement is left for now: every one ran, or the last relation is the helped run's to
 * count, and the child ids wait for it (eval_quality_resume). */
static void eval_quality_pause(struct eval_run *run)
{
	struct eval_quality *q = run->quality;

	if (q->stolen) {
		run->step = EVAL_QUALITY_WAIT;
		return;
	}
	if (!q->ids) {
		eval_quality_next(run);
		return;
	}
	eval_quality_finish(run);
}

/* The savepoint is ended. */
static void eval_on_quality_done(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);

	if (err) {
		eval_fail(run, "could not count bad rows: %s", err);
		return;
	}
	run->quality->started = 0;
	eval_quality_pause(run);
}

/* (helper) The helped run counted the relation it took: the child ids may go on. */
static void eval_quality_resume(struct eval_run *run)
{
	if (run->step != EVAL_QUALITY_WAIT)
		return;
	run->step = EVAL_QUALITY;
	eval_quality_pause(run);
}

/* Every relation that names a child could be read. */
static int eval_quality_all_read(const struct eval_quality *q)
{
	for (size_t i = 0; i < EVAL_QUALITY_N; i++)
		if (eval_quality_relations[i].src >= 0 && !q->readable[i])
			return 0;
	return 1;
}

/* Sets run->sql to the statement in turn, skipping the child ids when no relation that names
 * a child could be read; NULL when every statement ran. Returns -1 when out of memory. */
static int eval_quality_sql(struct eval_run *run)
{
	struct eval_quality *q = run->quality;
	int oom = 0;

	free(run->sql);
	run->sql = NULL;
	if (!q->early) {
		q->early = 1;
		q->cur = EVAL_QUALITY_EARLY;
		run->sql = eval_quality_child_ids_sql(run, 1, &oom);
		return oom ? -1 : 0;
	}
	if (q->i < q->back) {
		q->cur = q->i++;
		run->sql = eval_quality_relation_sql(&eval_quality_relations[q->cur], run->case_ident,
					    run->ctx->case_withheld);
		return run->sql ? 0 : -1;
	}
	if (q->stolen || q->ids)
		return 0;
	q->ids = 1;
	if (q->early_rows && eval_quality_all_read(q)) {
		int taken = eval_quality_take(run, q->early_rows);

		PQclear(q->early_rows);
		q->early_rows = NULL;
		return taken < 0 ? -1 : 0;
	}
	q->cur = EVAL_QUALITY_N;
	run->sql = eval_quality_child_ids_sql(run, 0, &oom);
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
	char script[256];

	if (eval_quality_sql(run) < 0) {
		eval_fail(run, "out of memory%s", NULL);
		return;
	}
	if (!run->sql) {
		if (!q->started)
			eval_quality_pause(run);
		else if (db_script(run->conn, end, eval_on_quality_done, run) < 0)
			eval_fail(run, "could not count bad rows: %s", db_error(run->conn));
		return;
	}
	/* Grouping millions of unique keys in a hash table costs twice a sort, so the relations'
	 * counts sort; the child ids hash, being ten rows or more to a distinct id. */
	/* A relation held by another session's lock costs its own count a share of the time
	 * left, not every count after it (eval_lock_timeout_ms). */
	snprintf(script, sizeof(script), "%s%sSELECT set_config('enable_hashagg', '%s', true), "
		 "set_config('lock_timeout', '%ld', true); SAVEPOINT dw_quality",
		 q->started ? end : "", q->started ? "; " : "",
		 q->cur < EVAL_QUALITY_N ? "off" : "on",
		 eval_lock_timeout_ms(eval_budget_left(run)));
	q->started = 1;
	q->failed = 0;
	if (db_script(run->conn, script, eval_on_quality_savepoint, run) < 0)
		eval_fail(run, "could not count bad rows: %s", db_error(run->conn));
}

void eval_run_quality(struct eval_run *run)
{
	run->quality = calloc(1, sizeof(*run->quality));
	if (!run->quality) {
		eval_fail(run, "out of memory%s", NULL);
		return;
	}
	run->quality->back = EVAL_QUALITY_N;
	run->step = EVAL_QUALITY;
	clock_gettime(CLOCK_MONOTONIC, &run->t_step);
	/* a helped run done with its rules waited for this: it counts from the other end */
	if (run->counted_for && run->counted_for->steal_wait) {
		run->counted_for->steal_wait = 0;
		eval_steal_next(run->counted_for);
	}
	eval_quality_next(run);
}

/* ---- bad rows counted by the helped run ----
 *
 * A run that has read all its rules while the counter still counts bad rows takes the
 * relations the counter has not come to, from the last back (eval_quality_relations puts the
 * small ones there), and counts them in its own transaction: the same snapshot, the same
 * statements, the same savepoint around each, the counts added to the counter's. The child
 * ids' statement, which needs to know which relations could be read, stays the counter's. */

/* The counter and the run it counts with part: the run is done with its rules and counting,
 * or one of them ended. A run waiting for the counter to begin goes on without it. */
void eval_counter_unlink(struct eval_run *run)
{
	struct eval_run *m = run->counted_for ? run->counted_for : run;
	struct eval_run *c = run->counted_for ? run : run->counter;

	if (!c || !m || c->counted_for != m)
		return;
	c->counted_for = NULL;
	m->counter = NULL;
	if (run == c && m->steal_wait) {
		m->steal_wait = 0;
		eval_rules_end(m);
	}
}


/* (helped) The counter may go on: its counts have this relation's, or its failure. */
static void eval_steal_over(struct eval_run *m)
{
	struct eval_run *h = m->counter;

	if (h && h->quality) {
		h->quality->stolen = 0;
		eval_quality_resume(h);
	}
}

static void eval_on_steal_end(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *m = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);

	eval_steal_over(m);
	if (err) {
		eval_fail(m, "could not count bad rows: %s", err);
		return;
	}
	eval_steal_next(m);
}

/* (helped) Its relation's count is over: release or undo the savepoint, then go on. */
static void eval_steal_end(struct eval_run *m)
{
	const char *end = m->steal_failed ? "ROLLBACK TO SAVEPOINT dw_quality; "
					    "RELEASE SAVEPOINT dw_quality"
					  : "RELEASE SAVEPOINT dw_quality";

	if (db_script(m->conn, end, eval_on_steal_end, m) < 0) {
		eval_steal_over(m);
		eval_fail(m, "could not count bad rows: %s", db_error(m->conn));
	}
}

static void eval_on_steal_rows(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *m = arg;
	struct eval_run *h = m->counter;
	const char *name = eval_quality_relations[m->steal_k].name;
	const char *err = eval_result_error(conn, pg, PGRES_TUPLES_OK);

	m->steal_failed = err != NULL;
	if (!pg) {
		log_warn(m->ctx, "bad rows of %s could not be counted: %s", name, err);
		eval_steal_over(m);
		eval_fail(m, "the database connection was lost: %s", err);
		return;
	}
	if (err) {
		/* That relation's fault, as when the helper counts it. */
		eval_quality_failed(m, conn, pg, m->steal_k, err, eval_steal_end);
		return;
	}
	if (h && h->quality) {
		h->quality->readable[m->steal_k] = 1;
		if (eval_quality_take(h, pg) < 0)
			log_warn(m->ctx, "bad rows of %s could not be counted: out of memory", name);
	}
	eval_steal_end(m);
}

static void eval_on_steal_savepoint(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *m = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);
	char *cats;
	int rc;

	if (err) {
		eval_steal_over(m);
		eval_fail(m, "could not count bad rows: %s", err);
		return;
	}
	cats = config_categories_param(m->ctx->cfg, NULL);
	rc = cats ? eval_send(m, "", cats, "{}", eval_on_steal_rows) : -1;
	free(cats);
	if (rc < 0) {
		eval_steal_over(m);
		eval_fail(m, "could not send the data quality query: %s", db_error(m->conn));
	}
}

/* (helped) Takes the last relation the counter has not come to; when none is left, lets the
 * counter go and ends its own rules. */
void eval_steal_next(struct eval_run *m)
{
	struct eval_run *h = m->counter;
	struct eval_quality *q = h ? h->quality : NULL;
	static const char script[] = "SELECT set_config('enable_hashagg', 'off', true); "
				     "SAVEPOINT dw_quality";

	free(m->sql);
	m->sql = NULL;
	/* The counter has not begun counting (it imports this snapshot first): ending this
	 * transaction now would leave it nothing to import. */
	if (h && !q) {
		log_debug(m->ctx, "eval: rules read; waiting for the counting connection to begin");
		m->step = EVAL_STEAL;
		m->steal_wait = 1;
		return;
	}
	if (!q || q->back <= q->i || q->ids) {
		eval_counter_unlink(m);
		eval_rules_end(m);
		return;
	}
	m->steal_k = q->back - 1;
	m->sql = eval_quality_relation_sql(&eval_quality_relations[m->steal_k], m->case_ident,
				  m->ctx->case_withheld);
	if (!m->sql) {
		eval_fail(m, "out of memory%s", NULL);
		return;
	}
	q->back--;
	q->stolen = 1;
	m->step = EVAL_STEAL;
	log_debug(m->ctx, "eval: counting the bad rows of %s for the counting connection",
		  eval_quality_relations[m->steal_k].name);
	if (db_script(m->conn, script, eval_on_steal_savepoint, m) < 0) {
		eval_steal_over(m);
		eval_fail(m, "could not count bad rows: %s", db_error(m->conn));
	}
}
