/* eval: runs each enabled rule in one read-only snapshot and streams its rows to a sink as alerts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driftwatch/alert.h"
#include "driftwatch/case_columns.h"
#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/lockwait.h"
#include "driftwatch/log.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/jsontext.h"
#include "driftwatch/utf8.h"

#include "eval_run.h"

static const char *const eval_step_names[] = {
	"begin", "setup", "sink begin", "rule", "rule rows", "rule sink", "rule end", "quality",
	"quality wait", "steal", "ahead", "lend", "commit", "rollback"
};

static void eval_rule_fail(struct eval_run *run, const char *fmt, const char *detail);

double eval_elapsed(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void eval_batch_free(struct eval_run *run)
{
	for (size_t i = 0; i < run->n_batch; i++)
		alert_free(&run->batch[i]);
	free(run->batch);
	run->batch = NULL;
	run->n_batch = run->fed = 0;
}

static void eval_run_free(struct eval_run *run)
{
	for (size_t j = 0; j < RULE_REGISTRY_MAX; j++)
		eval_ahead_reset(&run->ahead[j]);
	eval_batch_free(run);
	free(run->case_ident);
	free(run->as_of_req);
	free(run->kids);
	free(run->timeout);
	free(run->sql);
	free(run->cats);
	free(run->opts);
	free(run->rule_error);
	eval_quality_free(run->quality);
	free(run->snapshot);
	free(run);
}

static void eval_finish(struct eval_run *run)
{
	struct eval_result *res = run->res;
	eval_done_cb cb = run->cb;
	void *cb_arg = run->cb_arg;

	eval_unlink(run);
	eval_counter_unlink(run);
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

/* The first line of a server or libpq message: the rest (DETAIL, a quoted row) may be about a
 * child, and one line is what a log, /healthz or an operator's notice can carry. */
char *eval_first_line(const char *fmt, const char *detail)
{
	char msg[1024];
	char *nl;

	snprintf(msg, sizeof(msg), fmt, detail ? detail : "");
	nl = strchr(msg, '\n');
	if (nl)
		*nl = '\0';
	return utf8_repair(msg, NULL);
}

/* Records the first failure of the evaluation as a whole and ends the snapshot. */
void eval_fail(struct eval_run *run, const char *fmt, const char *detail)
{
	char *msg;

	/* A helper holds no result: what failed is only its help, which the helped run does
	 * without (eval_unlink). */
	if (run->lent) {
		msg = eval_first_line(fmt, detail);
		log_warn(run->ctx, "evaluation: the connection running rules ahead stopped: %s",
			 msg ? msg : "out of memory");
		free(msg);
	} else if (!run->res->error) {
		run->res->error = eval_first_line(fmt, detail);
	}
	if (!run->lent && !run->res->error)
		run->res->error = strdup("out of memory");
	run->step = EVAL_ROLLBACK;
	if (db_query(run->conn, "ROLLBACK", 0, NULL, eval_on_rollback, run) < 0)
		eval_finish(run);
}

/* The server's own sentence ("permission denied for table appointments"), without the
 * severity and the DETAIL that PQresultErrorMessage adds: it goes to logs, /healthz and the
 * operators, and a DETAIL can quote a row. */
const char *eval_result_error(struct db_conn *conn, PGresult *pg, ExecStatusType want)
{
	const char *primary;

	if (!pg)
		return db_error(conn);
	if (PQresultStatus(pg) == want)
		return NULL;
	primary = PQresultErrorField(pg, PG_DIAG_MESSAGE_PRIMARY);
	return primary && *primary ? primary : PQresultErrorMessage(pg);
}

/* ---- parameters ---- */

const char *const eval_param_names[] = {
	"as_of", "child_ids", "time_zone", "neglect_categories", "options", "rule", NULL
};

_Static_assert(sizeof(eval_param_names) / sizeof(eval_param_names[0]) == EVAL_P_COUNT + 1,
	       "one name per parameter");

