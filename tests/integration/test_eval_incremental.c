/* Integration test: incremental evaluations (a few child ids: prepared statements, generic plans)
 * against full ones, on the test PostgreSQL of tests/run.sh (PGHOST, PGPORT, PGUSER,
 * PGDATABASE; psql on PATH; DW_TOP the source tree, DWGEN the generator).
 *   - every child of the boundaries fixture (tests/fixtures/boundaries.sql) on several days,
 *     and a sample of a generated authority: one child at a time, and all of them at once,
 *     give exactly the alerts the full evaluation gives for them (the whole ALERTS.md object);
 *   - the statements are prepared once per session and planned generically, and the setting
 *     that asks for it does not outlive the incremental transaction;
 *   - after a reconnect (the server process terminated) they are prepared again;
 *   - after the case schema changes on the same connection (a reload), none prepared for the
 *     old schema is used, and none is left behind on the server;
 *   - a PREPARE that fails is reported naming the rule. */
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

struct fixture {
	struct dw_ctx ctx;
	struct db_conn *conn;      /* the evaluations' */
	struct db_conn *other;     /* for looking at the server and terminating conn's process */
	const char *top;
	int lost;
	size_t compared[RULE_REGISTRY_MAX];  /* alerts of each rule among those compared */
};

struct strv {
	char **v;
	size_t n;
};

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

static int strv_push(struct strv *s, const char *str)
{
	char **v = realloc(s->v, (s->n + 1) * sizeof(*v));

	if (!v)
		return -1;
	s->v = v;
	s->v[s->n] = strdup(str);
	return s->v[s->n] ? (int)(s->n++ * 0) : -1;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- the loop ---- */

/* Runs the loop until *flag is set, or WAIT_S seconds. Returns 0 when it was set. */
static int wait_for(struct event_base *base, const int *flag)
{
	return evwait_for(base, flag, WAIT_S);
}

/* What a test keeps of one alert, and of one evaluation: the alerts stream through a sink. */
struct ev_alert {
	char *rule_name;
	char *child_id;
	char *line;                /* the ALERTS.md object, keys sorted */
};

struct evald {
	struct ev_alert *alerts;
	size_t n_alerts;
	char *error;
	size_t n_rules_failed;
	char rule_errors[2048];    /* "rule: why" of each failed rule, "; "-separated */
};

static void evald_free(struct evald *e)
{
	for (size_t i = 0; e && i < e->n_alerts; i++) {
		free(e->alerts[i].rule_name);
		free(e->alerts[i].child_id);
		free(e->alerts[i].line);
	}
	if (e) {
		free(e->alerts);
		free(e->error);
	}
	free(e);
}

struct waited {
	int done;
	int ok;
	struct strv rows;          /* first column of every row */
	struct evald *res;
};

static void collect(void *arg, struct eval_run *run, const struct config_rule *rc,
		    struct alert *alerts, size_t n)
{
	struct evald *e = ((struct waited *)arg)->res;
	struct ev_alert *grown = realloc(e->alerts, (e->n_alerts + n) * sizeof(*grown));

	(void)rc;
	if (!grown) {
		eval_continue(run, EVAL_NEXT_ABORT, "out of memory");
		return;
	}
	e->alerts = grown;
	for (size_t i = 0; i < n; i++) {
		json_t *o = alert_to_json(&alerts[i], "firing");
		struct ev_alert *a = &e->alerts[e->n_alerts++];

		a->rule_name = strdup(alerts[i].rule->name);
		a->child_id = strdup(alerts[i].child_id);
		a->line = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
		json_decref(o);
	}
	eval_continue(run, EVAL_NEXT_GO_ON, NULL);
}

static void on_rows(struct db_conn *conn, PGresult *res, void *arg)
{
	struct waited *w = arg;

	(void)conn;
	w->done = 1;
	w->ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;
	for (int r = 0; w->ok && r < PQntuples(res); r++)
		strv_push(&w->rows, PQgetvalue(res, r, 0));
}

/* The first column of every row of sql, or NULL rows (n 0) when it failed. */
static struct strv rows(struct fixture *f, struct db_conn *conn, const char *sql)
{
	struct waited w = { 0 };

	if (db_query(conn, sql, 0, NULL, on_rows, &w) < 0 || wait_for(f->ctx.base, &w.done) < 0 ||
	    !w.ok)
		tap_diag("query failed: %s: %s", sql, db_error(conn));
	return w.rows;
}

/* The one value of sql, as a string in buf ("" when it failed). */
static const char *value(struct fixture *f, struct db_conn *conn, const char *sql, char *buf,
			 size_t size)
{
	struct strv r = rows(f, conn, sql);

	snprintf(buf, size, "%s", r.n ? r.v[0] : "");
	strv_free(&r);
	return buf;
}

static void on_eval(struct eval_result *res, void *arg)
{
	struct waited *w = arg;

	w->done = 1;
	if (res->error)
		w->res->error = strdup(res->error);
	w->res->n_rules_failed = res->n_rules_failed;
	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct eval_rule_result *rr = &res->rules[i];
		size_t len = strlen(w->res->rule_errors);

		if (rr->status == EVAL_RULE_FAILED)
			snprintf(w->res->rule_errors + len, sizeof(w->res->rule_errors) - len,
				 "%s%s: %s", len ? "; " : "", rule_registry_get(i)->name,
				 rr->error ? rr->error : "?");
	}
	eval_result_free(res);
}

