/* metrics_text: renders struct dw_metrics as Prometheus text (format 0.0.4) for /metrics. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/metrics_text.h"
#include "driftwatch/responses.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

#define MT_PREFIX "driftwatch_"

/* Index order of the [2] arrays in struct dw_metrics. */
static const char *const mt_channels[2] = { "email", "webhook" };

struct mt_label {
	const char *key;
	const char *value;
	size_t len;
};

/* HELP text escapes backslash and newline; label values also the double quote. */
static void mt_escaped(struct strbuf *out, const char *s, size_t n, int in_quotes)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		const char *rep = NULL;

		if (s[i] == '\\')
			rep = "\\\\";
		else if (s[i] == '\n')
			rep = "\\n";
		else if (in_quotes && s[i] == '"')
			rep = "\\\"";
		if (!rep)
			continue;
		strbuf_appendn(out, s + start, i - start);
		strbuf_append(out, rep);
		start = i + 1;
	}
	strbuf_appendn(out, s + start, n - start);
}

static void mt_family(struct strbuf *out, const char *name, const char *type, const char *help)
{
	strbuf_printf(out, "# HELP " MT_PREFIX "%s ", name);
	mt_escaped(out, help, strlen(help), 0);
	strbuf_printf(out, "\n# TYPE " MT_PREFIX "%s %s\n", name, type);
}

/* The sample's name and labels up to the space before its value. */
static void mt_series(struct strbuf *out, const char *name, const struct mt_label *labels,
		      size_t n)
{
	strbuf_append(out, MT_PREFIX);
	strbuf_append(out, name);
	if (n == 0) {
		strbuf_append(out, " ");
		return;
	}
	strbuf_append(out, "{");
	for (size_t i = 0; i < n; i++) {
		strbuf_printf(out, "%s%s=\"", i ? "," : "", labels[i].key);
		mt_escaped(out, labels[i].value, labels[i].len, 1);
		strbuf_append(out, "\"");
	}
	strbuf_append(out, "} ");
}

static void mt_int(struct strbuf *out, long long v)
{
	strbuf_printf(out, "%lld\n", v);
}

static void mt_uint(struct strbuf *out, unsigned long long v)
{
	strbuf_printf(out, "%llu\n", v);
}

/* The shortest of %.15g and %.17g that reads back as the same double, so 0.25 stays "0.25"
 * rather than a 17-digit expansion. The daemon never calls setlocale, so '.' is the point. */
static void mt_double(struct strbuf *out, double v)
{
	char buf[40];

	if (isnan(v)) {
		strbuf_append(out, "NaN\n");
		return;
	}
	if (isinf(v)) {
		strbuf_append(out, v > 0 ? "+Inf\n" : "-Inf\n");
		return;
	}
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	strbuf_printf(out, "%s\n", buf);
}

static void mt_scalar_uint(struct strbuf *out, const char *name, const char *type,
			   const char *help, unsigned long long v)
{
	mt_family(out, name, type, help);
	mt_series(out, name, NULL, 0);
	mt_uint(out, v);
}

static void mt_scalar_int(struct strbuf *out, const char *name, const char *type,
			  const char *help, long long v)
{
	mt_family(out, name, type, help);
	mt_series(out, name, NULL, 0);
	mt_int(out, v);
}

static void mt_scalar_double(struct strbuf *out, const char *name, const char *type,
			     const char *help, double v)
{
	mt_family(out, name, type, help);
	mt_series(out, name, NULL, 0);
	mt_double(out, v);
}

static void mt_build(struct strbuf *out)
{
	struct mt_label l = { "version", DW_VERSION, sizeof(DW_VERSION) - 1 };

	mt_family(out, "build_info", "gauge", "Always 1; the version label says which driftwatch.");
	mt_series(out, "build_info", &l, 1);
	mt_int(out, 1);
}

static void mt_evaluations(const struct dw_metrics *m, struct strbuf *out)
{
	mt_scalar_uint(out, "evaluations_total", "counter",
		       "Evaluations finished since the daemon started, good or failed.",
		       m->evaluations_total);
	mt_scalar_uint(out, "evaluation_failures_total", "counter",
		       "Evaluations that failed since the daemon started.",
		       m->evaluations_failed_total);
	mt_scalar_uint(out, "incremental_evaluations_total", "counter",
		       "Evaluations of notified children only (LISTEN/NOTIFY) since the daemon started.",
		       m->incremental_total);
	/* A summary without quantiles: _sum and _count give the mean duration over any window. */
	mt_family(out, "evaluation_duration_seconds", "summary",
		  "Time spent evaluating (full and incremental) since the daemon started.");
	mt_series(out, "evaluation_duration_seconds_sum", NULL, 0);
	mt_double(out, m->eval_seconds_sum);
	mt_series(out, "evaluation_duration_seconds_count", NULL, 0);
	mt_uint(out, m->evaluations_total);
	mt_scalar_double(out, "last_evaluation_duration_seconds", "gauge",
			 "How long the latest evaluation took.", m->last_eval_seconds);
	mt_scalar_int(out, "last_evaluation_success", "gauge",
		      "1 when the latest evaluation succeeded, else 0 (also before the first).",
		      m->last_eval_ok ? 1 : 0);
	mt_scalar_int(out, "last_good_evaluation_timestamp_seconds", "gauge",
		      "Unix time of the latest evaluation that succeeded; 0 = none yet.",
		      (long long)m->last_good_eval);
	mt_scalar_int(out, "children_evaluated", "gauge",
		      "Children the latest full evaluation looked at.", m->children_evaluated);
}