static json_t *eval_list_json(char *const *items)
{
	json_t *a;

	if (!items)
		return json_null();
	a = json_array();
	for (size_t i = 0; a && items[i]; i++)
		if (json_array_append_new(a, json_string(items[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* :options: each option, each list option (null when not configured) and each stage's
 * threshold, under its key (docs/internals.md, "Options"). */
char *eval_options_json(const struct config_rule *rc)
{
	const struct rule_def *def = rc->def;
	json_t *o = json_object();
	size_t want = def->n_opts + def->n_list_opts;
	char *text;

	if (!o)
		return NULL;
	for (size_t i = 0; i < def->n_opts; i++)
		json_object_set_new(o, def->opts[i].key, json_integer(rc->opts[i]));
	for (size_t i = 0; i < def->n_list_opts; i++)
		json_object_set_new(o, def->list_opts[i].key, eval_list_json(rc->lists[i]));
	for (size_t i = 0; i < def->n_stages; i++) {
		if (!def->stages[i].threshold_key)
			continue;
		json_object_set_new(o, def->stages[i].name, json_integer(rc->thresholds[i]));
		want++;
	}
	text = json_object_size(o) == want ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	json_decref(o);
	return text;
}

/* The rule's statement (rules/NAME.sql, whole) in the form asked (eval.h, enum eval_form; a
 * rule without a lookup form runs its full one), with @case@ replaced by the escaped schema
 * identifier and the columns in withheld read as NULL (case_columns_sql): the only text
 * substituted. */
char *eval_rule_sql(const char *case_ident, const struct rule_def *def, enum eval_form form,
		    unsigned withheld)
{
	const char *sql = form == EVAL_FORM_INCREMENTAL ? def->sql_incremental :
			  form == EVAL_FORM_LOOKUP && def->sql_lookup ? def->sql_lookup : def->sql;

	return sql ? case_columns_sql(sql, case_ident, case_columns_for(def->name, withheld)) : NULL;
}

int eval_send(struct eval_run *run, const char *rule_name, const char *cats,
		     const char *opts, db_result_cb cb)
{
	const char *params[EVAL_P_COUNT];

	params[EVAL_P_AS_OF] = run->res->as_of;
	params[EVAL_P_CHILD_IDS] = run->kids;
	params[EVAL_P_TIME_ZONE] = run->ctx->cfg->timezone;
	params[EVAL_P_NEGLECT_CATEGORIES] = cats;
	params[EVAL_P_OPTIONS] = opts;
	params[EVAL_P_RULE] = rule_name;
	return db_query(run->conn, run->sql, EVAL_P_COUNT, params, cb, run);
}

/* The name an incremental rule statement is prepared under, one per rule and session. */
static void eval_stmt_name(char *buf, size_t size, const struct rule_def *def)
{
	snprintf(buf, size, "dw_inc_%s", def->name);
}

/* ---- rows to alerts ---- */

/* Result columns by name (rules/alert_rows.sql), looked up once per result. */
enum {
	COL_CHILD, COL_SUBJECT, COL_STAGE, COL_SINCE, COL_FACTS, COL_FAMILY, COL_ALLOC_ID,
	COL_ALLOC_EMAIL, COL_SUP_ID, COL_SUP_EMAIL, COL_TEAM_EMAIL, COL_CHAIR_ID, COL_CHAIR_EMAIL,
	COL_TEAM_WEBHOOK, COL_TEAM_ID, COL_COUNT
};

static const char *const eval_col_names[COL_COUNT] = {
	"child_id", "subject_id", "stage", "since", "facts", "family_id", "alloc_worker_id",
	"alloc_worker_email", "supervisor_id", "supervisor_email", "team_manager_email", "chair_id",
	"chair_email", "team_webhook_url", "alloc_team_id"
};

struct eval_cols {
	int at[COL_COUNT];
};

static int eval_find_cols(PGresult *pg, struct eval_cols *cols)
{
	for (int i = 0; i < COL_COUNT; i++) {
		cols->at[i] = PQfnumber(pg, eval_col_names[i]);
		if (cols->at[i] < 0)
			return -1;
	}
	return 0;
}

/* A text value as driftwatch can show and send it: the case database may hold any bytes (a
 * SQL_ASCII database checks none), and JSON, mail and the state schema want UTF-8. */
static int eval_text(struct eval_run *run, PGresult *pg, int row, int col, char **out)
{
	size_t fixed;

	*out = NULL;
	if (PQgetisnull(pg, row, col))
		return 0;
	*out = utf8_repair(PQgetvalue(pg, row, col), &fixed);
	run->res->repaired_text += fixed;
	return *out ? 0 : -1;
}

static int eval_fill_contacts(struct eval_run *run, PGresult *pg, int row,
			      const struct eval_cols *c, struct alert_contacts *k)
{
	struct { int col; char **to; } map[] = {
		{ COL_ALLOC_ID, &k->alloc_worker_id }, { COL_ALLOC_EMAIL, &k->alloc_worker_email },
		{ COL_SUP_ID, &k->supervisor_id }, { COL_SUP_EMAIL, &k->supervisor_email },
		{ COL_TEAM_EMAIL, &k->team_manager_email }, { COL_CHAIR_ID, &k->chair_id },
		{ COL_CHAIR_EMAIL, &k->chair_email }, { COL_TEAM_WEBHOOK, &k->team_webhook_url },
		{ COL_TEAM_ID, &k->team_id },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (eval_text(run, pg, row, c->at[map[i].col], map[i].to) < 0)
			return -1;
	return 0;
}

/* The fingerprint and the link are made from the identifiers as stored, whatever their bytes,
 * so that they stay stable and the link finds the record; what is shown is repaired. */
static int eval_identity(struct eval_run *run, PGresult *pg, int row, const struct eval_cols *c,
			 struct alert *a)
{
	const struct dw_config *cfg = run->ctx->cfg;
	const char *child = PQgetvalue(pg, row, c->at[COL_CHILD]);
	const char *subject = PQgetisnull(pg, row, c->at[COL_SUBJECT]) ? NULL
		: PQgetvalue(pg, row, c->at[COL_SUBJECT]);
	char fp[ALERT_FINGERPRINT_LEN + 1];

	if (PQgetisnull(pg, row, c->at[COL_CHILD]) ||
	    alert_fingerprint(a->rule->name, child, subject, fp) < 0)
		return -1;
	a->fingerprint = strdup(fp);
	a->child_id = (char *)child;
	if (!a->fingerprint || alert_build_link(a, cfg->link_template) < 0) {
		a->child_id = NULL;
		return -1;
	}
	a->child_id = NULL;
	if (eval_text(run, pg, row, c->at[COL_CHILD], &a->child_id) < 0 ||
	    eval_text(run, pg, row, c->at[COL_SUBJECT], &a->subject_id) < 0)
		return -1;
	return 0;
}

static int eval_facts(struct eval_run *run, PGresult *pg, int row, const struct eval_cols *c,
		      struct alert *a)
{
	char *text;

	if (eval_text(run, pg, row, c->at[COL_FACTS], &text) < 0 || !text)
		return -1;
	/* Read only as deep as the rule's words need; the text is what is written out
	 * (alert_json_write). */
	a->facts = jsontext_shallow(text, strlen(text), a->rule->nested_facts);
	a->facts_text = text;
	return json_is_object(a->facts) ? 0 : -1;
}

static int eval_fill_alert(struct eval_run *run, const struct config_rule *rc, PGresult *pg,
			   int row, const struct eval_cols *c, struct alert *a)
{
	const struct dw_config *cfg = run->ctx->cfg;
	struct strbuf sb;

	a->rule = rc->def;
	a->stage = rule_stage_index(rc->def, PQgetvalue(pg, row, c->at[COL_STAGE]));
	if (a->stage < 0 || eval_identity(run, pg, row, c, a) < 0 ||
	    eval_text(run, pg, row, c->at[COL_SINCE], &a->since) < 0 ||
	    eval_text(run, pg, row, c->at[COL_FAMILY], &a->family_id) < 0 ||
	    eval_fill_contacts(run, pg, row, c, &a->contacts) < 0 ||
	    eval_facts(run, pg, row, c, a) < 0)
		return -1;
	a->as_of = strdup(run->res->as_of);
	if (!a->as_of || alert_resolve_recipients(a, (const char *const *)rc->roles[a->stage],
						  &cfg->addresses) < 0)
		return -1;
	strbuf_init(&sb);
	rc->def->summarize(a, &sb);
	a->summary = strbuf_take(&sb);
	return a->summary ? 0 : -1;
}

/* Turns a result's rows into run->batch (empty before). On failure the rule fails with a
 * message naming the row's child, repaired for the log. */
static int eval_take_rows(struct eval_run *run, const struct config_rule *rc, PGresult *pg)
{
	struct eval_rule_result *rr = &run->res->rules[run->rule_i];
	struct eval_cols cols;
	int rows = PQntuples(pg);

	if (rows == 0)
		return 0;
	if (eval_find_cols(pg, &cols) < 0) {
		eval_rule_fail(run, "its statement lacks a column driftwatch reads (a bug: please "
			       "report it)%s", NULL);
		return -1;
	}
	run->batch = calloc((size_t)rows, sizeof(*run->batch));
	if (!run->batch) {
		eval_rule_fail(run, "out of memory%s", NULL);
		return -1;
	}
	for (int r = 0; r < rows; r++) {
		struct alert *a = &run->batch[run->n_batch++];
		char *child;

		if (eval_fill_alert(run, rc, pg, r, &cols, a) == 0) {
			rr->by_stage[a->stage]++;
			rr->n_alerts++;
			run->res->n_alerts++;
			run->res->used_fallback += (size_t)a->used_fallback;
			run->res->unroutable += (size_t)a->unroutable;
			continue;
		}
		child = utf8_repair(PQgetvalue(pg, r, cols.at[COL_CHILD]), NULL);
		eval_rule_fail(run, "it returned a row driftwatch cannot read, for child %s (a bug: "
			       "please report it)", child ? child : "?");
		free(child);
		return -1;
	}
	return 0;
}

/* ---- one rule ---- */

const struct config_rule *eval_rule(const struct eval_run *run)
{
	return &run->ctx->cfg->rules[run->rule_i];
}

/* A server error that names no relation (a division by zero in a view, a value a cast refuses)
 * with the relations the rule reads: "was_not_brought FAILED: division by zero" left an
 * operator to guess which of nine views to look at. Errors that name their object (a grant, a
 * relation missing), locks and timeouts (lockwait.c) and a lost connection are left as they
 * are. The text lives in run->err_where until the next. (eval_run.h) */
/* The columns of a type outside the contract among the relations a rule reads, said with its
 * error: "function isfinite(text) does not exist" does not say that referral_date is text. */
static void eval_say_mistyped(struct eval_run *run, const char *const *names, size_t n,
			      size_t *at)
{
	char cols[512];
	const char *lead = "; of a type outside the contract: ";

	for (size_t i = 0; i < n && *at < sizeof(run->err_where); i++) {
		if (!contract_mistyped_say(run->ctx->case_mistyped, run->ctx->cfg->case_schema,
					   names[i], cols, sizeof(cols)))
			continue;
		*at += (size_t)snprintf(run->err_where + *at, sizeof(run->err_where) - *at, "%s%s",
					lead, cols);
		lead = ", ";
	}
}

const char *eval_error_where(struct eval_run *run, const struct config_rule *rc,
			     const PGresult *pg, const char *err)
{
	const char *state = pg ? PQresultErrorField(pg, PG_DIAG_SQLSTATE) : NULL;
	const char *names[16];
	size_t n, at;

	if (!state || !err || strcmp(state, "42501") == 0 || strcmp(state, "42P01") == 0 ||
	    strncmp(state, "57", 2) == 0 || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "53", 2) == 0)
		return err;
	n = lockwait_relations_read(rc->def->sql, names, 16);
	if (!n)
		return err;
	at = (size_t)snprintf(run->err_where, sizeof(run->err_where), "%s (in what it reads: ", err);
	for (size_t i = 0; i < n && at < sizeof(run->err_where); i++)
		at += (size_t)snprintf(run->err_where + at, sizeof(run->err_where) - at, "%s%s.%s",
				       i ? ", " : "", run->ctx->cfg->case_schema, names[i]);
	eval_say_mistyped(run, names, n, &at);
	if (at < sizeof(run->err_where))
		snprintf(run->err_where + at, sizeof(run->err_where) - at, ")");
	return run->err_where;
}

/* A rule's step answered: 0 when it went well; else the rule (or, when the connection was lost,
 * the evaluation) has failed and said why, prefixed by what (NULL: nothing). */
static int eval_rule_step_failed(struct eval_run *run, struct db_conn *conn, PGresult *pg,
				 ExecStatusType want, const char *what)
{
	const char *err = eval_result_error(conn, pg, want);

	if (!pg && run->ahead_rule) {
		/* the helper's connection: this rule fails, the rest run here (eval_run_rule) */
		eval_rule_fail(run, "the connection that ran it ahead was lost: %s", err);
		return 1;
	}
	if (!pg) {
		eval_fail(run, "the database connection was lost during a rule: %s", err);
		return 1;
	}
	if (!err)
		return 0;
	if (lockwait_cancelled(pg))
		run->rule_cancelled = 1;
	if (what)
		eval_rule_fail(run, what, err);
	else
		eval_rule_fail(run, "%s", eval_error_where(run, eval_rule(run), pg, err));
	return 1;
}

static void eval_on_rule_undone(struct db_conn *conn, PGresult *pg, void *arg);

/* The rule in flight failed: give up what it yielded in this snapshot and tell the sink. The
 * message names the rule; detail is the server's or our own reason. */
static void eval_rule_fail(struct eval_run *run, const char *fmt, const char *detail)
{
	if (!run->rule_error)
		run->rule_error = eval_first_line(fmt, detail);
	char script[128];

	eval_batch_free(run);
	run->more_rows = 0;
	run->step = EVAL_RULE_END;
	/* A helper that went away took the rule's savepoint with its transaction. */
	if (run->ahead_rule && (!run->helper || !db_is_up(run->rconn))) {
		eval_rule_over(run);
		return;
	}
	snprintf(script, sizeof(script), "ROLLBACK TO SAVEPOINT %s; RELEASE SAVEPOINT %s",
		 run->savepoint, run->savepoint);
	if (db_script(run->rconn, script, eval_on_rule_undone, run) < 0)
		eval_fail(run, "could not undo a failed rule: %s", db_error(run->rconn));
}

/* The rule in flight failed (error is taken over): what it yielded is given up, and not
 * counted. */
static void eval_mark_failed(struct eval_run *run, char *error)
{
	struct eval_rule_result *rr = &run->res->rules[run->rule_i];

	if (rr->status == EVAL_RULE_FAILED) {
		free(error);
		return;
	}
	rr->status = EVAL_RULE_FAILED;
	rr->error = error ? error : strdup("failed");
	run->res->n_alerts -= rr->n_alerts;
	rr->n_alerts = 0;
	memset(rr->by_stage, 0, sizeof(rr->by_stage));
	run->res->n_rules_failed++;
	/* the one-shot commands report it, the daemon logs a rule's failing once (service.c) */
	log_debug(run->ctx, "rule %s failed: %s", eval_rule(run)->def->name,
		  rr->error ? rr->error : "out of memory");
}

static void eval_on_locks_undone(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);

	if (err) {
		eval_fail(run, "could not undo asking who holds a lock: %s", err);
		return;
	}
	eval_rule_over(run);
}

static void eval_on_locks_said(const char *said, void *arg)
{
	struct eval_run *run = arg;
	char *copy = strdup(said);

	if (copy) {
		free(run->rule_error);
		run->rule_error = copy;
	}
	if (db_script(run->conn, "ROLLBACK TO SAVEPOINT dw_locks; RELEASE SAVEPOINT dw_locks",
		      eval_on_locks_undone, run) < 0)
		eval_fail(run, "could not undo asking who holds a lock: %s", db_error(run->conn));
}

/* The rule's statement was cancelled (its lock or statement timeout, as a rule waiting for a
 * nightly reload's lock is): ask who holds a lock in its way and say so in its error, in a
 * savepoint of its own so that the question failing (a catalog not granted) fails nothing. 0
 * when asked: the rule is over once it is answered. */
static int eval_ask_locks(struct eval_run *run)
{
	const char *names[16];
	size_t n = lockwait_relations_read(eval_rule(run)->def->sql, names, 16);

	run->rule_cancelled = 0;
	return lockwait_explain(run->conn, run->ctx->cfg->case_schema, names, n,
				"SAVEPOINT dw_locks", run->rule_error, eval_on_locks_said, run);
}

/* The rule is over, well or not: the sink hears it, and answers with eval_continue. */
void eval_rule_over(struct eval_run *run)
{
	struct eval_rule_result *rr = &run->res->rules[run->rule_i];
	const struct config_rule *rc = eval_rule(run);

	if (run->rule_error && run->rule_cancelled && eval_ask_locks(run) == 0)
		return;
	run->rule_cancelled = 0;
	if (run->rule_error) {
		eval_mark_failed(run, run->rule_error);
		run->rule_error = NULL;
	} else {
		rr->status = EVAL_RULE_OK;
		log_debug(run->ctx, "eval: rule %s: %zu alerts in %.3f s%s", rc->def->name,
			  rr->n_alerts, eval_elapsed(&run->t_rule),
			  run->ahead_rule ? " (run ahead on another connection)" : "");
	}
	run->waiting = 1;
	if (!run->sink.rule_end) {
		eval_continue(run, EVAL_NEXT_GO_ON, NULL);
		return;
	}
	run->sink.rule_end(run->sink.arg, run, rc, rr->status == EVAL_RULE_FAILED ? rr->error
										 : NULL);
}

static void eval_on_rule_undone(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);

	if (err) {
		eval_fail(run, "could not undo a failed rule: %s", err);
		return;
	}
	eval_rule_over(run);
}

static void eval_on_rule_closed(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;

	if (eval_rule_step_failed(run, conn, pg, PGRES_COMMAND_OK, NULL))
		return;
	eval_rule_over(run);
}

/* Every row was taken: close the cursor (a full evaluation) and keep the rule's work. A few
 * children's rule keeps its savepoint instead of releasing it: the next rule's SAVEPOINT of the
 * same name hides it, a failed rule rolls back to its own, and COMMIT ends them all. An
 * incremental evaluation is mostly round trips to the server, and this is one a rule. */
static void eval_rule_done(struct eval_run *run)
{
	char full[128];

	run->step = EVAL_RULE_END;
	if (run->kids) {
		eval_rule_over(run);
		return;
	}
	snprintf(full, sizeof(full), "CLOSE %s; RELEASE SAVEPOINT %s", run->cursor,
		 run->savepoint);
	if (db_script(run->rconn, full, eval_on_rule_closed, run) < 0)
		eval_fail(run, "could not end a rule: %s", db_error(run->rconn));
}

static void eval_fetch(struct eval_run *run);

/* Feeds the sink the next slice of the batch; when the batch is used up, fetches more or
 * ends the rule. The sink's call is the last thing done here: it may answer at once. */
static void eval_feed(struct eval_run *run)
{
	size_t n = run->n_batch - run->fed;

	if (n == 0) {
		eval_batch_free(run);
		if (run->more_rows)
			eval_fetch(run);
		else
			eval_rule_done(run);
		return;
	}
	if (n > EVAL_BATCH)
		n = EVAL_BATCH;
	run->step = EVAL_RULE_SINK;
	run->waiting = 1;
	run->fed += n;
	if (!run->sink.alerts) {
		eval_continue(run, EVAL_NEXT_GO_ON, NULL);
		return;
	}
	run->sink.alerts(run->sink.arg, run, eval_rule(run), run->batch + run->fed - n, n);
}

/* Rows for the next FETCH, from the size of this one's: bounded bytes, whatever the rows. */
static int eval_fetch_size(const PGresult *pg)
{
	int rows = PQntuples(pg), cols = PQnfields(pg);
	size_t bytes = 0, n;

	for (int r = 0; r < rows; r++)
		for (int c = 0; c < cols; c++)
			bytes += (size_t)PQgetlength(pg, r, c);
	if (rows == 0 || bytes == 0)
		return EVAL_BATCH;
	n = EVAL_BATCH_BYTES / (bytes / (size_t)rows + 1);
	if (n < EVAL_BATCH_MIN)
		return EVAL_BATCH_MIN;
	return n > EVAL_BATCH ? EVAL_BATCH : (int)n;
}

void eval_on_rows(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;

	if (eval_rule_step_failed(run, conn, pg, PGRES_TUPLES_OK, NULL))
		return;
	/* A full evaluation fetches fetch_n rows at a time: fewer means the cursor is done. */
	run->more_rows = !run->kids && PQntuples(pg) == run->fetch_n;
	run->fetch_n = eval_fetch_size(pg);
	if (eval_take_rows(run, eval_rule(run), pg) < 0)
		return;
	eval_feed(run);
}

static void eval_fetch(struct eval_run *run)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "FETCH %d FROM %s", run->fetch_n, run->cursor);
	run->step = EVAL_RULE_ROWS;
	if (db_query(run->rconn, sql, 0, NULL, eval_on_rows, run) < 0)
		eval_fail(run, "could not fetch a rule's rows: %s", db_error(run->rconn));
}

static void eval_on_declared(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;

	if (eval_rule_step_failed(run, conn, pg, PGRES_COMMAND_OK, NULL))
		return;
	eval_fetch(run);
}

/* Sends the rule's statement: under a cursor for a full evaluation (its rows come a batch at
 * a time), as its prepared statement for an incremental one (a few children: all at once). */
static void eval_send_rule(struct eval_run *run)
{
	const struct rule_def *def = eval_rule(run)->def;
	const char *params[EVAL_P_COUNT];
	char name[DB_STMT_NAME_MAX];
	int rc;

	params[EVAL_P_AS_OF] = run->res->as_of;
	params[EVAL_P_CHILD_IDS] = run->kids;
	params[EVAL_P_TIME_ZONE] = run->ctx->cfg->timezone;
	params[EVAL_P_NEGLECT_CATEGORIES] = run->cats;
	params[EVAL_P_OPTIONS] = run->opts;
	params[EVAL_P_RULE] = def->name;
	run->fetch_n = EVAL_BATCH_FIRST;
	if (run->kids) {
		eval_stmt_name(name, sizeof(name), def);
		rc = db_query_prepared(run->conn, name, EVAL_P_COUNT, params, eval_on_rows, run);
	} else {
		rc = db_query(run->conn, run->sql, EVAL_P_COUNT, params, eval_on_declared, run);
	}
	if (rc < 0)
		eval_fail(run, "could not send a rule's query: %s", db_error(run->conn));
}

static void eval_on_rule_prepared(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;

	if (eval_rule_step_failed(run, conn, pg, PGRES_COMMAND_OK,
				  "could not prepare its statement: %s"))
		return;
	log_debug(run->ctx, "eval: rule %s: prepared for database session %lu",
		  eval_rule(run)->def->name, db_session(conn));
	eval_send_rule(run);
}

/* A few notified children are evaluated with statements prepared once per database session
 * and planned once (generic plans, eval_setup): parsing and planning 25 KB of SQL took three
 * quarters of an incremental evaluation. The text is compared on every use, so a statement
 * prepared for another case schema (before a reload) is prepared again, never used. A full
 * evaluation declares a cursor over the text, planned for the whole population. */
static void eval_on_savepoint(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);
	char name[DB_STMT_NAME_MAX];

	if (err) {
		eval_fail(run, "could not start a rule: %s", err);
		return;
	}
	if (!run->kids) {
		eval_send_rule(run);
		return;
	}
	eval_stmt_name(name, sizeof(name), eval_rule(run)->def);
	if (db_prepared(run->conn, name, run->sql)) {
		eval_send_rule(run);
		return;
	}
	if (db_prepare(run->conn, name, run->sql, eval_on_rule_prepared, run) < 0)
		eval_fail(run, "could not send a rule's statement to prepare: %s",
			  db_error(run->conn));
}