/* kids NULL: everyone. Bad rows are not counted (they are not what is compared). */
static struct evald *evaluate(struct fixture *f, const char *as_of,
				    const char *const *kids, size_t n)
{
	struct eval_request req = { .as_of = as_of, .child_ids = kids, .n_child_ids = n,
				    .skip_bad_rows = 1 };
	struct waited w = { 0 };
	struct eval_sink sink = { .alerts = collect, .arg = &w };

	w.res = calloc(1, sizeof(*w.res));
	if (!w.res || eval_start(&f->ctx, f->conn, &req, &sink, on_eval, &w) < 0 ||
	    wait_for(f->ctx.base, &w.done) < 0) {
		evald_free(w.res);
		return NULL;
	}
	return w.res;
}

/* ---- comparing ---- */

/* Each alert of res for child (NULL: every child) as its whole ALERTS.md object, sorted. */
static struct strv alert_lines(const struct evald *res, const char *child)
{
	struct strv out = { 0 };

	for (size_t i = 0; res && i < res->n_alerts; i++) {
		json_t *o;
		char *line;

		if (child && strcmp(res->alerts[i].child_id, child) != 0)
			continue;
		(void)o;
		line = res->alerts[i].line;
		if (line)
			strv_push(&out, line);
	}
	if (out.n > 1)
		qsort(out.v, out.n, sizeof(out.v[0]), str_cmp);
	return out;
}

static int lines_equal(const struct strv *a, const struct strv *b, const char *what)
{
	if (a->n != b->n) {
		tap_diag("%s: %zu alerts incrementally, %zu in the full evaluation", what, a->n, b->n);
		for (size_t i = 0; i < a->n; i++)
			tap_diag("  incremental: %.300s", a->v[i]);
		for (size_t i = 0; i < b->n; i++)
			tap_diag("  full:        %.300s", b->v[i]);
		return 0;
	}
	for (size_t i = 0; i < a->n; i++) {
		if (strcmp(a->v[i], b->v[i]) != 0) {
			tap_diag("%s: alerts differ", what);
			tap_diag("  incremental: %s", a->v[i]);
			tap_diag("  full:        %s", b->v[i]);
			return 0;
		}
	}
	return 1;
}

/* One incremental evaluation of kids against the full result; returns 1 when equal. */
static int same_as_full(struct fixture *f, const char *as_of, const struct evald *full,
			const char *const *kids, size_t n)
{
	struct evald *inc = evaluate(f, as_of, kids, n);
	struct strv a = { 0 }, b = { 0 };
	int same = 0;

	if (!inc || inc->error) {
		tap_diag("incremental evaluation of %s (%zu children) on %s failed: %s", kids[0], n,
			 as_of, inc && inc->error ? inc->error : "did not finish");
		evald_free(inc);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct strv x = alert_lines(inc, kids[i]), y = alert_lines(full, kids[i]);

		for (size_t j = 0; j < x.n; j++)
			strv_push(&a, x.v[j]);
		for (size_t j = 0; j < y.n; j++)
			strv_push(&b, y.v[j]);
		strv_free(&x);
		strv_free(&y);
	}
	same = a.n == inc->n_alerts && lines_equal(&a, &b, n == 1 ? kids[0] : "several children");
	if (a.n != inc->n_alerts)
		tap_diag("the incremental evaluation gave alerts for children it was not given");
	strv_free(&a);
	strv_free(&b);
	evald_free(inc);
	return same;
}

