/* calendar: escalations count working days, so UK bank holidays are computed here, by rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/calendar.h"
#include "driftwatch/errlist.h"

#define EW (1u << CALENDAR_ENGLAND_AND_WALES)
#define SCOT (1u << CALENDAR_SCOTLAND)
#define NI (1u << CALENDAR_NORTHERN_IRELAND)
#define ALL (EW | SCOT | NI)

enum rule_kind { FIXED, EASTER, FIRST_MONDAY, LAST_MONDAY };

/* Which holiday a proclamation moves; NONE adds a day of its own. */
enum holiday_id {
	NONE,
	NEW_YEAR,
	JAN_2,
	ST_PATRICK,
	GOOD_FRIDAY,
	EASTER_MONDAY,
	EARLY_MAY,
	SPRING,
	BOYNE,
	SUMMER_SCOT,
	SUMMER,
	ST_ANDREW,
	CHRISTMAS,
	BOXING,
};

struct rule {
	enum holiday_id id;
	enum rule_kind kind;
	int month;
	int mday; /* FIXED: the day of the month; EASTER: days from Easter Sunday */
	unsigned regions;
};

/* In date order within the year, so substitutes are given out in date order. */
static const struct rule rules[] = {
	{ NEW_YEAR, FIXED, 1, 1, ALL },
	{ JAN_2, FIXED, 1, 2, SCOT },
	{ ST_PATRICK, FIXED, 3, 17, NI },
	{ GOOD_FRIDAY, EASTER, 0, -2, ALL },
	{ EASTER_MONDAY, EASTER, 0, 1, EW | NI },
	{ EARLY_MAY, FIRST_MONDAY, 5, 0, ALL },
	{ SPRING, LAST_MONDAY, 5, 0, ALL },
	{ BOYNE, FIXED, 7, 12, NI },
	{ SUMMER_SCOT, FIRST_MONDAY, 8, 0, SCOT },
	{ SUMMER, LAST_MONDAY, 8, 0, EW | NI },
	{ ST_ANDREW, FIXED, 11, 30, SCOT },
	{ CHRISTMAS, FIXED, 12, 25, ALL },
	{ BOXING, FIXED, 12, 26, ALL },
};

/* Royal proclamations under the Banking and Financial Dealings Act 1971, as GOV.UK lists them. */
struct proclamation {
	int year, month, mday;
	unsigned regions;
	enum holiday_id moves;
};

static const struct proclamation proclamations[] = {
	{ 2020, 5, 8, ALL, EARLY_MAY },  /* VE Day 75, instead of Monday 4 May */
	{ 2022, 6, 2, ALL, SPRING },     /* Platinum Jubilee, instead of Monday 30 May */
	{ 2022, 6, 3, ALL, NONE },       /* Platinum Jubilee bank holiday */
	{ 2022, 9, 19, ALL, NONE },      /* state funeral of Queen Elizabeth II */
	{ 2023, 5, 8, ALL, NONE },       /* coronation of King Charles III */
};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static int is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	return days[m - 1] + (m == 2 && is_leap(y));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int32_t days_from_civil(int y, int m, int d)
{
	long long yy = (long long)y - (m <= 2);
	long long era = (yy >= 0 ? yy : yy - 399) / 400;
	long long yoe = yy - era * 400;
	long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return (int32_t)(era * 146097 + doe - 719468);
}

static int32_t day_min(void)
{
	return days_from_civil(CALENDAR_MIN_YEAR, 1, 1);
}

static int32_t day_max(void)
{
	return days_from_civil(CALENDAR_MAX_YEAR, 12, 31);
}

static int in_range(int32_t day)
{
	return day >= day_min() && day <= day_max();
}

int calendar_day_from_ymd(int year, int month, int mday, int32_t *day)
{
	if (year < CALENDAR_MIN_YEAR || year > CALENDAR_MAX_YEAR || month < 1 || month > 12 ||
	    mday < 1 || mday > month_days(year, month))
		return -1;
	*day = days_from_civil(year, month, mday);
	return 0;
}

void calendar_day_to_ymd(int32_t day, int *year, int *month, int *mday)
{
	long long z = (long long)day + 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	long long doe = z - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);

	*mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = m;
	*year = (int)(yoe + era * 400 + (m <= 2));
}

int calendar_weekday(int32_t day)
{
	/* 1970-01-01 was a Thursday (4). */
	int r = (int)(((long long)day + 3) % 7);

	return (r < 0 ? r + 7 : r) + 1;
}

static int is_weekend(int32_t day)
{
	return calendar_weekday(day) >= 6;
}

static int two_digits(const char *s)
{
	return (s[0] - '0') * 10 + (s[1] - '0');
}

