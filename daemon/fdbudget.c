/* fdbudget: shares the open-file limit out, so a flood on one side cannot starve the others. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "driftwatch/fdbudget.h"

static unsigned fdbudget_clamp(unsigned long v, unsigned lo, unsigned hi)
{
	return v < lo ? lo : v > hi ? hi : (unsigned)v;
}

void fdbudget_split(unsigned long limit, struct fdbudget *out)
{
	unsigned long rest = limit > FDBUDGET_RESERVE ? limit - FDBUDGET_RESERVE : 0;

	out->limit = limit;
	out->http_connections = fdbudget_clamp(rest / 4, FDBUDGET_MIN, FDBUDGET_HTTP_MAX);
	rest = rest > out->http_connections ? rest - out->http_connections : 0;
	out->transfers = fdbudget_clamp(rest / 3, FDBUDGET_MIN, FDBUDGET_TRANSFERS_MAX);
}

int fdbudget_plan(struct fdbudget *out, char *err, size_t errsz)
{
	struct rlimit rl;
	int rc = 0;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		snprintf(err, errsz, "cannot read the open-file limit: %s; assuming 1024",
			 strerror(errno));
		fdbudget_split(1024, out);
		return -1;
	}
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_max != RLIM_INFINITY &&
	    rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { rl.rlim_max, rl.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
			rl.rlim_cur = rl.rlim_max;
		} else {
			snprintf(err, errsz, "cannot raise the open-file limit from %lu to %lu: %s",
				 (unsigned long)rl.rlim_cur, (unsigned long)rl.rlim_max,
				 strerror(errno));
			rc = -1;
		}
	}
	fdbudget_split(rl.rlim_cur == RLIM_INFINITY ? 1UL << 20 : (unsigned long)rl.rlim_cur, out);
	return rc;
}
