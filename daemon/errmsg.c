/* errmsg: fills a caller's error buffer, the one way a function reports what went wrong. */
#include <stdarg.h>
#include <stdio.h>

#include "driftwatch/errmsg.h"

int errmsg_vset(char *err, size_t errsz, const char *fmt, va_list ap)
{
	if (err && errsz > 0)
		vsnprintf(err, errsz, fmt, ap);
	return -1;
}

int errmsg_set(char *err, size_t errsz, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errmsg_vset(err, errsz, fmt, ap);
	va_end(ap);
	return -1;
}

int errmsg_prefixed(char *err, size_t errsz, const char *prefix, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!err || errsz == 0)
		return -1;
	if (prefix)
		n = snprintf(err, errsz, "%s: ", prefix);
	if (n < 0 || (size_t)n >= errsz)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err + n, errsz - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}
