/* test_calendar: bank holidays against GOV.UK's published lists, and how working days count. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/calendar.h"
#include "driftwatch/errlist.h"
#include "tap.h"

/*
 * Every bank holiday from 2018 to 2027, copied by hand from GOV.UK's published lists
 * (https://www.gov.uk/bank-holidays.json), not from the code under test. The one-off
 * proclamations are in them: 2020-05-08 (early May moved from 4 May), 2022-06-02 (spring moved
 * from 30 May) and 2022-06-03, 2022-09-19, 2023-05-08; in all three regions.
 */
static const char *const england_and_wales[] = {
	"2018-01-01", "2018-03-30", "2018-04-02", "2018-05-07", "2018-05-28", "2018-08-27",
	"2018-12-25", "2018-12-26",
	"2019-01-01", "2019-04-19", "2019-04-22", "2019-05-06", "2019-05-27", "2019-08-26",
	"2019-12-25", "2019-12-26",
	"2020-01-01", "2020-04-10", "2020-04-13", "2020-05-08", "2020-05-25", "2020-08-31",
	"2020-12-25", "2020-12-28",
	"2021-01-01", "2021-04-02", "2021-04-05", "2021-05-03", "2021-05-31", "2021-08-30",
	"2021-12-27", "2021-12-28",
	"2022-01-03", "2022-04-15", "2022-04-18", "2022-05-02", "2022-06-02", "2022-06-03",
	"2022-08-29", "2022-09-19", "2022-12-26", "2022-12-27",
	"2023-01-02", "2023-04-07", "2023-04-10", "2023-05-01", "2023-05-08", "2023-05-29",
	"2023-08-28", "2023-12-25", "2023-12-26",
	"2024-01-01", "2024-03-29", "2024-04-01", "2024-05-06", "2024-05-27", "2024-08-26",
	"2024-12-25", "2024-12-26",
	"2025-01-01", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26", "2025-08-25",
	"2025-12-25", "2025-12-26",
	"2026-01-01", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25", "2026-08-31",
	"2026-12-25", "2026-12-28",
	"2027-01-01", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31", "2027-08-30",
	"2027-12-27", "2027-12-28",
	NULL,
};

static const char *const scotland[] = {
	"2018-01-01", "2018-01-02", "2018-03-30", "2018-05-07", "2018-05-28", "2018-08-06",
	"2018-11-30", "2018-12-25", "2018-12-26",
	"2019-01-01", "2019-01-02", "2019-04-19", "2019-05-06", "2019-05-27", "2019-08-05",
	"2019-12-02", "2019-12-25", "2019-12-26",
	"2020-01-01", "2020-01-02", "2020-04-10", "2020-05-08", "2020-05-25", "2020-08-03",
	"2020-11-30", "2020-12-25", "2020-12-28",
	"2021-01-01", "2021-01-04", "2021-04-02", "2021-05-03", "2021-05-31", "2021-08-02",
	"2021-11-30", "2021-12-27", "2021-12-28",
	"2022-01-03", "2022-01-04", "2022-04-15", "2022-05-02", "2022-06-02", "2022-06-03",
	"2022-08-01", "2022-09-19", "2022-11-30", "2022-12-26", "2022-12-27",
	"2023-01-02", "2023-01-03", "2023-04-07", "2023-05-01", "2023-05-08", "2023-05-29",
	"2023-08-07", "2023-11-30", "2023-12-25", "2023-12-26",
	"2024-01-01", "2024-01-02", "2024-03-29", "2024-05-06", "2024-05-27", "2024-08-05",
	"2024-12-02", "2024-12-25", "2024-12-26",
	"2025-01-01", "2025-01-02", "2025-04-18", "2025-05-05", "2025-05-26", "2025-08-04",
	"2025-12-01", "2025-12-25", "2025-12-26",
	"2026-01-01", "2026-01-02", "2026-04-03", "2026-05-04", "2026-05-25", "2026-08-03",
	"2026-11-30", "2026-12-25", "2026-12-28",
	"2027-01-01", "2027-01-04", "2027-03-26", "2027-05-03", "2027-05-31", "2027-08-02",
	"2027-11-30", "2027-12-27", "2027-12-28",
	NULL,
};