/* One series per rule and stage of the registry, valued by value(m, rule, stage). */
static void mt_by_rule_stage(const struct dw_metrics *m, struct strbuf *out, const char *name,
			     void (*value)(const struct dw_metrics *m, struct strbuf *out,
					   size_t rule, size_t stage))
{
	size_t n_rules = rule_registry_count();

	if (n_rules > RULE_REGISTRY_MAX)
		n_rules = RULE_REGISTRY_MAX;
	for (size_t i = 0; i < n_rules; i++) {
		const struct rule_def *def = rule_registry_get(i);
		size_t n_stages = def->n_stages < RULE_MAX_STAGES ? def->n_stages : RULE_MAX_STAGES;

		for (size_t j = 0; j < n_stages; j++) {
			const char *stage = def->stages[j].name;
			struct mt_label l[2] = {
				{ "rule", def->name, strlen(def->name) },
				{ "stage", stage, strlen(stage) },
			};

			mt_series(out, name, l, 2);
			value(m, out, i, j);
		}
	}
}

static void mt_alerts_value(const struct dw_metrics *m, struct strbuf *out, size_t rule,
			    size_t stage)
{
	mt_int(out, m->alerts[rule][stage]);
}

static void mt_alerts(const struct dw_metrics *m, struct strbuf *out)
{
	mt_family(out, "alerts", "gauge",
		  "Alerts holding after the latest full evaluation, by rule and stage.");
	mt_by_rule_stage(m, out, "alerts", mt_alerts_value);
}

static void mt_rules(const struct dw_metrics *m, struct strbuf *out)
{
	size_t n_rules = rule_registry_count();

	if (n_rules > RULE_REGISTRY_MAX)
		n_rules = RULE_REGISTRY_MAX;
	mt_family(out, "rule_failures_total", "counter",
		  "Evaluations in which the rule failed (the other rules ran and were recorded).");
	for (size_t i = 0; i < n_rules; i++) {
		const char *name = rule_registry_get(i)->name;
		struct mt_label l = { "rule", name, strlen(name) };

		mt_series(out, "rule_failures_total", &l, 1);
		mt_uint(out, m->rule_failures_total[i]);
	}
	mt_family(out, "rule_failing", "gauge",
		  "1 when the rule failed in the latest evaluation that ran it, else 0.");
	for (size_t i = 0; i < n_rules; i++) {
		const char *name = rule_registry_get(i)->name;
		struct mt_label l = { "rule", name, strlen(name) };

		mt_series(out, "rule_failing", &l, 1);
		mt_int(out, m->rule_failing[i] ? 1 : 0);
	}
	mt_scalar_uint(out, "repaired_text_values_total", "counter",
		       "Text values from the case data that were not UTF-8, shown with U+FFFD.",
		       m->repaired_text_total);
}

static void mt_bad_rows(const struct dw_metrics *m, struct strbuf *out)
{
	size_t n = m->n_bad < METRICS_MAX_BAD_KINDS ? m->n_bad : METRICS_MAX_BAD_KINDS;

	mt_family(out, "bad_rows", "gauge",
		  "Rows the latest full evaluation could not use, by relation.kind of fault.");
	for (size_t i = 0; i < n; i++) {
		const struct metrics_bad_kind *b = &m->bad[i];
		/* kind is a fixed array filled elsewhere: never read past it. */
		struct mt_label l = { "kind", b->kind, strnlen(b->kind, sizeof(b->kind)) };

		mt_series(out, "bad_rows", &l, 1);
		mt_int(out, b->count);
	}
}

