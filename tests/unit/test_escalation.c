/* test_escalation: which policy entry a stage meets and the working day its silence is due, with
 * the days worked out by hand from the published bank holidays, not by the code under test. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/errlist.h"
#include "driftwatch/escalation.h"
#include "tap.h"

static char *cp[] = { "cp_neglect_duration", NULL };
static char *s15_18[] = { "15m", "18m", NULL };
static char *s15[] = { "15m", NULL };
static char *hos[] = { "head_of_service", NULL };
static char *sm[] = { "service_manager", NULL };
static char *cpm[] = { "cp_manager", NULL };

/* RESPONSES.md's defaults, written out here. */
static const struct config_escalate spec_policy[] = {
	{ cp, s15_18, 5, hos },
	{ NULL, NULL, 10, sm },
};

static int32_t day(const char *ymd)
{
	int32_t d = 0;

	if (calendar_day_parse(ymd, &d) != 0) {
		fprintf(stderr, "bad test day %s\n", ymd);
		exit(2);
	}
	return d;
}

static const char *fmt(int32_t d, char buf[CALENDAR_DAY_LEN])
{
	return calendar_day_format(d, buf, CALENDAR_DAY_LEN);
}

/* The due day of rule/stage first recorded on `first`, as text ("none" when nothing matches,
 * "error" on -1). */
static const char *due(const struct config_escalate *policy, size_t n,
		       const struct calendar *cal, const char *rule, const char *stage,
		       const char *first, char buf[CALENDAR_DAY_LEN])
{
	struct escalation_due d;
	int rc = escalation_due(policy, n, cal, rule, stage, day(first), &d);

	if (rc == 0)
		return "none";
	if (rc < 0)
		return "error";
	return fmt(d.due_day, buf);
}

static void test_spec_example(void)
{
	struct calendar ew = { CALENDAR_ENGLAND_AND_WALES, NULL, 0 };
	struct escalation_due d;
	char buf[CALENDAR_DAY_LEN];
	int rc;

	rc = escalation_due(spec_policy, 2, &ew, "cp_neglect_duration", "15m", day("2026-03-31"),
			    &d);
	tap_int(rc, 1, "spec: cp_neglect_duration 15m matches");
	tap_str(fmt(d.due_day, buf), "2026-04-09",
		"spec: first recorded Tuesday 31 March 2026: 5 working days on Thursday 9 April");
	tap_int(d.after_working_days, 5, "spec: 5 working days");
	tap_int(d.entry, 0, "spec: the first entry");
	tap_ok(d.to && d.to[0] && strcmp(d.to[0], "head_of_service") == 0 && !d.to[1],
	       "spec: to head_of_service");
	tap_int(calendar_working_days_between(&ew, day("2026-03-31"), d.due_day), 5,
		"spec: the calendar agrees: 5 working days in between");
	tap_str(due(spec_policy, 2, &ew, "cp_neglect_duration", "18m", "2026-03-31", buf),
		"2026-04-09", "spec: 18m likewise");

	rc = escalation_due(spec_policy, 2, &ew, "worker_churn", "churn", day("2026-03-31"), &d);
	tap_int(rc, 1, "spec: every other alert matches the second entry");
	tap_str(fmt(d.due_day, buf), "2026-04-16",
		"spec: 10 working days from 31 March 2026 over Easter: Thursday 16 April");
	tap_ok(d.entry == 1 && d.to && strcmp(d.to[0], "service_manager") == 0,
	       "spec: to service_manager");
	tap_str(due(spec_policy, 2, &ew, "cp_neglect_duration", "12m", "2026-03-31", buf),
		"2026-04-16", "spec: cp_neglect_duration 12m is an other alert (10 days)");
}

