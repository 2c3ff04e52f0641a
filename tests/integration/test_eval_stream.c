/* Integration test: a full evaluation streams each rule's rows to its sink a batch at a time
 * (a cursor, eval.c), against the test PostgreSQL of tests/run.sh (PGHOST, PGPORT, PGUSER,
 * PGDATABASE; psql on PATH; DW_TOP the source tree, DWGEN the generator). On a generated
 * authority of the dense shape, whose busiest rule yields many batches:
 *   - a sink that answers each call late (a timer, as one writing to another connection does)
 *     gets exactly the alerts of one that answers at once: none lost or repeated;
 *   - a sink that refuses a rule's second batch fails that rule alone, naming it; every other
 *     rule's alerts are the same as before;
 *   - a sink that aborts on a second batch ends the evaluation once, with its reason, and the
 *     connection is usable for the next evaluation;
 *   - the server process ended while the sink holds a batch ends the evaluation once, saying
 *     the connection was lost.
 * Under AddressSanitizer a batch freed or kept at the wrong time is a use after free or a leak. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/rule.h"
#include "evwait.h"
#include "pgfixture.h"
#include "tap.h"

#define WAIT_S 120
#define T "2026-11-21"
#define SCHEMA "stream_g"

enum sink_mode { SINK_AT_ONCE, SINK_LATE, SINK_REFUSE, SINK_ABORT, SINK_KILL };

struct fixture {
	struct dw_ctx ctx;
	struct db_conn *conn;      /* the evaluations' */
	struct db_conn *other;     /* for ending conn's server process */
};

/* One evaluation as the sink saw it. */
struct run {
	struct fixture *f;
	enum sink_mode mode;
	const char *target;        /* SINK_REFUSE, SINK_ABORT, SINK_KILL: the rule acted on */
	size_t calls[RULE_REGISTRY_MAX];   /* sink calls per rule (registry index) */
	char **lines;              /* "rule child subject stage" of every alert taken */
	size_t n_lines;
	int acted;                 /* the refusal, abort or kill happened */
	int done;                  /* times the evaluation's callback ran */
	char *error;
	char rule_errors[1024];
	size_t n_rules_failed;
	struct eval_run *held;     /* SINK_LATE, SINK_KILL: the call answered from the timer */
	enum eval_next held_next;
	struct event *timer;
};

static size_t rule_index(const struct rule_def *def)
{
	for (size_t i = 0; i < rule_registry_count(); i++)
		if (rule_registry_get(i) == def)
			return i;
	return 0;
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->n_lines; i++)
		free(r->lines[i]);
	free(r->lines);
	free(r->error);
	if (r->timer)
		event_free(r->timer);
}

static void keep_lines(struct run *r, const struct alert *alerts, size_t n)
{
	char **grown = realloc(r->lines, (r->n_lines + n) * sizeof(*grown));

	if (!grown)
		return;
	r->lines = grown;
	for (size_t i = 0; i < n; i++) {
		char buf[512];

		snprintf(buf, sizeof(buf), "%s %s %s %s", alerts[i].rule->name, alerts[i].child_id,
			 alerts[i].subject_id ? alerts[i].subject_id : "-",
			 alerts[i].rule->stages[alerts[i].stage].name);
		r->lines[r->n_lines++] = strdup(buf);
	}
}

static void on_terminated(struct db_conn *conn, PGresult *pg, void *arg)
{
	(void)conn;
	(void)pg;
	(void)arg;
}

/* The late answer, from the loop: the evaluation waits for it with the batch in hand. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	struct eval_run *run = r->held;

	(void)fd;
	(void)what;
	r->held = NULL;
	eval_continue(run, r->held_next, NULL);
}

static void answer_late(struct run *r, struct eval_run *run, int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	r->held = run;
	r->held_next = EVAL_NEXT_GO_ON;
	evtimer_add(r->timer, &tv);
}

static void sink_alerts(void *arg, struct eval_run *run, const struct config_rule *rc,
			struct alert *alerts, size_t n)
{
	struct run *r = arg;
	size_t ri = rule_index(rc->def);
	int second = ++r->calls[ri] == 2 && r->target && strcmp(rc->def->name, r->target) == 0;
	char sql[256];

	if (second && r->mode == SINK_REFUSE) {
		r->acted = 1;
		eval_continue(run, EVAL_NEXT_RULE_FAILED, "the test sink refuses this batch");
		return;
	}
	if (second && r->mode == SINK_ABORT) {
		r->acted = 1;
		eval_continue(run, EVAL_NEXT_ABORT, "the test sink is broken");
		return;
	}
	keep_lines(r, alerts, n);
	if (second && r->mode == SINK_KILL) {
		r->acted = 1;
		snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)",
			 PQbackendPID(db_pgconn(r->f->conn)));
		db_query(r->f->other, sql, 0, NULL, on_terminated, NULL);
		answer_late(r, run, 500);
		return;
	}
	if (r->mode == SINK_LATE) {
		answer_late(r, run, 20);
		return;
	}
	eval_continue(run, EVAL_NEXT_GO_ON, NULL);
}

static void on_eval(struct eval_result *res, void *arg)
{
	struct run *r = arg;

	r->done++;
	if (res->error)
		r->error = strdup(res->error);
	r->n_rules_failed = res->n_rules_failed;
	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct eval_rule_result *rr = &res->rules[i];
		size_t len = strlen(r->rule_errors);

		if (rr->status == EVAL_RULE_FAILED)
			snprintf(r->rule_errors + len, sizeof(r->rule_errors) - len, "%s%s: %s",
				 len ? "; " : "", rule_registry_get(i)->name,
				 rr->error ? rr->error : "?");
	}
	eval_result_free(res);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs a full evaluation (bad rows not counted) through the sink in mode; waits for its end
 * and a second more, so that a callback run twice would be seen. */