static const char *const northern_ireland[] = {
	"2018-01-01", "2018-03-19", "2018-03-30", "2018-04-02", "2018-05-07", "2018-05-28",
	"2018-07-12", "2018-08-27", "2018-12-25", "2018-12-26",
	"2019-01-01", "2019-03-18", "2019-04-19", "2019-04-22", "2019-05-06", "2019-05-27",
	"2019-07-12", "2019-08-26", "2019-12-25", "2019-12-26",
	"2020-01-01", "2020-03-17", "2020-04-10", "2020-04-13", "2020-05-08", "2020-05-25",
	"2020-07-13", "2020-08-31", "2020-12-25", "2020-12-28",
	"2021-01-01", "2021-03-17", "2021-04-02", "2021-04-05", "2021-05-03", "2021-05-31",
	"2021-07-12", "2021-08-30", "2021-12-27", "2021-12-28",
	"2022-01-03", "2022-03-17", "2022-04-15", "2022-04-18", "2022-05-02", "2022-06-02",
	"2022-06-03", "2022-07-12", "2022-08-29", "2022-09-19", "2022-12-26", "2022-12-27",
	"2023-01-02", "2023-03-17", "2023-04-07", "2023-04-10", "2023-05-01", "2023-05-08",
	"2023-05-29", "2023-07-12", "2023-08-28", "2023-12-25", "2023-12-26",
	"2024-01-01", "2024-03-18", "2024-03-29", "2024-04-01", "2024-05-06", "2024-05-27",
	"2024-07-12", "2024-08-26", "2024-12-25", "2024-12-26",
	"2025-01-01", "2025-03-17", "2025-04-18", "2025-04-21", "2025-05-05", "2025-05-26",
	"2025-07-14", "2025-08-25", "2025-12-25", "2025-12-26",
	"2026-01-01", "2026-03-17", "2026-04-03", "2026-04-06", "2026-05-04", "2026-05-25",
	"2026-07-13", "2026-08-31", "2026-12-25", "2026-12-28",
	"2027-01-01", "2027-03-17", "2027-03-26", "2027-03-29", "2027-05-03", "2027-05-31",
	"2027-07-12", "2027-08-30", "2027-12-27", "2027-12-28",
	NULL,
};

/* The day number of a literal the test trusts; a typo here stops the test rather than passing. */
static int32_t D(const char *s)
{
	int32_t day;

	if (calendar_day_parse(s, &day) != 0) {
		tap_ok(0, "test data: \"%s\" is a day", s);
		exit(tap_status());
	}
	return day;
}

static const char *fmt(int32_t day, char *buf)
{
	return calendar_day_format(day, buf, CALENDAR_DAY_LEN);
}

static int listed(const char *const *list, int32_t day)
{
	for (size_t i = 0; list[i]; i++)
		if (D(list[i]) == day)
			return 1;
	return 0;
}

static void test_dates(void)
{
	char buf[CALENDAR_DAY_LEN];
	int32_t day, lo, hi, prev;
	int y, m, d, bad = 0;

	tap_int(D("1970-01-01"), 0, "1970-01-01 is day 0");
	tap_int(calendar_weekday(0), 4, "1970-01-01 was a Thursday");
	tap_int(calendar_weekday(D("2026-03-31")), 2, "2026-03-31 is a Tuesday");
	tap_int(calendar_weekday(D("1900-01-01")), 1, "1900-01-01 was a Monday");
	tap_int(calendar_weekday(D("2022-09-19")), 1, "2022-09-19 was a Monday");
	tap_str(fmt(D("2024-02-29"), buf), "2024-02-29", "format gives back what parse read");
	tap_int(calendar_day_parse("2023-02-29", &day), -1, "2023-02-29 is not a day");
	tap_int(calendar_day_parse("1900-02-29", &day), -1, "1900-02-29 is not a day (not leap)");
	tap_int(calendar_day_parse("2000-02-29", &day), 0, "2000-02-29 is a day (leap)");
	tap_int(calendar_day_parse("2026-04-31", &day), -1, "2026-04-31 is not a day");
	tap_int(calendar_day_parse("2026-4-3", &day), -1, "a short form is refused");
	tap_int(calendar_day_parse("2026-04-03 ", &day), -1, "a trailing space is refused");
	tap_int(calendar_day_parse("2026/04/03", &day), -1, "slashes are refused");
	tap_int(calendar_day_parse("+026-04-03", &day), -1, "a sign is refused");
	tap_int(calendar_day_parse("1899-12-31", &day), -1, "a day before 1900 is refused");
	tap_int(calendar_day_parse("", &day), -1, "the empty string is refused");
	tap_int(calendar_day_parse(NULL, &day), -1, "NULL is refused");

	/* Every day of the range goes to y-m-d and back, one after another. */
	lo = D("1900-01-01");
	hi = D("9999-12-31");
	prev = lo - 1;
	for (day = lo; day <= hi; day++) {
		int32_t back;

		calendar_day_to_ymd(day, &y, &m, &d);
		if (calendar_day_from_ymd(y, m, d, &back) != 0 || back != day ||
		    calendar_weekday(day) != (calendar_weekday(prev) % 7) + 1) {
			if (bad++ < 5)
				tap_diag("day %ld: %04d-%02d-%02d", (long)day, y, m, d);
		}
		prev = day;
	}
	tap_int(bad, 0, "every day from 1900 to 9999 goes to a date and back, weekdays in turn");
	/* 1900-1999 has 24 leap years; 2000-9999 is twenty 400-year cycles of 146097 days. */
	tap_int(hi - lo + 1, 36524 + 20 * 146097, "and there are as many as the Gregorian rules give");
}

