/* Unit tests of daemon/metrics_text.c (the Prometheus text for /metrics): exact sample lines
 * for a filled struct, label escaping, HELP and TYPE for every family, number formats; and of
 * http_health, the /healthz verdict and its reasons. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/http.h"
#include "driftwatch/metrics_text.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

#define MAX_FAMILIES 64

static void fill(struct dw_metrics *m)
{
	memset(m, 0, sizeof(*m));
	m->evaluations_total = 42;
	m->evaluations_failed_total = 3;
	m->incremental_total = 30;
	m->eval_seconds_sum = 12.5;
	m->last_eval_seconds = 0.1;
	m->last_good_eval = 1767225600;
	m->last_eval_ok = 1;
	m->children_evaluated = 1234;
	for (size_t i = 0; i < rule_registry_count(); i++)
		for (size_t j = 0; j < rule_registry_get(i)->n_stages; j++)
			m->alerts[i][j] = (long long)(i * 100 + j);
	snprintf(m->bad[0].kind, sizeof(m->bad[0].kind), "cin_episode.missing_start");
	m->bad[0].count = 2;
	snprintf(m->bad[1].kind, sizeof(m->bad[1].kind), "a\"b\\c\nd");
	m->bad[1].count = 3;
	m->n_bad = 2;
	m->outbox.pending[0] = 4;
	m->outbox.pending[1] = 1;
	m->outbox.due[0] = 3;
	m->outbox.due[1] = 1;
	m->outbox.delivered[0] = 100;
	m->outbox.delivered[1] = 50;
	m->outbox.failed[0] = 2;
	m->outbox.failed[1] = 1;
	m->outbox.oldest_pending_age_s = 90.5;
	m->deliveries_total[0] = 100;
	m->deliveries_total[1] = 51;
	m->deliveries_failed_total = 3;
	m->db_reconnects_total = 7;
	m->db_up = 1;
	m->started = 1767220000;
}

/* text has line as a whole line */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
	return 0;
}

static void line_ok(const char *text, const char *line)
{
	if (!tap_ok(has_line(text, line), "line: %s", line))
		tap_diag_value("in:", text);
}