static char *eval_cursor_sql(const char *body)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_append(&sb, "DECLARE " EVAL_CURSOR " NO SCROLL CURSOR FOR\n");
	strbuf_append(&sb, body);
	return strbuf_take(&sb);
}

/* Seconds left of the evaluation's budget (database.query_timeout_seconds): a lock held on a
 * relation every rule reads must cost one timeout, not one per rule. */
double eval_budget_left(const struct eval_run *run)
{
	return (double)run->ctx->cfg->query_timeout_s - eval_elapsed(&run->t0);
}

/* How long the rule about to start may run: what is left of the budget, but never less than a
 * share of it (half the budget over the rules turned on). One slow relation (a view over a
 * slow source) took the whole budget and left every rule after it "not run: the evaluation ran
 * out of time", rules that never read it among them (audit 12): now each still runs for its
 * share, and an evaluation takes at most one and a half budgets. */
double eval_rule_time_left(const struct eval_run *run)
{
	const struct dw_config *cfg = run->ctx->cfg;
	double left = eval_budget_left(run), share;
	size_t on = 0;

	for (size_t i = 0; i < cfg->n_rules; i++)
		on += cfg->rules[i].enabled != 0;
	share = (double)cfg->query_timeout_s / (2.0 * (double)(on ? on : 1));
	if (share < 1.0)
		share = 1.0;
	return left > share ? left : share;
}

