/* test_idset: the set that collapses bursts of notifications about the same children. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/idset.h"
#include "tap.h"

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(void)
{
	struct idset s;
	char id[32];
	char **ids;
	size_t n;
	int dup = 0;

	idset_init(&s);
	tap_ok(idset_take(&s, &n) == NULL && n == 0, "an empty set gives nothing");
	tap_int(idset_add(&s, "C-1"), 1, "first add");
	tap_int(idset_add(&s, "C-1"), 0, "the same child again is not added");
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "C-%d", i % 2500);
		idset_add(&s, id);
	}
	tap_int(s.n, 2500, "5000 notifications about 2500 children give 2500 ids");
	ids = idset_take(&s, &n);
	tap_int(n, 2500, "all taken");
	tap_int(s.n, 0, "the set is empty after taking");
	qsort(ids, n, sizeof(*ids), cmp);
	for (size_t i = 1; i < n; i++)
		dup |= strcmp(ids[i - 1], ids[i]) == 0;
	tap_ok(!dup, "no id twice");
	idset_free_ids(ids, n);
	idset_add(&s, "x");
	idset_clear(&s);
	tap_int(s.n, 0, "clear empties");
	return tap_status();
}
