/* grants: the least privileges driftwatch needs, printed for a DBA, and a role's excess found. */
#ifndef DRIFTWATCH_GRANTS_H
#define DRIFTWATCH_GRANTS_H

#include <stdio.h>

struct dw_config;
struct dw_ctx;
struct db_conn;
struct errlist;

/* ident as PQescapeIdentifier writes it (always double-quoted, quotes doubled), without a
 * connection; malloc'd, NULL when out of memory. */
char *grants_quote_ident(const char *ident);

/* ident as a SQL string literal ('...', quotes doubled; standard_conforming_strings is on by
 * default since PostgreSQL 9.1); malloc'd, NULL when out of memory. */
char *grants_quote_literal(const char *text);

/* --print-grants: writes the SQL a DBA runs to give the role of database.conninfo exactly what
 * the daemon needs, and notes what --install-triggers asks of the tables' owner. Needs no
 * connection. Returns 0, or -1 when out of memory or the conninfo cannot be parsed (a
 * message on stderr). */
int grants_print(const struct dw_config *cfg, FILE *out);

/* Asks, on conn (connected), what its role may do beyond what driftwatch needs (the superuser
 * attribute, predefined roles such as pg_write_all_data, writes to or ownership of a contract
 * relation, CREATE in the case schema), and logs one warning naming it all; nothing when there
 * is nothing. which names the connection's key ("database.conninfo"). Returns 0 if sent. */
int grants_note_excess(struct dw_ctx *ctx, struct db_conn *conn, const char *which);

/* The same for --check-config: cb gets one warning line, or none, in warnings. */
typedef void (*grants_checked_cb)(void *arg);
int grants_check_excess(struct dw_ctx *ctx, struct db_conn *conn, const char *which,
			struct errlist *warnings, grants_checked_cb cb, void *arg);

#endif