/* How long a statement may wait for a lock: a share of what is left of the budget. The budget
 * is the evaluation's, so a rule held by a nightly reload's lock until its statement timeout
 * left the rules after it "not run: the evaluation ran out of time", rules that never read the
 * locked relation among them. With a quarter each, two rules held by one lock (appointments,
 * referrals) leave more than half the budget to the others. */
long eval_lock_timeout_ms(double left_s)
{
	long ms = (long)(left_s * 1000 / EVAL_LOCK_SHARE);

	return ms < EVAL_LOCK_MIN_MS ? EVAL_LOCK_MIN_MS : ms;
}

/* "SAVEPOINT ...; SET LOCAL statement_timeout = ...; SET LOCAL lock_timeout = ..." for the step
 * about to run (eval_rule_time_left). */
static void eval_savepoint_sql(const struct eval_run *run, char *buf, size_t size)
{
	double left = eval_rule_time_left(run);

	snprintf(buf, size, "SAVEPOINT " EVAL_SAVEPOINT "; SET LOCAL statement_timeout = %ld; "
		 "SET LOCAL lock_timeout = %ld", (long)(left * 1000), eval_lock_timeout_ms(left));
}


/* The rule in turn on the run's own connection. */
void eval_run_rule_own(struct eval_run *run)
{
	const struct config_rule *rc = eval_rule(run);
	char savepoint[128];
	char *body;

	run->ahead_rule = 0;
	run->rconn = run->conn;
	snprintf(run->cursor, sizeof(run->cursor), "%s", EVAL_CURSOR);
	snprintf(run->savepoint, sizeof(run->savepoint), "%s", EVAL_SAVEPOINT);
	free(run->sql);
	free(run->cats);
	free(run->opts);
	run->cats = config_categories_param(run->ctx->cfg, rc);
	run->opts = eval_options_json(rc);
	body = eval_rule_sql(run->case_ident, rc->def,
			     run->kids ? EVAL_FORM_INCREMENTAL :
			     run->lookup ? EVAL_FORM_LOOKUP : EVAL_FORM_FULL,
			     run->ctx->case_withheld);
	run->sql = body && !run->kids ? eval_cursor_sql(body) : body;
	if (run->sql != body)
		free(body);
	if (!run->sql || !run->cats || !run->opts) {
		eval_fail(run, "out of memory preparing rule %s", rc->def->name);
		return;
	}
	run->step = EVAL_RULE;
	eval_savepoint_sql(run, savepoint, sizeof(savepoint));
	if (db_script(run->conn, savepoint, eval_on_savepoint, run) < 0)
		eval_fail(run, "could not start a rule: %s", db_error(run->conn));
}

