/* log: one line per event on standard error, with syslog priority prefixes for the journal. */
#ifndef DRIFTWATCH_LOG_H
#define DRIFTWATCH_LOG_H

/* syslog(3) priorities, written as "<N>" so journald keeps the level. */
enum log_prio {
	LOG_PRIO_ERR = 3,
	LOG_PRIO_WARNING = 4,
	LOG_PRIO_NOTICE = 5,
	LOG_PRIO_INFO = 6,
	LOG_PRIO_DEBUG = 7
};

/* Writes one line if prio <= max_prio. The threshold is a parameter, not a global, so each
 * caller passes the one its context holds (ctx->log_level). */
void log_write(int max_prio, int prio, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sends libevent's own messages through log_write, each with a priority prefix. Call it once,
 * before the event loop is made. */
void log_route_libevent(void);

#define log_err(ctx, ...)    log_write((ctx)->log_level, LOG_PRIO_ERR, __VA_ARGS__)
#define log_warn(ctx, ...)   log_write((ctx)->log_level, LOG_PRIO_WARNING, __VA_ARGS__)
#define log_notice(ctx, ...) log_write((ctx)->log_level, LOG_PRIO_NOTICE, __VA_ARGS__)
#define log_info(ctx, ...)   log_write((ctx)->log_level, LOG_PRIO_INFO, __VA_ARGS__)
#define log_debug(ctx, ...)  log_write((ctx)->log_level, LOG_PRIO_DEBUG, __VA_ARGS__)

#endif
