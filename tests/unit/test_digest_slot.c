/* test_digest_slot: the digest slot of a notice on working days, and the urgent windows. */
#include <string.h>

#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/digest_slot.h"
#include "tap.h"

#define EIGHT (8 * 60)

static int32_t day(const char *s)
{
	int32_t d = 0;

	if (calendar_day_parse(s, &d) < 0)
		tap_diag("bad day in the test: %s", s);
	return d;
}

/* The slot's day, as text, for a notice recorded on "today" at hh:mm local. */
static const char *slot_of(const struct calendar *cal, const char *today, int hh, int mm,
			   int minute, char *buf)
{
	int32_t slot;

	if (digest_slot_day(cal, day(today), hh * 3600 + mm * 60, minute, &slot) < 0)
		return "none";
	return calendar_day_format(slot, buf, CALENDAR_DAY_LEN);
}

static void test_days(void)
{
	struct calendar cal = { CALENDAR_ENGLAND_AND_WALES, NULL, 0 };
	char buf[CALENDAR_DAY_LEN];

	/* Wednesday 11 March 2026 */
	tap_str(slot_of(&cal, "2026-03-11", 7, 59, EIGHT, buf), "2026-03-11",
		"a weekday before the digest time: today's digest");
	tap_str(slot_of(&cal, "2026-03-11", 0, 0, EIGHT, buf), "2026-03-11",
		"just after midnight: today's digest");
	tap_str(slot_of(&cal, "2026-03-11", 8, 0, EIGHT, buf), "2026-03-12",
		"at the digest time: that digest is going, so tomorrow's");
	tap_str(slot_of(&cal, "2026-03-11", 14, 30, EIGHT, buf), "2026-03-12",
		"a weekday after the digest time: the next day's digest");
	tap_str(slot_of(&cal, "2026-03-11", 14, 30, 17 * 60, buf), "2026-03-11",
		"digest_time 17:00, at 14:30: today's");
	/* Friday 13 March 2026 */
	tap_str(slot_of(&cal, "2026-03-13", 18, 0, EIGHT, buf), "2026-03-16",
		"Friday evening: Monday's digest");
	tap_str(slot_of(&cal, "2026-03-14", 7, 0, EIGHT, buf), "2026-03-16",
		"Saturday morning, before the time: Monday's digest, not Saturday's");
	tap_str(slot_of(&cal, "2026-03-15", 23, 59, EIGHT, buf), "2026-03-16",
		"Sunday night: Monday's digest");
	/* Easter 2026: Good Friday 3 April, Easter Monday 6 April */
	tap_str(slot_of(&cal, "2026-04-02", 17, 0, EIGHT, buf), "2026-04-07",
		"Thursday before Easter, evening: Tuesday after Easter Monday");
	tap_str(slot_of(&cal, "2026-04-03", 7, 0, EIGHT, buf), "2026-04-07",
		"Good Friday morning: no digest on a bank holiday");
	tap_str(slot_of(&cal, "2026-04-06", 7, 0, EIGHT, buf), "2026-04-07",
		"Easter Monday morning: Tuesday");
	/* Scotland has no Easter Monday */
	cal.region = CALENDAR_SCOTLAND;
	tap_str(slot_of(&cal, "2026-04-03", 7, 0, EIGHT, buf), "2026-04-06",
		"Good Friday in Scotland: Easter Monday is a working day there");
	cal.region = CALENDAR_ENGLAND_AND_WALES;
}

static void test_closures(void)
{
	int32_t closed[3];
	struct calendar cal = { CALENDAR_ENGLAND_AND_WALES, closed, 3 };
	char buf[CALENDAR_DAY_LEN];

	closed[0] = day("2026-12-29");
	closed[1] = day("2026-12-30");
	closed[2] = day("2026-12-31");
	/* Christmas Friday 25, Boxing Day's substitute Monday 28, closed 29-31, New Year Friday 1 */
	tap_str(slot_of(&cal, "2026-12-24", 10, 0, EIGHT, buf), "2027-01-04",
		"Christmas Eve after the time, the council closed between Christmas and New Year: "
		"Monday 4 January");
	tap_str(slot_of(&cal, "2026-12-24", 7, 0, EIGHT, buf), "2026-12-24",
		"Christmas Eve before the time: that morning's digest");
	tap_str(slot_of(&cal, "2026-12-29", 7, 0, EIGHT, buf), "2027-01-04",
		"a closure day's morning: no digest that day");
	cal.n_closures = 0;
	tap_str(slot_of(&cal, "2026-12-24", 10, 0, EIGHT, buf), "2026-12-29",
		"without the closures: Tuesday 29 December");
}