static void eval_run_rule(struct eval_run *run)
{
	clock_gettime(CLOCK_MONOTONIC, &run->t_rule);
	run->rule_cancelled = 0;
	if (run->helper && !db_is_up(run->helper->conn)) {
		log_warn(run->ctx, "evaluation: the connection running rules ahead was lost; its "
			 "rules run on the evaluating connection");
		eval_unlink(run);
	}
	if (run->helper && run->ahead[run->rule_i].state != EVAL_AHEAD_NONE) {
		eval_ahead_take(run);
		return;
	}
	eval_run_rule_own(run);
}

/* ---- the sink's answers ---- */

void eval_continue(struct eval_run *run, enum eval_next next, const char *error)
{
	if (!run->waiting) {
		log_err(run->ctx, "evaluation: a sink answered twice (a bug: please report it)");
		return;
	}
	run->waiting = 0;
	/* While the sink worked, the connection may have been lost and made again: the snapshot,
	 * its savepoint and its cursor went with the old session. */
	if (next != EVAL_NEXT_ABORT &&
	    (db_session(run->conn) != run->session || !db_is_up(run->conn))) {
		eval_batch_free(run);
		eval_fail(run, "the database connection was lost%s", NULL);
		return;
	}
	if (next == EVAL_NEXT_ABORT) {
		eval_batch_free(run);
		eval_fail(run, "%s", error ? error : "the evaluation's results could not be kept");
		return;
	}
	switch (run->step) {
	case EVAL_SINK_BEGIN:
		run->step = EVAL_RULE;
		eval_next(run);
		return;
	case EVAL_RULE_SINK:
		if (next == EVAL_NEXT_RULE_FAILED) {
			eval_rule_fail(run, "%s", error ? error : "its alerts could not be kept");
			return;
		}
		eval_feed(run);
		return;
	case EVAL_RULE_END:
		/* the rule ran, but the sink could not keep what it yielded */
		if (next == EVAL_NEXT_RULE_FAILED)
			eval_mark_failed(run, eval_first_line("%s", error ? error
							 : "its alerts could not be kept"));
		run->rule_i++;
		run->step = EVAL_RULE;
		eval_next(run);
		return;
	default:
		log_err(run->ctx, "evaluation: a sink answered in step %s (a bug: please report it)",
			eval_step_names[run->step]);
		return;
	}
}

