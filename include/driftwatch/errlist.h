/* errlist: a growing list of error messages, so a check can report every fault, not the first. */
#ifndef DRIFTWATCH_ERRLIST_H
#define DRIFTWATCH_ERRLIST_H

#include <stddef.h>

struct errlist {
	char **msgs;
	size_t n;
	size_t cap;
};

/* Appends a formatted message. Returns 0, or -1 if memory ran out (the list stays valid). */
int errlist_add(struct errlist *el, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void errlist_free(struct errlist *el);

#endif
