/* backoff: when to try a failed delivery again (webhooks and email alike), with full jitter. */
#include <stdint.h>
#include <time.h>

#include "driftwatch/backoff.h"

uint64_t backoff_rand_splitmix64(void *state)
{
	uint64_t *s = state;
	uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

long backoff_delay(const struct backoff *b, unsigned attempt, long retry_after_s,
		   backoff_rand_fn rnd, void *rnd_state)
{
	long cap = b->cap_s > 0 ? b->cap_s : 1;
	long bound = b->base_s > 0 ? b->base_s : 1;
	long delay;
	unsigned i;

	if (bound > cap)
		bound = cap;
	/* doubling stops at the cap, so no attempt number can overflow */
	for (i = 0; i < attempt && bound < cap; i++)
		bound = bound > cap / 2 ? cap : bound * 2;
	delay = (long)(rnd(rnd_state) % ((uint64_t)bound + 1));
	if (retry_after_s > delay)
		delay = retry_after_s;
	if (b->horizon_s > 0 && delay > b->horizon_s)
		delay = b->horizon_s;
	return delay;
}

int backoff_expired(const struct backoff *b, time_t first_due, time_t now)
{
	if (b->horizon_s <= 0)
		return 0;
	return now - first_due >= (time_t)b->horizon_s;
}
