/* log: one line per event on standard error, prefixed "<N>" so journald keeps the priority. */
#include <stdarg.h>
#include <stdio.h>

#include "driftwatch/log.h"
#include "driftwatch/url_redact.h"

void log_write(int max_prio, int prio, const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	if (prio > max_prio)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* A URL's credentials (user:password@, ?token=, ?sig=) never reach the journal, whoever
	 * wrote the message: a database error may quote a row, libcurl may echo a URL. */
	url_scrub(line, sizeof(line), NULL);
	/* One event, one line: libpq and libcurl messages carry newlines and tabs. */
	for (char *p = line; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	/* One fprintf per line so concurrent writers cannot interleave within a line. */
	fprintf(stderr, "<%d>%s\n", prio, line);
}