/* The defaults as config.c fills them give the same answers as RESPONSES.md's, written out. */
static void test_config_defaults(void)
{
	struct dw_config cfg;
	struct errlist errs = { NULL, 0, 0 };
	struct calendar cal;
	char buf[CALENDAR_DAY_LEN];
	int rc = config_load_text("test.json", "{\"database\": {\"conninfo\": \"dbname=x\"}}", &cfg,
				  &errs);

	tap_int(rc, 0, "config: the minimal configuration loads");
	cal = config_calendar(&cfg);
	tap_str(due(cfg.responses.escalate, cfg.responses.n_escalate, &cal, "cp_neglect_duration",
		    "15m", "2026-03-31", buf),
		"2026-04-09", "config: the default policy gives the spec's example");
	tap_str(due(cfg.responses.escalate, cfg.responses.n_escalate, &cal, "re_referral", "cycle",
		    "2026-03-31", buf),
		"2026-04-16", "config: and 10 working days for the rest");
	config_free(&cfg);
	errlist_free(&errs);

	rc = config_load_text("test.json", "{\"database\": {\"conninfo\": \"dbname=x\"}, \"calendar\": "
				 "{\"region\": \"scotland\"}}", &cfg, &errs);
	cal = config_calendar(&cfg);
	tap_str(rc == 0 ? due(cfg.responses.escalate, cfg.responses.n_escalate, &cal,
			      "cp_neglect_duration", "15m", "2026-03-31", buf)
			: "load failed",
		"2026-04-08", "config: in Scotland Easter Monday is a working day: Wednesday 8 April");
	config_free(&cfg);
	errlist_free(&errs);
}

static void test_christmas_on_a_weekend(void)
{
	struct calendar ew = { CALENDAR_ENGLAND_AND_WALES, NULL, 0 };
	struct calendar sc = { CALENDAR_SCOTLAND, NULL, 0 };
	char buf[CALENDAR_DAY_LEN];

	/* 2021: Christmas Saturday and Boxing Day Sunday, substitutes Monday 27 and Tuesday 28;
	 * New Year's Day 2022 Saturday, substitute Monday 3 January (Scotland also Tuesday 4 for
	 * 2 January). From Friday 24 December: 29, 30, 31, then 4 and 5 January. */
	tap_str(due(spec_policy, 2, &ew, "cp_neglect_duration", "15m", "2021-12-24", buf),
		"2022-01-05", "christmas 2021 (Saturday), england-and-wales: Wednesday 5 January");
	tap_str(due(spec_policy, 2, &sc, "cp_neglect_duration", "15m", "2021-12-24", buf),
		"2022-01-06", "christmas 2021 (Saturday), scotland: Thursday 6 January");
	/* 2022: Christmas Sunday, Boxing Day Monday 26, Christmas's substitute Tuesday 27; New
	 * Year's Day 2023 Sunday, substitute Monday 2 January. From Friday 23 December, 10 days:
	 * 28, 29, 30 December, 3, 4, 5, 6, 9, 10, 11 January. */
	tap_str(due(spec_policy, 2, &ew, "worker_churn", "churn", "2022-12-23", buf), "2023-01-11",
		"christmas 2022 (Sunday), 10 working days: Wednesday 11 January 2023");
}

static void test_closures(void)
{
	int32_t closures[] = { day("2026-12-29"), day("2026-12-30"), day("2026-12-31") };
	struct calendar open = { CALENDAR_ENGLAND_AND_WALES, NULL, 0 };
	struct calendar shut = { CALENDAR_ENGLAND_AND_WALES, closures, 3 };
	struct calendar one = { CALENDAR_ENGLAND_AND_WALES, closures + 1, 1 };
	char buf[CALENDAR_DAY_LEN];

	/* From Wednesday 23 December 2026: Thursday 24; Christmas Friday 25; Boxing Day Saturday,
	 * substitute Monday 28; then 29, 30, 31; New Year's Day Friday. */
	tap_str(due(spec_policy, 2, &open, "cp_neglect_duration", "15m", "2026-12-23", buf),
		"2027-01-04", "closures: without them, 5 working days end Monday 4 January 2027");
	tap_str(due(spec_policy, 2, &shut, "cp_neglect_duration", "15m", "2026-12-23", buf),
		"2027-01-07", "closures: with 29 to 31 December shut, Thursday 7 January 2027");
	tap_str(due(spec_policy, 2, &one, "cp_neglect_duration", "15m", "2026-12-23", buf),
		"2027-01-05", "closures: one closure day moves it one working day");
}