int calendar_day_parse(const char *s, int32_t *day)
{
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	return calendar_day_from_ymd(two_digits(s) * 100 + two_digits(s + 2), two_digits(s + 5),
				     two_digits(s + 8), day);
}

char *calendar_day_format(int32_t day, char *buf, size_t size)
{
	int y, m, d;

	calendar_day_to_ymd(day, &y, &m, &d);
	snprintf(buf, size, "%04d-%02d-%02d", y, m, d);
	return buf;
}

static const char *const region_names[] = {
	[CALENDAR_ENGLAND_AND_WALES] = "england-and-wales",
	[CALENDAR_SCOTLAND] = "scotland",
	[CALENDAR_NORTHERN_IRELAND] = "northern-ireland",
};

int calendar_region_parse(const char *s, enum calendar_region *region)
{
	if (!s) {
		*region = CALENDAR_ENGLAND_AND_WALES;
		return 0;
	}
	for (size_t i = 0; i < N_OF(region_names); i++) {
		if (strcmp(s, region_names[i]) == 0) {
			*region = (enum calendar_region)i;
			return 0;
		}
	}
	return -1;
}

const char *calendar_region_name(enum calendar_region region)
{
	if ((size_t)region >= N_OF(region_names))
		return "unknown";
	return region_names[region];
}

/* The anonymous Gregorian computus (Meeus, Jones, Butcher). */
int32_t calendar_easter(int year)
{
	int a = year % 19, b = year / 100, c = year % 100;
	int d = b / 4, e = b % 4, f = (b + 8) / 25, g = (b - f + 1) / 3;
	int h = (19 * a + b - d - g + 15) % 30;
	int i = c / 4, k = c % 4;
	int l = (32 + 2 * e + 2 * i - h - k) % 7;
	int m = (a + 11 * h + 22 * l) / 451;
	int month = (h + l - 7 * m + 114) / 31;
	int mday = (h + l - 7 * m + 114) % 31 + 1;

	return days_from_civil(year, month, mday);
}

static int32_t first_monday(int year, int month)
{
	int32_t first = days_from_civil(year, month, 1);

	return first + (8 - calendar_weekday(first)) % 7;
}

static int32_t last_monday(int year, int month)
{
	int32_t last = days_from_civil(year, month, month_days(year, month));

	return last - (calendar_weekday(last) - 1);
}

static int32_t rule_day(const struct rule *r, int year)
{
	switch (r->kind) {
	case FIXED:
		return days_from_civil(year, r->month, r->mday);
	case EASTER:
		return calendar_easter(year) + r->mday;
	case FIRST_MONDAY:
		return first_monday(year, r->month);
	case LAST_MONDAY:
		return last_monday(year, r->month);
	}
	return 0;
}

/* The proclamation that moves holiday id in this year and region, or NULL. */
static const struct proclamation *moved(enum holiday_id id, int year, unsigned region_bit)
{
	for (size_t i = 0; i < N_OF(proclamations); i++) {
		const struct proclamation *p = &proclamations[i];

		if (p->year == year && p->moves == id && (p->regions & region_bit))
			return p;
	}
	return NULL;
}

static int holds(const int32_t *days, size_t n, int32_t day)
{
	for (size_t i = 0; i < n; i++)
		if (days[i] == day)
			return 1;
	return 0;
}

static int cmp_day(const void *a, const void *b)
{
	int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;

	return (x > y) - (x < y);
}

size_t calendar_bank_holidays(enum calendar_region region, int year,
			      int32_t out[CALENDAR_MAX_HOLIDAYS])
{
	int32_t weekend[N_OF(rules)];
	size_t n = 0, n_weekend = 0;
	unsigned bit;

	if (year < CALENDAR_MIN_YEAR || year > CALENDAR_MAX_YEAR ||
	    (size_t)region >= N_OF(region_names))
		return 0;
	bit = 1u << region;
	/* Every holiday that falls on a weekday first, so a substitute never lands on one. */
	for (size_t i = 0; i < N_OF(rules); i++) {
		const struct proclamation *p;
		int32_t day;

		if (!(rules[i].regions & bit))
			continue;
		p = moved(rules[i].id, year, bit);
		day = p ? days_from_civil(year, p->month, p->mday) : rule_day(&rules[i], year);
		if (!p && rules[i].kind == FIXED && is_weekend(day))
			weekend[n_weekend++] = day;
		else
			out[n++] = day;
	}
	for (size_t i = 0; i < N_OF(proclamations); i++) {
		const struct proclamation *p = &proclamations[i];

		if (p->year == year && p->moves == NONE && (p->regions & bit))
			out[n++] = days_from_civil(year, p->month, p->mday);
	}
	for (size_t i = 0; i < n_weekend; i++) {
		int32_t sub = weekend[i] + 1;

		while (is_weekend(sub) || holds(out, n, sub))
			sub++;
		out[n++] = sub;
	}
	qsort(out, n, sizeof(out[0]), cmp_day);
	return n;
}

