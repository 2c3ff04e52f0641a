/* test_rule_words: what each rule says to people, from the rule alone: its summary sentences,
 * the labels, urgency, seriousness and expectations of its stages, and the notice words
 * (notice.h) a notice keeps. Sentences are pinned where the issues gave them (issue 12: "held
 * by a PLO strategy agreed on 10 Sep 2025, which lapsed on 10 Mar 2026 without a review date";
 * "Child C-1 was referred again on 3 Mar 2026, 5 months after ...; the 3rd referral in 2
 * years"). */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/alert.h"
#include "driftwatch/jsontext.h"
#include "driftwatch/notice.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

/* An alert of rule at stage with facts (JSON text, single quotes for readability). */
static void make(struct alert *a, const char *rule, const char *stage, const char *subject,
		 const char *facts)
{
	char *json = strdup(facts);
	json_error_t je;
	json_t *whole;

	for (char *p = json; p && *p; p++)
		if (*p == '\'')
			*p = '"';
	memset(a, 0, sizeof(*a));
	a->rule = rule_registry_find(rule);
	a->stage = a->rule ? rule_stage_index(a->rule, stage) : -1;
	a->child_id = strdup("C-1");
	a->subject_id = subject ? strdup(subject) : NULL;
	a->since = strdup("2025-01-01");
	/* as an evaluation reads them: only as deep as the rule says its words need */
	a->facts = json && a->rule ? jsontext_shallow(json, strlen(json), a->rule->nested_facts)
				   : NULL;
	a->facts_text = json;
	whole = json ? json_loads(json, 0, &je) : NULL;
	json_decref(whole);
	if (!a->rule || a->stage < 0 || !a->facts || !whole) {
		tap_diag("bad fixture %s %s: %s", rule, stage, facts);
		exit(1);
	}
}

/* Its summary, for comparing (static, overwritten by the next call). */
static const char *summary(struct alert *a)
{
	static char out[1024];
	struct strbuf sb;
	char *s;

	json_t *full = json_loads(a->facts_text, 0, NULL);
	char *whole;

	strbuf_init(&sb);
	a->rule->summarize(a, &sb);
	s = strbuf_take(&sb);
	snprintf(out, sizeof(out), "%s", s ? s : "(out of memory)");
	/* the same sentence from the facts read whole: the rule's nested_facts name every list
	 * and object its words read */
	json_decref(a->facts);
	a->facts = full;
	strbuf_init(&sb);
	a->rule->summarize(a, &sb);
	whole = strbuf_take(&sb);
	tap_str(s, whole, "%s: the summary reads only the facts its rule reads deep", a->rule->name);
	free(whole);
	free(s);
	alert_free(a);
	return out;
}

static void test_cp_strategies(void)
{
	struct alert a;

	make(&a, "cp_neglect_duration", "12m", "CPP-1",
	     "{'months': 17, 'episode_start': '2025-06-01', 'plans_in_episode': 1, "
	     "'escalation_held': true, 'strategy': {'strategy_id': 'S-1', 'kind': 'plo', "
	     "'decided_on': '2026-09-01', 'review_by': '2027-01-31', 'runs_until': '2027-01-31'}}");
	tap_str(summary(&a), "Child C-1 has been on a child protection plan for neglect for 17 "
		"months (since 1 Jun 2025); the escalation is held by a PLO strategy agreed on 1 Sep "
		"2026 for review by 31 Jan 2027.", "cp: held by a strategy with a review date");

	make(&a, "cp_neglect_duration", "12m", "CPP-1",
	     "{'months': 17, 'episode_start': '2025-06-01', 'escalation_held': true, "
	     "'strategy': {'kind': 'step_down', 'decided_on': '2026-08-01', 'review_by': null, "
	     "'runs_until': '2027-02-01'}}");
	tap_str(summary(&a), "Child C-1 has been on a child protection plan for neglect for 17 "
		"months (since 1 Jun 2025); the escalation is held by a step-down strategy agreed "
		"on 1 Aug 2026, which holds until 1 Feb 2027 with no review date set.",
		"cp: held by a strategy with none: until when it holds");

	make(&a, "cp_neglect_duration", "18m", "CPP-1",
	     "{'months': 19, 'episode_start': '2024-09-01', 'strategy': null, "
	     "'escalation_held': false, 'lapsed_strategy': {'strategy_id': 'S-2', 'kind': 'plo', "
	     "'decided_on': '2025-09-10', 'review_by': null, 'runs_until': '2026-03-10'}}");
	tap_str(summary(&a), "Child C-1 has been on a child protection plan for neglect for 19 "
		"months (since 1 Sep 2024); the escalation was held by a PLO strategy agreed on 10 "
		"Sep 2025, which lapsed on 10 Mar 2026 without a review date.",
		"cp: the issue's sentence for a strategy nobody reviewed");

	make(&a, "cp_neglect_duration", "15m", "CPP-1",
	     "{'months': 17, 'episode_start': '2025-06-01', 'strategy': null, "
	     "'lapsed_strategy': {'kind': 'care_proceedings', 'decided_on': '2026-05-01', "
	     "'review_by': '2026-11-20', 'runs_until': '2026-11-20'}}");
	tap_str(summary(&a), "Child C-1 has been on a child protection plan for neglect for 17 "
		"months (since 1 Jun 2025); the escalation was held by a care proceedings strategy "
		"agreed on 1 May 2026, whose review date of 20 Nov 2026 passed without the plan "
		"ending.", "cp: a review date that passed");

	make(&a, "cp_neglect_duration", "15m", "CPP-1",
	     "{'months': 15, 'episode_start': '2025-08-14', 'plans_in_episode': 2, "
	     "'strategy': null, 'lapsed_strategy': null}");
	tap_str(summary(&a), "Child C-1 has been on a child protection plan for neglect for 15 "
		"months (since 14 Aug 2025, across 2 plans in one episode) with no recorded "
		"strategy.", "cp: no strategy; an episode of two plans (which may overlap: not said "
		"to be closed and reopened)");

	make(&a, "cp_neglect_duration", "9m", "CPP-1",
	     "{'months': 9, 'episode_start': '2026-02-01', 'escalation_held': false, "
	     "'strategy': {'kind': 'early_help_plan', 'decided_on': '2026-10-01', "
	     "'review_by': '2027-02-01'}}");
	tap_str(summary(&a), "Child C-1 has been on a child protection plan for neglect for 9 "
		"months (since 1 Feb 2026); an early help plan strategy agreed on 1 Oct 2026 for "
		"review by 1 Feb 2027.", "cp: a local kind in words; no escalation to hold yet");
}