/* ---- the transaction ---- */

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
	run->step = EVAL_SETUP;
	eval_next(run);
	/* a helper has begun in the snapshot: a helped run done with its rules goes on */
	if (run->helped && run->helped->helper_begin_wait) {
		run->helped->helper_begin_wait = 0;
		eval_next(run->helped);
	}
}

/* Whether the hits' children and allocations, and the like, can be looked up by index
 * (EVAL_LOOKUP_SQL): said in the log at each full evaluation, since a dropped index makes
 * evaluations slower. */
static void eval_take_lookup(struct eval_run *run, PGresult *pg)
{
	int col = PQfnumber(pg, "dw_lookup");

	if (col < 0 || run->skip_rules)
		return;
	run->lookup = !PQgetisnull(pg, 0, col) && PQgetvalue(pg, 0, col)[0] == 't';
	log_debug(run->ctx, "eval: the hits' children and allocations are %s",
		  run->lookup ? "looked up through their child_id indexes" :
		  "read whole (hash joins): one of " EVAL_LOOKUP_RELATIONS " is not a table with "
		  "a plain btree index on child_id");
}

/* Each full evaluation asks which columns that only address or name people the role may not
 * read (case_columns.h): its statements read those as NULL, and the change is said once. */
static void eval_take_withheld(struct eval_run *run, PGresult *pg)
{
	int col = PQfnumber(pg, "dw_withheld");
	unsigned now;

	if (col < 0 || PQgetisnull(pg, 0, col))
		return;
	now = case_columns_parse(PQgetvalue(pg, 0, col));
	case_columns_changed(run->ctx, run->ctx->case_withheld, now);
	run->ctx->case_withheld = now;
}

