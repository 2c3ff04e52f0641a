/* eval_ahead: rules run ahead on a third connection, read in their turn by the evaluating run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/lockwait.h"
#include "driftwatch/log.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

#include "eval_run.h"

/* ---- rules run ahead on another connection ----
 *
 * A one-shot run evaluates on one connection, counts bad rows on a second and runs rules
 * ahead on a third, all in one snapshot (oneshot.c). The third's run (the helper) takes the
 * rules the evaluating run (the helped) has not reached, from the last back, and runs each into
 * a cursor of its own: the statement's work is done by its first FETCH, whose rows it keeps.
 * The helped run reads such a rule in its turn, from those rows and then from that cursor, as
 * if it had run it: alerts still reach the sink rule by rule, in order, a batch at a time. The
 * helper claims only rules the helped run has not reached, and the helped run reads them in
 * order, so the helper is idle whenever the helped run uses its connection: the two never take
 * turns on it. A rule that fails ahead fails as it would have (its savepoint undone there). A
 * helper that goes away hands back the rules it has not delivered. */

void eval_ahead_reset(struct eval_ahead *a)
{
	if (a->first)
		PQclear(a->first);
	free(a->error);
	memset(a, 0, sizeof(*a));
}

/* (helped) The helper ran the rule in turn ahead: read it from there. */
void eval_ahead_take(struct eval_run *run)
{
	struct eval_ahead *a = &run->ahead[run->rule_i];
	PGresult *pg;

	run->ahead_rule = 1;
	run->rconn = run->helper->conn;
	snprintf(run->cursor, sizeof(run->cursor), "dw_ahead_%zu", run->rule_i);
	snprintf(run->savepoint, sizeof(run->savepoint), "dw_ahead_%zu", run->rule_i);
	run->step = EVAL_RULE_ROWS;
	switch (a->state) {
	case EVAL_AHEAD_RUNNING:
		run->ahead_wait = 1;
		return;
	case EVAL_AHEAD_FAILED:
		run->rule_error = a->error;
		run->rule_cancelled = a->cancelled;
		a->error = NULL;
		eval_ahead_reset(a);
		run->step = EVAL_RULE_END;
		eval_rule_over(run);
		return;
	case EVAL_AHEAD_READY:
		pg = a->first;
		a->first = NULL;
		eval_ahead_reset(a);
		run->fetch_n = EVAL_BATCH_FIRST;
		eval_on_rows(run->rconn, pg, run);
		PQclear(pg);
		return;
	default:
		eval_run_rule_own(run);
		return;
	}
}

/* (helped) The helper's news about rule j. */
static void eval_ahead_news(struct eval_run *run, size_t j)
{
	if (!run->ahead_wait || run->rule_i != j)
		return;
	run->ahead_wait = 0;
	eval_ahead_take(run);
}


/* The two runs part: the helped one has read every rule it took from the helper, or one of
 * them ended. Rules the helper took but did not deliver go back to the helped run, which runs
 * them itself; a helper waiting to be let go commits. */
void eval_unlink(struct eval_run *run)
{
	struct eval_run *m = run->helped ? run->helped : run;
	struct eval_run *h = run->helped ? run : run->helper;

	if (!h || !m || h->helped != m)
		return;
	h->helped = NULL;
	m->helper = NULL;
	for (size_t j = 0; j < RULE_REGISTRY_MAX; j++)
		eval_ahead_reset(&m->ahead[j]);
	m->ahead_from = m->ctx->cfg->n_rules;
	if (run == m && h->step == EVAL_LEND) {
		h->step = EVAL_COMMIT;
		eval_next(h);
	}
	if (run == h && m->helper_begin_wait) {
		m->helper_begin_wait = 0;
		eval_next(m);
		return;
	}
	if (run == h && m->ahead_wait) {
		log_debug(m->ctx, "eval: rule %s: the connection running it ahead went, running it here",
			  eval_rule(m)->def->name);
		m->ahead_wait = 0;
		eval_run_rule_own(m);
	}
}