static void test_easter(void)
{
	static const char *const sundays[] = {
		"1900-04-15", "2000-04-23", "2008-03-23", "2011-04-24", "2018-04-01",
		"2019-04-21", "2020-04-12", "2021-04-04", "2022-04-17", "2023-04-09",
		"2024-03-31", "2025-04-20", "2026-04-05", "2027-03-28", "2038-04-25",
		"2285-03-22", NULL,
	};
	char buf[CALENDAR_DAY_LEN];

	for (size_t i = 0; sundays[i]; i++)
		tap_str(fmt(calendar_easter(atoi(sundays[i])), buf), sundays[i],
			"Easter Sunday %.4s", sundays[i]);
}

/* Both ways: every listed day is a bank holiday, no other day of the year is, and the year's
 * list is exactly the published one. */
static void check_region(enum calendar_region region, const char *const *list)
{
	const char *name = calendar_region_name(region);
	char buf[CALENDAR_DAY_LEN];

	for (size_t i = 0; list[i]; i++) {
		int32_t day = D(list[i]);

		tap_ok(calendar_is_bank_holiday(region, day) && calendar_weekday(day) <= 5,
		       "%s: %s is a bank holiday (a weekday)", name, list[i]);
	}
	for (int year = 2018; year <= 2027; year++) {
		int32_t first, last, got[CALENDAR_MAX_HOLIDAYS];
		size_t n, want = 0, same = 0;
		int extra = 0;

		calendar_day_from_ymd(year, 1, 1, &first);
		calendar_day_from_ymd(year, 12, 31, &last);
		for (int32_t day = first; day <= last; day++) {
			if (calendar_is_bank_holiday(region, day) && !listed(list, day)) {
				extra++;
				tap_diag("%s: %s is not in the published list", name, fmt(day, buf));
			}
			want += listed(list, day);
		}
		tap_int(extra, 0, "%s %d: no other day is a bank holiday", name, year);
		n = calendar_bank_holidays(region, year, got);
		for (size_t i = 0; i < n; i++)
			same += got[i] >= first && got[i] <= last && listed(list, got[i]) &&
				(i == 0 || got[i] > got[i - 1]);
		tap_ok(n == want && same == n,
		       "%s %d: calendar_bank_holidays gives the %zu published days in order (%zu)",
		       name, year, want, n);
	}
}