/* Every child of kids alone, then all at once, against one full evaluation on as_of. */
static void compare_day(struct fixture *f, const char *what, const char *as_of,
			const struct strv *kids)
{
	struct evald *full = evaluate(f, as_of, NULL, 0);
	size_t differ = 0;

	if (!tap_ok(full && !full->error, "%s %s: the full evaluation runs", what, as_of)) {
		if (full)
			tap_diag("  %s", full->error);
		evald_free(full);
		return;
	}
	for (size_t i = 0; i < full->n_alerts; i++)
		for (size_t r = 0; r < rule_registry_count(); r++)
			f->compared[r] += strcmp(full->alerts[i].rule_name,
						 rule_registry_get(r)->name) == 0;
	for (size_t i = 0; i < kids->n; i++)
		differ += !same_as_full(f, as_of, full, (const char *const *)&kids->v[i], 1);
	tap_int(differ, 0, "%s %s: each of %zu children evaluated alone gets exactly the full "
		"evaluation's alerts (%zu in all)", what, as_of, kids->n, full->n_alerts);
	tap_ok(same_as_full(f, as_of, full, (const char *const *)kids->v, kids->n),
	       "%s %s: all %zu children in one incremental evaluation too", what, as_of, kids->n);
	evald_free(full);
}

/* ---- set up ---- */


static int load_fixture(const char *top, const char *schema)
{
	return pgfix_sh(PGFIX_PSQL " -c 'SET client_min_messages = warning' -c 'DROP SCHEMA IF EXISTS %s "
		  "CASCADE' && " PGFIX_PSQL " -v schema=%s -f %s/rules/contract.sql -f "
		  "%s/tests/fixtures/boundaries.sql -f %s/rules/contract_indexes.sql >/dev/null",
		  schema, schema, top, top, top);
}

static int load_generated(const char *top, const char *dwgen, const char *schema, int n)
{
	return pgfix_sh(PGFIX_PSQL " -c 'SET client_min_messages = warning' -c 'DROP SCHEMA IF EXISTS %s "
		  "CASCADE' && " PGFIX_PSQL " -v schema=%s -f %s/rules/contract.sql >/dev/null && "
		  "%s --children %d --seed 11 --as-of " T " --schema %s | " PGFIX_PSQL " >/dev/null && "
		  PGFIX_PSQL " -v schema=%s -f %s/rules/contract_indexes.sql >/dev/null",
		  schema, schema, top, dwgen, n, schema, schema, top);
}

static int set_schema(struct fixture *f, const char *schema)
{
	char *s = strdup(schema);

	if (!s)
		return -1;
	free(f->ctx.cfg->case_schema);
	f->ctx.cfg->case_schema = s;
	return 0;
}

static struct strv children_of(struct fixture *f, const char *schema)
{
	char sql[1024];

	snprintf(sql, sizeof(sql),
		 "SELECT DISTINCT child_id FROM (SELECT child_id FROM %1$s.children UNION ALL "
		 "SELECT child_id FROM %1$s.allocations UNION ALL SELECT child_id FROM "
		 "%1$s.cin_plans UNION ALL SELECT child_id FROM %1$s.cp_plans UNION ALL SELECT "
		 "child_id FROM %1$s.appointments UNION ALL SELECT child_id FROM %1$s.referrals "
		 "UNION ALL SELECT child_id FROM %1$s.strategies) c WHERE child_id IS NOT NULL "
		 "ORDER BY 1", schema);
	return rows(f, f->other, sql);
}

static const char *first_child_with(const struct evald *res, const char *rule)
{
	for (size_t i = 0; res && i < res->n_alerts; i++)
		if (strcmp(res->alerts[i].rule_name, rule) == 0)
			return res->alerts[i].child_id;
	return NULL;
}

static int has_alert(const struct evald *res, const char *rule, const char *child)
{
	for (size_t i = 0; res && i < res->n_alerts; i++)
		if (strcmp(res->alerts[i].rule_name, rule) == 0 &&
		    strcmp(res->alerts[i].child_id, child) == 0)
			return 1;
	return 0;
}

/* ---- the tests ---- */

static void test_boundaries(struct fixture *f)
{
	static const char *const days[] = { T, "2026-02-28", "2025-12-31", "2028-02-29",
					     "2026-07-15" };
	struct strv kids = children_of(f, "inc_a");

	tap_ok(kids.n > 50, "the boundaries fixture names %zu children", kids.n);
	for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++)
		compare_day(f, "boundaries", days[i], &kids);
	strv_free(&kids);
}

