/* fdbudget: how many HTTP connections and transfers the open-file limit leaves room for. */
#ifndef DRIFTWATCH_FDBUDGET_H
#define DRIFTWATCH_FDBUDGET_H

#include <stddef.h>

/* Descriptors kept for everything else: the database connections (six), standard streams,
 * the event loop's own, the systemd notification socket, files read at a reload, and libcurl's
 * name lookups and wake-up pair. */
#define FDBUDGET_RESERVE 64
#define FDBUDGET_HTTP_MAX 256
#define FDBUDGET_TRANSFERS_MAX 256
/* Below this the daemon still works, slowly; the limit is then too low for it. */
#define FDBUDGET_MIN 4

struct fdbudget {
	unsigned long limit;          /* the soft RLIMIT_NOFILE in force */
	unsigned http_connections;    /* open /healthz and /metrics connections at most */
	unsigned transfers;           /* webhook and SMTP transfers at once */
};

/* Splits limit: FDBUDGET_RESERVE first, then a quarter of the rest (at most FDBUDGET_HTTP_MAX)
 * for HTTP connections and a third of what is left (a transfer may hold its socket and a name
 * lookup's pair) for transfers (at most FDBUDGET_TRANSFERS_MAX); never below FDBUDGET_MIN
 * each. Pure. */
void fdbudget_split(unsigned long limit, struct fdbudget *out);

/* The process's limit, its soft value raised to the hard one first (the daemon waits with poll
 * and epoll, never select, so a high limit costs nothing), then split. Returns 0, or -1 with
 * err saying why the limit could not be read or raised (out is split from what is known). */
int fdbudget_plan(struct fdbudget *out, char *err, size_t errsz);

#endif
