/* idset: open-addressing string set; a burst of NOTIFYs about one child costs one evaluation. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/idset.h"

void idset_init(struct idset *s)
{
	memset(s, 0, sizeof(*s));
}

static uint64_t idset_hash(const char *id)
{
	uint64_t h = 1469598103934665603ULL;  /* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ULL;
	return h;
}

static char **idset_slot(char **slots, size_t cap, const char *id)
{
	size_t i = (size_t)idset_hash(id) & (cap - 1);

	while (slots[i] && strcmp(slots[i], id) != 0)
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* Kept at most half full so probes stay short. */
static int idset_grow(struct idset *s)
{
	size_t cap = s->cap ? s->cap * 2 : 64;
	char **slots = calloc(cap, sizeof(*slots));

	if (!slots)
		return -1;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			*idset_slot(slots, cap, s->slots[i]) = s->slots[i];
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

int idset_add(struct idset *s, const char *id)
{
	char **slot;

	if ((s->n + 1) * 2 > s->cap && idset_grow(s) < 0)
		return -1;
	slot = idset_slot(s->slots, s->cap, id);
	if (*slot)
		return 0;
	*slot = strdup(id);
	if (!*slot)
		return -1;
	s->n++;
	s->bytes += strlen(id) + 1;
	return 1;
}

char **idset_take(struct idset *s, size_t *n)
{
	char **ids;
	size_t k = 0;

	*n = 0;
	if (s->n == 0)
		return NULL;
	ids = malloc(s->n * sizeof(*ids));
	if (!ids)
		return NULL;
	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i])
			ids[k++] = s->slots[i];
	free(s->slots);
	idset_init(s);
	*n = k;
	return ids;
}

void idset_free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

void idset_clear(struct idset *s)
{
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	idset_init(s);
}