static void test_exact_lines(void)
{
	struct dw_metrics m;
	char *text;
	static const char *const lines[] = {
		"# HELP driftwatch_evaluations_total Evaluations finished since the daemon "
		"started, good or failed.",
		"# TYPE driftwatch_evaluations_total counter",
		"driftwatch_evaluations_total 42",
		"driftwatch_evaluation_failures_total 3",
		"driftwatch_incremental_evaluations_total 30",
		"# TYPE driftwatch_evaluation_duration_seconds summary",
		"driftwatch_evaluation_duration_seconds_sum 12.5",
		"driftwatch_evaluation_duration_seconds_count 42",
		"# TYPE driftwatch_last_evaluation_duration_seconds gauge",
		"driftwatch_last_evaluation_duration_seconds 0.1",
		"driftwatch_last_evaluation_success 1",
		"driftwatch_last_good_evaluation_timestamp_seconds 1767225600",
		"driftwatch_children_evaluated 1234",
		"# TYPE driftwatch_alerts gauge",
		"# TYPE driftwatch_bad_rows gauge",
		"driftwatch_bad_rows{kind=\"cin_episode.missing_start\"} 2",
		"driftwatch_bad_rows{kind=\"a\\\"b\\\\c\\nd\"} 3",
		"# TYPE driftwatch_notices gauge",
		"driftwatch_notices{channel=\"email\",status=\"pending\"} 4",
		"driftwatch_notices{channel=\"email\",status=\"delivered\"} 100",
		"driftwatch_notices{channel=\"email\",status=\"failed\"} 2",
		"driftwatch_notices{channel=\"webhook\",status=\"pending\"} 1",
		"driftwatch_notices{channel=\"webhook\",status=\"delivered\"} 50",
		"driftwatch_notices{channel=\"webhook\",status=\"failed\"} 1",
		"# TYPE driftwatch_notices_due gauge",
		"driftwatch_notices_due{channel=\"email\"} 3",
		"driftwatch_notices_due{channel=\"webhook\"} 1",
		"driftwatch_outbox_depth 5",
		"driftwatch_outbox_oldest_pending_age_seconds 90.5",
		"# TYPE driftwatch_deliveries_total counter",
		"driftwatch_deliveries_total{channel=\"email\"} 100",
		"driftwatch_deliveries_total{channel=\"webhook\"} 51",
		"driftwatch_delivery_failures_total 3",
		"driftwatch_database_reconnects_total 7",
		"# TYPE driftwatch_database_up gauge",
		"driftwatch_database_up 1",
		"# TYPE driftwatch_start_time_seconds gauge",
		"driftwatch_start_time_seconds 1767220000",
		"driftwatch_build_info{version=\"" DW_VERSION "\"} 1",
	};

	fill(&m);
	text = metrics_text(&m);
	if (!tap_ok(text != NULL, "a filled struct renders"))
		return;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		line_ok(text, lines[i]);
	/* every rule and stage of the registry, in registry order of values */
	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct rule_def *def = rule_registry_get(i);

		for (size_t j = 0; j < def->n_stages; j++) {
			char want[256];

			snprintf(want, sizeof(want),
				 "driftwatch_alerts{rule=\"%s\",stage=\"%s\"} %zu", def->name,
				 def->stages[j].name, i * 100 + j);
			line_ok(text, want);
		}
	}
	tap_lacks(text, "\n\n", "no blank lines");
	tap_ok(text[strlen(text) - 1] == '\n', "the text ends with a newline");
	free(text);
}

static void test_zeros(void)
{
	struct dw_metrics m;
	char *text;
	size_t n_alerts = 0, n_stages = 0;

	memset(&m, 0, sizeof(m));
	text = metrics_text(&m);
	if (!tap_ok(text != NULL, "an empty struct renders"))
		return;
	for (const char *p = strstr(text, "\ndriftwatch_alerts{"); p;
	     p = strstr(p + 1, "\ndriftwatch_alerts{"))
		n_alerts++;
	for (size_t i = 0; i < rule_registry_count(); i++)
		n_stages += rule_registry_get(i)->n_stages;
	tap_int(n_alerts, n_stages, "alerts has a sample for every rule and stage, zeros too");
	tap_ok(n_stages > 0, "the registry has stages");
	line_ok(text, "driftwatch_last_good_evaluation_timestamp_seconds 0");
	line_ok(text, "driftwatch_last_evaluation_success 0");
	line_ok(text, "driftwatch_database_up 0");
	line_ok(text, "driftwatch_outbox_depth 0");
	line_ok(text, "driftwatch_evaluation_duration_seconds_sum 0");
	line_ok(text, "# TYPE driftwatch_bad_rows gauge");
	tap_lacks(text, "driftwatch_bad_rows{", "no bad rows: the family has no samples");
	free(text);
}

