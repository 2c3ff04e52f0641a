/* evwait: runs a test's libevent loop until a callback sets a flag, or a time limit passes, so a
 * server that never answers fails the check instead of hanging the test. */
#ifndef DRIFTWATCH_EVWAIT_H
#define DRIFTWATCH_EVWAIT_H

#include <event2/event.h>

static inline void evwait_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(int *)arg = 1;
}

/* Returns 0 when *flag was set within seconds, -1 when the time ran out first. */
static inline int evwait_for(struct event_base *base, const int *flag, int seconds)
{
	int timed_out = 0;
	struct event *ev = evtimer_new(base, evwait_on_timeout, &timed_out);
	struct timeval tv = { seconds, 0 };

	if (!ev)
		return -1;
	evtimer_add(ev, &tv);
	while (!*flag && !timed_out)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
	return *flag ? 0 : -1;
}

#endif