static void test_plans(struct fixture *f)
{
	char buf[64], n[16];

	snprintf(n, sizeof(n), "%zu ", rule_registry_count());
	value(f, f->conn, "SELECT count(*) || ' ' || sum(generic_plans) || ' ' || "
	      "sum(custom_plans) FROM pg_prepared_statements WHERE name LIKE 'dw\\_inc\\_%'",
	      buf, sizeof(buf));
	tap_ok(strncmp(buf, n, strlen(n)) == 0 && strcmp(strrchr(buf, ' '), " 0") == 0 &&
	       strcmp(strchr(buf, ' '), " 0 0") != 0,
	       "one statement per rule (%zu) prepared in the session, planned generically only "
	       "(count, generic, custom: %s)", rule_registry_count(), buf);
	tap_str(value(f, f->conn, "SELECT current_setting('plan_cache_mode')", buf, sizeof(buf)),
		"auto", "plan_cache_mode is back to auto after the incremental transaction");
}

static void test_generated(struct fixture *f, const char *dwgen)
{
	struct strv all, sample = { 0 };
	struct evald *full;

	if (load_generated(f->top, dwgen, "inc_g", 3000) != 0) {
		tap_ok(0, "load 3,000 generated children into inc_g");
		return;
	}
	set_schema(f, "inc_g");
	all = children_of(f, "inc_g");
	full = evaluate(f, T, NULL, 0);
	/* every child with an alert, and every 40th of the others */
	for (size_t i = 0; full && i < all.n; i++) {
		int alerted = 0;

		for (size_t j = 0; j < full->n_alerts && !alerted; j++)
			alerted = strcmp(full->alerts[j].child_id, all.v[i]) == 0;
		if (alerted || i % 40 == 0)
			strv_push(&sample, all.v[i]);
	}
	evald_free(full);
	tap_ok(sample.n > 50, "generated: %zu of %zu children sampled", sample.n, all.n);
	compare_day(f, "generated", T, &sample);
	strv_free(&sample);
	strv_free(&all);
	set_schema(f, "inc_a");
}

static void on_lost(struct db_conn *conn, void *arg)
{
	(void)conn;
	((struct fixture *)arg)->lost = 1;
}

static void test_reconnect(struct fixture *f, const struct evald *full, const char *kid)
{
	char sql[128], buf[64];
	struct strv r;

	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d)",
		 PQbackendPID(db_pgconn(f->conn)));
	r = rows(f, f->other, sql);
	strv_free(&r);
	tap_int(wait_for(f->ctx.base, &f->lost), 0, "the evaluations' server process is gone");
	tap_int(pgfix_connect(f->ctx.base, f->conn, WAIT_S), 0, "the connection is made again");
	tap_int(db_session(f->conn), 2, "a new session (2)");
	tap_ok(same_as_full(f, T, full, &kid, 1),
	       "an incremental evaluation after the reconnect gets the full evaluation's alerts");
	snprintf(sql, sizeof(sql), "%zu", rule_registry_count());
	tap_str(value(f, f->conn, "SELECT count(*) FROM pg_prepared_statements", buf, sizeof(buf)),
		sql, "its statements were prepared again in the new session");
}