static void test_escaping_and_bounds(void)
{
	struct dw_metrics m;
	char *text;
	char want[128];

	memset(&m, 0, sizeof(m));
	/* a kind that fills its array with no terminating NUL must not be read past */
	memset(m.bad[0].kind, 'k', sizeof(m.bad[0].kind));
	m.bad[0].count = 9;
	snprintf(m.bad[1].kind, sizeof(m.bad[1].kind), "\\\\\"\"\n\n");
	m.bad[1].count = 1;
	m.n_bad = 2;
	text = metrics_text(&m);
	if (!tap_ok(text != NULL, "odd kinds render"))
		return;
	snprintf(want, sizeof(want), "driftwatch_bad_rows{kind=\"%.*s\"} 9",
		 (int)sizeof(m.bad[0].kind), m.bad[0].kind);
	line_ok(text, want);
	line_ok(text, "driftwatch_bad_rows{kind=\"\\\\\\\\\\\"\\\"\\n\\n\"} 1");
	free(text);

	/* n_bad beyond the array is clamped, not trusted */
	memset(&m, 0, sizeof(m));
	for (size_t i = 0; i < METRICS_MAX_BAD_KINDS; i++) {
		snprintf(m.bad[i].kind, sizeof(m.bad[i].kind), "t.k%zu", i);
		m.bad[i].count = 1;
	}
	m.n_bad = METRICS_MAX_BAD_KINDS + 50;
	text = metrics_text(&m);
	if (tap_ok(text != NULL, "a too large n_bad renders")) {
		size_t n = 0;

		for (const char *p = strstr(text, "driftwatch_bad_rows{"); p;
		     p = strstr(p + 1, "driftwatch_bad_rows{"))
			n++;
		tap_int(n, METRICS_MAX_BAD_KINDS, "n_bad is clamped to the array");
	}
	free(text);
}

static void test_numbers(void)
{
	struct dw_metrics m;
	char *text;

	memset(&m, 0, sizeof(m));
	m.last_eval_seconds = NAN;
	m.outbox.oldest_pending_age_s = INFINITY;
	m.eval_seconds_sum = 1.0 / 3.0;
	m.evaluations_total = 18446744073709551615ULL;
	m.children_evaluated = -1;
	text = metrics_text(&m);
	if (!tap_ok(text != NULL, "odd numbers render"))
		return;
	line_ok(text, "driftwatch_last_evaluation_duration_seconds NaN");
	line_ok(text, "driftwatch_outbox_oldest_pending_age_seconds +Inf");
	line_ok(text, "driftwatch_evaluation_duration_seconds_sum 0.33333333333333331");
	line_ok(text, "driftwatch_evaluations_total 18446744073709551615");
	line_ok(text, "driftwatch_children_evaluated -1");
	free(text);
}

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':'))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':'))
			return 0;
	return 1;
}

struct family {
	char name[128];
	char type[16];
	int help, samples;
};

/* The family a sample belongs to: its own name, or a summary's name without _sum/_count. */
static struct family *family_of(struct family *fams, size_t n, const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		size_t fl = strlen(fams[i].name);

		if (fl == len && strncmp(fams[i].name, name, len) == 0)
			return &fams[i];
		if (strcmp(fams[i].type, "summary") == 0 && strncmp(fams[i].name, name, fl) == 0 &&
		    ((len == fl + 4 && strncmp(name + fl, "_sum", 4) == 0) ||
		     (len == fl + 6 && strncmp(name + fl, "_count", 6) == 0)))
			return &fams[i];
	}
	return NULL;
}

