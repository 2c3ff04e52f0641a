/* lockwait: who holds the lock a statement waited for until it was cancelled, said in its error. */
#ifndef DRIFTWATCH_LOCKWAIT_H
#define DRIFTWATCH_LOCKWAIT_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "driftwatch/db.h"

/* Whether res is the error of a statement the server cancelled (statement timeout, lock
 * timeout): one that may have been waiting for a lock, worth asking lockwait_ask about. */
bool lockwait_cancelled(const PGresult *res);

/* Asks conn (in the failed statement's transaction, after its savepoint is undone) which other
 * sessions hold or wait for an exclusive lock on the relations of schema the sql reads
 * (contract_sql_reads), or on a table under them when they are views. cb gets the rows for
 * lockwait_describe. Returns db_query's answer. */
int lockwait_ask(struct db_conn *conn, const char *schema, const char *sql, db_result_cb cb,
		 void *arg);
/* The same about the n contract relations named (a bad-row count reads one). */
int lockwait_ask_relations(struct db_conn *conn, const char *schema, const char *const *names,
			   size_t n, db_result_cb cb, void *arg);

/* error with what res (lockwait_ask's answer) says appended: "ERROR; "s"."r" is locked by
 * another session: pid 42 (application etl, user etl, its transaction open since ... UTC)".
 * A copy of error when res says nothing (no row, an error of its own, NULL); NULL only when
 * out of memory. */
char *lockwait_describe(const char *error, const PGresult *res);

#endif
