/* calendar: working days by the bank holidays of one UK region and the council's own closures. */
#ifndef DRIFTWATCH_CALENDAR_H
#define DRIFTWATCH_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

struct errlist;

/*
 * Configuration the daemon reads (RESPONSES.md, "Escalation when nobody answers"):
 *
 *   "calendar": {
 *     "region":   "england-and-wales" | "scotland" | "northern-ireland",
 *     "closures": ["2026-12-29", "2026-12-30", "2026-12-31"]
 *   }
 *
 * Both keys are optional: the region defaults to england-and-wales, closures to none. A closure
 * is a day the council is shut (YYYY-MM-DD, a real day from 1900 to 9999); one on a weekend or a
 * bank holiday changes nothing, and a repeated one counts once. calendar_config_parse checks both
 * and reports every bad value; a day proclaimed a bank holiday after this release can be put in
 * closures until the next one knows it.
 *
 * Days are civil dates with no time zone, as day numbers: days since 1970-01-01 (negative
 * before). Functions that take a day expect one from 1900-01-01 to 9999-12-31
 * (CALENDAR_MIN_YEAR to CALENDAR_MAX_YEAR); nothing here keeps state between calls.
 */

#define CALENDAR_MIN_YEAR 1900
#define CALENDAR_MAX_YEAR 9999
/* Room calendar_bank_holidays needs: the most in one year is 12 (Northern Ireland, 2022). */
#define CALENDAR_MAX_HOLIDAYS 16
/* "YYYY-MM-DD" and its NUL. */
#define CALENDAR_DAY_LEN 11

enum calendar_region {
	CALENDAR_ENGLAND_AND_WALES,
	CALENDAR_SCOTLAND,
	CALENDAR_NORTHERN_IRELAND,
};

/* What decides working days. The caller owns closures: ascending day numbers (repeats are
 * harmless), as calendar_config_parse leaves them; an unsorted list gives wrong answers. */
struct calendar {
	enum calendar_region region;
	const int32_t *closures;
	size_t n_closures;
};

/* Civil dates. calendar_day_from_ymd: 0 and *day, or -1 when it is not a real day in
 * CALENDAR_MIN_YEAR..CALENDAR_MAX_YEAR. calendar_weekday: 1 Monday .. 7 Sunday (ISO 8601). */
int calendar_day_from_ymd(int year, int month, int mday, int32_t *day);
void calendar_day_to_ymd(int32_t day, int *year, int *month, int *mday);
int calendar_weekday(int32_t day);

/* Strict "YYYY-MM-DD" (exactly ten characters, a real day in range): 0 and *day, else -1.
 * calendar_day_format writes the same form into buf (size >= CALENDAR_DAY_LEN) and returns it. */
int calendar_day_parse(const char *s, int32_t *day);
char *calendar_day_format(int32_t day, char *buf, size_t size);

/* "england-and-wales", "scotland" or "northern-ireland" exactly (no other case or spelling):
 * 0 and *region, else -1. NULL is the default, england-and-wales. */
int calendar_region_parse(const char *s, enum calendar_region *region);
const char *calendar_region_name(enum calendar_region region);

/* Easter Sunday of a Gregorian year (the computus), as a day number. */
int32_t calendar_easter(int year);

/*
 * The bank holidays of region in year, ascending, into out; returns how many (0 for a year out
 * of range). By rule:
 *   all regions       New Year's Day (1 January), Good Friday, early May (first Monday in May),
 *                     spring (last Monday in May), Christmas Day, Boxing Day (26 December);
 *   england-and-wales and northern-ireland: Easter Monday, summer (last Monday in August);
 *   scotland          2 January, summer (first Monday in August), St Andrew's Day (30 November);
 *   northern-ireland  St Patrick's Day (17 March), Battle of the Boyne (12 July).
 * A fixed-date holiday on a Saturday or Sunday gets a substitute: the next Monday to Friday that
 * is not already a bank holiday, taken in date order (Christmas on a Saturday: Monday 27 and,
 * for Boxing Day, Tuesday 28; on a Sunday: Boxing Day Monday 26, Christmas Tuesday 27).
 * Then the proclaimed changes, in every region: 2020 early May moved to Friday 8 May; 2022
 * spring moved to Thursday 2 June, with Friday 3 June added (Platinum Jubilee) and Monday 19
 * September (the state funeral); 2023 Monday 8 May added (the coronation). Proclamations before
 * 2018 (1995, 1999, 2002, 2011, 2012) are not held: those years get the rules alone.
 */
size_t calendar_bank_holidays(enum calendar_region region, int year,
			      int32_t out[CALENDAR_MAX_HOLIDAYS]);
int calendar_is_bank_holiday(enum calendar_region region, int32_t day);

/* 1 when day is in cal's closures. */
int calendar_is_closure(const struct calendar *cal, int32_t day);

/* 1 when day is Monday to Friday, not a bank holiday of cal's region and not a closure. */
int calendar_is_working_day(const struct calendar *cal, int32_t day);

/*
 * Counting (RESPONSES.md): a stage first recorded on day F has, on day D, the number of
 * working days W with F < W <= D; F itself never counts, whatever it is, because people cannot
 * answer before they are told.
 *
 * calendar_working_days_between(cal, from, to): that number, the working days in (from, to];
 *   0 when to <= from; -1 when either day is out of range.
 * calendar_add_working_days(cal, from, n, &due): the Nth working day after from, counting from
 *   the day after (n = 0 gives from itself), so that between(from, due) == n and due is a
 *   working day when n > 0. A notice after N working days is due at the first evaluation on or
 *   after due. 0, or -1 when n < 0, from is out of range or due would be after 9999-12-31.
 *   Tuesday 31 March 2026 and 5 in England and Wales give Thursday 9 April 2026 (Wednesday 1,
 *   Thursday 2, Tuesday 7, Wednesday 8, Thursday 9: Good Friday, the weekend and Easter Monday
 *   do not count).
 * calendar_next_working_day(cal, day, &next): the first working day at or after day (for a
 *   digest due on a working day). 0, or -1 when day is out of range or none is left in range.
 */
long calendar_working_days_between(const struct calendar *cal, int32_t from, int32_t to);
int calendar_add_working_days(const struct calendar *cal, int32_t from, int n, int32_t *due);
int calendar_next_working_day(const struct calendar *cal, int32_t day, int32_t *next);

/*
 * Checks the calendar configuration as config.c has it: region is calendar.region's string (NULL
 * when absent), closures the n strings of calendar.closures (an item that is not a string is
 * passed as NULL). Every bad value adds one message to errs, naming its key and index
 * ("calendar.closures[2]: \"2026-02-30\" is not a real day (YYYY-MM-DD)"). Writes the region
 * and the good closures, ascending and without repeats, into days (room for n) and *n_days:
 * with them, a struct calendar. Returns the number of bad values; 0 means all is well.
 */
int calendar_config_parse(const char *region, const char *const *closures, size_t n,
			  enum calendar_region *region_out, int32_t *days, size_t *n_days,
			  struct errlist *errs);

#endif
