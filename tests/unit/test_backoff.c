/* Unit tests of daemon/backoff.c: the jittered delay's bounds, Retry-After as a floor, the horizon. */
#include <stdint.h>
#include <stdio.h>

#include "driftwatch/backoff.h"
#include "tap.h"

/* A random source that answers what its state holds, to pin the jitter at its ends. */
static uint64_t fixed_rand(void *state)
{
	return *(uint64_t *)state;
}

static long min_l(long a, long b)
{
	return a < b ? a : b;
}

static void test_backoff(void)
{
	const struct backoff b = BACKOFF_DEFAULT;
	const struct backoff small = { 2, 100, 1000 };
	uint64_t v, seed = 42, seed2 = 42;
	unsigned attempt;
	int in_bounds = 1, reached_top = 0, same = 1, i;
	double sum = 0;

	tap_int(b.horizon_s, 3 * 24 * 3600, "the default horizon is three days");
	tap_ok(b.base_s > 0 && b.cap_s >= b.base_s && b.horizon_s > b.cap_s,
	       "the defaults are ordered: base <= cap < horizon");

	v = 0;
	tap_int(backoff_delay(&small, 0, -1, fixed_rand, &v), 0, "the jitter can reach 0");
	for (attempt = 0; attempt < 10; attempt++) {
		long bound = min_l(100, 2L << attempt);

		v = (uint64_t)bound;
		tap_int(backoff_delay(&small, attempt, -1, fixed_rand, &v), bound,
			"attempt %u can wait the whole bound min(cap, base*2^n) = %ld", attempt,
			bound);
		v = (uint64_t)bound + 1;
		tap_int(backoff_delay(&small, attempt, -1, fixed_rand, &v), 0,
			"attempt %u never waits more than its bound", attempt);
	}
	v = UINT64_MAX;
	tap_ok(backoff_delay(&small, UINT32_MAX, -1, fixed_rand, &v) <= 100,
	       "a huge attempt number stays within the cap");

	for (attempt = 0; attempt < 40; attempt++) {
		long bound = min_l(b.cap_s, attempt < 30 ? b.base_s << attempt : b.cap_s);

		for (i = 0; i < 200; i++) {
			long d = backoff_delay(&b, attempt, -1, backoff_rand_splitmix64, &seed);

			if (d < 0 || d > bound)
				in_bounds = 0;
			if (d > bound * 9 / 10)
				reached_top++;
		}
	}
	tap_ok(in_bounds, "8000 random delays all lie in [0, min(cap, base*2^attempt)]");
	tap_ok(reached_top > 0, "random delays reach the top tenth of their range");
	for (i = 0; i < 10000; i++)
		sum += (double)backoff_delay(&b, 30, -1, backoff_rand_splitmix64, &seed);
	tap_ok(sum / 10000 > b.cap_s * 0.45 && sum / 10000 < b.cap_s * 0.55,
	       "full jitter at the cap averages half the cap (%.0f of %ld)", sum / 10000, b.cap_s);

	seed = seed2 = 7;
	for (i = 0; i < 100; i++)
		if (backoff_delay(&b, 5, -1, backoff_rand_splitmix64, &seed) !=
		    backoff_delay(&b, 5, -1, backoff_rand_splitmix64, &seed2))
			same = 0;
	tap_ok(same, "the same seed gives the same delays (no hidden random state)");

	v = 0;
	tap_int(backoff_delay(&small, 0, 300, fixed_rand, &v), 300,
		"Retry-After is a floor above the jitter");
	v = 50;
	tap_int(backoff_delay(&small, 6, 10, fixed_rand, &v), 50,
		"a longer jittered delay wins over a short Retry-After");
	tap_int(backoff_delay(&small, 0, 999999, fixed_rand, &v), 1000,
		"Retry-After is capped at the horizon");

	tap_int(backoff_expired(&b, 1000000, 1000000 + 3 * 24 * 3600 - 1), 0,
		"a notice just short of three days old is still retried");
	tap_int(backoff_expired(&b, 1000000, 1000000 + 3 * 24 * 3600), 1,
		"a notice three days old has expired");
}

int main(void)
{
	test_backoff();
	return tap_status();
}
