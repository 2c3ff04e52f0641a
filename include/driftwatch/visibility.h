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

/* What one person may see, read from web_visible_state.sql's one row. A caller who sees everything has all set and no list. */
struct visibility {
	bool all;          /* every alert (a bearer token, a configured address) */
	bool known;        /* a worker, a team's manager, or a recipient of a notice */
	char *alert_ids;   /* the alerts they may see, as a bigint[] parameter ("{1,5}") */
};

/* What the case data says of one person (web_visible.sql's one row): whether it knows them,
 * and the children and plans whose alerts are theirs, as text[] parameters ("{C-1,C-2}"). */
struct visibility_case {
	bool known;
	char *child_ids;
	char *plan_child_ids, *plan_ids;    /* paired by position */
};

/* A person's alerts are found in two statements, since the case data and the state may be in
 * different databases (state.conninfo): web_visible.sql ("$1 email, $2 time zone") reads the
 * case data through @case@; web_visible_state.sql then reads the state through @state@, with
 * the parameters visibility_state_params makes. */
const char *visibility_sql_case(void);
const char *visibility_sql_state(void);

/* Fills c from web_visible.sql's result: 0, or -1 when it is not its shape (or out of
 * memory). */
int visibility_case_read(PGresult *res, struct visibility_case *c);
void visibility_case_clear(struct visibility_case *c);

/* web_visible_state.sql's parameters for person; c NULL when the case data could not be read:
 * then only the alerts they were sent count. The strings stay c's and person's. */
#define VISIBILITY_STATE_PARAMS 5
void visibility_state_params(const char *person, const struct visibility_case *c,
			     const char *params[VISIBILITY_STATE_PARAMS]);

/* Fills v from one of those results: 0, or -1 when it is not their shape (or out of memory). */
int visibility_read(PGresult *res, struct visibility *v);

/* The parameter the web statements narrow by: NULL for everything. */
const char *visibility_param(const struct visibility *v);

void visibility_clear(struct visibility *v);

#endif