static int evaluate(struct fixture *f, struct run *r, enum sink_mode mode, const char *target)
{
	struct eval_request req = { .as_of = T, .skip_bad_rows = 1 };
	struct eval_sink sink = { .alerts = sink_alerts };
	int settled = 0;
	struct event *settle;
	struct timeval sec = { 1, 0 };

	memset(r, 0, sizeof(*r));
	r->f = f;
	r->mode = mode;
	r->target = target;
	r->timer = evtimer_new(f->ctx.base, on_timer, r);
	sink.arg = r;
	if (!r->timer || eval_start(&f->ctx, f->conn, &req, &sink, on_eval, r) < 0 ||
	    evwait_for(f->ctx.base, &r->done, WAIT_S) < 0)
		return -1;
	settle = evtimer_new(f->ctx.base, evwait_on_timeout, &settled);
	if (settle) {
		evtimer_add(settle, &sec);
		evwait_for(f->ctx.base, &settled, 5);
		event_free(settle);
	}
	qsort(r->lines, r->n_lines, sizeof(*r->lines), str_cmp);
	return 0;
}

/* The lines of r, without those of rule (NULL: all), one string. */
static char *lines_but(const struct run *r, const char *rule)
{
	size_t cap = 1, len = 0, skip = rule ? strlen(rule) : 0;
	char *out;

	for (size_t i = 0; i < r->n_lines; i++)
		cap += strlen(r->lines[i]) + 1;
	out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < r->n_lines; i++) {
		if (rule && strncmp(r->lines[i], rule, skip) == 0 && r->lines[i][skip] == ' ')
			continue;
		len += (size_t)snprintf(out + len, cap - len, "%s\n", r->lines[i]);
	}
	return out;
}

/* The rule with the most sink calls in r: its rows came in the most batches. */
static const char *busiest_rule(const struct run *r, size_t *calls)
{
	size_t best = 0;

	for (size_t i = 1; i < rule_registry_count(); i++)
		if (r->calls[i] > r->calls[best])
			best = i;
	*calls = r->calls[best];
	return rule_registry_get(best)->name;
}

static int fixture_open(struct fixture *f)
{
	f->ctx.log_level = LOG_PRIO_WARNING;
	f->ctx.base = event_base_new();
	if (!f->ctx.base || pgfix_config(&f->ctx, NULL, SCHEMA, ", \"addresses\": "
					 "{\"fallback\": \"duty@la.example\", \"cp_chair\": "
					 "\"cp-chairs@la.example\"}") < 0)
		return -1;
	return pgfix_open(&f->ctx, &f->conn, WAIT_S) == 0 &&
	       pgfix_open(&f->ctx, &f->other, WAIT_S) == 0 ? 0 : -1;
}

static void fixture_close(struct fixture *f)
{
	db_conn_free(f->conn);
	db_conn_free(f->other);
	pgfix_free(&f->ctx);
}

static void test_late(struct fixture *f, const struct run *base)
{
	struct run late;
	char *a, *b;

	if (!tap_int(evaluate(f, &late, SINK_LATE, NULL), 0, "late sink: the evaluation ends"))
		return;
	a = lines_but(base, NULL);
	b = lines_but(&late, NULL);
	tap_ok(late.done == 1 && !late.error && late.n_rules_failed == 0,
	       "late sink: one end, no error, no rule failed (%d, %s, %s)", late.done,
	       late.error ? late.error : "-", late.rule_errors);
	tap_ok(a && b && late.n_lines == base->n_lines && strcmp(a, b) == 0,
	       "late sink: the same %zu alerts as a sink answering at once (%zu)", late.n_lines,
	       base->n_lines);
	free(a);
	free(b);
	run_free(&late);
}

