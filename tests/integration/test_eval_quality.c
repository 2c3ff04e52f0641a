/* Integration test: the bad-row count (rules/quality_*.sql, run by eval.c's quality step)
 * against the test PostgreSQL of tests/run.sh (PGHOST, PGPORT, PGUSER, PGDATABASE; psql on
 * PATH; DW_TOP the source tree, DWGEN the generator).
 *   - on the boundaries fixture, on generated children with 5% bad rows and on hand-made
 *     duplicates, every kind and number, and the children evaluated, are exactly those of the
 *     single statement the count used to be (tests/fixtures/quality_reference.sql, every row
 *     ranked by a window);
 *   - a relation the user may not read, and one missing a column, stop their own counts only:
 *     each is logged as "bad rows of X could not be counted: <reason>", the evaluation does
 *     not fail and the other relations are counted as before;
 *   - with children unreadable, children.missing is not guessed and the children evaluated are
 *     those the readable relations name. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "evwait.h"
#include "pgfixture.h"
#include "tap.h"

#define WAIT_S 300
#define T "2026-11-21"

struct fixture {
	struct dw_ctx ctx;
	struct db_conn *conn;
	const char *top;
	char tmp[256];
};

struct waited {
	int done;
	struct eval_result *res;
};

/* The whole of a file, NUL-terminated ("" when it cannot be read); the caller frees it. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	char chunk[4096];

	while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		char *b = realloc(buf, cap = len + n + 1);

		if (!b)
			break;
		buf = b;
		memcpy(buf + len, chunk, n);
		len += n;
	}
	if (f)
		fclose(f);
	if (!buf)
		return strdup("");
	buf[len] = '\0';
	return buf;
}

static void on_eval(struct eval_result *res, void *arg)
{
	struct waited *w = arg;

	w->done = 1;
	w->res = res;
}

/* Opens a connection as user for schema; the config is the fixture's. */
static int fixture_open(struct fixture *f, const char *user, const char *schema)
{
	if (pgfix_config(&f->ctx, user, schema, "") < 0)
		return -1;
	return pgfix_open(&f->ctx, &f->conn, WAIT_S);
}

static void fixture_close(struct fixture *f)
{
	db_conn_free(f->conn);
	f->conn = NULL;
	if (f->ctx.cfg)
		config_free(f->ctx.cfg);
	free(f->ctx.cfg);
	f->ctx.cfg = NULL;
}

/* Counts bad rows only (no rules), as the daemon's own connection does; what the quality step
 * logs (standard error) goes to *log. */
static struct eval_result *count_bad_rows(struct fixture *f, char **log)
{
	struct eval_request req = { .as_of = T, .skip_rules = 1 };
	struct waited w = { 0 };
	char path[512];
	int saved, fd;

	snprintf(path, sizeof(path), "%s/log", f->tmp);
	fflush(stderr);
	saved = dup(2);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	if (eval_start(&f->ctx, f->conn, &req, NULL, on_eval, &w) < 0 ||
	    evwait_for(f->ctx.base, &w.done, WAIT_S) < 0)
		w.res = NULL;
	fflush(stderr);
	if (saved >= 0) {
		dup2(saved, 2);
		close(saved);
	}
	*log = slurp(path);
	return w.res;
}

/* The result as the reference prints it: "kind|n" lines sorted by kind, children included. */
static char *result_lines(const struct eval_result *res, const char *skip_prefix_a,
			  const char *skip_prefix_b)
{
	size_t cap = 64 + res->n_bad * 96, len = 0;
	char *out = malloc(cap);
	int children_done = 0;

	if (!out)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i <= res->n_bad; i++) {
		const char *kind = i < res->n_bad ? res->bad[i].kind : NULL;

		/* children_evaluated sorts between "children.missing" and "cin_plans." */
		if (!children_done && (!kind || strcmp(kind, "children_evaluated") > 0)) {
			len += (size_t)snprintf(out + len, cap - len, "children_evaluated|%lld\n",
						res->children);
			children_done = 1;
		}
		if (!kind || (skip_prefix_a && strncmp(kind, skip_prefix_a, strlen(skip_prefix_a)) == 0) ||
		    (skip_prefix_b && strncmp(kind, skip_prefix_b, strlen(skip_prefix_b)) == 0))
			continue;
		len += (size_t)snprintf(out + len, cap - len, "%s|%lld\n", kind, res->bad[i].count);
	}
	return out;
}

