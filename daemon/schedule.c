/* schedule: the daemon's next step as a pure function of what it knows, so it can be tested. */
#include "driftwatch/schedule.h"

static const char *const schedule_names[] = {
	"nothing", "reload", "migrate", "drop pending", "wait gap", "full", "incremental", "warm"
};

const char *schedule_action_name(enum schedule_action a)
{
	return (unsigned)a < sizeof(schedule_names) / sizeof(schedule_names[0])
		       ? schedule_names[a] : "?";
}

double schedule_gap_left(const struct schedule_in *in)
{
	if (!in->full_pending || !in->full_by_notify || in->since_full < 0 ||
	    in->since_full >= in->notify_gap)
		return 0;
	return in->notify_gap - in->since_full;
}

/* Whether evaluations must wait: for the connections, a failure's pause, or the LISTEN. */
static int schedule_held(const struct schedule_in *in)
{
	return !in->conns_up || in->retry_waiting || !in->listen_answered || !in->listen_tried;
}

enum schedule_action schedule_decide(const struct schedule_in *in)
{
	if (in->stopping || in->busy)
		return SCHEDULE_NOTHING;
	if (in->reload)
		return SCHEDULE_RELOAD;
	if (schedule_held(in))
		return SCHEDULE_NOTHING;
	if (!in->migrated)
		return SCHEDULE_MIGRATE;
	/* Another instance evaluates: what this one was told is that one's to act on. */
	if (!in->leading)
		return in->pending ? SCHEDULE_DROP_PENDING : SCHEDULE_NOTHING;
	if (schedule_gap_left(in) > 0)
		return SCHEDULE_WAIT_GAP;
	if (in->full_pending)
		return SCHEDULE_FULL;
	if (in->pending)
		return SCHEDULE_INCREMENTAL;
	return in->warm ? SCHEDULE_NOTHING : SCHEDULE_WARM;
}

int schedule_backoff(int previous_s, int min_s, int max_s)
{
	int next = previous_s > 0 ? previous_s * 2 : min_s;

	return next > max_s ? max_s : next;
}
