/* digest_slot: places email notices in the next digest slot or urgent window (ALERTS.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driftwatch/config.h"
#include "driftwatch/digest_slot.h"

int digest_slot_day(const struct calendar *cal, int32_t today, int now_s, int digest_minute,
		    int32_t *slot)
{
	if (now_s < digest_minute * 60 && calendar_is_working_day(cal, today)) {
		*slot = today;
		return 0;
	}
	return calendar_next_working_day(cal, today + 1, slot);
}

long long digest_slot_urgent_due(long long now, int delay_s)
{
	if (delay_s <= 0)
		return now;
	return (now / delay_s + 1) * delay_s;
}

void digest_slot_eval_key(char *buf, size_t cap, const char *as_of, const char *suffix)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0) {
		ts.tv_sec = time(NULL);
		ts.tv_nsec = 0;
	}
	snprintf(buf, cap, "%s-%lld.%09ld-%ld%s", as_of, (long long)ts.tv_sec, (long)ts.tv_nsec,
		 (long)getpid(), suffix ? suffix : "");
}

/* A whole decimal number within [min, max], else -1. */
static int slot_number(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!s || !*s)
		return -1;
	v = strtoll(s, &end, 10);
	if (*end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int digest_slot_make(const struct dw_config *cfg, int hold, const char *local_day,
		     const char *local_s, const char *epoch, struct digest_slot *slot,
		     const char **why)
{
	struct calendar cal = config_calendar(cfg);
	int minute = cfg->email.digest_minute;
	long long secs, now;
	int32_t today, day;
	char day_text[CALENDAR_DAY_LEN];

	memset(slot, 0, sizeof(*slot));
	if (!hold || minute == CONFIG_DIGEST_EACH)
		return 0;
	if (calendar_day_parse(local_day, &today) < 0 ||
	    slot_number(local_s, 0, 86400, &secs) < 0 ||
	    slot_number(epoch, 0, 253402300799LL, &now) < 0) {
		*why = "the database's local time could not be read";
		return -1;
	}
	if (digest_slot_day(&cal, today, (int)secs, minute, &day) < 0) {
		*why = "no working day is left in the calendar for the next digest";
		return -1;
	}
	calendar_day_format(day, day_text, sizeof(day_text));
	slot->held = 1;
	snprintf(slot->local, sizeof(slot->local), "%s %02d:%02d", day_text, minute / 60,
		 minute % 60);
	snprintf(slot->key, sizeof(slot->key), "digest %s", slot->local);
	now = digest_slot_urgent_due(now, cfg->email.urgent_delay_s);
	snprintf(slot->urgent_at, sizeof(slot->urgent_at), "%lld", now);
	snprintf(slot->urgent_key, sizeof(slot->urgent_key), "urgent %lld", now);
	return 0;
}

void digest_slot_params(const struct digest_slot *slot, const struct dw_config *cfg,
			const char *params[5])
{
	params[0] = slot->held ? slot->key : NULL;
	params[1] = slot->held ? slot->local : NULL;
	params[2] = slot->held ? cfg->timezone : NULL;
	params[3] = slot->held ? slot->urgent_key : NULL;
	params[4] = slot->held ? slot->urgent_at : NULL;
}