/* The reference's lines for schema, without the kinds of the two relations given. */
static char *reference_lines(struct fixture *f, const char *schema, const char *cats,
			     const char *drop_a, const char *drop_b)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/ref", f->tmp);
	if (pgfix_sh(PGFIX_PSQL " -At -F '|' -v schema=%s -v 'cats=%s' -v as_of=" T " -f "
	       "%s/tests/fixtures/quality_reference.sql | grep -v -e '^%s' -e '^%s' >%s",
	       schema, cats, f->top, drop_a ? drop_a : "@@", drop_b ? drop_b : "@@", path) != 0)
		return NULL;
	return slurp(path);
}

static void diag_lines(const char *label, const char *text)
{
	char buf[256];
	const char *p = text ? text : "";

	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);

		snprintf(buf, sizeof(buf), "%.*s", (int)(n < 200 ? n : 200), p);
		tap_diag("  %s %s", label, buf);
		p += n + (nl ? 1 : 0);
	}
}

/* must: kinds the count has to find there (NULL: none named), so that a kind both statements
 * miss alike does not pass unseen */
static void compare(struct fixture *f, const char *what, const char *schema,
		    const char *const *must)
{
	char *log = NULL, *got = NULL, *want = reference_lines(f, schema, "{NEG}", NULL, NULL);
	struct eval_result *res;

	free(f->ctx.cfg->case_schema);
	f->ctx.cfg->case_schema = strdup(schema);
	res = count_bad_rows(f, &log);
	if (!tap_ok(res && !res->error && res->counted, "%s: counted", what)) {
		tap_diag("  error: %s", res && res->error ? res->error : "(none)");
		goto out;
	}
	got = result_lines(res, NULL, NULL);
	if (!tap_ok(got && want && strlen(want) > 0 && strcmp(got, want) == 0,
		    "%s: every kind and number as the single ranking statement counts them", what)) {
		diag_lines("want", want);
		diag_lines("got ", got);
	}
	tap_lacks(log, "could not be counted", "%s: nothing failed", what);
	for (size_t i = 0; must && must[i]; i++)
		tap_contains(got, must[i], "%s: %s is among them", what, must[i]);
out:
	eval_result_free(res);
	free(log);
	free(got);
	free(want);
}

static int load(struct fixture *f)
{
	const char *dwgen = getenv("DWGEN");
	char gen[1024];

	snprintf(gen, sizeof(gen), "%s/build/dwgen", f->top);
	return pgfix_sh(PGFIX_PSQL " -c 'SET client_min_messages = warning' -c 'DROP SCHEMA IF EXISTS q_fix "
		  "CASCADE' -c 'DROP SCHEMA IF EXISTS q_gen CASCADE' -c 'DROP SCHEMA IF EXISTS "
		  "q_edge CASCADE' -c 'DROP SCHEMA IF EXISTS q_broken CASCADE' >/dev/null && "
		  PGFIX_PSQL " -v schema=q_fix -f %s/rules/contract.sql -f %s/tests/fixtures/boundaries.sql "
		  ">/dev/null && " PGFIX_PSQL " -v schema=q_gen -f %s/rules/contract.sql >/dev/null && "
		  "%s --children 3000 --seed 3 --as-of " T " --bad-rows 50 --schema q_gen | " PGFIX_PSQL
		  " >/dev/null && " PGFIX_PSQL " -v schema=q_edge -f %s/rules/contract.sql >/dev/null",
		  f->top, f->top, f->top, dwgen ? dwgen : gen, f->top);
}

/* Duplicates the generator does not make: copies of rows with no key, a key whose first row
 * by content is a bad one, three copies and two contents of one key, a key shared by two
 * children (two plans), the same id with and without a child. */
