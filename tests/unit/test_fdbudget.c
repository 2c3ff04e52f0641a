/* test_fdbudget: the open-file limit shared out between HTTP connections and transfers. */
#include "driftwatch/fdbudget.h"
#include "tap.h"

static void splits(unsigned long limit, unsigned http, unsigned transfers)
{
	struct fdbudget b;

	fdbudget_split(limit, &b);
	tap_ok(b.limit == limit && b.http_connections == http && b.transfers == transfers,
	       "limit %lu: %u HTTP connections, %u transfers (got %u, %u)", limit, http, transfers,
	       b.http_connections, b.transfers);
}

int main(void)
{
	int short_of_reserve = 0;

	/* the unit's LimitNOFILE and above: both at their maximum */
	splits(8192, FDBUDGET_HTTP_MAX, FDBUDGET_TRANSFERS_MAX);
	splits(1UL << 20, FDBUDGET_HTTP_MAX, FDBUDGET_TRANSFERS_MAX);
	/* systemd's default soft limit: (1024 - 64) / 4 = 240, then (960 - 240) / 3 = 240 */
	splits(1024, 240, 240);
	/* what is left stays for the database and the rest: the two never take it all */
	for (unsigned long l = 100; l <= 4096; l += 37) {
		struct fdbudget b;

		fdbudget_split(l, &b);
		if (b.http_connections + 3UL * b.transfers + FDBUDGET_RESERVE > l) {
			tap_diag("limit %lu does not leave the reserve (%u + 3 * %u)", l,
				 b.http_connections, b.transfers);
			short_of_reserve++;
		}
	}
	tap_int(short_of_reserve, 0, "every limit from 100 to 4096 leaves the reserve free");
	/* too low to share: the floors, so the daemon still works (slowly) */
	splits(64, FDBUDGET_MIN, FDBUDGET_MIN);
	splits(0, FDBUDGET_MIN, FDBUDGET_MIN);
	return tap_status();
}
