/* log: one line per event on standard error, prefixed "<N>" so journald keeps the priority. */
#include <stdarg.h>
#include <stdio.h>

#include "driftwatch/log.h"

void log_write(int max_prio, int prio, const char *fmt, ...)
{
	static const char hex[] = "0123456789abcdef";
	char line[2048], out[2048 * 4 + 1], *o = out;
	va_list ap;

	if (prio > max_prio)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One event, one line: libpq and libcurl messages carry newlines and tabs. Any other
	 * control character (an ESC in a NOTIFY payload or a case record) is written as \xNN, so
	 * nothing a database or a receiver sends can drive the terminal reading the log. */
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		if (*p == '\n' || *p == '\r' || *p == '\t') {
			*o++ = ' ';
		} else if (*p < 0x20 || *p == 0x7f) {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		} else {
			*o++ = (char)*p;
		}
	}
	*o = '\0';
	/* One fprintf per line so concurrent writers cannot interleave within a line. */
	fprintf(stderr, "<%d>%s\n", prio, out);
}
