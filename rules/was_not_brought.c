/* was_not_brought: appointments a child depended on an adult to be brought to, and missed. */
#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/errlist.h"
#include "driftwatch/facts.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

RULE_SQL(was_not_brought);

static const struct rule_opt opts[] = {
	{ "window_months", 6, 1, 60, "months back from the evaluation day that missed appointments count" },
	{ "infant_months", 12, 1, 60, "a child younger than this on the appointment's date is vulnerable" },
};

static const struct rule_stage stages[] = {
	{ .name = "vulnerable", .threshold_key = "count", .def_threshold = 1,
	  .default_roles = { "supervisor", "allocated_worker", NULL },
	  .label = "was-not-brought", .label_many = "was-not-brought",
	  .urgent = true, .seriousness = RULE_SERIOUS_MISSED,
	  .expect = {
		{ "allocated_worker", "follow up the missed appointment with the family and the "
		  "health service now" },
		{ "supervisor", "check in supervision that the missed appointment has been followed "
		  "up with the family and the health service" },
		{ NULL, "follow up the missed appointment with the family and the health "
		  "service" } } },
	{ .name = "repeated", .threshold_key = "count", .def_threshold = 2,
	  .default_roles = { "supervisor", "allocated_worker", NULL },
	  .label = "repeated was-not-brought", .label_many = "repeated was-not-brought",
	  .seriousness = RULE_SERIOUS_MISSED,
	  .expect = {
		{ "allocated_worker", "follow up the pattern of missed appointments with the family "
		  "and the health service" },
		{ "supervisor", "review in supervision the pattern of missed appointments and what "
		  "it says about the care the child gets" },
		{ NULL, "follow up the pattern of missed appointments with the family and the "
		  "health service" } } },
};

static void check(const struct config_rule *rc, const char *file, struct errlist *errs)
{
	if (rc->thresholds[0] <= rc->thresholds[1])
		return;
	errlist_add(errs, "%s: rules.was_not_brought.stages.vulnerable.count: must not be more than "
		    "stage repeated's %d, got %d", file, rc->thresholds[1], rc->thresholds[0]);
}

static const char *why_vulnerable(const json_t *facts)
{
	if (facts_true(facts, "under_one"))
		return ", as a baby under one";
	if (facts_true(facts, "on_cp_plan"))
		return " while on a child protection plan";
	if (facts_true(facts, "disability"))
		return ", as a disabled child";
	return "";
}

/* "Updated (a further missed appointment, 3 in the window now)" */
static void update_words(const struct alert *a, struct strbuf *out)
{
	long long n = facts_int(a->facts, "count", 0);

	strbuf_append(out, "a further missed appointment");
	if (n > 0)
		strbuf_printf(out, ", %lld in the window now", n);
}

/* ALERTS.md: a vulnerable child not brought is urgent, also once a second appointment has
 * made the stage "repeated". */
static bool urgent(const struct alert *a)
{
	return a->rule->stages[a->stage].urgent || facts_true(a->facts, "under_one") ||
	       facts_true(a->facts, "on_cp_plan") || facts_true(a->facts, "disability");
}

static void summarize(const struct alert *a, struct strbuf *out)
{
	char latest[24], from[24];
	long long n = facts_int(a->facts, "count", 0);

	facts_date_words(facts_str(a->facts, "latest", a->since), latest, sizeof(latest));
	facts_date_words(facts_str(a->facts, "window_start", NULL), from, sizeof(from));
	strbuf_printf(out, "Child %s was not brought to %lld appointment%s since %s (latest %s)%s.",
		      a->child_id, n, n == 1 ? "" : "s", from, latest, why_vulnerable(a->facts));
}

const struct rule_def rule_was_not_brought = {
	.name = "was_not_brought",
	.title = "Not brought to appointments",
	.doc = "appointments the child was not brought to within the window",
	.sql = sql_was_not_brought,
	.sql_incremental = sql_was_not_brought_incremental,
	.sql_lookup = sql_was_not_brought_lookup,
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
	.stages = stages,
	.n_stages = sizeof(stages) / sizeof(stages[0]),
	.uses_neglect_categories = false,
	/* A further missed appointment moves "latest"; one leaving the window does not. */
	.notify_fact = "latest",
	.update_words = update_words,
	.urgent = urgent,
	.check = check,
	.summarize = summarize,
};