/* Walks the text as a scraper would: each family's HELP, then its TYPE, then its samples. */
static void test_structure(void)
{
	struct dw_metrics m;
	struct family fams[MAX_FAMILIES];
	size_t n_fams = 0;
	int bad_lines = 0, orphans = 0, dup = 0, order = 0;
	char *text, *save = NULL;
	const char *last_help = NULL;

	fill(&m);
	text = metrics_text(&m);
	if (!tap_ok(text != NULL, "renders for the structure check"))
		return;
	memset(fams, 0, sizeof(fams));
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[128];
		size_t len;

		if (strncmp(line, "# HELP ", 7) == 0) {
			if (sscanf(line + 7, "%127s", name) != 1 || n_fams == MAX_FAMILIES) {
				bad_lines++;
				continue;
			}
			dup += family_of(fams, n_fams, name, strlen(name)) != NULL;
			snprintf(fams[n_fams].name, sizeof(fams[n_fams].name), "%s", name);
			fams[n_fams++].help = 1;
			last_help = line;
			continue;
		}
		if (strncmp(line, "# TYPE ", 7) == 0) {
			char type[16];

			if (sscanf(line + 7, "%127s %15s", name, type) != 2 || n_fams == 0 ||
			    strcmp(fams[n_fams - 1].name, name) != 0 || !last_help) {
				order++;
				continue;
			}
			snprintf(fams[n_fams - 1].type, sizeof(fams[n_fams - 1].type), "%s", type);
			last_help = NULL;
			continue;
		}
		if (line[0] == '#') {
			bad_lines++;
			continue;
		}
		len = strcspn(line, "{ ");
		if (!name_ok(line, len) || !strchr(line, ' ')) {
			bad_lines++;
			continue;
		}
		{
			struct family *f = family_of(fams, n_fams, line, len);

			if (!f || f != &fams[n_fams - 1])
				orphans++;
			else
				f->samples++;
		}
	}
	tap_int(bad_lines, 0, "every line is a HELP, a TYPE or a well-formed sample");
	tap_int(order, 0, "every TYPE line follows its family's HELP line");
	tap_int(orphans, 0, "every sample follows its own family's HELP and TYPE lines");
	tap_int(dup, 0, "no family appears twice");
	for (size_t i = 0; i < n_fams; i++) {
		const char *t = fams[i].type;

		tap_ok(strncmp(fams[i].name, "driftwatch_", 11) == 0, "%s has the driftwatch_ prefix",
		       fams[i].name);
		tap_ok(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
			       strcmp(t, "summary") == 0,
		       "%s has HELP and a TYPE (%s)", fams[i].name, t[0] ? t : "none");
		if (strcmp(t, "counter") == 0)
			tap_ok(strlen(fams[i].name) > 6 &&
				       strcmp(fams[i].name + strlen(fams[i].name) - 6, "_total") == 0,
			       "counter %s ends in _total", fams[i].name);
	}
	{
		static const char *const want[] = {
			"driftwatch_evaluations_total", "driftwatch_evaluation_failures_total",
			"driftwatch_incremental_evaluations_total",
			"driftwatch_evaluation_duration_seconds",
			"driftwatch_last_evaluation_duration_seconds",
			"driftwatch_last_good_evaluation_timestamp_seconds",
			"driftwatch_children_evaluated", "driftwatch_alerts", "driftwatch_bad_rows",
			"driftwatch_notices", "driftwatch_notices_due", "driftwatch_outbox_depth",
			"driftwatch_outbox_oldest_pending_age_seconds", "driftwatch_deliveries_total",
			"driftwatch_delivery_failures_total", "driftwatch_database_reconnects_total",
			"driftwatch_database_up", "driftwatch_start_time_seconds", "driftwatch_leader",
		};

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			struct family *f = family_of(fams, n_fams, want[i], strlen(want[i]));

			tap_ok(f && f->samples > 0, "family %s is there with samples", want[i]);
		}
	}
	free(text);
}

static void health_case(const struct dw_metrics *m, int want_ok, const char *want_reason,
			const char *name)
{
	struct strbuf reason;
	int ok;

	strbuf_init(&reason);
	ok = http_health(m, &reason);
	tap_int(ok, want_ok, "health: %s", name);
	tap_str(reason.buf ? reason.buf : "", want_reason, "health reason: %s", name);
	strbuf_free(&reason);
}