/* One year's holidays, kept while a count walks through that year. */
struct year_cache {
	enum calendar_region region;
	int32_t start, end; /* [start, end): the cached year; start > end when none is */
	size_t n;
	int32_t days[CALENDAR_MAX_HOLIDAYS];
};

static void cache_init(struct year_cache *c, enum calendar_region region)
{
	c->region = region;
	c->start = 1;
	c->end = 0;
	c->n = 0;
}

static int cache_is_holiday(struct year_cache *c, int32_t day)
{
	if (day < c->start || day >= c->end) {
		int y, m, d;

		calendar_day_to_ymd(day, &y, &m, &d);
		c->start = days_from_civil(y, 1, 1);
		c->end = days_from_civil(y + 1, 1, 1);
		c->n = calendar_bank_holidays(c->region, y, c->days);
	}
	return holds(c->days, c->n, day);
}

int calendar_is_bank_holiday(enum calendar_region region, int32_t day)
{
	struct year_cache c;

	if (!in_range(day))
		return 0;
	cache_init(&c, region);
	return cache_is_holiday(&c, day);
}

int calendar_is_closure(const struct calendar *cal, int32_t day)
{
	size_t lo = 0, hi = cal->n_closures;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cal->closures[mid] == day)
			return 1;
		if (cal->closures[mid] < day)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

static int working(const struct calendar *cal, struct year_cache *c, int32_t day)
{
	return !is_weekend(day) && !cache_is_holiday(c, day) && !calendar_is_closure(cal, day);
}

int calendar_is_working_day(const struct calendar *cal, int32_t day)
{
	struct year_cache c;

	if (is_weekend(day) || calendar_is_closure(cal, day))
		return 0;
	cache_init(&c, cal->region);
	return !in_range(day) || !cache_is_holiday(&c, day);
}

long calendar_working_days_between(const struct calendar *cal, int32_t from, int32_t to)
{
	struct year_cache c;
	long n = 0;

	if (!in_range(from) || !in_range(to))
		return -1;
	cache_init(&c, cal->region);
	for (int32_t day = from + 1; day <= to; day++)
		n += working(cal, &c, day);
	return n;
}

int calendar_add_working_days(const struct calendar *cal, int32_t from, int n, int32_t *due)
{
	struct year_cache c;
	int32_t day = from, last = day_max();

	if (n < 0 || !in_range(from))
		return -1;
	cache_init(&c, cal->region);
	while (n > 0) {
		if (day >= last)
			return -1;
		day++;
		n -= working(cal, &c, day);
	}
	*due = day;
	return 0;
}

int calendar_next_working_day(const struct calendar *cal, int32_t day, int32_t *next)
{
	struct year_cache c;
	int32_t last = day_max();

	if (!in_range(day))
		return -1;
	cache_init(&c, cal->region);
	while (!working(cal, &c, day)) {
		if (day >= last)
			return -1;
		day++;
	}
	*next = day;
	return 0;
}

int calendar_config_parse(const char *region, const char *const *closures, size_t n,
			  enum calendar_region *region_out, int32_t *days, size_t *n_days,
			  struct errlist *errs)
{
	int faults = 0;
	size_t kept = 0;

	if (calendar_region_parse(region, region_out) != 0) {
		errlist_add(errs, "calendar.region: \"%s\" is not a region (england-and-wales, "
			    "scotland or northern-ireland)", region);
		*region_out = CALENDAR_ENGLAND_AND_WALES;
		faults++;
	}
	for (size_t i = 0; i < n; i++) {
		int32_t day;

		if (!closures[i]) {
			errlist_add(errs, "calendar.closures[%zu]: is not a string (YYYY-MM-DD)", i);
			faults++;
		} else if (calendar_day_parse(closures[i], &day) != 0) {
			errlist_add(errs, "calendar.closures[%zu]: \"%s\" is not a real day "
				    "(YYYY-MM-DD, from %d to %d)", i, closures[i],
				    CALENDAR_MIN_YEAR, CALENDAR_MAX_YEAR);
			faults++;
		} else {
			days[kept++] = day;
		}
	}
	if (kept > 1)
		qsort(days, kept, sizeof(days[0]), cmp_day);
	*n_days = 0;
	for (size_t i = 0; i < kept; i++)
		if (*n_days == 0 || days[*n_days - 1] != days[i])
			days[(*n_days)++] = days[i];
	return faults;
}
