/* visibility: who a person is to driftwatch and which alerts they may see (RESPONSES.md, "Who is
 * who"), for the JSON API and the pages alike. */
#ifndef DRIFTWATCH_VISIBILITY_H
#define DRIFTWATCH_VISIBILITY_H

#include <stdbool.h>

#include <libpq-fe.h>

struct dw_config;
struct sockaddr;

/* The longest email address a person may be known by (RFC 5321's path limit). */
#define VISIBILITY_EMAIL_MAX 254

/* The person named by a user header's value, as driftwatch compares people: surrounding blanks
 * dropped, lower case (RESPONSES.md: case-insensitive), one plausible address. malloc'd, or
 * NULL when the value is not one email address (or out of memory). */
char *visibility_person(const char *value);

/* A configured address sees everything: addresses.head_of_service, .cp_manager, .operators and
 * web.viewers. email as visibility_person made it. */
bool visibility_sees_all(const struct dw_config *cfg, const char *email);

/* The peer is one of web.trusted_proxies (an IPv4 peer reached over an IPv6 socket counts as
 * its IPv4 address). NULL peer: false. */
bool visibility_trusted_peer(const struct dw_config *cfg, const struct sockaddr *peer);

/* What one person may see, read from web_visible.sql's (or web_visible_recipients.sql's) one
 * row. A caller who sees everything has all set and no list. */
struct visibility {
	bool all;          /* every alert (a bearer token, a configured address) */
	bool known;        /* a worker, a team's manager, or a recipient of a notice */
	char *alert_ids;   /* the alerts they may see, as a bigint[] parameter ("{1,5}") */
};

/* The statements that find a person's alerts (both "$1 email, $2 time zone"; the first reads
 * the case data through @case@ and the state through @state@, the second only the state: what
 * is left when the case data cannot be read). */
const char *visibility_sql(void);
const char *visibility_sql_recipients(void);

/* Fills v from one of those results: 0, or -1 when it is not their shape (or out of memory). */
int visibility_read(PGresult *res, struct visibility *v);

/* The parameter the web statements narrow by: NULL for everything. */
const char *visibility_param(const struct visibility *v);

void visibility_clear(struct visibility *v);

#endif
