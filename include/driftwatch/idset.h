/* idset: a set of child ids waiting for evaluation; bursts of notifications collapse into it. */
#ifndef DRIFTWATCH_IDSET_H
#define DRIFTWATCH_IDSET_H

#include <stddef.h>

struct idset {
	char **slots;       /* open addressing; NULL = empty */
	size_t cap;         /* a power of two, or 0 */
	size_t n;
	size_t bytes;       /* of the ids held, terminators included: what a flood costs */
};

void idset_init(struct idset *s);
/* Adds a copy of id unless present. Returns 1 if added, 0 if present, -1 on allocation failure. */
int idset_add(struct idset *s, const char *id);
/* Moves every id out as a malloc'd array of malloc'd strings (*n of them) and empties the set.
 * Returns NULL (and *n 0) when empty or on allocation failure (then the set is kept). */
char **idset_take(struct idset *s, size_t *n);
void idset_free_ids(char **ids, size_t n);
void idset_clear(struct idset *s);

#endif
