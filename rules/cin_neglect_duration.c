/* cin_neglect_duration: a child on a CIN plan for neglect for 6 months or more (drift). */
#include "driftwatch/alert.h"
#include "driftwatch/facts.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

RULE_SQL(cin_neglect_duration);

static const struct rule_opt opts[] = {
	{ "merge_gap_days", 28, 0, 365,
	  "a plan starting within this many days of the previous one's end continues its episode" },
};

static const struct rule_stage stages[] = {
	{ .name = "6m", .threshold_key = "months", .def_threshold = 6,
	  .default_roles = { "supervisor", NULL },
	  .label = "CIN plan at 6 months", .label_many = "CIN plans at 6 months",
	  .seriousness = RULE_SERIOUS_DRIFT,
	  .expect = {
		{ "supervisor", "review the plan in supervision: what has changed for the child in "
		  "six months, and whether the plan should step up" },
		{ NULL, "review the plan in supervision" } } },
};

static void summarize(const struct alert *a, struct strbuf *out)
{
	char since[24];
	long long plans = facts_int(a->facts, "plans_in_episode", 1);

	facts_date_words(facts_str(a->facts, "episode_start", a->since), since, sizeof(since));
	strbuf_printf(out, "Child %s has been on a child in need plan for neglect for %lld months "
		      "(since %s)", a->child_id, facts_int(a->facts, "months", 0), since);
	if (plans > 1)
		strbuf_printf(out, ", across %lld plans in one episode", plans);
	strbuf_append(out, ".");
}

const struct rule_def rule_cin_neglect_duration = {
	.name = "cin_neglect_duration",
	.title = "Long CIN plan for neglect",
	.doc = "a child on an open CIN plan for neglect, by months since the episode started",
	.sql = sql_cin_neglect_duration,
	.sql_incremental = sql_cin_neglect_duration_incremental,
	.sql_lookup = sql_cin_neglect_duration_lookup,
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
	.stages = stages,
	.n_stages = sizeof(stages) / sizeof(stages[0]),
	.uses_neglect_categories = false,
	.former_subject_fact = "current_plan_id",
	.subject_words = "the episode of CIN plans that began with plan",
	.check = NULL,
	.summarize = summarize,
};
