/* lockwait: who holds the lock a statement waited for until it was cancelled, said in its error. */
#ifndef DRIFTWATCH_LOCKWAIT_H
#define DRIFTWATCH_LOCKWAIT_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "driftwatch/db.h"

/* Whether res is the error of a statement the server cancelled (statement timeout, lock
 * timeout): one that may have been waiting for a lock, worth asking lockwait_explain about. */
bool lockwait_cancelled(const PGresult *res);

/* Called once with the error a caller gave lockwait_explain, extended by who holds the lock
 * (lockwait_describe) when that could be found, or as it was. */
typedef void (*lockwait_said_cb)(const char *said, void *arg);

/* Sends before (a script whose answer is not needed: a savepoint to ask in, or the undo of the
 * failed statement's; NULL for none), then asks conn which other sessions hold or wait for an
 * exclusive lock on the n contract relations of schema named, or on a table under them when
 * they are views, and calls cb with error and the answer. The caller undoes any savepoint after.
 * Returns -1, cb not called, when nothing could be sent. */
int lockwait_explain(struct db_conn *conn, const char *schema, const char *const *names,
		     size_t n, const char *before, const char *error, lockwait_said_cb cb,
		     void *arg);

/* The contract relations statement sql reads (contract_sql_reads), at most max of them, into
 * names; how many. */
size_t lockwait_relations_read(const char *sql, const char **names, size_t max);

/* error with what res (lock_holders.sql's answer) says appended: "ERROR; "s"."r" is locked
 * by another session: pid 42 (application etl, user etl, its transaction open since ... UTC)".
 * A copy of error when res says nothing (no row, an error of its own, NULL); NULL only when
 * out of memory. */
char *lockwait_describe(const char *error, const PGresult *res);

/* Asks ask_on (another connection to the same server) which sessions the session pid waits
 * for (pg_blocking_pids), and calls cb with lockwait_blockers_describe's text (NULL when the
 * question failed). Returns -1, cb not called, when it could not be sent. */
int lockwait_blockers(struct db_conn *ask_on, int pid, lockwait_said_cb cb, void *arg);

/* What res (blocking_pids.sql's answer) says: "waiting to lock casework.appointments, held by
 * pid 42 (application etl, user etl, its transaction open since ... UTC)", "not blocked by
 * another session" when it waits for nobody, as UTF-8; NULL when res is an error or out of memory. */
char *lockwait_blockers_describe(const PGresult *res);

#endif
