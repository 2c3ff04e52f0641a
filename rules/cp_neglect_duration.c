/* cp_neglect_duration: CP plans for neglect at 9, 12, 15 and 18 months; 15 and 18 escalate. */
#include <stdio.h>

#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/errlist.h"
#include "driftwatch/facts.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

RULE_SQL(cp_neglect_duration);

static const struct rule_opt opts[] = {
	{ "merge_gap_days", 28, 0, 365,
	  "a plan starting within this many days of the previous one's end continues its episode" },
};

static const struct rule_stage stages[] = {
	{ .name = "9m", .threshold_key = "months", .def_threshold = 9,
	  .default_roles = { "supervisor", NULL },
	  .label = "CP plan at 9 months", .label_many = "CP plans at 9 months",
	  .seriousness = RULE_SERIOUS_DRIFT,
	  .expect = {
		{ "supervisor", "review the plan in supervision and prepare for the chair's "
		  "review" },
		{ NULL, "review the plan in supervision" } } },
	{ .name = "12m", .threshold_key = "months", .def_threshold = 12,
	  .default_roles = { "supervisor", "cp_chair", NULL },
	  .label = "CP plan at 12 months", .label_many = "CP plans at 12 months",
	  .seriousness = RULE_SERIOUS_DRIFT,
	  .expect = {
		{ "supervisor", "review in supervision whether the plan is changing things for the "
		  "child" },
		{ "cp_chair", "review the plan's progress at the next conference, with a clear "
		  "timescale" },
		{ NULL, "review in supervision; chair to review the plan's progress" } } },
	{ .name = "15m", .threshold_key = "months", .def_threshold = 15,
	  .default_roles = { "cp_chair", "cp_manager", "supervisor", NULL },
	  .label = "CP escalation at 15 months", .label_many = "CP escalations at 15 months",
	  .urgent = true, .seriousness = RULE_SERIOUS_ESCALATION,
	  .expect = {
		{ "cp_chair", "convene a 15-month review with the CP manager and record the "
		  "strategy agreed (legal planning, proceedings or a step-down)" },
		{ "cp_manager", "join the chair's 15-month review and agree the way forward" },
		{ "supervisor", "prepare the child's history for the chair's 15-month review" },
		{ NULL, "chair to convene a 15-month review with the CP manager" } } },
	{ .name = "18m", .threshold_key = "months", .def_threshold = 18,
	  .default_roles = { "head_of_service", "cp_chair", "supervisor", NULL },
	  .label = "CP escalation at 18 months", .label_many = "CP escalations at 18 months",
	  .urgent = true, .seriousness = RULE_SERIOUS_ESCALATION,
	  .expect = {
		{ "head_of_service", "review the plan and decide the way forward: it has run 18 "
		  "months with no strategy active" },
		{ "cp_chair", "bring the plan to the head of service's review with your "
		  "recommendation" },
		{ "supervisor", "prepare the child's history for the head of service's review" },
		{ NULL, "head of service to review the plan and decide the way forward" } } },
};

/* Escalation depends on the order of the stages; a configuration that reorders them would
 * make a higher stage fire before a lower one and confuse every reader. */
static void check(const struct config_rule *rc, const char *file, struct errlist *errs)
{
	for (size_t i = 1; i < sizeof(stages) / sizeof(stages[0]); i++) {
		if (rc->thresholds[i] > rc->thresholds[i - 1])
			continue;
		errlist_add(errs, "%s: rules.cp_neglect_duration.stages.%s.months: must be more than "
			    "stage %s's %d months, got %d", file, stages[i].name,
			    stages[i - 1].name, rc->thresholds[i - 1], rc->thresholds[i]);
	}
}

static void summarize_strategy(const struct alert *a, struct strbuf *out)
{
	const json_t *s = json_object_get(a->facts, "strategy");
	char decided[24], review[24];

	facts_date_words(facts_str(s, "decided_on", NULL), decided, sizeof(decided));
	strbuf_printf(out, "; escalation is held by a %s strategy agreed on %s",
		      facts_str(s, "kind", "recorded"), decided);
	if (facts_str(s, "review_by", NULL)) {
		facts_date_words(facts_str(s, "review_by", NULL), review, sizeof(review));
		strbuf_printf(out, " for review by %s", review);
	} else {
		strbuf_append(out, " with no review date set");
	}
}

static void summarize(const struct alert *a, struct strbuf *out)
{
	char since[24];

	facts_date_words(facts_str(a->facts, "episode_start", a->since), since, sizeof(since));
	strbuf_printf(out, "Child %s has been on a child protection plan for neglect for %lld "
		      "months (since %s)", a->child_id, facts_int(a->facts, "months", 0), since);
	if (json_is_object(json_object_get(a->facts, "strategy")))
		summarize_strategy(a, out);
	else if (a->stage >= 2)
		strbuf_append(out, " with no recorded strategy");
	strbuf_append(out, ".");
}

const struct rule_def rule_cp_neglect_duration = {
	.name = "cp_neglect_duration",
	.doc = "a child on an open CP plan for neglect at 9, 12, 15 and 18 months; a strategy "
	       "holds the 15- and 18-month escalations",
	.sql = sql_cp_neglect_duration,
	.sql_incremental = sql_cp_neglect_duration_incremental,
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
	.stages = stages,
	.n_stages = sizeof(stages) / sizeof(stages[0]),
	.uses_neglect_categories = true,
	.shares_neglect_categories = true,
	.subject_words = "the episode of CP plans that began with plan",
	.check = check,
	.summarize = summarize,
};