static void test_health(void)
{
	struct dw_metrics m;

	fill(&m);
	health_case(&m, 1, "", "a good evaluation and a reachable database");

	memset(&m, 0, sizeof(m));
	m.db_up = 1;
	health_case(&m, 0, "no evaluation yet\n", "before the first evaluation");

	fill(&m);
	m.last_eval_ok = 0;
	snprintf(m.last_eval_error, sizeof(m.last_eval_error), "rule x: statement timeout");
	health_case(&m, 0, "last evaluation failed: rule x: statement timeout\n",
		    "the latest evaluation failed");

	fill(&m);
	m.db_up = 0;
	snprintf(m.db_error, sizeof(m.db_error),
		 "server closed the connection\tunexpectedly\nDETAIL: Failing row contains (c1)");
	health_case(&m, 0, "database unreachable: server closed the connection unexpectedly\n",
		    "database down: first line only, control characters blanked");

	memset(&m, 0, sizeof(m));
	health_case(&m, 0, "database unreachable\nno evaluation yet\n",
		    "every reason, one per line, an empty error too");
	m.db_up = 1;
	m.standby = 1;
	health_case(&m, 1, "", "a standby that never evaluated is healthy (another instance leads)");
	m.db_up = 0;
	health_case(&m, 0, "database unreachable\n", "a standby without its database is not");
	memset(&m, 0, sizeof(m));

	fill(&m);
	m.last_eval_ok = 0;
	memset(m.last_eval_error, 'e', sizeof(m.last_eval_error));
	{
		struct strbuf r;

		strbuf_init(&r);
		tap_int(http_health(&m, &r), 0, "health: an unterminated error is still unhealthy");
		tap_int(r.len, strlen("last evaluation failed: \n") + sizeof(m.last_eval_error),
			"health: an unterminated error is not read past its array");
		strbuf_free(&r);
	}
}

/* An instance that stops leading reports none of its last evaluation's figures about the case
 * data, and says it does not lead; its counters and last good evaluation stay. */
static void test_leader_lost(void)
{
	struct dw_metrics m;
	struct strbuf reason;
	char *text;

	fill(&m);
	m.leading = 1;
	m.rule_failing[0] = 1;
	m.rule_failures_total[0] = 5;
	snprintf(m.rule_error[0], sizeof(m.rule_error[0]), "relation missing");
	text = metrics_text(&m);
	if (!tap_ok(text != NULL, "leading: renders"))
		return;
	line_ok(text, "driftwatch_leader 1");
	{
		char want[256];

		snprintf(want, sizeof(want), "driftwatch_rule_failing{rule=\"%s\"} 1",
			 rule_registry_get(0)->name);
		line_ok(text, want);
	}
	free(text);
	strbuf_init(&reason);
	tap_int(http_degraded(&m, &reason), 1, "leading: a failing rule degrades /healthz");
	strbuf_free(&reason);

	metrics_leader_lost(&m);
	text = metrics_text(&m);
	if (!tap_ok(text != NULL, "no longer leading: renders"))
		return;
	line_ok(text, "driftwatch_leader 0");
	for (size_t i = 0; i < rule_registry_count(); i++) {
		char want[256];

		snprintf(want, sizeof(want), "driftwatch_rule_failing{rule=\"%s\"} 0",
			 rule_registry_get(i)->name);
		line_ok(text, want);
	}
	{
		char want[256];
		const char *name = rule_registry_get(0)->name;

		snprintf(want, sizeof(want), "driftwatch_rule_failures_total{rule=\"%s\"} 5", name);
		line_ok(text, want);
		snprintf(want, sizeof(want), "driftwatch_alerts{rule=\"%s\",stage=\"%s\"} 0",
			 rule_registry_get(1)->name, rule_registry_get(1)->stages[0].name);
		line_ok(text, want);
	}
	tap_lacks(text, "driftwatch_bad_rows{", "no longer leading: no bad rows");
	line_ok(text, "driftwatch_children_evaluated 0");
	line_ok(text, "driftwatch_evaluations_total 42");
	line_ok(text, "driftwatch_last_good_evaluation_timestamp_seconds 1767225600");
	free(text);
	strbuf_init(&reason);
	tap_int(http_degraded(&m, &reason), 0, "no longer leading: /healthz is not degraded by the "
		"rule it last saw failing");
	strbuf_free(&reason);
}

int main(void)
{
	test_exact_lines();
	test_zeros();
	test_escaping_and_bounds();
	test_numbers();
	test_structure();
	test_health();
	test_leader_lost();
	return tap_status();
}
