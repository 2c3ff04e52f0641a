/* worker_churn: three or more allocated workers in a year on an open neglect case. */
#include "driftwatch/alert.h"
#include "driftwatch/facts.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

RULE_SQL(worker_churn);

static const struct rule_opt opts[] = {
	{ "window_months", 12, 1, 120, "months back that allocations count" },
};

static const struct rule_stage stages[] = {
	{ .name = "churn", .threshold_key = "workers", .def_threshold = 3,
	  .default_roles = { "supervisor", NULL },
	  .label = "worker churn", .label_many = "worker churn",
	  .seriousness = RULE_SERIOUS_DRIFT,
	  .expect = {
		{ NULL, "review in supervision how to keep one worker with the family" } } },
};

static void summarize(const struct alert *a, struct strbuf *out)
{
	const json_t *names = json_object_get(a->facts, "worker_names");
	const json_t *name;
	char from[24];
	size_t i;

	facts_date_words(facts_str(a->facts, "window_start", NULL), from, sizeof(from));
	strbuf_printf(out, "Child %s has had %lld different allocated workers since %s",
		      a->child_id, facts_int(a->facts, "distinct_workers", 0), from);
	/* "(Worker A, Worker B and Worker C)": names as staff know them */
	json_array_foreach(names, i, name) {
		strbuf_append(out, i == 0 ? " (" : i + 1 == json_array_size(names) ? " and " : ", ");
		strbuf_append(out, json_is_string(name) ? json_string_value(name) : "?");
	}
	if (json_array_size(names) > 0)
		strbuf_append(out, ")");
	strbuf_append(out, " while on a plan for neglect.");
}

const struct rule_def rule_worker_churn = {
	.name = "worker_churn",
	.title = "Many workers in a year",
	.doc = "three or more distinct allocated workers within 12 months on an open neglect plan",
	.sql = sql_worker_churn,
	.sql_incremental = sql_worker_churn_incremental,
	.sql_lookup = sql_worker_churn_lookup,
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
	.stages = stages,
	.n_stages = sizeof(stages) / sizeof(stages[0]),
	.uses_neglect_categories = true,
	.check = NULL,
	.summarize = summarize,
	.nested_facts = (const char *const[]){ "worker_names", NULL },
};
