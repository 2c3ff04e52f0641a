/* errlist: collects every error a check finds, so the user can fix them all in one go. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "driftwatch/errlist.h"

int errlist_add(struct errlist *el, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int len;

	if (el->n == el->cap) {
		size_t cap = el->cap ? el->cap * 2 : 8;
		char **m = realloc(el->msgs, cap * sizeof(*m));

		if (!m)
			return -1;
		el->msgs = m;
		el->cap = cap;
	}
	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0)
		return -1;
	msg = malloc((size_t)len + 1);
	if (!msg)
		return -1;
	va_start(ap, fmt);
	vsnprintf(msg, (size_t)len + 1, fmt, ap);
	va_end(ap);
	el->msgs[el->n++] = msg;
	return 0;
}

void errlist_free(struct errlist *el)
{
	for (size_t i = 0; i < el->n; i++)
		free(el->msgs[i]);
	free(el->msgs);
	el->msgs = NULL;
	el->n = el->cap = 0;
}