static void eval_on_setup(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_TUPLES_OK);

	if (err && lockwait_cancelled(pg)) {
		/* the setup runs under the role's or the database's own statement_timeout (or
		 * lock_timeout), before driftwatch sets its own: the configuration is not at fault,
		 * and a session made after the setting is taken back goes without it */
		db_renew(conn);
		eval_fail(run, "could not set up the evaluation: %s (a statement_timeout or "
			  "lock_timeout that the role or the database sets for every statement; "
			  "driftwatch bounds its own with database.query_timeout_seconds)", err);
		return;
	}
	if (err) {
		eval_fail(run, "could not set up the evaluation (check \"timezone\" and --as-of): %s",
			  err);
		return;
	}
	snprintf(run->res->as_of, sizeof(run->res->as_of), "%s", PQgetvalue(pg, 0, 0));
	eval_take_lookup(run, pg);
	eval_take_withheld(run, pg);
	if (run->export_snapshot && PQnfields(pg) > 1 && !PQgetisnull(pg, 0, PQnfields(pg) - 1)) {
		free(run->snapshot);
		run->snapshot = strdup(PQgetvalue(pg, 0, PQnfields(pg) - 1));
	}
	run->rule_i = run->skip_rules ? run->ctx->cfg->n_rules : 0;
	clock_gettime(CLOCK_MONOTONIC, &run->t_step);
	run->step = EVAL_SINK_BEGIN;
	run->waiting = 1;
	if (!run->sink.begin) {
		eval_continue(run, EVAL_NEXT_GO_ON, NULL);
		return;
	}
	run->sink.begin(run->sink.arg, run, run->res->as_of);
}

/* One statement fixes T (today in the configured zone unless --as-of), proves the zone name is
 * one PostgreSQL knows, and bounds every query of the snapshot with statement_timeout. */
static void eval_setup(struct eval_run *run)
{
	/* JIT compiling costs these statements more than it saves (100-400 ms each at a million
	 * children), and quality.sql's sorts want more than the default work_mem; both are set
	 * for this transaction only. A cursor's plan is made for its first rows unless told
	 * that every row will be read. */
#define EVAL_SETUP_SQL \
	"SELECT coalesce($1::date, (now() AT TIME ZONE $2)::date)::text, " \
	"set_config('statement_timeout', $3, true), set_config('jit', 'off', true), " \
	"set_config('work_mem', '64MB', true), set_config('cursor_tuple_fraction', '1', true)"
	/* A full evaluation joins sets whose sizes the planner can only guess (candidates, hits):
	 * a guess of one row would make it loop over one set for each row of the other, reading a
	 * relation once per candidate where no index serves. The statements are written for hash
	 * joins and sorts; turning nested loops off makes sure a bad guess cannot choose one. */
	/* Index lookups of an array of hits are one descent each where an index serves, and a
	 * comparison with every element for every row where none does: the lookup form runs only
	 * while each relation its "-- @lookup" lines name (EVAL_LOOKUP_RELATIONS) is a table (a
	 * view's indexes are its tables', unseen here) with a valid, whole, plain btree index led
	 * by child_id, of its collation. The probe compares the column as it is, in the database's
	 * collation (rules/embed_sql.sh), so child_id must be text or varchar in that collation
	 * (100, DEFAULT_COLLATION_OID): an integer id, or a column of a collation of its own, is
	 * read whole, where a probe no index serves would read the relation once per hit. */
#define EVAL_LOOKUP_SQL \
	"(SELECT count(DISTINCT c.relname) = cardinality($5::text[]) " \
	"FROM pg_catalog.pg_class c " \
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace " \
	"JOIN pg_catalog.pg_index i ON i.indrelid = c.oid " \
	"JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid " \
	"JOIN pg_catalog.pg_am am ON am.oid = ic.relam " \
	"JOIN pg_catalog.pg_opclass oc ON oc.oid = i.indclass[0] " \
	"JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] " \
	"WHERE n.nspname = $4 AND c.relname = ANY ($5::text[]) " \
	"AND c.relkind IN ('r', 'p', 'm') AND am.amname = 'btree' AND oc.opcdefault " \
	"AND i.indisvalid AND i.indisready AND i.indpred IS NULL AND i.indexprs IS NULL " \
	"AND a.attname = 'child_id' AND i.indcollation[0] = a.attcollation " \
	"AND a.atttypid IN ('text'::regtype, 'varchar'::regtype) " \
	"AND a.attcollation = 100) AS dw_lookup"
#define EVAL_SETUP_SQL_FULL \
	EVAL_SETUP_SQL ", set_config('enable_nestloop', 'off', true), " EVAL_LOOKUP_SQL ", " \
	CASE_COLUMNS_PROBE_SQL
	static const char sql[] = EVAL_SETUP_SQL_FULL;
	/* An incremental evaluation's prepared statements keep one generic plan per session
	 * instead of planning each execution for its values (~17 ms a statement at a million
	 * children); the full evaluation, planned for the whole population, keeps custom plans,
	 * so this too is for this transaction only. */
	static const char sql_inc[] =
		EVAL_SETUP_SQL ", set_config('plan_cache_mode', 'force_generic_plan', true)";
	static const char sql_export[] = EVAL_SETUP_SQL_FULL ", pg_export_snapshot()";
#undef EVAL_SETUP_SQL_FULL
#undef EVAL_LOOKUP_SQL
#undef EVAL_SETUP_SQL
	const char *params[5] = { run->as_of_req, run->ctx->cfg->timezone, run->timeout,
				  run->ctx->cfg->case_schema, EVAL_LOOKUP_RELATIONS };
	const char *text = run->kids ? sql_inc : run->export_snapshot ? sql_export : sql;

	if (db_query(run->conn, text, run->kids ? 3 : 5, params, eval_on_setup, run) < 0)
		eval_fail(run, "could not send the evaluation's first query: %s",
			  db_error(run->conn));
}

/* One snapshot for every statement; another evaluation's, when one is given (its name is the
 * server's, quoted here as a literal all the same). */
static void eval_begin(struct eval_run *run)
{
	static const char begin[] = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";
	char *quoted = NULL, *script = NULL;
	struct strbuf sb;
	int rc;

	if (!run->snapshot) {
		if (db_query(run->conn, begin, 0, NULL, eval_on_simple, run) < 0)
			eval_fail(run, "could not begin the evaluation: %s", db_error(run->conn));
		return;
	}
	quoted = PQescapeLiteral(db_pgconn(run->conn), run->snapshot, strlen(run->snapshot));
	strbuf_init(&sb);
	strbuf_printf(&sb, "%s; SET TRANSACTION SNAPSHOT %s", begin, quoted ? quoted : "''");
	script = strbuf_take(&sb);
	if (quoted)
		PQfreemem(quoted);
	rc = script ? db_script(run->conn, script, eval_on_simple, run) : -1;
	free(script);
	if (rc < 0)
		eval_fail(run, "could not begin the evaluation: %s", db_error(run->conn));
}