static void test_first_match_wins(void)
{
	const struct config_escalate broad_first[] = {
		{ cp, NULL, 3, cpm },
		{ cp, s15, 5, hos },
	};
	const struct config_escalate narrow_first[] = {
		{ cp, s15, 5, hos },
		{ cp, NULL, 3, cpm },
	};
	struct calendar ew = { CALENDAR_ENGLAND_AND_WALES, NULL, 0 };
	struct escalation_due d;
	char buf[CALENDAR_DAY_LEN];

	tap_int(escalation_match(broad_first, 2, "cp_neglect_duration", "15m"), 0,
		"first match: the broad entry listed first wins for 15m");
	tap_int(escalation_match(narrow_first, 2, "cp_neglect_duration", "15m"), 0,
		"first match: the narrow entry listed first wins for 15m");
	tap_int(escalation_match(narrow_first, 2, "cp_neglect_duration", "12m"), 1,
		"first match: 12m passes the narrow entry and meets the broad one");
	escalation_due(broad_first, 2, &ew, "cp_neglect_duration", "15m", day("2026-03-31"), &d);
	tap_ok(d.after_working_days == 3 && strcmp(d.to[0], "cp_manager") == 0,
	       "first match: its days and roles, not the later entry's");
	tap_str(fmt(d.due_day, buf), "2026-04-07",
		"first match: 3 working days from 31 March 2026: Tuesday 7 April");
	tap_int(escalation_match(broad_first, 2, "re_referral", "cycle"), -1,
		"no match: another rule meets no entry");
	tap_str(due(broad_first, 2, &ew, "re_referral", "cycle", "2026-03-31", buf), "none",
		"no match: never escalated");
	tap_str(due(spec_policy, 0, &ew, "re_referral", "cycle", "2026-03-31", buf), "none",
		"no match: an empty policy escalates nothing");
	tap_int(escalation_match(spec_policy, 2, NULL, "15m"), -1, "no match: no rule");
}

static void test_edges(void)
{
	struct calendar ew = { CALENDAR_ENGLAND_AND_WALES, NULL, 0 };
	const struct config_escalate one_day[] = { { NULL, NULL, 1, sm } };
	char buf[CALENDAR_DAY_LEN];

	/* first recorded on Saturday 4 April 2026: Sunday, then Easter Monday, do not count */
	tap_str(due(one_day, 1, &ew, "worker_churn", "churn", "2026-04-04", buf), "2026-04-07",
		"edges: recorded on a Saturday of Easter: the first working day is Tuesday 7 April");
	/* recorded on a working day: that day itself never counts */
	tap_str(due(one_day, 1, &ew, "worker_churn", "churn", "2026-04-07", buf), "2026-04-08",
		"edges: the first-recorded day itself does not count");
	tap_str(due(one_day, 1, &ew, "worker_churn", "churn", "9999-12-31", buf), "error",
		"edges: no working day left in range is an error, not a wrong day");
	tap_ok(escalation_role_valid("service_manager") && escalation_role_valid("supervisor") &&
		       escalation_role_valid("head_of_service"),
	       "roles: service_manager and the recipient roles");
	tap_ok(!escalation_role_valid("manager") && !escalation_role_valid("") &&
		       !escalation_role_valid(NULL),
	       "roles: anything else is not a role");
}

int main(void)
{
	test_spec_example();
	test_config_defaults();
	test_christmas_on_a_weekend();
	test_closures();
	test_first_match_wins();
	test_edges();
	return tap_status();
}
