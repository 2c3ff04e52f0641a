/* eval: runs each enabled rule in one read-only snapshot and streams its rows to a sink as alerts. */
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
#include "driftwatch/utf8.h"

/* Rows per FETCH at most, and alerts per call of the sink. */
#define EVAL_BATCH 500
/* The bytes of rows a FETCH should bring. A child with hundreds of plans makes a row of 30 KB
 * whose facts take ten to twenty times that once parsed, and 500 such alerts at once took a dry
 * run to 81 MB. The first FETCH of a rule asks for EVAL_BATCH_FIRST rows; each next one for as
 * many as the last ones' mean size fits in EVAL_BATCH_BYTES, between EVAL_BATCH_MIN and
 * EVAL_BATCH. */
#define EVAL_BATCH_BYTES (128 * 1024)
#define EVAL_BATCH_FIRST 64
#define EVAL_BATCH_MIN 4

/* Each rule runs inside this savepoint, so one that fails leaves the snapshot usable. */
#define EVAL_SAVEPOINT "dw_rule"
#define EVAL_CURSOR "dw_rows"

enum eval_step {
	EVAL_BEGIN, EVAL_SETUP, EVAL_SINK_BEGIN, EVAL_RULE, EVAL_RULE_ROWS, EVAL_RULE_SINK,
	EVAL_RULE_END, EVAL_QUALITY, EVAL_QUALITY_WAIT, EVAL_STEAL, EVAL_AHEAD, EVAL_LEND,
	EVAL_COMMIT, EVAL_ROLLBACK
};

static const char *const eval_step_names[] = {
	"begin", "setup", "sink begin", "rule", "rule rows", "rule sink", "rule end", "quality",
	"quality wait", "steal", "ahead", "lend", "commit", "rollback"
};

/* A rule a helping run (eval_request.help) runs ahead on its own connection, into a cursor of
 * its own in the same snapshot, for the helped run to read in its turn. */
enum eval_ahead_state { EVAL_AHEAD_NONE, EVAL_AHEAD_RUNNING, EVAL_AHEAD_READY, EVAL_AHEAD_FAILED };

struct eval_ahead {
	enum eval_ahead_state state;
	PGresult *first;         /* READY: its first rows (the statement's work is done) */
	char *error;             /* FAILED: why, as the rule's own error */
};

struct eval_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	struct eval_sink sink;
	eval_done_cb cb;
	void *cb_arg;
	struct eval_result *res;
	enum eval_step step;
	int waiting;             /* the sink owes an eval_continue */
	unsigned long session;   /* the database session the snapshot lives in */
	size_t rule_i;           /* index into cfg->rules of the rule in flight */
	char *case_ident;        /* escaped case schema identifier */
	char *as_of_req;         /* --as-of, or NULL */
	char *kids;              /* text[] literal of the child ids, or NULL for everyone */
	char *timeout;           /* statement_timeout for the snapshot, e.g. "300s" */
	char *sql;               /* the statement in flight, owned here */
	char *cats;              /* $4 of the rule in flight */
	char *opts;              /* $5 of the rule in flight */
	int skip_rules;
	int count_bad_rows;      /* a full evaluation not told to skip them */
	int export_snapshot;
	int lookup;              /* the rules run their lookup form (eval_take_lookup) */
	char *snapshot;          /* exported (or imported) snapshot name, or NULL */
	/* The rows of the rule in flight turned into alerts, fed to the sink EVAL_BATCH at a time. */
	struct alert *batch;
	size_t n_batch;
	size_t fed;              /* alerts of batch the sink has taken */
	int more_rows;           /* the cursor may hold more rows */
	int fetch_n;             /* rows the next FETCH asks for */
	char *rule_error;        /* why the rule in flight failed, or NULL */
	struct timespec t0;
	struct timespec t_step;  /* when the rules, or the bad-row count, began */
	struct timespec t_rule;  /* when the rule in flight began: its time is logged */
	struct eval_quality *quality;  /* the bad-row count in progress, or NULL */
	/* The rule in flight's connection, cursor and savepoint: the run's own, or the helper's
	 * when the helper ran it ahead (ahead_rule). */
	struct db_conn *rconn;
	char cursor[32];
	char savepoint[32];
	int ahead_rule;
	int ahead_wait;          /* it waits for the helper's first rows */
	/* Runs in one snapshot (oneshot.c): one runs ahead the rules the evaluating run has not
	 * reached, from the last back (the helper); another counts bad rows (the counter), and
	 * the evaluating run, done with its rules, counts those the counter has not come to. */
	struct eval_run *helper; /* (helped run) the run lending its connection, or NULL */
	struct eval_run *helped; /* (helper) the run it lends its connection to, or NULL */
	struct eval_ahead ahead[RULE_REGISTRY_MAX];  /* (helped run) per rule */
	size_t ahead_from;       /* (helped run) rules from here on are the helper's */
	size_t ahead_i;          /* (helper) the rule it runs ahead */
	int lent;                /* (helper) a failure of its own fails nothing but its help */
	struct eval_run *counter;      /* (helped run) the run counting bad rows, or NULL */
	struct eval_run *counted_for;  /* (counter) the run that may count some for it, or NULL */
	size_t steal_k;          /* (helped) the relation whose bad rows it counts for the counter */
	int steal_wait;          /* (helped) its rules are read; it waits for the counter to begin */
};