static void test_refuse(struct fixture *f, const struct run *base, const char *rule)
{
	struct run r;
	char *a, *b, want[256];

	if (!tap_int(evaluate(f, &r, SINK_REFUSE, rule), 0, "refusing sink: the evaluation ends"))
		return;
	snprintf(want, sizeof(want), "%s: the test sink refuses this batch", rule);
	tap_ok(r.acted && r.done == 1 && !r.error, "refusing sink: it refused %s's second batch; "
	       "one end, and the evaluation itself did not fail (%d, %s)", rule, r.done,
	       r.error ? r.error : "-");
	tap_int((long long)r.n_rules_failed, 1, "refusing sink: one rule failed");
	tap_str(r.rule_errors, want, "refusing sink: the failed rule is named with the reason");
	a = lines_but(base, rule);
	b = lines_but(&r, rule);
	tap_ok(a && b && strcmp(a, b) == 0, "refusing sink: every other rule's alerts are those "
	       "of a whole evaluation");
	free(a);
	free(b);
	run_free(&r);
}

static void test_abort(struct fixture *f, const struct run *base, const char *rule)
{
	struct run r, again;
	char *a, *b;

	if (!tap_int(evaluate(f, &r, SINK_ABORT, rule), 0, "aborting sink: the evaluation ends"))
		return;
	tap_ok(r.acted && r.done == 1, "aborting sink: it aborted on %s's second batch, and the "
	       "evaluation ended once (%d)", rule, r.done);
	tap_str(r.error, "the test sink is broken", "aborting sink: the evaluation's error is "
		"the sink's reason");
	run_free(&r);
	if (!tap_int(evaluate(f, &again, SINK_AT_ONCE, NULL), 0, "after the abort: the next "
		     "evaluation on the same connection ends"))
		return;
	a = lines_but(base, NULL);
	b = lines_but(&again, NULL);
	tap_ok(!again.error && a && b && strcmp(a, b) == 0,
	       "after the abort: the next evaluation has every alert (%zu of %zu)",
	       again.n_lines, base->n_lines);
	free(a);
	free(b);
	run_free(&again);
}

static void test_kill(struct fixture *f, const char *rule)
{
	struct run r;

	if (!tap_int(evaluate(f, &r, SINK_KILL, rule), 0, "server process ended: the evaluation "
		     "ends"))
		return;
	tap_ok(r.acted && r.done == 1, "server process ended during %s's second batch: the "
	       "evaluation ended once (%d)", rule, r.done);
	tap_contains(r.error ? r.error : "", "connection", "server process ended: the error "
		     "says the connection was lost");
	run_free(&r);
}

int main(void)
{
	struct fixture f = { 0 };
	const char *top = getenv("DW_TOP") ? getenv("DW_TOP") : ".";
	const char *dwgen = getenv("DWGEN");
	const char *rule;
	char gen[1024];
	struct run base;
	size_t calls;

	/* an integration test: without its server it fails, as a missing tool does */
	if (!getenv("PGPORT")) {
		tap_ok(false, "test_eval_stream needs the test PostgreSQL: PGPORT is not set "
		       "(tests/run.sh sets it)");
		return tap_status();
	}
	snprintf(gen, sizeof(gen), "%s/build/dwgen", top);
	if (!tap_int(pgfix_sh(PGFIX_PSQL " -c 'SET client_min_messages = warning' -c 'DROP "
			     "SCHEMA IF EXISTS " SCHEMA " CASCADE' && " PGFIX_PSQL " -v schema="
			     SCHEMA " -f %s/rules/contract.sql >/dev/null && %s --children 20000 "
			     "--shape dense --seed 5 --as-of " T " --schema " SCHEMA " | "
			     PGFIX_PSQL " >/dev/null", top, dwgen ? dwgen : gen), 0,
		     "load 20,000 generated children of the dense shape into " SCHEMA) ||
	    !tap_ok(fixture_open(&f) == 0, "connect to the test PostgreSQL")) {
		fixture_close(&f);
		return tap_status();
	}
	if (!tap_int(evaluate(&f, &base, SINK_AT_ONCE, NULL), 0, "a whole evaluation ends")) {
		fixture_close(&f);
		return tap_status();
	}
	rule = busiest_rule(&base, &calls);
	tap_ok(!base.error && base.n_lines > 0 && calls >= 3, "a whole evaluation: %zu alerts, "
	       "%s's in %zu sink calls (three or more: its rows came in several batches)",
	       base.n_lines, rule, calls);
	test_late(&f, &base);
	test_refuse(&f, &base, rule);
	test_abort(&f, &base, rule);
	test_kill(&f, rule);
	run_free(&base);
	fixture_close(&f);
	return tap_status();
}