static void test_re_referral(void)
{
	struct alert a;

	make(&a, "re_referral", "cycle", "R-3",
	     "{'referral_date': '2026-03-03', 'previous_referral_date': '2025-09-01', "
	     "'previous_closure_date': '2025-10-02', 'previous_closure_reason': 'RC8', "
	     "'days_after_closure': 152, 'months_after_closure': 5, 'referrals_24m': 3, "
	     "'cycle_months': 24}");
	tap_str(summary(&a), "Child C-1 was referred again on 3 Mar 2026, 5 months after a referral "
		"closed on 2 Oct 2025 with no further action; the 3rd referral in 2 years.",
		"re_referral: the issue's sentence");

	make(&a, "re_referral", "12m", "R-2",
	     "{'referral_date': '2026-09-01', 'previous_referral_date': '2026-05-01', "
	     "'previous_closure_date': null, 'days_after_closure': null, "
	     "'months_after_closure': null, 'referrals_24m': 2, 'cycle_months': 24}");
	tap_str(summary(&a), "Child C-1 was referred again on 1 Sep 2026 while a referral of 1 May "
		"2026 was still open; the 2nd referral in 2 years.",
		"re_referral: the earlier referral still open");

	make(&a, "re_referral", "12m", "R-2",
	     "{'referral_date': '2026-02-20', 'previous_closure_date': '2026-02-01', "
	     "'previous_closure_reason': 'RC9', 'days_after_closure': 19, "
	     "'months_after_closure': 0, 'referrals_24m': 2, 'cycle_months': 18}");
	tap_str(summary(&a), "Child C-1 was referred again on 20 Feb 2026, 19 days after a referral "
		"closed on 1 Feb 2026 with a referral to early help; the 2nd referral in 18 "
		"months.", "re_referral: days under a month; a window not in whole years");

	make(&a, "re_referral", "12m", "R-2",
	     "{'referral_date': '2026-02-01', 'previous_closure_date': '2026-02-01', "
	     "'previous_closure_reason': 'RC99', 'days_after_closure': 0, "
	     "'months_after_closure': 0, 'referrals_24m': 2, 'cycle_months': 12}");
	tap_str(summary(&a), "Child C-1 was referred again on 1 Feb 2026, on the day a referral "
		"closed; the 2nd referral in 1 year.", "re_referral: the same day; a reason not "
		"in the census list is not spelled out");

	make(&a, "re_referral", "12m", "R-2",
	     "{'referral_date': '2026-03-01', 'previous_closure_date': '2026-02-01', "
	     "'previous_closure_reason': 'RC7', 'days_after_closure': 28, "
	     "'months_after_closure': 1, 'referrals_24m': 2, 'cycle_months': 24}");
	tap_contains(summary(&a), ", 1 month after a referral closed on 1 Feb 2026 as services "
		     "ceased;", "re_referral: one month, singular");
}

