/* report: prints an evaluation's figures in a few lines a person can take in at a glance. */
#include <string.h>

#include "driftwatch/config.h"
#include "driftwatch/eval.h"
#include "driftwatch/report.h"
#include "driftwatch/rule.h"

static void report_stages(FILE *out, const struct dw_config *cfg, const struct eval_result *res)
{
	for (size_t r = 0; r < cfg->n_rules; r++) {
		const struct config_rule *rc = &cfg->rules[r];

		fprintf(out, "  %-22s", rc->def->name);
		if (!rc->enabled) {
			fprintf(out, " disabled\n");
			continue;
		}
		if (res->rules[r].status == EVAL_RULE_FAILED) {
			fprintf(out, " FAILED: %s\n", res->rules[r].error ? res->rules[r].error : "?");
			continue;
		}
		for (size_t s = 0; s < rc->def->n_stages; s++)
			fprintf(out, " %s=%zu", rc->def->stages[s].name, res->rules[r].by_stage[s]);
		fputc('\n', out);
	}
}

/* Kinds arrive sorted as "relation.kind"; one line per relation keeps forty kinds readable. */
static void report_bad_rows(FILE *out, const struct eval_result *res)
{
	const char *rel = NULL;
	size_t rel_len = 0;

	if (res->bad_rows_uncounted)
		fprintf(out, "  bad rows not counted in: %s (see the warnings above)\n",
			res->bad_rows_uncounted);
	if (res->n_bad == 0) {
		fprintf(out, "  bad rows: none%s\n", res->bad_rows_uncounted ? " in the rest" : "");
		return;
	}
	for (size_t i = 0; i < res->n_bad; i++) {
		const char *kind = res->bad[i].kind;
		const char *dot = strchr(kind, '.');
		size_t len = dot ? (size_t)(dot - kind) : strlen(kind);

		if (!rel || len != rel_len || strncmp(rel, kind, len) != 0) {
			fprintf(out, "%s  bad rows in %.*s:", rel ? "\n" : "", (int)len, kind);
			rel = kind;
			rel_len = len;
		}
		fprintf(out, " %s=%lld", dot ? dot + 1 : kind, res->bad[i].count);
	}
	fputc('\n', out);
}

void report_evaluation(FILE *out, const struct dw_config *cfg, const struct eval_result *res)
{
	if (res->counted)
		fprintf(out, "driftwatch as of %s: %lld children evaluated, %zu alerts, %.2f s "
			"(rules %.2f s, bad rows %.2f s)\n", res->as_of, res->children,
			res->n_alerts, res->seconds, res->rules_seconds, res->bad_rows_seconds);
	else
		fprintf(out, "driftwatch as of %s: %zu alerts, %.2f s (bad rows not counted%s%s)\n",
			res->as_of, res->n_alerts, res->seconds,
			res->bad_rows_error ? ": " : "",
			res->bad_rows_error ? res->bad_rows_error : "");
	report_stages(out, cfg, res);
	if (res->counted)
		report_bad_rows(out, res);
	if (res->used_fallback)
		fprintf(out, "  %zu alerts have a role sent to the fallback address %s\n",
			res->used_fallback, cfg->addresses.fallback);
	if (res->repaired_text)
		fprintf(out, "  %zu values were not valid UTF-8: shown with U+FFFD in their place\n",
			res->repaired_text);
	if (res->unroutable)
		fprintf(out, "  %zu alerts have a role with no address at all: set addresses.fallback "
			"in %s\n", res->unroutable, cfg->path);
}