/* (helper) The last enabled rule after the helped run's rule in flight that nobody took yet;
 * n_rules when none. */
static size_t eval_ahead_pick(const struct eval_run *m)
{
	const struct dw_config *cfg = m->ctx->cfg;

	for (size_t j = m->ahead_from; j > m->rule_i + 1; j--)
		if (cfg->rules[j - 1].enabled)
			return j - 1;
	return cfg->n_rules;
}

/* (helper) The rule it ran ahead is done with, well or not: tell the helped run, take the next. */
static void eval_ahead_over(struct eval_run *h, enum eval_ahead_state state, PGresult *first,
			    char *error)
{
	struct eval_run *m = h->helped;
	struct eval_ahead *a;

	if (!m) {
		if (first)
			PQclear(first);
		free(error);
		eval_ahead_next(h);
		return;
	}
	a = &m->ahead[h->ahead_i];
	a->state = state;
	a->first = first;
	a->error = error;
	a->cancelled = h->rule_cancelled;
	h->rule_cancelled = 0;
	log_debug(h->ctx, "eval: rule %s run ahead on another connection: %s in %.3f s",
		  m->ctx->cfg->rules[h->ahead_i].def->name,
		  state == EVAL_AHEAD_READY ? "first rows" : "failed", eval_elapsed(&h->t_rule));
	eval_ahead_next(h);
	/* after the helper's next query is queued: the helped run's fetches go behind it */
	if (h->helped == m)
		eval_ahead_news(m, h->ahead_i);
}

static void eval_on_ahead_undone(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *h = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);
	char *error = h->rule_error;

	h->rule_error = NULL;
	if (err) {
		free(error);
		eval_fail(h, "could not undo a rule run ahead: %s", err);
		return;
	}
	eval_ahead_over(h, EVAL_AHEAD_FAILED, NULL, error ? error : strdup("failed"));
}

/* (helper) The statement failed: undo its savepoint, as the helped run would have. */
static void eval_ahead_failed(struct eval_run *h, const PGresult *pg, const char *err)
{
	char script[128];

	free(h->rule_error);
	h->rule_error = eval_first_line("%s", eval_error_where(h, &h->ctx->cfg->rules[h->ahead_i],
							      pg, err));
	snprintf(script, sizeof(script), "ROLLBACK TO SAVEPOINT dw_ahead_%zu; "
		 "RELEASE SAVEPOINT dw_ahead_%zu", h->ahead_i, h->ahead_i);
	if (db_script(h->conn, script, eval_on_ahead_undone, h) < 0)
		eval_fail(h, "could not undo a rule run ahead: %s", db_error(h->conn));
}

/* (helper) A step of the rule run ahead answered: 0 when it went well; else the rule (or, the
 * connection lost, the help) has failed. */
static int eval_ahead_step_failed(struct eval_run *h, struct db_conn *conn, PGresult *pg,
				  ExecStatusType want)
{
	const char *err = eval_result_error(conn, pg, want);

	if (!pg) {
		eval_fail(h, "the database connection was lost during a rule run ahead: %s", err);
		return 1;
	}
	if (err) {
		h->rule_cancelled = lockwait_cancelled(pg);
		eval_ahead_failed(h, pg, err);
		return 1;
	}
	return 0;
}

static void eval_on_ahead_rows(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *h = arg;

	if (eval_ahead_step_failed(h, conn, pg, PGRES_TUPLES_OK))
		return;
	db_keep_result(conn);
	eval_ahead_over(h, EVAL_AHEAD_READY, pg, NULL);
}

static void eval_on_ahead_declared(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *h = arg;
	char sql[64];

	if (eval_ahead_step_failed(h, conn, pg, PGRES_COMMAND_OK))
		return;
	snprintf(sql, sizeof(sql), "FETCH %d FROM dw_ahead_%zu", EVAL_BATCH_FIRST, h->ahead_i);
	if (db_query(h->conn, sql, 0, NULL, eval_on_ahead_rows, h) < 0)
		eval_fail(h, "could not fetch a rule's rows: %s", db_error(h->conn));
}