/* The rules are over (and a helper's counting with them): count bad rows if asked, commit.
 * Every rule failing is still a result, each rule's failure its own (issue 9, item 3; audit
 * 12): recorded, reported to the operators per rule, counted per rule, and delivery goes on.
 * It used to fail the evaluation as a whole, "every rule failed: rule FIRST: ...", when one
 * column the role could not read made every statement fail: no operators' report, every
 * rule's gauge 0, one rule named, and --once delivering nothing already due. A database that
 * is gone fails the evaluation where its connection is lost. */
void eval_rules_end(struct eval_run *run)
{
	if (run->count_bad_rows) {
		eval_run_quality(run);
		return;
	}
	run->step = EVAL_COMMIT;
	eval_next(run);
}

void eval_next(struct eval_run *run)
{
	const struct dw_config *cfg = run->ctx->cfg;

	log_debug(run->ctx, "eval: step %s", eval_step_names[run->step]);
	switch (run->step) {
	case EVAL_BEGIN:
		run->session = db_session(run->conn);
		eval_begin(run);
		return;
	case EVAL_SETUP:
		eval_setup(run);
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
		/* A helper still importing this snapshot would find it gone once this transaction
		 * ends (and say so): it is let go once it has begun (eval_on_simple). */
		if (run->helper && run->helper->step == EVAL_BEGIN) {
			run->helper_begin_wait = 1;
			return;
		}
		/* every rule the helper took has been read: it may go (a helper itself has no rules
		 * of its own, and helps from now on) */
		if (!run->helped)
			eval_unlink(run);
		if (run->counter) {
			eval_steal_next(run);
			return;
		}
		eval_rules_end(run);
		return;
	case EVAL_COMMIT:
		/* a helper runs rules ahead, and keeps their cursors open until the helped run is
		 * done with them */
		if (run->helped) {
			eval_ahead_next(run);
			return;
		}
		if (db_query(run->conn, "COMMIT", 0, NULL, eval_on_simple, run) < 0)
			eval_fail(run, "could not end the evaluation: %s", db_error(run->conn));
		return;
	default:
		return;
	}
}

int eval_start(struct dw_ctx *ctx, struct db_conn *conn, const struct eval_request *req,
	       const struct eval_sink *sink, eval_done_cb cb, void *arg)
{
	struct eval_run *run = calloc(1, sizeof(*run));
	char timeout[32];

	if (!run)
		return -1;
	run->res = calloc(1, sizeof(*run->res));
	snprintf(timeout, sizeof(timeout), "%ds", ctx->cfg->query_timeout_s);
	run->ctx = ctx;
	run->conn = conn;
	run->rconn = conn;
	run->ahead_from = ctx->cfg->n_rules;
	if (sink)
		run->sink = *sink;
	run->cb = cb;
	run->cb_arg = arg;
	run->case_ident = db_escape_identifier(conn, ctx->cfg->case_schema);
	run->as_of_req = req->as_of ? strdup(req->as_of) : NULL;
	run->kids = req->child_ids ? strbuf_text_array(req->child_ids, req->n_child_ids) : NULL;
	run->timeout = strdup(timeout);
	run->skip_rules = req->skip_rules;
	run->export_snapshot = req->export_snapshot && !req->child_ids;
	run->snapshot = req->snapshot ? strdup(req->snapshot) : NULL;
	/* Bad rows are counted by full evaluations only: a handful of notified children is not
	 * worth a second pass over their rows. */
	run->count_bad_rows = !req->child_ids && !req->skip_bad_rows;
	if (!run->res || !run->case_ident || (req->as_of && !run->as_of_req) ||
	    (req->snapshot && !run->snapshot) ||
	    (req->child_ids && !run->kids) || !run->timeout) {
		free(run->res);
		run->res = NULL;
		eval_run_free(run);
		return -1;
	}
	for (size_t i = 0; i < ctx->cfg->n_rules; i++)
		run->res->rules[i].status = EVAL_RULE_DISABLED;
	/* Only a run in another's snapshot helps it (oneshot.c): counting its bad rows, or
	 * running its rules ahead. */
	if (req->help && req->snapshot && req->skip_rules && !req->child_ids && !req->help->kids) {
		if (!req->skip_bad_rows && !req->help->counter) {
			run->counted_for = req->help;
			req->help->counter = run;
		} else if (req->skip_bad_rows && !req->help->helper) {
			run->helped = req->help;
			run->lent = 1;
			req->help->helper = run;
		}
	}
	run->res->children = req->child_ids ? (long long)req->n_child_ids : 0;
	clock_gettime(CLOCK_MONOTONIC, &run->t0);
	run->step = EVAL_BEGIN;
	eval_next(run);
	return 0;
}

char *eval_failed_rules(const struct dw_config *cfg, const struct eval_result *res)
{
	struct strbuf sb;
	const char *sep = "";

	strbuf_init(&sb);
	strbuf_append(&sb, "");
	for (size_t i = 0; i < cfg->n_rules; i++) {
		if (res->rules[i].status != EVAL_RULE_FAILED)
			continue;
		strbuf_printf(&sb, "%s%s", sep, cfg->rules[i].def->name);
		sep = ", ";
	}
	return strbuf_take(&sb);
}

void eval_result_free(struct eval_result *res)
{
	if (!res)
		return;
	for (size_t i = 0; i < RULE_REGISTRY_MAX; i++)
		free(res->rules[i].error);
	for (size_t i = 0; i < res->n_bad; i++)
		free(res->bad[i].kind);
	free(res->bad);
	free(res->bad_rows_error);
	free(res->bad_rows_uncounted);
	free(res->error);
	free(res);
}

const char *eval_snapshot(const struct eval_run *run)
{
	return run->export_snapshot ? run->snapshot : NULL;
}