static void test_bank_holidays(void)
{
	int32_t d, none[CALENDAR_MAX_HOLIDAYS];

	check_region(CALENDAR_ENGLAND_AND_WALES, england_and_wales);
	check_region(CALENDAR_SCOTLAND, scotland);
	check_region(CALENDAR_NORTHERN_IRELAND, northern_ireland);

	/* What the proclamations displaced is an ordinary day. */
	tap_int(calendar_is_bank_holiday(CALENDAR_ENGLAND_AND_WALES, D("2020-05-04")), 0,
		"2020-05-04 is not a bank holiday (moved to 8 May)");
	tap_int(calendar_is_bank_holiday(CALENDAR_SCOTLAND, D("2022-05-30")), 0,
		"2022-05-30 is not a bank holiday in Scotland (moved to 2 June)");
	/* Outside the range, nothing is a bank holiday. */
	calendar_day_from_ymd(1900, 1, 1, &d);
	tap_int(calendar_is_bank_holiday(CALENDAR_ENGLAND_AND_WALES, d - 365), 0,
		"1899-01-01 is out of range: not a bank holiday");
	tap_int(calendar_bank_holidays(CALENDAR_ENGLAND_AND_WALES, 10000, none), 0,
		"year 10000 has no bank holidays");
}

static void add(const struct calendar *cal, const char *from, int n, const char *want,
		const char *name)
{
	char buf[CALENDAR_DAY_LEN];
	int32_t due = 0;
	int rc = calendar_add_working_days(cal, D(from), n, &due);

	tap_str(rc == 0 ? fmt(due, buf) : "(error)", want, "%s: %d working days after %s", name,
		n, from);
	if (rc == 0)
		tap_int(calendar_working_days_between(cal, D(from), due), n,
			"%s: and %s to %s counts %d", name, from, want, n);
}

static void between(const struct calendar *cal, const char *from, const char *to, long want,
		    const char *name)
{
	tap_int(calendar_working_days_between(cal, D(from), D(to)), want,
		"%s: working days after %s up to %s", name, from, to);
}