static const char edge_sql[] =
	"SET search_path = q_edge;\n"
	"INSERT INTO teams VALUES (NULL, 'A', NULL, NULL), (NULL, 'A', NULL, NULL), "
	"  (NULL, 'B', NULL, NULL), ('T1', 'X', NULL, NULL), ('T1', 'X', NULL, NULL);\n"
	"INSERT INTO workers VALUES ('W1', 'w', NULL, 'T1', 'W9', 'social_worker'), "
	"  ('W1', 'w', NULL, 'T1', 'W9', 'social_worker'), ('W1', 'v', NULL, 'T2', NULL, 'x');\n"
	"INSERT INTO children VALUES ('C1', 'F', '2020-01-01', NULL, false), "
	"  ('C1', 'F', '2020-01-01', NULL, false), ('C1', 'G', NULL, NULL, NULL), "
	"  ('C2', NULL, NULL, NULL, true);\n"
	"INSERT INTO cin_plans VALUES "
	"  ('P1', 'C1', '2020-01-01', NULL, true), ('P1', 'C1', '2020-01-01', NULL, true), "
	"  ('P1', 'C1', '2019-01-01', '2018-01-01', true), "
	"  ('P2', 'C1', '2021-01-01', NULL, NULL), ('P2', 'C1', '2021-01-01', NULL, false), "
	"  ('P1', 'C2', '2020-01-01', NULL, true), "
	"  (NULL, 'C3', '2020-01-01', NULL, true), (NULL, 'C3', '2020-01-01', NULL, true), "
	"  (NULL, 'C3', '2020-02-01', NULL, true), ('P1', NULL, NULL, NULL, NULL), "
	"  ('P1', NULL, NULL, NULL, NULL), ('P3', 'C4', NULL, NULL, true), "
	"  ('P3', 'C4', NULL, NULL, true), ('P3', 'C4', NULL, NULL, false);\n"
	"INSERT INTO cp_plans VALUES "
	"  ('Q1', 'C1', '2020-01-01', NULL, 'NEG', NULL, 'W1'), "
	"  ('Q1', 'C1', '2020-01-01', NULL, 'NEG', NULL, 'W404'), "
	"  ('Q1', 'C1', '2020-01-01', NULL, 'NEG', NULL, 'W404'), "
	"  ('Q2', 'C1', '2020-01-01', NULL, 'XXX', NULL, 'W404');\n"
	"INSERT INTO allocations VALUES ('A1', 'C1', 'W404', '2020-01-01', NULL), "
	"  ('A1', 'C1', 'W1', '2020-01-01', NULL), ('A1', 'C1', 'W1', '2020-01-01', NULL), "
	"  ('A2', 'C5', NULL, NULL, NULL);\n"
	"INSERT INTO appointments VALUES "
	"  ('AP1', 'C1', 'gp', '2026-01-01 10:00+00', 'was_not_brought'), "
	"  ('AP1', 'C1', 'gp', '2026-01-01 10:00+00', 'was_not_brought'), "
	"  ('AP1', 'C1', 'gp', '2026-01-01 10:00+00', 'nonsense'), "
	"  ('AP1', 'C6', 'dental', NULL, 'attended');\n"
	"INSERT INTO referrals VALUES ('R1', 'C7', '2026-01-01', 'N1', true, NULL, NULL), "
	"  ('R1', 'C7', '2026-01-01', 'N1', true, NULL, NULL), "
	"  ('R1', 'C7', NULL, 'N2', false, NULL, NULL);\n"
	"INSERT INTO strategies VALUES ('S1', 'C8', 'plo', '2026-01-01', '2025-01-01'), "
	"  ('S1', 'C8', 'plo', '2026-01-01', NULL), (NULL, NULL, NULL, NULL, NULL), "
	"  (NULL, NULL, NULL, NULL, NULL), "
	"  ('S2', 'C8', 'plo', '2026-02-01', NULL), ('S2', 'C9', 'plo', '2026-02-01', NULL);\n";

