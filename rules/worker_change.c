/* worker_change: a new allocated worker on a neglect case, the moment start-again happens. */
#include "driftwatch/alert.h"
#include "driftwatch/facts.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

RULE_SQL(worker_change);

static const struct rule_opt opts[] = {
	{ "window_days", 14, 1, 366, "days after a new allocation starts that it is news" },
	{ "history_months", 12, 1, 120, "months back that distinct workers are counted" },
	{ "referral_months", 24, 1, 240, "months back that referrals are counted" },
	{ "missed_months", 12, 1, 120, "months back that missed appointments are counted" },
};

static const struct rule_stage stages[] = {
	{ .name = "handover", .default_roles = { "supervisor", "allocated_worker", NULL },
	  .label = "change of worker", .label_many = "changes of worker",
	  .seriousness = RULE_SERIOUS_HANDOVER,
	  .expect = {
		{ "allocated_worker", "read the child's history below (plans, referrals, missed "
		  "appointments) before planning afresh" },
		{ "supervisor", "make sure the new worker has read the child's history and that the "
		  "plan carries on rather than starts again" },
		{ NULL, "new worker and supervisor to read the child's history before planning "
		  "afresh" } } },
};

static void summarize(const struct alert *a, struct strbuf *out)
{
	char since[24], first[24], nth[16];
	const char *first_plan = facts_str(a->facts, "first_neglect_plan", NULL);

	facts_date_words(facts_str(a->facts, "allocation_start", a->since), since, sizeof(since));
	facts_ordinal(facts_int(a->facts, "distinct_workers_12m", 2), nth, sizeof(nth));
	/* people are named as staff know them; the id only where no name is recorded */
	strbuf_printf(out, "Child %s has a new allocated worker (%s, after %s) since %s, the %s "
		      "in 12 months", a->child_id,
		      facts_str(a->facts, "new_worker_name",
				facts_str(a->facts, "new_worker_id", "unknown")),
		      facts_str(a->facts, "previous_worker_name",
				facts_str(a->facts, "previous_worker_id", "unknown")), since, nth);
	if (first_plan) {
		facts_date_words(first_plan, first, sizeof(first));
		strbuf_printf(out, "; the authority first planned for neglect on %s", first);
	}
	strbuf_append(out, ".");
}

const struct rule_def rule_worker_change = {
	.name = "worker_change",
	.title = "New allocated worker",
	.doc = "a new allocated worker on an open neglect CIN or CP plan, with the history in brief",
	.sql = sql_worker_change,
	.sql_incremental = sql_worker_change_incremental,
	.sql_lookup = sql_worker_change_lookup,
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
	.stages = stages,
	.n_stages = sizeof(stages) / sizeof(stages[0]),
	.uses_neglect_categories = true,
	.subject_words = "allocation",
	.check = NULL,
	.summarize = summarize,
};
