/* re_referral: referred again soon after a case closed: start-again syndrome seen from the front door. */
#include <stdio.h>
#include <string.h>

#include "driftwatch/alert.h"
#include "driftwatch/facts.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

RULE_SQL(re_referral);

static const struct rule_opt opts[] = {
	{ "window_months", 12, 1, 120,
	  "an earlier referral on or after the current one's date less this many months is a "
	  "re-referral (12m)" },
	{ "cycle_months", 24, 1, 240,
	  "referrals after the current one's date less this many months count towards a cycle" },
	{ "cycle_count", 3, 2, 20, "this many referrals in cycle_months, the current one included, "
	  "are a cycle" },
};

static const struct rule_stage stages[] = {
	{ .name = "12m", .default_roles = { "supervisor", NULL },
	  .label = "re-referral within 12 months", .label_many = "re-referrals within 12 months",
	  .seriousness = RULE_SERIOUS_DRIFT,
	  .expect = {
		{ "supervisor", "review in supervision why the earlier referral closed and what is "
		  "different now, before the family is assessed again" },
		{ NULL, "review why the earlier referral closed and what is different now" } } },
	{ .name = "cycle", .default_roles = { "supervisor", "head_of_service", NULL },
	  .label = "re-referral cycle", .label_many = "re-referral cycles",
	  .seriousness = RULE_SERIOUS_RETURN,
	  .expect = {
		{ "supervisor", "review the child's referrals together in supervision: the case has "
		  "been closed and referred again repeatedly, and should not be assessed afresh as if "
		  "it were new" },
		{ "head_of_service", "review the pattern of referrals and closures for this child, "
		  "and whether the case should stay open" },
		{ NULL, "review the pattern of referrals and closures for this child" } } },
};

/* How a case closed (census reasons for closure, CIN census: RC1 to RC9), after "closed on
 * 2 Oct 2025"; "" for a reason not known here. */
static const char *closure_words(const char *reason)
{
	static const struct { const char *code, *words; } reasons[] = {
		{ "RC1", " on adoption" },
		{ "RC2", " on the child's death" },
		{ "RC3", " with a child arrangements order" },
		{ "RC4", " with a special guardianship order" },
		{ "RC5", " on transfer to another local authority" },
		{ "RC6", " on transfer to adult social care" },
		{ "RC7", " as services ceased" },
		{ "RC8", " with no further action" },
		{ "RC9", " with a referral to early help" },
	};

	for (size_t i = 0; reason && i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reason, reasons[i].code) == 0)
			return reasons[i].words;
	return "";
}

/* ", 5 months after a referral closed on 2 Oct 2025 with no further action", or, when the
 * previous referral had not closed by this one's date, " while a referral of 2 Oct 2025 was
 * still open". */
static void previous_words(const json_t *f, struct strbuf *out)
{
	const char *closed = facts_str(f, "previous_closure_date", NULL);
	long long months = facts_int(f, "months_after_closure", -1);
	long long days = facts_int(f, "days_after_closure", -1);
	char when[24];

	if (!closed || days < 0) {
		facts_date_words(facts_str(f, "previous_referral_date", NULL), when, sizeof(when));
		strbuf_printf(out, " while a referral of %s was still open", when);
		return;
	}
	if (days == 0) {
		strbuf_printf(out, ", on the day a referral closed%s",
			      closure_words(facts_str(f, "previous_closure_reason", NULL)));
		return;
	}
	facts_date_words(closed, when, sizeof(when));
	if (months >= 1)
		strbuf_printf(out, ", %lld month%s after", months, months == 1 ? "" : "s");
	else
		strbuf_printf(out, ", %lld day%s after", days, days == 1 ? "" : "s");
	strbuf_printf(out, " a referral closed on %s%s", when,
		      closure_words(facts_str(f, "previous_closure_reason", NULL)));
}

/* "Child C-1 was referred again on 3 Mar 2026, 5 months after a referral closed on 2 Oct 2025
 * with no further action; the 3rd referral in 2 years." */
static void summarize(const struct alert *a, struct strbuf *out)
{
	long long n = facts_int(a->facts, "referrals_24m", 0);
	long long period = facts_int(a->facts, "cycle_months", 24);
	char when[24], nth[16];

	facts_date_words(facts_str(a->facts, "referral_date", a->since), when, sizeof(when));
	strbuf_printf(out, "Child %s was referred again on %s", a->child_id, when);
	previous_words(a->facts, out);
	if (n >= 2) {
		facts_ordinal(n, nth, sizeof(nth));
		if (period % 12 == 0)
			strbuf_printf(out, "; the %s referral in %lld year%s", nth, period / 12,
				      period == 12 ? "" : "s");
		else
			strbuf_printf(out, "; the %s referral in %lld months", nth, period);
	}
	strbuf_append(out, ".");
}

const struct rule_def rule_re_referral = {
	.name = "re_referral",
	.title = "Referred again",
	.doc = "an open referral within 12 months of an earlier one, or the third in 24 months, "
	       "with neglect among the reasons",
	.sql = sql_re_referral,
	.sql_incremental = sql_re_referral_incremental,
	.sql_lookup = sql_re_referral_lookup,
	.opts = opts,
	.n_opts = sizeof(opts) / sizeof(opts[0]),
	.stages = stages,
	.n_stages = sizeof(stages) / sizeof(stages[0]),
	.uses_neglect_categories = false,
	.subject_words = "referral",
	.check = NULL,
	.summarize = summarize,
};