static void test_counting(void)
{
	struct calendar ew = { CALENDAR_ENGLAND_AND_WALES, NULL, 0 };
	struct calendar sc = { CALENDAR_SCOTLAND, NULL, 0 };
	struct calendar ni = { CALENDAR_NORTHERN_IRELAND, NULL, 0 };
	char buf[CALENDAR_DAY_LEN];
	int32_t d;

	/* RESPONSES.md: Tuesday 31 March 2026 has 5 working days on Thursday 9 April. */
	add(&ew, "2026-03-31", 5, "2026-04-09", "Easter 2026");
	between(&ew, "2026-03-31", "2026-04-08", 4, "Easter 2026: the day before");
	between(&ew, "2026-03-31", "2026-03-31", 0, "Easter 2026: the day itself does not count");
	between(&ew, "2026-04-09", "2026-03-31", 0, "Easter 2026: backwards is none");
	add(&ew, "2026-04-03", 1, "2026-04-07", "Easter 2026, recorded on Good Friday");
	add(&ew, "2026-03-31", 0, "2026-03-31", "Easter 2026, none");
	add(&sc, "2026-03-31", 5, "2026-04-08", "Easter 2026 in Scotland (Easter Monday works)");
	add(&ni, "2026-03-31", 5, "2026-04-09", "Easter 2026 in Northern Ireland");
	between(&ni, "2026-03-13", "2026-03-20", 4, "St Patrick's Day 2026 in Northern Ireland");
	between(&ew, "2026-03-13", "2026-03-20", 5, "St Patrick's Day 2026 in England");

	/* Christmas on a Saturday (2021, 2027) and a Sunday (2022), into the new year. */
	add(&ew, "2021-12-24", 1, "2021-12-29", "Christmas 2021 (Saturday)");
	add(&ew, "2021-12-24", 5, "2022-01-05", "Christmas 2021 (Saturday)");
	add(&sc, "2021-12-24", 5, "2022-01-06", "Christmas 2021 in Scotland");
	between(&ew, "2021-12-17", "2021-12-31", 8, "Christmas 2021 (Saturday)");
	add(&ew, "2022-12-23", 1, "2022-12-28", "Christmas 2022 (Sunday)");
	add(&ew, "2022-12-23", 5, "2023-01-04", "Christmas 2022 (Sunday)");
	add(&sc, "2022-12-23", 5, "2023-01-05", "Christmas 2022 in Scotland");
	add(&ni, "2022-12-23", 5, "2023-01-04", "Christmas 2022 in Northern Ireland");
	between(&ew, "2022-12-16", "2022-12-30", 8, "Christmas 2022 (Sunday)");
	add(&ew, "2027-12-24", 1, "2027-12-29", "Christmas 2027 (Saturday)");
	add(&ew, "2027-12-24", 3, "2027-12-31", "Christmas 2027 (Saturday)");
	/* 1 January 2028 is a Saturday: by rule, Monday 3 January is its substitute. */
	add(&ew, "2027-12-24", 4, "2028-01-04", "Christmas 2027 into 2028 (by rule)");

	/* 2022: spring moved to Thursday 2 June, Friday 3 June added, Monday 19 September. */
	between(&ew, "2022-04-30", "2022-05-31", 21, "May 2022 (30 May works)");
	between(&ew, "2022-05-31", "2022-06-30", 20, "June 2022");
	between(&sc, "2022-05-31", "2022-06-30", 20, "June 2022 in Scotland");
	between(&ni, "2022-05-31", "2022-06-30", 20, "June 2022 in Northern Ireland");
	add(&ew, "2022-05-31", 2, "2022-06-06", "June 2022");
	between(&ew, "2022-08-31", "2022-09-30", 21, "September 2022");
	between(&sc, "2022-08-31", "2022-09-30", 21, "September 2022 in Scotland");
	between(&ni, "2022-08-31", "2022-09-30", 21, "September 2022 in Northern Ireland");
	add(&ew, "2022-09-16", 1, "2022-09-20", "September 2022");
	add(&sc, "2022-07-29", 1, "2022-08-02", "August 2022 in Scotland (1 August)");
	add(&ew, "2022-07-29", 1, "2022-08-01", "August 2022 in England (1 August works)");
	add(&ew, "2020-05-07", 1, "2020-05-11", "VE Day 2020");
	add(&ew, "2020-05-01", 1, "2020-05-04", "VE Day 2020 (4 May works)");
	add(&ew, "2023-05-05", 1, "2023-05-09", "coronation 2023");

	/* The next working day, for a digest. */
	calendar_next_working_day(&ew, D("2026-04-04"), &d);
	tap_str(fmt(d, buf), "2026-04-07", "next working day from Saturday 4 April 2026");
	calendar_next_working_day(&sc, D("2026-04-04"), &d);
	tap_str(fmt(d, buf), "2026-04-06", "next working day from 4 April 2026 in Scotland");
	calendar_next_working_day(&ew, D("2026-04-09"), &d);
	tap_str(fmt(d, buf), "2026-04-09", "a working day is its own next working day");
	tap_int(calendar_is_working_day(&ew, D("2026-04-06")), 0, "Easter Monday 2026 is off");
	tap_int(calendar_is_working_day(&sc, D("2026-04-06")), 1,
		"Easter Monday 2026 is a working day in Scotland");
	tap_int(calendar_is_working_day(&ew, D("2026-04-11")), 0, "a Saturday is off");

	/* Errors are values. */
	tap_int(calendar_add_working_days(&ew, D("2026-03-31"), -1, &d), -1,
		"a negative count is refused");
	tap_int(calendar_add_working_days(&ew, D("9999-12-30"), 5, &d), -1,
		"a count past 9999 is refused");
	tap_int(calendar_working_days_between(&ew, D("1900-01-01") - 1, D("2026-01-01")), -1,
		"counting from before 1900 is refused");
	tap_int(calendar_next_working_day(&ew, D("9999-12-31") + 1, &d), -1,
		"no next working day after 9999");
	tap_int(calendar_working_days_between(&ew, D("1900-01-01"), D("9999-12-31")) > 2000000, 1,
		"counting the whole range ends");
}

static void test_closures(void)
{
	/* A council closed between Christmas and New Year 2026 (Boxing Day is Monday 28). */
	int32_t days[] = { D("2026-12-29"), D("2026-12-30"), D("2026-12-31"), D("2027-01-02") };
	struct calendar open = { CALENDAR_ENGLAND_AND_WALES, NULL, 0 };
	struct calendar shut = { CALENDAR_ENGLAND_AND_WALES, days, 4 };

	add(&open, "2026-12-24", 1, "2026-12-29", "no closures");
	add(&shut, "2026-12-24", 1, "2027-01-04", "closed 29-31 December 2026");
	between(&open, "2026-12-24", "2027-01-08", 8, "no closures");
	between(&shut, "2026-12-24", "2027-01-08", 5, "closed 29-31 December 2026");
	tap_int(calendar_is_working_day(&shut, D("2026-12-30")), 0, "a closure is not a working day");
	tap_int(calendar_is_working_day(&open, D("2026-12-30")), 1, "without it, it is");
	tap_int(calendar_is_closure(&shut, D("2027-01-02")), 1, "a closure on a Saturday is held");
	tap_int(calendar_is_closure(&shut, D("2027-01-05")), 0, "other days are not closures");
	tap_int(calendar_is_closure(&open, D("2026-12-30")), 0, "no closures: none is one");
}