static void test_urgent(void)
{
	tap_int(digest_slot_urgent_due(1000, 300), 1200, "urgent: the end of the window");
	tap_int(digest_slot_urgent_due(1199, 300), 1200, "urgent: the same window a second before");
	tap_int(digest_slot_urgent_due(1200, 300), 1500, "urgent: a window's end opens the next");
	tap_int(digest_slot_urgent_due(1000, 5), 1005, "urgent: five seconds");
	tap_int(digest_slot_urgent_due(1000, 0), 1000, "urgent_delay_seconds 0: now");
}

/* Evaluations one after another, as incremental ones after a burst of changes: each its own
 * digest key, and each key starts with the day evaluated. */
static void test_eval_keys(void)
{
	char keys[50][64];
	int i, j, same = 0, day_first = 1;

	for (i = 0; i < 50; i++) {
		digest_slot_eval_key(keys[i], sizeof(keys[i]), "2026-12-03", i % 2 ? "-unanswered" : NULL);
		day_first &= strncmp(keys[i], "2026-12-03-", 11) == 0;
		for (j = 0; j < i; j++)
			same += strcmp(keys[i], keys[j]) == 0;
	}
	tap_int(same, 0, "evaluation keys: 50 made in a row are all different (%s, %s)", keys[0],
		keys[1]);
	tap_ok(day_first, "evaluation keys: each starts with the day evaluated");
	tap_contains(keys[1], "-unanswered", "evaluation keys: the escalation pass's suffix");
}

static void test_make(void)
{
	struct dw_config cfg;
	struct digest_slot slot;
	const char *params[5], *why = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.timezone = "Europe/London";
	cfg.email.digest_minute = EIGHT;
	cfg.email.urgent_delay_s = 300;
	/* Saturday 28 March 2026, 23:30 GMT; the clocks go forward at 01:00 on Sunday 29. The
	 * slot is 08:00 by the local clock on Monday, BST (07:00 UTC): the day and the wall clock
	 * are computed here, and the zone named with them for the state database to place. */
	tap_int(digest_slot_make(&cfg, 1, "2026-03-28", "84600", "1774740600", &slot, &why), 0,
		"a slot is made");
	tap_ok(slot.held, "the notice is held");
	tap_str(slot.local, "2026-03-30 08:00",
		"across the clock change: 08:00 local on Monday, whatever the offset");
	tap_str(slot.key, "digest 2026-03-30 08:00", "the key names the slot");
	tap_str(slot.urgent_at, "1774740900", "urgent: the window's end, epoch");
	tap_str(slot.urgent_key, "urgent 1774740900", "urgent: the key names the window");
	digest_slot_params(&slot, &cfg, params);
	tap_str(params[0], slot.key, "$ key");
	tap_str(params[1], "2026-03-30 08:00", "$ local wall clock");
	tap_str(params[2], "Europe/London", "$ the configured zone");
	tap_str(params[3], slot.urgent_key, "$ urgent key");
	tap_str(params[4], "1774740900", "$ urgent at");

	/* Sunday 25 October 2026, the clocks went back at 02:00: Monday 26 at 08:00 GMT */
	tap_int(digest_slot_make(&cfg, 1, "2026-10-25", "3600", "1792890000", &slot, &why), 0,
		"a slot the day the clocks go back");
	tap_str(slot.local, "2026-10-26 08:00", "the clocks went back: 08:00 local on Monday");

	tap_int(digest_slot_make(&cfg, 0, "2026-03-28", "84600", "1774740600", &slot, &why), 0,
		"--once: nothing held");
	digest_slot_params(&slot, &cfg, params);
	tap_ok(!slot.held && !params[0] && !params[1] && !params[2] && !params[3] && !params[4],
	       "--once: every parameter NULL, the notices go now");

	cfg.email.digest_minute = CONFIG_DIGEST_EACH;
	tap_int(digest_slot_make(&cfg, 1, "2026-03-28", "84600", "1774740600", &slot, &why), 0,
		"digest_time null: nothing held");
	tap_ok(!slot.held, "digest_time null: a digest after every evaluation");
	cfg.email.digest_minute = EIGHT;

	why = NULL;
	tap_int(digest_slot_make(&cfg, 1, "2026-02-30", "3600", "1", &slot, &why), -1,
		"a local day that is not a day is refused");
	tap_ok(why && strstr(why, "local time"), "... saying why");
	tap_int(digest_slot_make(&cfg, 1, "2026-03-28", "x", "1", &slot, &why), -1,
		"seconds that are not a number are refused");
	tap_int(digest_slot_make(&cfg, 1, "9999-12-31", "86000", "1", &slot, &why), -1,
		"no working day left: refused");
	tap_ok(why && strstr(why, "working day"), "... saying why");
}

int main(void)
{
	test_days();
	test_closures();
	test_urgent();
	test_eval_keys();
	test_make();
	return tap_status();
}
