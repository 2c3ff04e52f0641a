/* repeat_neglect_plan: a second or later CP plan for neglect; the sooner, the stronger. */
#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/errlist.h"
#include "driftwatch/facts.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

RULE_SQL(repeat_neglect_plan);

static const struct rule_opt opts[] = {
	{ "merge_gap_days", 28, 0, 365,
	  "a plan starting within this many days of the previous one's end continues its episode, "
	  "and is no repeat (keep it equal to cp_neglect_duration's)" },
};

static const struct rule_stage stages[] = {
	{ .name = "any", .default_roles = { "cp_chair", "supervisor", NULL },
	  .label = "repeat CP plan", .label_many = "repeat CP plans",
	  .seriousness = RULE_SERIOUS_RETURN,
	  .expect = {
		{ "cp_chair", "review at conference why the earlier plan ended and what is "
		  "different this time" },
		{ "supervisor", "review in supervision why the earlier plan ended and what is "
		  "different this time" },
		{ NULL, "chair and supervisor to review why the earlier plan ended" } } },
	{ .name = "24m", .threshold_key = "months", .def_threshold = 24,
	  .default_roles = { "cp_chair", "supervisor", NULL },
	  .label = "repeat CP plan within 24 months",
	  .label_many = "repeat CP plans within 24 months",
	  .seriousness = RULE_SERIOUS_RETURN,
	  .expect = {
		{ "cp_chair", "review at conference why the earlier plan ended and what is "
		  "different this time" },
		{ "supervisor", "review in supervision why the earlier plan ended and what is "
		  "different this time" },
		{ NULL, "chair and supervisor to review why the earlier plan ended" } } },
	{ .name = "12m", .threshold_key = "months", .def_threshold = 12,
	  .default_roles = { "cp_chair", "supervisor", NULL },
	  .label = "repeat CP plan within 12 months",
	  .label_many = "repeat CP plans within 12 months",
	  .urgent = true, .seriousness = RULE_SERIOUS_RETURN,
	  .expect = {
		{ "cp_chair", "review at conference, within weeks, why the earlier plan ended and "
		  "what is different this time" },
		{ "supervisor", "review in supervision, within weeks, why the earlier plan ended "
		  "and what is different this time" },
		{ NULL, "chair and supervisor to review why the earlier plan ended, within "
		  "weeks" } } },
};

/* 12m is the higher stage because it is the shorter gap; its window must sit inside 24m's. */
static void check(const struct config_rule *rc, const char *file, struct errlist *errs)
{
	if (rc->thresholds[2] <= rc->thresholds[1])
		return;
	errlist_add(errs, "%s: rules.repeat_neglect_plan.stages.12m.months: must not be more than "
		    "stage 24m's %d months, got %d", file, rc->thresholds[1], rc->thresholds[2]);
}

static void summarize(const struct alert *a, struct strbuf *out)
{
	char nth[16], ended[24], since[24];
	long long n = facts_int(a->facts, "plan_number", 2);
	long long gap = facts_int(a->facts, "gap_days", 0);

	facts_ordinal(n, nth, sizeof(nth));
	facts_date_words(facts_str(a->facts, "previous_plan_end", NULL), ended, sizeof(ended));
	facts_date_words(facts_str(a->facts, "episode_start", a->since), since, sizeof(since));
	strbuf_printf(out, "Child %s is on a child protection plan for neglect again (the %s CP "
		      "plan), since %s: %lld day%s after the previous neglect plan ended on %s.",
		      a->child_id, nth, since, gap, gap == 1 ? "" : "s", ended);
}

const struct rule_def rule_repeat_neglect_plan = {
	.name = "repeat_neglect_plan",
	.title = "Repeat CP plan for neglect",
	.doc = "an open CP plan for neglect whose episode began after an earlier CP plan for neglect "
	       "ended",
	.sql = sql_repeat_neglect_plan,
	.sql_incremental = sql_repeat_neglect_plan_incremental,
	.sql_lookup = sql_repeat_neglect_plan_lookup,
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
	.stages = stages,
	.n_stages = sizeof(stages) / sizeof(stages[0]),
	.uses_neglect_categories = true,
	.former_subject_fact = "current_plan_id",
	.subject_words = "the episode of CP plans that began with plan",
	.check = check,
	.summarize = summarize,
};