static const char *const edge_kinds[] = { "cin_plans.shared_key|1", "strategies.shared_key|2",
					  "cin_plans.duplicate_key", NULL };

/* q_broken: the fixture with strategies.review_by gone, read by a role that may not read
 * referrals (and one that may not read children either). load() dropped the schema, and with
 * it every grant, so the roles can go and come back. */
static const char broken_sql[] =
	"SET client_min_messages = warning;\n"
	"CREATE SCHEMA q_broken;\n"
	"CREATE TABLE q_broken.teams AS SELECT * FROM q_fix.teams;\n"
	"CREATE TABLE q_broken.workers AS SELECT * FROM q_fix.workers;\n"
	"CREATE TABLE q_broken.children AS SELECT * FROM q_fix.children;\n"
	"CREATE TABLE q_broken.allocations AS SELECT * FROM q_fix.allocations;\n"
	"CREATE TABLE q_broken.referrals AS SELECT * FROM q_fix.referrals;\n"
	"CREATE TABLE q_broken.cin_plans AS SELECT * FROM q_fix.cin_plans;\n"
	"CREATE TABLE q_broken.cp_plans AS SELECT * FROM q_fix.cp_plans;\n"
	"CREATE TABLE q_broken.appointments AS SELECT * FROM q_fix.appointments;\n"
	"CREATE TABLE q_broken.strategies AS SELECT * FROM q_fix.strategies;\n"
	"ALTER TABLE q_broken.strategies DROP COLUMN review_by;\n"
	"DROP ROLE IF EXISTS dwq_limited;\n"
	"DROP ROLE IF EXISTS dwq_nochildren;\n"
	"CREATE ROLE dwq_limited LOGIN;\n"
	"CREATE ROLE dwq_nochildren LOGIN;\n"
	"GRANT USAGE ON SCHEMA q_broken TO dwq_limited, dwq_nochildren;\n"
	"GRANT SELECT ON ALL TABLES IN SCHEMA q_broken TO dwq_limited, dwq_nochildren;\n"
	"REVOKE SELECT ON q_broken.referrals FROM dwq_limited, dwq_nochildren;\n"
	"REVOKE SELECT ON q_broken.children FROM dwq_nochildren;\n";