static void mt_outbox(const struct dw_metrics *m, struct strbuf *out)
{
	const struct metrics_outbox *o = &m->outbox;

	mt_family(out, "notices", "gauge",
		  "Notices in the outbox as last counted, by channel and status "
		  "(pending includes those being delivered).");
	for (size_t c = 0; c < 2; c++) {
		const char *status[3] = { "pending", "delivered", "failed" };
		long long v[3] = { o->pending[c], o->delivered[c], o->failed[c] };

		for (size_t s = 0; s < 3; s++) {
			struct mt_label l[2] = {
				{ "channel", mt_channels[c], strlen(mt_channels[c]) },
				{ "status", status[s], strlen(status[s]) },
			};

			mt_series(out, "notices", l, 2);
			mt_int(out, v[s]);
		}
	}
	/* Held email is pending for hours before its slot: an alert on "waiting and nothing
	 * delivered" must read this, or it fires every evening. */
	mt_family(out, "notices_due", "gauge",
		  "Notices waiting in the outbox that are due, by channel: pending or being "
		  "delivered, and first due by now (email held for its digest slot is not).");
	for (size_t c = 0; c < 2; c++) {
		struct mt_label l[1] = { { "channel", mt_channels[c], strlen(mt_channels[c]) } };

		mt_series(out, "notices_due", l, 1);
		mt_int(out, o->due[c]);
	}
	mt_scalar_int(out, "outbox_depth", "gauge",
		      "Notices waiting in the outbox (pending or being delivered), all channels.",
		      o->pending[0] + o->pending[1]);
	mt_scalar_double(out, "outbox_oldest_pending_age_seconds", "gauge",
			 "How long the notice waiting longest has waited since it was first due; "
			 "0 when none has.",
			 o->oldest_pending_age_s);
}

static void mt_deliveries(const struct dw_metrics *m, struct strbuf *out)
{
	mt_family(out, "deliveries_total", "counter",
		  "Delivery attempts that ended delivered since the daemon started, by channel.");
	for (size_t c = 0; c < 2; c++) {
		struct mt_label l = { "channel", mt_channels[c], strlen(mt_channels[c]) };

		mt_series(out, "deliveries_total", &l, 1);
		mt_uint(out, m->deliveries_total[c]);
	}
	mt_scalar_uint(out, "delivery_failures_total", "counter",
		       "Notices that failed for good since the daemon started.",
		       m->deliveries_failed_total);
}

/* Counted where the links and the API learn a response was recorded, not in responses.c: a
 * retried request that changes nothing is not counted twice. */
_Static_assert(RESPONSES_UNSNOOZE + 1 == METRICS_RESPONSE_KINDS,
	       "responses_total has one slot per enum responses_kind");

static void mt_responses(const struct dw_metrics *m, struct strbuf *out)
{
	static const char *const kinds[METRICS_RESPONSE_KINDS] = { "acknowledged", "snoozed",
								   "unsnoozed" };

	mt_family(out, "responses_total", "counter",
		  "Responses recorded through the links, the pages and the API since the daemon "
		  "started, by kind.");
	for (size_t k = 0; k < METRICS_RESPONSE_KINDS; k++) {
		struct mt_label l = { "kind", kinds[k], strlen(kinds[k]) };

		mt_series(out, "responses_total", &l, 1);
		mt_uint(out, m->responses_total[k]);
	}
}

static void mt_unanswered_value(const struct dw_metrics *m, struct strbuf *out, size_t rule,
				size_t stage)
{
	mt_uint(out, m->unanswered_total[rule][stage]);
}

static void mt_unanswered(const struct dw_metrics *m, struct strbuf *out)
{
	mt_family(out, "unanswered_escalations_total", "counter",
		  "alert.unanswered escalations queued since the daemon started, by rule and stage.");
	mt_by_rule_stage(m, out, "unanswered_escalations_total", mt_unanswered_value);
}

static void mt_database(const struct dw_metrics *m, struct strbuf *out)
{
	mt_scalar_int(out, "leader", "gauge",
		      "1 while this instance holds the leader lock and evaluates, else 0; one that "
		      "is not reports no alerts, failing rules or bad rows.", m->leading ? 1 : 0);
	mt_scalar_uint(out, "database_reconnects_total", "counter",
		       "Times the database connection was re-established after a loss.",
		       m->db_reconnects_total);
	mt_scalar_int(out, "database_up", "gauge",
		      "1 while the database connection is usable, else 0.", m->db_up ? 1 : 0);
}

void metrics_text_render(const struct dw_metrics *m, struct strbuf *out)
{
	mt_build(out);
	mt_scalar_int(out, "start_time_seconds", "gauge", "Unix time the daemon started.",
		      (long long)m->started);
	mt_evaluations(m, out);
	mt_alerts(m, out);
	mt_rules(m, out);
	mt_bad_rows(m, out);
	mt_outbox(m, out);
	mt_deliveries(m, out);
	mt_responses(m, out);
	mt_unanswered(m, out);
	mt_database(m, out);
}

char *metrics_text(const struct dw_metrics *m)
{
	struct strbuf sb;

	strbuf_init(&sb);
	metrics_text_render(m, &sb);
	return strbuf_take(&sb);
}