/* A reload that changes case_schema keeps the connection: the statements must follow. */
static void test_schema_change(struct fixture *f, const struct evald *full_a)
{
	const char *kid = first_child_with(full_a, "cp_neglect_duration");
	struct evald *res;
	char sql[256], buf[64], want[32];

	snprintf(want, sizeof(want), "%zu 0", rule_registry_count());
	if (!tap_ok(kid != NULL, "the fixture has a cp_neglect_duration alert on " T))
		return;
	snprintf(sql, sizeof(sql), PGFIX_PSQL " -c \"DELETE FROM inc_b.cp_plans WHERE child_id = '%s'\"",
		 kid);
	tap_int(load_fixture(f->top, "inc_b") || pgfix_sh("%s", sql), 0,
		"inc_b: the fixture without %s's CP plans", kid);
	res = evaluate(f, T, &kid, 1);
	tap_ok(res && !res->error && has_alert(res, "cp_neglect_duration", kid),
	       "case schema inc_a: %s has its cp_neglect_duration alert", kid);
	evald_free(res);

	set_schema(f, "inc_b");
	res = evaluate(f, T, &kid, 1);
	tap_ok(res && !res->error && !has_alert(res, "cp_neglect_duration", kid),
	       "case schema changed to inc_b on the same connection: %s has none (no statement "
	       "prepared for inc_a was used)", kid);
	if (res && res->error)
		tap_diag("  %s", res->error);
	evald_free(res);
	tap_str(value(f, f->conn, "SELECT count(*) || ' ' || count(*) FILTER (WHERE statement "
		      "LIKE '%\"inc_a\".%') FROM pg_prepared_statements", buf, sizeof(buf)),
		want, "one statement per rule on the server, none of them for inc_a any more");

	/* every rule fails, each on its own (issue 9, item 3): reported and counted per rule, as
	 * one failing alone is (audit 12: failing the evaluation as a whole named one rule and
	 * reported none to the operators) */
	set_schema(f, "inc_missing");
	res = evaluate(f, T, &kid, 1);
	tap_ok(res && !res->error && res->n_rules_failed > 1,
	       "a case schema that does not exist fails every rule, each on its own (%zu)",
	       res ? res->n_rules_failed : 0);
	if (res) {
		tap_contains(res->rule_errors, "cin_neglect_duration: could not prepare its statement",
			     "the failed PREPARE is reported naming the rule");
		tap_contains(res->rule_errors, "inc_missing", "with the server's reason");
	}
	evald_free(res);

	set_schema(f, "inc_a");
	res = evaluate(f, T, &kid, 1);
	tap_ok(res && !res->error && has_alert(res, "cp_neglect_duration", kid),
	       "back on inc_a: the alert is there again");
	evald_free(res);
}

/* One rule fails while a few children are evaluated: the rules before and after it keep their
 * alerts. An incremental evaluation keeps each rule's savepoint until COMMIT (eval.c,
 * eval_rule_done), so the failed one must roll back to its own and no further. strategies is
 * read by cp_neglect_duration alone; here it is a view whose rows raise an error when read. */
/* The alerts of res for child, of every rule but skip, as lines, sorted. */
static struct strv lines_but(const struct evald *res, const char *child, const char *skip)
{
	struct strv out = { 0 };

	for (size_t i = 0; res && i < res->n_alerts; i++)
		if (strcmp(res->alerts[i].child_id, child) == 0 &&
		    strcmp(res->alerts[i].rule_name, skip) != 0 && res->alerts[i].line)
			strv_push(&out, res->alerts[i].line);
	if (out.n)
		qsort(out.v, out.n, sizeof(*out.v), str_cmp);
	return out;
}

/* One rule fails while a few children are evaluated: the rules before and after it keep their
 * alerts. An incremental evaluation keeps each rule's savepoint until COMMIT (eval.c,
 * eval_rule_done), so the failed one must roll back to its own and no further. strategies is
 * read by cp_neglect_duration alone; here it is a view whose rows raise an error when read, and
 * the child (who has a was_not_brought alert) is given a CP plan and a strategy so that the
 * rule reads them. The same schema's full evaluation, where the rule fails too, is the
 * reference. */