static void test_people_and_plans(void)
{
	struct alert a;

	make(&a, "worker_change", "handover", "A-3",
	     "{'allocation_start': '2026-11-15', 'new_worker_id': 'W-B', 'new_worker_name': "
	     "'Worker B', 'previous_worker_id': 'W-A', 'previous_worker_name': 'Worker A', "
	     "'distinct_workers_12m': 3, 'first_neglect_plan': '2023-02-01'}");
	tap_str(summary(&a), "Child C-1 has a new allocated worker (Worker B, after Worker A) since "
		"15 Nov 2026, the 3rd in 12 months; the authority first planned for neglect on 1 "
		"Feb 2023.", "worker_change: workers by name");
	make(&a, "worker_change", "handover", "A-3",
	     "{'allocation_start': '2026-11-15', 'new_worker_id': 'W-B', 'new_worker_name': null, "
	     "'previous_worker_id': 'W-A', 'distinct_workers_12m': 2}");
	tap_contains(summary(&a), "(W-B, after W-A)", "worker_change: the id where no name is known");

	make(&a, "worker_churn", "churn", NULL,
	     "{'distinct_workers': 3, 'window_start': '2025-11-22', "
	     "'worker_names': ['Worker A', 'Worker B', 'Worker C']}");
	tap_str(summary(&a), "Child C-1 has had 3 different allocated workers since 22 Nov 2025 "
		"(Worker A, Worker B and Worker C) while on a plan for neglect.",
		"worker_churn: workers by name");

	make(&a, "repeat_neglect_plan", "12m", "CPP-2",
	     "{'plan_number': 2, 'gap_days': 214, 'episode_start': '2025-01-01', "
	     "'previous_plan_end': '2024-06-01'}");
	tap_str(summary(&a), "Child C-1 is on a child protection plan for neglect again (the 2nd CP "
		"plan), since 1 Jan 2025: 214 days after the previous neglect plan ended on 1 Jun "
		"2024.", "repeat_neglect_plan: measured from the episode's start");

	make(&a, "cin_neglect_duration", "6m", "CIN-1",
	     "{'months': 10, 'episode_start': '2026-01-01', 'plans_in_episode': 2}");
	tap_str(summary(&a), "Child C-1 has been on a child in need plan for neglect for 10 months "
		"(since 1 Jan 2026), across 2 plans in one episode.", "cin_neglect_duration");
}

/* Every stage says how it reads, how serious and urgent it is, and what each of its default
 * roles is expected to do, with a line for any other role. */
static void test_stages(void)
{
	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct rule_def *def = rule_registry_get(i);

		for (size_t s = 0; s < def->n_stages; s++) {
			const struct rule_stage *st = &def->stages[s];
			int roles_ok = 1;

			tap_ok(st->label && *st->label && st->label_many && *st->label_many,
			       "%s %s: labelled (\"%s\")", def->name, st->name,
			       st->label ? st->label : "");
			tap_ok(st->seriousness >= RULE_SERIOUS_ESCALATION &&
			       st->seriousness <= RULE_SERIOUS_DRIFT, "%s %s: seriousness %d",
			       def->name, st->name, (int)st->seriousness);
			for (size_t r = 0; st->default_roles[r]; r++)
				roles_ok &= rule_expected(st, st->default_roles[r]) != NULL;
			tap_ok(roles_ok && rule_expected(st, "cp_manager") && rule_expected(st, NULL),
			       "%s %s: something is expected of every role", def->name, st->name);
		}
	}
}

static int stage_is(const char *rule, const char *stage, int urgent, int seriousness)
{
	const struct rule_def *def = rule_registry_find(rule);
	int s = def ? rule_stage_index(def, stage) : -1;

	return s >= 0 && def->stages[s].urgent == (urgent != 0) &&
	       (int)def->stages[s].seriousness == seriousness;
}

