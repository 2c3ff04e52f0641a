/* backoff: when to try a failed delivery again (webhooks and email alike), with full jitter. */
#ifndef DRIFTWATCH_BACKOFF_H
#define DRIFTWATCH_BACKOFF_H

#include <stdint.h>
#include <time.h>

/* Exponential backoff with full jitter: the delay before retry number attempt (0 = the first
 * retry) is uniform in [0, min(cap_s, base_s * 2^attempt)]; retries stop once horizon_s have
 * passed since a notice was first due (delivery.max_age_hours, default 72). */
struct backoff {
	long base_s;
	long cap_s;
	long horizon_s;
};

#define BACKOFF_DEFAULT { 30, 3600, 3 * 24 * 3600 }

/* A source of uniform 64-bit random numbers; state is the caller's. */
typedef uint64_t (*backoff_rand_fn)(void *state);

/* splitmix64 over a uint64_t *state: seed it with anything (time, pid); jitter only has to
 * spread retries apart, not be unpredictable. */
uint64_t backoff_rand_splitmix64(void *state);

/* The jittered delay in seconds before retry number attempt. A receiver's Retry-After
 * (retry_after_s >= 0) is a floor: the delay is never shorter, and never longer than horizon_s. */
long backoff_delay(const struct backoff *b, unsigned attempt, long retry_after_s,
		   backoff_rand_fn rnd, void *rnd_state);

/* 1 when a notice first due at first_due is past the horizon at now (mark it failed), else 0. */
int backoff_expired(const struct backoff *b, time_t first_due, time_t now);

#endif
