/* sdnotify: the systemd notification protocol (sd_notify(3)) spoken directly, without libsystemd. */
#ifndef DRIFTWATCH_SDNOTIFY_H
#define DRIFTWATCH_SDNOTIFY_H

#include <stddef.h>
#include <stdint.h>

/* One datagram socket and the address of the service manager's notification socket.
 *
 * Every function below accepts NULL and then does nothing and returns 0, so the daemon calls
 * them unconditionally: outside systemd (NOTIFY_SOCKET unset) nothing is sent. Sending never
 * blocks (MSG_DONTWAIT) and never raises SIGPIPE; a failure returns -1 with errno set, which
 * the caller may log but must not treat as fatal: notification is advisory. */
struct sdnotify;

/* Longest message sent; a longer STATUS text is cut (at a character boundary). */
#define SDNOTIFY_MSG_MAX 1024

/* Opens the socket for $NOTIFY_SOCKET. Returns NULL with err empty when the variable is unset
 * or empty (not under systemd, or Type=simple), NULL with err naming NOTIFY_SOCKET and the fault
 * when it is set but unusable (relative path, too long, an unsupported address family such as
 * "vsock:"), or when socket() fails; the daemon logs that once and carries on. */
struct sdnotify *sdnotify_open(char *err, size_t errsz);

/* The same for an explicit address: an absolute path of an AF_UNIX datagram socket, or
 * "@name" for a socket in the abstract namespace. NULL or "" gives NULL with err empty. */
struct sdnotify *sdnotify_open_address(const char *address, char *err, size_t errsz);

void sdnotify_close(struct sdnotify *n);

/* Sends state as one datagram: newline-separated VARIABLE=VALUE assignments. */
int sdnotify_send(struct sdnotify *n, const char *state);

/* READY=1: start-up finished, or a reload finished. Send it once the configuration is loaded and
 * the loop runs, without waiting for the database or the first evaluation: PostgreSQL may be
 * down at boot, and systemd would kill a service not ready within TimeoutStartSec (say so with
 * a STATUS instead). */
int sdnotify_ready(struct sdnotify *n);

/* STATUS=text (printf format), shown by systemctl status. A newline in the text would start a
 * new assignment, so each is replaced by a space. */
int sdnotify_status(struct sdnotify *n, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC now>: a reload (SIGHUP) began. systemd 253
 * and later (Type=notify-reload) want the timestamp; 252 ignores it. Send sdnotify_ready() when
 * the reload is over, whether the new configuration was taken or the old one kept. */
int sdnotify_reloading(struct sdnotify *n);

/* STOPPING=1: shutdown began (SIGTERM/SIGINT). */
int sdnotify_stopping(struct sdnotify *n);

/* WATCHDOG=1: the loop is alive. Send it from a persistent timer on the loop itself, every
 * sdnotify_watchdog_interval_usec() / 2, so that a stalled loop stops the pings. */
int sdnotify_watchdog(struct sdnotify *n);

/* The watchdog interval systemd expects pings within ($WATCHDOG_USEC, from WatchdogSec=), in
 * microseconds, or 0 when there is no watchdog: the variable unset or not a positive integer,
 * or $WATCHDOG_PID set and naming another process (the variables were inherited). */
uint64_t sdnotify_watchdog_interval_usec(void);

#endif