static int load_sql(struct fixture *f, const char *name, const char *sql)
{
	char path[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s.sql", f->tmp, name);
	fp = fopen(path, "w");
	if (!fp)
		return -1;
	fputs(sql, fp);
	fclose(fp);
	return pgfix_sh(PGFIX_PSQL " -f %s >/dev/null", path);
}

/* The children the readable relations name: distinct non-null ids of q_fix's relations but
 * referrals and strategies (and children, when not readable). */
static long long named_children(struct fixture *f, int with_children)
{
	char path[512], *v;
	long long n;

	snprintf(path, sizeof(path), "%s/named", f->tmp);
	if (pgfix_sh(PGFIX_PSQL " -At -c \"SELECT count(DISTINCT child_id) FROM (SELECT child_id FROM "
	       "q_fix.allocations UNION ALL SELECT child_id FROM q_fix.cin_plans UNION ALL SELECT "
	       "child_id FROM q_fix.cp_plans UNION ALL SELECT child_id FROM q_fix.appointments%s) n"
	       "\" >%s", with_children ? " UNION ALL SELECT child_id FROM q_fix.children" : "",
	       path) != 0)
		return -1;
	v = slurp(path);
	n = atoll(v);
	free(v);
	return n;
}

static void test_broken(struct fixture *f, const char *user, int children_readable)
{
	char *log = NULL, *got = NULL, *want;
	struct eval_result *res;
	const char *what = children_readable ? "referrals not granted, strategies.review_by gone"
					     : "children, referrals not granted";

	fixture_close(f);
	if (!tap_ok(fixture_open(f, user, "q_broken") == 0, "connect as %s", user))
		return;
	res = count_bad_rows(f, &log);
	tap_ok(res && !res->error, "%s: the count does not fail", what);
	if (!res || res->error)
		goto out;
	tap_ok(res->counted, "%s: children are counted from what can be read", what);
	tap_contains(log, "bad rows of referrals could not be counted: ",
		     "%s: referrals said not to be counted", what);
	tap_contains(log, "permission denied", "%s: with the reason", what);
	if (children_readable) {
		tap_contains(log, "bad rows of strategies could not be counted: ",
			     "%s: strategies said not to be counted", what);
		tap_contains(log, "review_by", "%s: with the reason (the column)", what);
		want = reference_lines(f, "q_fix", "{NEG}", "referrals.", "strategies.");
		got = result_lines(res, "referrals.", "strategies.");
		/* children_evaluated differs: referrals and strategies name some children */
		if (want && got) {
			char *a = strstr(want, "children_evaluated|"), *b = strstr(got, "children_evaluated|");

			if (a && b) {
				memmove(a, strchr(a, '\n') + 1, strlen(strchr(a, '\n') + 1) + 1);
				memmove(b, strchr(b, '\n') + 1, strlen(strchr(b, '\n') + 1) + 1);
			}
		}
		if (!tap_ok(want && got && strcmp(got, want) == 0,
			    "%s: every other relation counted as before", what)) {
			diag_lines("want", want);
			diag_lines("got ", got);
		}
		free(want);
	} else {
		tap_contains(log, "bad rows of children could not be counted: ",
			     "%s: children said not to be counted", what);
		for (size_t i = 0; i < res->n_bad; i++)
			if (strncmp(res->bad[i].kind, "children.", 9) == 0)
				tap_ok(0, "%s: no %s without children to compare with", what,
				       res->bad[i].kind);
		tap_ok(res->n_bad > 0, "%s: the other relations are counted", what);
	}
	tap_int(res->children, named_children(f, children_readable),
		"%s: the children evaluated are those the readable relations name", what);
out:
	eval_result_free(res);
	free(log);
	free(got);
}

int main(void)
{
	struct fixture f = { 0 };
	const char *tmpdir = getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp";

	/* an integration test: without its server it fails, as a missing tool does */
	if (!getenv("PGPORT")) {
		tap_ok(false, "test_eval_quality needs the test PostgreSQL: PGPORT is not set (tests/run.sh "
		       "sets it)");
		return tap_status();
	}
	f.top = getenv("DW_TOP") ? getenv("DW_TOP") : ".";
	snprintf(f.tmp, sizeof(f.tmp), "%s/dw-quality.XXXXXX", tmpdir);
	f.ctx.log_level = LOG_PRIO_WARNING;
	f.ctx.base = event_base_new();
	if (!tap_ok(f.ctx.base && mkdtemp(f.tmp), "a loop and a scratch directory") ||
	    !tap_int(load(&f), 0, "load the boundaries fixture (q_fix), 3,000 generated children "
		     "with 5%% bad rows (q_gen) and the contract (q_edge)") ||
	    !tap_int(load_sql(&f, "edge", edge_sql), 0, "hand-made duplicates into q_edge") ||
	    !tap_int(load_sql(&f, "broken", broken_sql), 0, "q_broken and its roles") ||
	    !tap_ok(fixture_open(&f, getenv("PGUSER") ? getenv("PGUSER") : "dwtest", "q_fix") == 0,
		    "connect to the test PostgreSQL"))
		goto out;
	compare(&f, "boundaries fixture", "q_fix", NULL);
	compare(&f, "generated, 5% bad rows", "q_gen", NULL);
	/* a key two children share (audit 13): S2 of C8 and C9, both sound; P1 of C1 and C2,
	 * where C1's first P1 by content is a bad row of its own, which comes first */
	compare(&f, "hand-made duplicates", "q_edge", edge_kinds);
	test_broken(&f, "dwq_limited", 1);
	test_broken(&f, "dwq_nochildren", 0);
out:
	fixture_close(&f);
	if (f.ctx.base)
		event_base_free(f.ctx.base);
	pgfix_sh("rm -rf %s", f.tmp);
	return tap_status();
}