static char *join(const struct errlist *errs)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < errs->n; i++)
		len += strlen(errs->msgs[i]) + 1;
	s = calloc(1, len);
	for (size_t i = 0; s && i < errs->n; i++) {
		strcat(s, errs->msgs[i]);
		strcat(s, "\n");
	}
	return s;
}

static void test_config(void)
{
	static const char *const bad_regions[] = { "Scotland", "wales", "england", "", " scotland",
						   "england_and_wales", NULL };
	const char *closures[] = { "2026-12-31", "2026-02-30", "2026-12-29", NULL, "26-12-30",
				   "2026-12-29", "1899-12-31", "2026-12-30" };
	int32_t days[8];
	size_t n_days = 99;
	enum calendar_region r;
	struct errlist errs = { 0 };
	char buf[CALENDAR_DAY_LEN];
	char *all;
	int faults;

	tap_int(calendar_region_parse("england-and-wales", &r) == 0 &&
			r == CALENDAR_ENGLAND_AND_WALES, 1, "region england-and-wales");
	tap_int(calendar_region_parse("scotland", &r) == 0 && r == CALENDAR_SCOTLAND, 1,
		"region scotland");
	tap_int(calendar_region_parse("northern-ireland", &r) == 0 &&
			r == CALENDAR_NORTHERN_IRELAND, 1, "region northern-ireland");
	tap_int(calendar_region_parse(NULL, &r) == 0 && r == CALENDAR_ENGLAND_AND_WALES, 1,
		"no region is england-and-wales");
	for (size_t i = 0; bad_regions[i]; i++)
		tap_int(calendar_region_parse(bad_regions[i], &r), -1, "region \"%s\" is refused",
			bad_regions[i]);
	tap_str(calendar_region_name(CALENDAR_NORTHERN_IRELAND), "northern-ireland",
		"a region's name");

	faults = calendar_config_parse("wales", closures, 8, &r, days, &n_days, &errs);
	all = join(&errs);
	tap_int(faults, 5, "config: the bad region and every bad closure are faults");
	tap_int(errs.n, 5, "config: one message each");
	tap_contains(all, "calendar.region: \"wales\" is not a region", "config: the region");
	tap_contains(all, "england-and-wales, scotland or northern-ireland",
		     "config: the regions there are");
	tap_contains(all, "calendar.closures[1]: \"2026-02-30\" is not a real day",
		     "config: an impossible day, by index");
	tap_contains(all, "calendar.closures[3]: is not a string", "config: a non-string");
	tap_contains(all, "calendar.closures[4]: \"26-12-30\"", "config: a short year");
	tap_contains(all, "calendar.closures[6]: \"1899-12-31\"", "config: a day before 1900");
	tap_int(n_days, 3, "config: the good closures, repeats once");
	tap_ok(n_days == 3 && strcmp(fmt(days[0], buf), "2026-12-29") == 0 &&
		       strcmp(fmt(days[1], buf), "2026-12-30") == 0 &&
		       strcmp(fmt(days[2], buf), "2026-12-31") == 0,
	       "config: in order");
	free(all);
	errlist_free(&errs);

	memset(&errs, 0, sizeof(errs));
	faults = calendar_config_parse(NULL, NULL, 0, &r, days, &n_days, &errs);
	tap_ok(faults == 0 && errs.n == 0 && n_days == 0 && r == CALENDAR_ENGLAND_AND_WALES,
	       "config: nothing set is england-and-wales with no closures");
	faults = calendar_config_parse("scotland", closures, 1, &r, days, &n_days, &errs);
	tap_ok(faults == 0 && errs.n == 0 && n_days == 1 && r == CALENDAR_SCOTLAND,
	       "config: a good region and closure");
	errlist_free(&errs);
}

int main(void)
{
	test_dates();
	test_easter();
	test_bank_holidays();
	test_counting();
	test_closures();
	test_config();
	return tap_status();
}
