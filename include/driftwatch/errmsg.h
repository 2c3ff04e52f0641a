/* errmsg: fills a caller's error buffer, the one way a function reports what went wrong. */
#ifndef DRIFTWATCH_ERRMSG_H
#define DRIFTWATCH_ERRMSG_H

#include <stdarg.h>
#include <stddef.h>

/* Writes the message into err (errsz bytes, truncated, always NUL-terminated) and returns -1, so
 * that `return errmsg_set(err, errsz, "...")` reads as the failure it is. A NULL err or a zero
 * size is allowed: the message is dropped, the return value stays -1. */
int errmsg_set(char *err, size_t errsz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int errmsg_vset(char *err, size_t errsz, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* As errmsg_set, with "PREFIX: " before the message (a configuration key, a file's path);
 * no prefix when prefix is NULL. */
int errmsg_prefixed(char *err, size_t errsz, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