static void eval_next(struct eval_run *run);
static void eval_rule_fail(struct eval_run *run, const char *fmt, const char *detail);
static void eval_unlink(struct eval_run *run);
static void eval_quality_free(struct eval_quality *q);
static void eval_counter_unlink(struct eval_run *run);
static void eval_rules_end(struct eval_run *run);
static void eval_steal_next(struct eval_run *m);
static void eval_rule_over(struct eval_run *run);

static double eval_elapsed(const struct timespec *t0)
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

static void eval_ahead_reset(struct eval_ahead *a)
{
	if (a->first)
		PQclear(a->first);
	free(a->error);
	memset(a, 0, sizeof(*a));
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
static char *eval_first_line(const char *fmt, const char *detail)
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
static void eval_fail(struct eval_run *run, const char *fmt, const char *detail)
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
static const char *eval_result_error(struct db_conn *conn, PGresult *pg, ExecStatusType want)
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

/* The parameters of every rule statement and bad-row count, in the order rules/params.sql
 * declares them (embed_sql.sh numbers them so; test_eval_sql checks that the names agree). */
enum eval_param {
	EVAL_P_AS_OF, EVAL_P_CHILD_IDS, EVAL_P_TIME_ZONE, EVAL_P_NEGLECT_CATEGORIES, EVAL_P_OPTIONS,
	EVAL_P_RULE, EVAL_P_COUNT
};

const char *const eval_param_names[] = {
	"as_of", "child_ids", "time_zone", "neglect_categories", "options", "rule", NULL
};

_Static_assert(sizeof(eval_param_names) / sizeof(eval_param_names[0]) == EVAL_P_COUNT + 1,
	       "one name per parameter");

static size_t eval_strv_len(char *const *v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

/* :neglect_categories of a rule (config.c gives every rule its list), or of the bad-row count
 * (rc NULL): the list the other rules share (rule.h, shares_neglect_categories). */
static char *eval_categories(const struct dw_config *cfg, const struct config_rule *rc)
{
	static const char *const neg[] = { "NEG" };
	char *const *cats = rc ? rc->neglect_categories : NULL;

	for (size_t i = 0; !rc && i < cfg->n_rules; i++)
		if (cfg->rules[i].def->shares_neglect_categories)
			cats = cfg->rules[i].neglect_categories;
	if (!cats)
		return strbuf_text_array(neg, 1);
	return strbuf_text_array((const char *const *)cats, eval_strv_len(cats));
}

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
static char *eval_options_json(const struct config_rule *rc)
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
 * identifier: the only text substituted. */
char *eval_rule_sql(const char *case_ident, const struct rule_def *def, enum eval_form form)
{
	const char *sql = form == EVAL_FORM_INCREMENTAL ? def->sql_incremental :
			  form == EVAL_FORM_LOOKUP && def->sql_lookup ? def->sql_lookup : def->sql;

	return sql ? strbuf_subst(sql, "@case@", case_ident) : NULL;
}

static int eval_send(struct eval_run *run, const char *rule_name, const char *cats,
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
	json_error_t jerr;

	if (eval_text(run, pg, row, c->at[COL_FACTS], &text) < 0 || !text)
		return -1;
	a->facts = json_loads(text, 0, &jerr);
	free(text);
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

static const struct config_rule *eval_rule(const struct eval_run *run)
{
	return &run->ctx->cfg->rules[run->rule_i];
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
	if (what)
		eval_rule_fail(run, what, err);
	else
		eval_rule_fail(run, "%s", err);
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

/* The rule is over, well or not: the sink hears it, and answers with eval_continue. */
static void eval_rule_over(struct eval_run *run)
{
	struct eval_rule_result *rr = &run->res->rules[run->rule_i];
	const struct config_rule *rc = eval_rule(run);

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

static void eval_on_rows(struct db_conn *conn, PGresult *pg, void *arg)
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
static double eval_budget_left(const struct eval_run *run)
{
	return (double)run->ctx->cfg->query_timeout_s - eval_elapsed(&run->t0);
}

/* "SAVEPOINT ...; SET LOCAL statement_timeout = ..." for the step about to run; NULL when the
 * budget is spent. */
static int eval_savepoint_sql(const struct eval_run *run, char *buf, size_t size)
{
	double left = eval_budget_left(run);

	if (left < 0.1)
		return -1;
	snprintf(buf, size, "SAVEPOINT " EVAL_SAVEPOINT "; SET LOCAL statement_timeout = %ld",
		 (long)(left * 1000));
	return 0;
}

static void eval_ahead_take(struct eval_run *run);

/* The rule in turn on the run's own connection. */
static void eval_run_rule_own(struct eval_run *run)
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
	run->cats = eval_categories(run->ctx->cfg, rc);
	run->opts = eval_options_json(rc);
	body = eval_rule_sql(run->case_ident, rc->def,
			     run->kids ? EVAL_FORM_INCREMENTAL :
			     run->lookup ? EVAL_FORM_LOOKUP : EVAL_FORM_FULL);
	run->sql = body && !run->kids ? eval_cursor_sql(body) : body;
	if (run->sql != body)
		free(body);
	if (!run->sql || !run->cats || !run->opts) {
		eval_fail(run, "out of memory preparing rule %s", rc->def->name);
		return;
	}
	run->step = EVAL_RULE;
	if (eval_savepoint_sql(run, savepoint, sizeof(savepoint)) < 0) {
		run->rule_error = eval_first_line("not run: the evaluation ran out of time (%s, "
						  "database.query_timeout_seconds)", run->timeout);
		run->step = EVAL_RULE_END;
		eval_rule_over(run);
		return;
	}
	if (db_script(run->conn, savepoint, eval_on_savepoint, run) < 0)
		eval_fail(run, "could not start a rule: %s", db_error(run->conn));
}

static void eval_run_rule(struct eval_run *run)
{
	clock_gettime(CLOCK_MONOTONIC, &run->t_rule);
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

/* (helped) The helper ran the rule in turn ahead: read it from there. */
static void eval_ahead_take(struct eval_run *run)
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

static void eval_ahead_next(struct eval_run *h);

/* The two runs part: the helped one has read every rule it took from the helper, or one of
 * them ended. Rules the helper took but did not deliver go back to the helped run, which runs
 * them itself; a helper waiting to be let go commits. */
static void eval_unlink(struct eval_run *run)
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
	if (run == h && m->ahead_wait) {
		log_debug(m->ctx, "eval: rule %s: the connection running it ahead went, running it here",
			  eval_rule(m)->def->name);
		m->ahead_wait = 0;
		eval_run_rule_own(m);
	}
}

/* The counter and the run it counts with part: the run is done with its rules and counting,
 * or one of them ended. A run waiting for the counter to begin goes on without it. */
static void eval_counter_unlink(struct eval_run *run)
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
static void eval_ahead_failed(struct eval_run *h, const char *err)
{
	char script[128];

	free(h->rule_error);
	h->rule_error = eval_first_line("%s", err);
	snprintf(script, sizeof(script), "ROLLBACK TO SAVEPOINT dw_ahead_%zu; "
		 "RELEASE SAVEPOINT dw_ahead_%zu", h->ahead_i, h->ahead_i);
	if (db_script(h->conn, script, eval_on_ahead_undone, h) < 0)
		eval_fail(h, "could not undo a rule run ahead: %s", db_error(h->conn));
}

static void eval_on_ahead_rows(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *h = arg;
	const char *err = eval_result_error(conn, pg, PGRES_TUPLES_OK);

	if (!pg) {
		eval_fail(h, "the database connection was lost during a rule run ahead: %s", err);
		return;
	}
	if (err) {
		eval_ahead_failed(h, err);
		return;
	}
	db_keep_result(conn);
	eval_ahead_over(h, EVAL_AHEAD_READY, pg, NULL);
}

static void eval_on_ahead_declared(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *h = arg;
	const char *err = eval_result_error(conn, pg, PGRES_COMMAND_OK);
	char sql[64];

	if (!pg) {
		eval_fail(h, "the database connection was lost during a rule run ahead: %s", err);
		return;
	}
	if (err) {
		eval_ahead_failed(h, err);
		return;
	}
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
	h->cats = eval_categories(h->ctx->cfg, rc);
	h->opts = eval_options_json(rc);
	body = eval_rule_sql(m->case_ident, rc->def, m->lookup ? EVAL_FORM_LOOKUP : EVAL_FORM_FULL);
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
static void eval_ahead_next(struct eval_run *h)
{
	struct eval_run *m = h->helped;
	char script[192];
	size_t j;

	if (!m) {
		h->step = EVAL_COMMIT;
		eval_next(h);
		return;
	}
	j = eval_ahead_pick(m);
	if (j >= h->ctx->cfg->n_rules || eval_budget_left(m) < 0.1) {
		h->step = EVAL_LEND;
		return;
	}
	m->ahead_from = j;
	m->ahead[j].state = EVAL_AHEAD_RUNNING;
	h->ahead_i = j;
	h->step = EVAL_AHEAD;
	clock_gettime(CLOCK_MONOTONIC, &h->t_rule);
	snprintf(script, sizeof(script), "SAVEPOINT dw_ahead_%zu; SET LOCAL statement_timeout = "
		 "%ld; SET LOCAL enable_hashagg TO DEFAULT", j, (long)(eval_budget_left(m) * 1000));
	if (db_script(h->conn, script, eval_on_ahead_savepoint, h) < 0)
		eval_fail(h, "could not run a rule ahead: %s", db_error(h->conn));
}

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

static void eval_quality_free(struct eval_quality *q)
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
	if (PQresultStatus(pg) != PGRES_TUPLES_OK) {
		/* That relation's fault, not the evaluation's: the others are still counted. */
		snprintf(msg, sizeof(msg), "%s", PQresultErrorMessage(pg));
		n = strlen(msg);
		while (n > 0 && msg[n - 1] == '\n')
			msg[--n] = '\0';
		if (q->cur < EVAL_QUALITY_N)
			log_warn(run->ctx, "bad rows of %s could not be counted: %s",
				 eval_quality_relations[q->cur].name, msg);
		else
			log_warn(run->ctx, "children could not be counted (children_evaluated, "
				 "children.missing): %s", msg);
		q->failed = 1;
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
		run->sql = strbuf_subst(eval_quality_relations[q->cur].sql, "@case@", run->case_ident);
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
	snprintf(script, sizeof(script), "%s%sSELECT set_config('enable_hashagg', '%s', true); "
		 "SAVEPOINT dw_quality", q->started ? end : "", q->started ? "; " : "",
		 q->cur < EVAL_QUALITY_N ? "off" : "on");
	q->started = 1;
	q->failed = 0;
	if (db_script(run->conn, script, eval_on_quality_savepoint, run) < 0)
		eval_fail(run, "could not count bad rows: %s", db_error(run->conn));
}

static void eval_run_quality(struct eval_run *run)
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

static void eval_on_steal_rows(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *m = arg;
	struct eval_run *h = m->counter;
	const char *name = eval_quality_relations[m->steal_k].name;
	const char *err = eval_result_error(conn, pg, PGRES_TUPLES_OK);
	const char *end = err ? "ROLLBACK TO SAVEPOINT dw_quality; RELEASE SAVEPOINT dw_quality"
			      : "RELEASE SAVEPOINT dw_quality";

	if (!pg) {
		log_warn(m->ctx, "bad rows of %s could not be counted: %s", name, err);
		eval_steal_over(m);
		eval_fail(m, "the database connection was lost: %s", err);
		return;
	}
	if (err) {
		/* That relation's fault, as when the helper counts it. */
		log_warn(m->ctx, "bad rows of %s could not be counted: %s", name, err);
	} else if (h && h->quality) {
		h->quality->readable[m->steal_k] = 1;
		if (eval_quality_take(h, pg) < 0)
			log_warn(m->ctx, "bad rows of %s could not be counted: out of memory", name);
	}
	if (db_script(m->conn, end, eval_on_steal_end, m) < 0) {
		eval_steal_over(m);
		eval_fail(m, "could not count bad rows: %s", db_error(m->conn));
	}
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
	cats = eval_categories(m->ctx->cfg, NULL);
	rc = cats ? eval_send(m, "", cats, "{}", eval_on_steal_rows) : -1;
	free(cats);
	if (rc < 0) {
		eval_steal_over(m);
		eval_fail(m, "could not send the data quality query: %s", db_error(m->conn));
	}
}

/* (helped) Takes the last relation the counter has not come to; when none is left, lets the
 * counter go and ends its own rules. */
static void eval_steal_next(struct eval_run *m)
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
	m->sql = strbuf_subst(eval_quality_relations[m->steal_k].sql, "@case@", m->case_ident);
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

static void eval_on_setup(struct db_conn *conn, PGresult *pg, void *arg)
{
	struct eval_run *run = arg;
	const char *err = eval_result_error(conn, pg, PGRES_TUPLES_OK);

	if (err) {
		eval_fail(run, "could not set up the evaluation (check \"timezone\" and --as-of): %s",
			  err);
		return;
	}
	snprintf(run->res->as_of, sizeof(run->res->as_of), "%s", PQgetvalue(pg, 0, 0));
	eval_take_lookup(run, pg);
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
	 * by child_id, of its collation. */
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
	"AND a.attname = 'child_id' AND i.indcollation[0] = a.attcollation) AS dw_lookup"
#define EVAL_SETUP_SQL_FULL \
	EVAL_SETUP_SQL ", set_config('enable_nestloop', 'off', true), " EVAL_LOOKUP_SQL
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

/* Every rule that ran failed: that is no partial result but a failed evaluation (the database
 * is gone, a lock blocks everything, the schema is wrong), retried as one. */
static int eval_all_failed(struct eval_run *run)
{
	const struct dw_config *cfg = run->ctx->cfg;
	size_t ran = 0, first = cfg->n_rules;
	char msg[1024];

	for (size_t i = 0; i < cfg->n_rules; i++) {
		ran += run->res->rules[i].status != EVAL_RULE_DISABLED;
		if (first == cfg->n_rules && run->res->rules[i].status == EVAL_RULE_FAILED)
			first = i;
	}
	if (ran == 0 || run->res->n_rules_failed < ran || first == cfg->n_rules)
		return 0;
	snprintf(msg, sizeof(msg), "every rule failed: rule %s: %s", cfg->rules[first].def->name,
		 run->res->rules[first].error ? run->res->rules[first].error : "?");
	eval_fail(run, "%s", msg);
	return 1;
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

/* The rules are over (and a helper's counting with them): count bad rows if asked, commit. */
static void eval_rules_end(struct eval_run *run)
{
	if (eval_all_failed(run))
		return;
	if (run->count_bad_rows) {
		eval_run_quality(run);
		return;
	}
	run->step = EVAL_COMMIT;
	eval_next(run);
}

static void eval_next(struct eval_run *run)
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
	free(res->error);
	free(res);
}

const char *eval_snapshot(const struct eval_run *run)
{
	return run->export_snapshot ? run->snapshot : NULL;
}
