/* test_schedule: the daemon's choice of what to do next, in every state that matters. */
#include <string.h>

#include "driftwatch/schedule.h"
#include "tap.h"

/* A daemon that is up, leading, migrated, warm, with nothing to do. */
static struct schedule_in quiet(void)
{
	struct schedule_in in;

	memset(&in, 0, sizeof(in));
	in.conns_up = in.listen_answered = in.listen_tried = in.migrated = in.leading = 1;
	in.warm = 1;
	in.since_full = 100;
	in.notify_gap = 30;
	return in;
}

static void expect(struct schedule_in in, enum schedule_action want, const char *name)
{
	tap_str(schedule_action_name(schedule_decide(&in)), schedule_action_name(want), "%s",
		name);
}

int main(void)
{
	struct schedule_in in = quiet();

	expect(in, SCHEDULE_NOTHING, "quiet: nothing");
	in.full_pending = 1;
	expect(in, SCHEDULE_FULL, "full pending: full");
	in.pending = 3;
	expect(in, SCHEDULE_FULL, "a full evaluation covers the notified children");
	in.full_pending = 0;
	expect(in, SCHEDULE_INCREMENTAL, "notified children: incremental");
	in.stopping = 1;
	expect(in, SCHEDULE_NOTHING, "stopping starts nothing");
	in = quiet();
	in.pending = 1;
	in.busy = 1;
	expect(in, SCHEDULE_NOTHING, "one thing at a time on the state connection");
	in.reload = 1;
	expect(in, SCHEDULE_NOTHING, "a reload waits for the evaluation in flight");
	in.busy = 0;
	expect(in, SCHEDULE_RELOAD, "... and goes first once it ends");
	in = quiet();
	in.full_pending = 1;
	in.conns_up = 0;
	expect(in, SCHEDULE_NOTHING, "no connection: wait");
	in.conns_up = 1;
	in.retry_waiting = 1;
	expect(in, SCHEDULE_NOTHING, "a failure's pause is waited out");
	in.retry_waiting = 0;
	in.listen_answered = 0;
	expect(in, SCHEDULE_NOTHING, "the LISTEN's answer is awaited");
	in.listen_answered = 1;
	in.listen_tried = 0;
	expect(in, SCHEDULE_NOTHING, "at start, the listener's first attempt is awaited");
	in.listen_tried = 1;
	in.migrated = 0;
	expect(in, SCHEDULE_MIGRATE, "not migrated: migrate first");
	in.migrated = 1;
	in.leading = 0;
	expect(in, SCHEDULE_NOTHING, "not leading, nothing notified: nothing");
	in.pending = 5;
	expect(in, SCHEDULE_DROP_PENDING, "not leading: the notified children are dropped");
	in = quiet();
	in.full_pending = in.full_by_notify = 1;
	in.since_full = 10;
	expect(in, SCHEDULE_WAIT_GAP, "NOTIFY's full evaluation 10 s after the last: waits");
	tap_ok(schedule_gap_left(&in) == 20, "... 20 s more");
	in.since_full = 30;
	expect(in, SCHEDULE_FULL, "... and runs once the gap is over");
	in.since_full = 5;
	in.full_by_notify = 0;
	expect(in, SCHEDULE_FULL, "a full evaluation asked for otherwise never waits the gap");
	in.full_by_notify = 1;
	in.since_full = -1;
	expect(in, SCHEDULE_FULL, "NOTIFY before any full evaluation: no gap");
	in = quiet();
	in.warm = 0;
	expect(in, SCHEDULE_WARM, "idle and cold: warm up");
	tap_int(schedule_backoff(0, 1, 60), 1, "backoff starts at the minimum");
	tap_int(schedule_backoff(1, 1, 60), 2, "backoff doubles");
	tap_int(schedule_backoff(32, 1, 60), 60, "backoff stops at the maximum");
	tap_int(schedule_backoff(60, 1, 60), 60, "... and stays there");
	return tap_status();
}