/* (helper) The helped run's statement of rule j, in the form it would run it, under a cursor
 * named for the rule; sent with its parameters. */
static void eval_on_ahead_savepoint(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *h = arg;
	struct eval_run *m = h->helped;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);
	const char *params[EVAL_P_COUNT];
	const struct config_rule *rc;
	struct strbuf sb;
	char *body;

	if (err) {
		eval_fail(h, "could not run a rule ahead: %s", err);
		return;
	}
	if (!m) {
		eval_ahead_next(h);
		return;
	}
	rc = &h->ctx->cfg->rules[h->ahead_i];
	free(h->sql);
	free(h->cats);
	free(h->opts);
	h->cats = config_categories_param(h->ctx->cfg, rc);
	h->opts = eval_options_json(rc);
	body = eval_rule_sql(m->case_ident, rc->def, m->lookup ? EVAL_FORM_LOOKUP : EVAL_FORM_FULL,
			     h->ctx->case_withheld);
	strbuf_init(&sb);
	strbuf_printf(&sb, "DECLARE dw_ahead_%zu NO SCROLL CURSOR FOR\n%s", h->ahead_i,
		      body ? body : "");
	h->sql = body ? strbuf_take(&sb) : NULL;
	if (!body)
		free(strbuf_take(&sb));
	free(body);
	if (!h->sql || !h->cats || !h->opts) {
		eval_fail(h, "out of memory running rule %s ahead", rc->def->name);
		return;
	}
	params[EVAL_P_AS_OF] = h->res->as_of;
	params[EVAL_P_CHILD_IDS] = NULL;
	params[EVAL_P_TIME_ZONE] = h->ctx->cfg->timezone;
	params[EVAL_P_NEGLECT_CATEGORIES] = h->cats;
	params[EVAL_P_OPTIONS] = h->opts;
	params[EVAL_P_RULE] = rc->def->name;
	if (db_query(h->conn, h->sql, EVAL_P_COUNT, params, eval_on_ahead_declared, h) < 0)
		eval_fail(h, "could not send a rule's query: %s", db_error(h->conn));
}

/* (helper) Its count is done: takes the next rule to run ahead, from the last back, while the
 * helped run has not reached it; then waits to be let go (eval_unlink), or, helping nobody,
 * commits. The count comes first so that the two connections never take turns on one: the
 * helped run reads the cursors only once the helper has nothing else to do. A rule run ahead
 * gets what is left of the helped run's budget, and the planner settings the helped run's
 * statements have (the bad-row count turned hash aggregation off for its own). */
void eval_ahead_next(struct eval_run *h)
{
	struct eval_run *m = h->helped;
	char script[256];
	double left;
	size_t j;

	if (!m) {
		h->step = EVAL_COMMIT;
		eval_next(h);
		return;
	}
	j = eval_ahead_pick(m);
	if (j >= h->ctx->cfg->n_rules) {
		h->step = EVAL_LEND;
		return;
	}
	m->ahead_from = j;
	m->ahead[j].state = EVAL_AHEAD_RUNNING;
	h->ahead_i = j;
	h->step = EVAL_AHEAD;
	clock_gettime(CLOCK_MONOTONIC, &h->t_rule);
	left = eval_rule_time_left(m);
	snprintf(script, sizeof(script), "SAVEPOINT dw_ahead_%zu; SET LOCAL statement_timeout = "
		 "%ld; SET LOCAL lock_timeout = %ld; SET LOCAL enable_hashagg TO DEFAULT", j,
		 (long)(left * 1000), eval_lock_timeout_ms(left));
	if (db_script(h->conn, script, eval_on_ahead_savepoint, h) < 0)
		eval_fail(h, "could not run a rule ahead: %s", db_error(h->conn));
}
