/* log: one line per event on standard error, prefixed "<N>" so journald keeps the priority. */
#include <stdarg.h>
#include <stdio.h>

#include <event2/event.h>

#include "driftwatch/log.h"
#include "driftwatch/url_redact.h"

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
	/* A URL's credentials (user:password@, ?token=, ?sig=) never reach the journal, whoever
	 * wrote the message: a database error may quote a row, libcurl may echo a URL. */
	url_scrub(line, sizeof(line), NULL);
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

/* libevent reports through a callback that is process-wide: libevent keeps it in a global of
 * its own, the one piece of global state this needs, and the callback keeps none of ours. Each
 * message becomes one line with a priority (it once wrote "Error from accept() call" bare, three
 * million times). Its debug messages come only with libevent's debug logging, never turned on
 * here; notices and worse are written whatever -v says, since the threshold lives in the
 * context, which libevent does not pass. */
static void log_libevent(int severity, const char *msg)
{
	int prio;

	switch (severity) {
	case EVENT_LOG_ERR: prio = LOG_PRIO_ERR; break;
	case EVENT_LOG_WARN: prio = LOG_PRIO_WARNING; break;
	case EVENT_LOG_MSG: prio = LOG_PRIO_NOTICE; break;
	default: return;
	}
	log_write(LOG_PRIO_NOTICE, prio, "libevent: %s", msg ? msg : "");
}

void log_route_libevent(void)
{
	event_set_log_callback(log_libevent);
}