static void test_rule_fails(struct fixture *f, const struct evald *full_a)
{
	const char *kid = first_child_with(full_a, "was_not_brought");
	struct evald *res, *full;
	struct strv inc_lines, full_lines;
	int same;

	if (!tap_ok(kid != NULL, "the fixture has a was_not_brought alert on " T))
		return;
	tap_int(load_fixture(f->top, "inc_c") ||
		pgfix_sh(PGFIX_PSQL " -c \"CREATE FUNCTION inc_c.boom() RETURNS boolean LANGUAGE plpgsql "
		   "VOLATILE AS \\$\\$ BEGIN RAISE EXCEPTION 'strategies cannot be read'; END "
		   "\\$\\$\" -c 'ALTER TABLE inc_c.strategies RENAME TO strategies_t' -c "
		   "'CREATE VIEW inc_c.strategies AS SELECT * FROM inc_c.strategies_t WHERE "
		   "inc_c.boom()' -c \"INSERT INTO inc_c.strategies_t VALUES ('S-BOOM', '%s', "
		   "'plo', '2026-01-05', NULL)\" -c \"INSERT INTO inc_c.cp_plans VALUES "
		   "('CP-BOOM', '%s', '2025-01-06', NULL, 'NEG', 'NEG', NULL)\" >/dev/null", kid, kid),
		0, "inc_c: the fixture with strategies a view that fails when read, and %s on a CP "
		"plan with a strategy", kid);
	set_schema(f, "inc_c");
	full = evaluate(f, T, NULL, 0);
	res = evaluate(f, T, &kid, 1);
	set_schema(f, "inc_a");
	if (!tap_ok(full && !full->error && res && !res->error,
		    "inc_c: the full evaluation and %s's alone go on", kid)) {
		if (full && full->error)
			tap_diag("  full: %s", full->error);
		if (res && res->error)
			tap_diag("  %s alone: %s", kid, res->error);
		goto out;
	}
	tap_ok(full->n_rules_failed == 1 && res->n_rules_failed == 1 &&
	       strstr(res->rule_errors, "cp_neglect_duration: ") == res->rule_errors &&
	       strstr(res->rule_errors, "strategies cannot be read"),
	       "in both, cp_neglect_duration alone fails, with the server's reason: %s",
	       res->rule_errors[0] ? res->rule_errors : "(none)");
	inc_lines = lines_but(res, kid, "cp_neglect_duration");
	full_lines = lines_but(full, kid, "cp_neglect_duration");
	same = inc_lines.n == full_lines.n;
	for (size_t i = 0; same && i < inc_lines.n; i++)
		same = strcmp(inc_lines.v[i], full_lines.v[i]) == 0;
	tap_ok(inc_lines.n > 0 && has_alert(res, "was_not_brought", kid) && same,
	       "%s alone has the full evaluation's alerts of the other rules, was_not_brought "
	       "(after cp_neglect_duration) among them (%zu and %zu)", kid, inc_lines.n,
	       full_lines.n);
	strv_free(&inc_lines);
	strv_free(&full_lines);
out:
	evald_free(full);
	evald_free(res);
}

static int fixture_open(struct fixture *f)
{
	f->ctx.log_level = LOG_PRIO_WARNING;
	f->ctx.base = event_base_new();
	if (!f->ctx.base || pgfix_config(&f->ctx, NULL, "inc_a", ", \"addresses\": {\"fallback\": "
					 "\"duty@la.example\", \"cp_chair\": "
					 "\"cp-chairs@la.example\"}, \"link_template\": "
					 "\"https://lcs.example/person/{child_id}\"") < 0)
		return -1;
	if (pgfix_open(&f->ctx, &f->conn, WAIT_S) < 0 ||
	    pgfix_open(&f->ctx, &f->other, WAIT_S) < 0)
		return -1;
	db_set_lost_cb(f->conn, on_lost, f);
	return 0;
}

static void fixture_close(struct fixture *f)
{
	db_conn_free(f->conn);
	db_conn_free(f->other);
	pgfix_free(&f->ctx);
}

int main(void)
{
	struct fixture f = { 0 };
	const char *dwgen = getenv("DWGEN");
	const char *kid;
	struct evald *full;
	char path[1024];

	/* an integration test: without its server it fails, as a missing tool does */
	if (!getenv("PGPORT")) {
		tap_ok(false, "test_eval_incremental needs the test PostgreSQL: PGPORT is not set (tests/run.sh "
		       "sets it)");
		return tap_status();
	}
	f.top = getenv("DW_TOP") ? getenv("DW_TOP") : ".";
	if (!tap_int(load_fixture(f.top, "inc_a"), 0, "load the boundaries fixture into inc_a") ||
	    !tap_ok(fixture_open(&f) == 0, "connect to the test PostgreSQL")) {
		fixture_close(&f);
		return tap_status();
	}
	test_boundaries(&f);
	test_plans(&f);
	full = evaluate(&f, T, NULL, 0);
	kid = first_child_with(full, "was_not_brought");
	if (tap_ok(full && !full->error && kid, "a full evaluation on " T " with a was_not_brought "
		   "alert"))
		test_reconnect(&f, full, kid);
	test_schema_change(&f, full);
	test_rule_fails(&f, full);
	evald_free(full);
	snprintf(path, sizeof(path), "%s/build/dwgen", f.top);
	test_generated(&f, dwgen ? dwgen : path);
	/* a rule no comparison saw would be covered by nothing above */
	for (size_t r = 0; r < rule_registry_count(); r++)
		tap_ok(f.compared[r] > 0, "%s: %zu of its alerts were compared, full against "
		       "incremental", rule_registry_get(r)->name, f.compared[r]);
	fixture_close(&f);
	return tap_status();
}