/* ALERTS.md's urgent stages and the digest order of issue 16. */
static void test_urgency_and_order(void)
{
	struct alert a;

	tap_ok(stage_is("cp_neglect_duration", "15m", 1, RULE_SERIOUS_ESCALATION) &&
	       stage_is("cp_neglect_duration", "18m", 1, RULE_SERIOUS_ESCALATION) &&
	       stage_is("cp_neglect_duration", "12m", 0, RULE_SERIOUS_DRIFT) &&
	       stage_is("cp_neglect_duration", "9m", 0, RULE_SERIOUS_DRIFT),
	       "the 15- and 18-month CP escalations are urgent, and first");
	tap_ok(stage_is("repeat_neglect_plan", "12m", 1, RULE_SERIOUS_RETURN) &&
	       stage_is("repeat_neglect_plan", "24m", 0, RULE_SERIOUS_RETURN) &&
	       stage_is("repeat_neglect_plan", "any", 0, RULE_SERIOUS_RETURN),
	       "a return to a CP plan within 12 months is urgent; repeat plans come second");
	tap_ok(stage_is("re_referral", "cycle", 0, RULE_SERIOUS_RETURN) &&
	       stage_is("re_referral", "12m", 0, RULE_SERIOUS_DRIFT),
	       "re-referral cycles come with repeat plans; neither re_referral stage is urgent");
	tap_ok(stage_is("was_not_brought", "vulnerable", 1, RULE_SERIOUS_MISSED) &&
	       stage_is("worker_change", "handover", 0, RULE_SERIOUS_HANDOVER) &&
	       stage_is("cin_neglect_duration", "6m", 0, RULE_SERIOUS_DRIFT) &&
	       stage_is("worker_churn", "churn", 0, RULE_SERIOUS_DRIFT),
	       "then a vulnerable child not brought, handovers, durations and churn");

	make(&a, "was_not_brought", "repeated", NULL, "{'count': 2, 'under_one': true}");
	tap_ok(rule_urgent(&a), "was_not_brought: a baby not brought twice is still urgent");
	alert_free(&a);
	make(&a, "was_not_brought", "repeated", NULL,
	     "{'count': 2, 'under_one': false, 'on_cp_plan': false, 'disability': null}");
	tap_ok(!rule_urgent(&a), "was_not_brought: two missed by a child not known to be "
	       "vulnerable is not urgent");
	alert_free(&a);
}

static const char *word(const json_t *n, const char *key)
{
	return json_string_value(json_object_get(n, key));
}

static void test_notice(void)
{
	struct alert a;
	json_t *n;

	make(&a, "cp_neglect_duration", "15m", "20", "{'months': 15}");
	n = notice_for(&a, "cp_chair");
	tap_str(word(n, "label"), "CP escalation at 15 months", "notice: label");
	tap_str(word(n, "label_many"), "CP escalations at 15 months", "notice: label, many");
	tap_str(word(n, "subject"), "the episode of CP plans that began with plan 20",
		"notice: the subject in words (plan 20, not \"about 20\")");
	tap_contains(word(n, "expected"), "convene a 15-month review",
		     "notice: what is expected of the chair");
	tap_ok(json_is_true(json_object_get(n, "urgent")) &&
	       json_integer_value(json_object_get(n, "seriousness")) == 1,
	       "notice: urgent, seriousness 1");
	tap_ok(json_is_null(json_object_get(n, "update")), "notice: no update words for this rule");
	json_decref(n);
	n = notice_for(&a, "supervisor");
	tap_contains(word(n, "expected"), "prepare the child's history",
		     "notice: the supervisor is expected something else");
	json_decref(n);
	n = notice_for(&a, "allocated_worker");
	tap_str(word(n, "expected"), "chair to convene a 15-month review with the CP manager",
		"notice: a role the stage does not name gets its line for anyone");
	json_decref(n);
	n = notice_for(&a, NULL);
	tap_ok(n && json_is_null(json_object_get(n, "expected")),
	       "notice: a webhook (no role) is expected nothing");
	json_decref(n);
	alert_free(&a);

	make(&a, "was_not_brought", "repeated", NULL, "{'count': 3, 'latest': '2026-11-01'}");
	n = notice_for(&a, "allocated_worker");
	tap_str(word(n, "update"), "a further missed appointment, 3 in the window now",
		"notice: was_not_brought's update in words");
	tap_ok(json_is_null(json_object_get(n, "subject")), "notice: no subject, none in words");
	json_decref(n);
	alert_free(&a);

	make(&a, "re_referral", "cycle", "R-9", "{}");
	n = notice_for(&a, "head_of_service");
	tap_str(word(n, "subject"), "referral R-9", "notice: re_referral's subject");
	tap_str(word(n, "label"), "re-referral cycle", "notice: re_referral's label");
	tap_contains(word(n, "expected"), "pattern of referrals and closures",
		     "notice: what the head of service is expected to do");
	json_decref(n);
	alert_free(&a);
}

/* The pages head a rule's column with its title: every rule has one, short and its own. */
static void test_titles(void)
{
	size_t n = rule_registry_count();

	for (size_t i = 0; i < n; i++) {
		const struct rule_def *d = rule_registry_get(i);
		int unique = 1;

		for (size_t j = 0; j < i; j++)
			if (strcmp(rule_registry_get(j)->title, d->title) == 0)
				unique = 0;
		tap_ok(d->title && *d->title && strlen(d->title) <= 30 && unique,
		       "%s has a short title of its own (%s)", d->name, d->title ? d->title : "none");
	}
}

int main(void)
{
	test_titles();
	test_cp_strategies();
	test_re_referral();
	test_people_and_plans();
	test_stages();
	test_urgency_and_order();
	test_notice();
	return tap_status();
}
