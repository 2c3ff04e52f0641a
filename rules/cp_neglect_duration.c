/* cp_neglect_duration: CP plans for neglect at 9, 12, 15 and 18 months; 15 and 18 escalate. */
#include <stdio.h>
#include <string.h>

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
	{ "strategy_months", 6, 1, 60,
	  "months a strategy with no review date holds an escalation after it was decided" },
};

static const struct rule_list_opt list_opts[] = {
	{ "strategy_kinds", "the strategy kinds that hold an escalation (default: every kind)" },
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

/* "PLO", "care proceedings", "step-down"; another local kind as it is, underscores as spaces;
 * with its article ("a PLO", "an early help"). */
static void kind_words(const char *kind, struct strbuf *out)
{
	static const struct { const char *kind, *words; } known[] = {
		{ "plo", "a PLO" }, { "care_proceedings", "a care proceedings" },
		{ "step_down", "a step-down" },
	};

	if (!kind || !*kind) {
		strbuf_append(out, "a recorded");
		return;
	}
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(kind, known[i].kind) == 0) {
			strbuf_append(out, known[i].words);
			return;
		}
	strbuf_append(out, strchr("aeiouAEIOU", kind[0]) ? "an " : "a ");
	for (const char *p = kind; *p; p++)
		strbuf_appendn(out, *p == '_' ? " " : p, 1);
}

/* "a PLO strategy agreed on 1 Sep 2026" */
static void strategy_words(const json_t *s, struct strbuf *out)
{
	char decided[24];

	facts_date_words(facts_str(s, "decided_on", NULL), decided, sizeof(decided));
	kind_words(facts_str(s, "kind", NULL), out);
	strbuf_printf(out, " strategy agreed on %s", decided);
}

/* The active strategy: until when it holds. */
static void summarize_active(const json_t *s, int holding, struct strbuf *out)
{
	char until[24];

	strbuf_append(out, holding ? "; the escalation is held by " : "; ");
	strategy_words(s, out);
	facts_date_words(facts_str(s, facts_str(s, "review_by", NULL) ? "review_by" : "runs_until",
				   NULL), until, sizeof(until));
	if (facts_str(s, "review_by", NULL))
		strbuf_printf(out, " for review by %s", until);
	else
		strbuf_printf(out, ", which holds until %s with no review date set", until);
}

/* A strategy of this episode that has run out: the escalation went out when it did. */
static void summarize_lapsed(const json_t *s, struct strbuf *out)
{
	char until[24];

	strbuf_append(out, "; the escalation was held by ");
	strategy_words(s, out);
	facts_date_words(facts_str(s, "runs_until", NULL), until, sizeof(until));
	if (facts_str(s, "review_by", NULL))
		strbuf_printf(out, ", whose review date of %s passed without the plan ending", until);
	else
		strbuf_printf(out, ", which lapsed on %s without a review date", until);
}

static void summarize(const struct alert *a, struct strbuf *out)
{
	const json_t *active = json_object_get(a->facts, "strategy");
	const json_t *lapsed = json_object_get(a->facts, "lapsed_strategy");
	long long plans = facts_int(a->facts, "plans_in_episode", 1);
	char since[24];

	facts_date_words(facts_str(a->facts, "episode_start", a->since), since, sizeof(since));
	strbuf_printf(out, "Child %s has been on a child protection plan for neglect for %lld "
		      "months (since %s", a->child_id, facts_int(a->facts, "months", 0), since);
	if (plans > 1)
		strbuf_printf(out, ", across %lld plans in one episode", plans);
	strbuf_append(out, ")");
	if (json_is_object(active))
		summarize_active(active, facts_true(a->facts, "escalation_held"), out);
	else if (a->stage >= 2 && json_is_object(lapsed))
		summarize_lapsed(lapsed, out);
	else if (a->stage >= 2)
		strbuf_append(out, " with no recorded strategy");
	strbuf_append(out, ".");
}

const struct rule_def rule_cp_neglect_duration = {
	.name = "cp_neglect_duration",
	.title = "Long CP plan for neglect",
	.doc = "a child on an open CP plan for neglect at 9, 12, 15 and 18 months; a strategy "
	       "holds the 15- and 18-month escalations",
	.sql = sql_cp_neglect_duration,
	.sql_incremental = sql_cp_neglect_duration_incremental,
	.sql_lookup = sql_cp_neglect_duration_lookup,
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
	.list_opts = list_opts,
	.n_list_opts = sizeof(list_opts) / sizeof(list_opts[0]),
	.stages = stages,
	.n_stages = sizeof(stages) / sizeof(stages[0]),
	.uses_neglect_categories = true,
	.shares_neglect_categories = true,
	.former_subject_fact = "current_plan_id",
	.subject_words = "the episode of CP plans that began with plan",
	.check = check,
	.summarize = summarize,
	.nested_facts = (const char *const[]){ "strategy", "lapsed_strategy", NULL },
};
