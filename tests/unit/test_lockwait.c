/* test_lockwait: a cancelled statement's error names the sessions whose locks were in its way. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "driftwatch/lockwait.h"
#include "tap.h"

/* The columns of daemon/sql/lock_holders.sql, in its order. */
static const char *const cols[] = { "relation", "contract", "direct", "pid", "granted",
				    "application_name", "usename", "since" };
#define NCOLS 8

/* A result built without a server: n rows of ncols text values (cells, row by row), NULL for
 * SQL NULL, under the column names given. */
static PGresult *result_of(const char *const *names, int ncols, const char *const *cells, int n)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc attrs[16];

	memset(attrs, 0, sizeof(attrs));
	for (int c = 0; c < ncols && c < 16; c++) {
		attrs[c].name = (char *)names[c];
		attrs[c].typid = 25;
		attrs[c].typlen = -1;
		attrs[c].atttypmod = -1;
	}
	if (!res || !PQsetResultAttrs(res, ncols, attrs))
		return res;
	for (int r = 0; r < n; r++)
		for (int c = 0; c < ncols; c++) {
			const char *v = cells[r * ncols + c];

			PQsetvalue(res, r, c, (char *)v, v ? (int)strlen(v) : -1);
		}
	return res;
}

/* A result as lock_holders.sql answers. */
static PGresult *holders(const char *const rows[][NCOLS], int n)
{
	return result_of(cols, NCOLS, n ? rows[0] : NULL, n);
}

static void says(const char *const rows[][NCOLS], int n, const char *want, const char *name)
{
	PGresult *res = holders(rows, n);
	char *got = lockwait_describe("canceling statement due to statement timeout", res);

	tap_str(got, want, "%s", name);
	free(got);
	PQclear(res);
}

static void test_held(void)
{
	static const char *const one[][NCOLS] = {
		{ "casework.appointments", "appointments", "t", "4242", "t", "nightly-reload",
		  "etl", "2026-12-05 01:00:03" },
	};
	says(one, 1, "canceling statement due to statement timeout; casework.appointments is "
	     "locked by another session: pid 4242 (application nightly-reload, user etl, its "
	     "transaction open since 2026-12-05 01:00:03 UTC)",
	     "a lock held on a contract table names the relation and the session");
}

static void test_queued_and_view(void)
{
	static const char *const two[][NCOLS] = {
		{ "cms.appt_archive", "appointments", "f", "17", "t", "", NULL, NULL },
		{ "cms.appt_archive", "appointments", "f", "18", "f", "schema-change", "dba",
		  NULL },
	};
	says(two, 2, "canceling statement due to statement timeout; cms.appt_archive (under "
	     "appointments) is locked by another session: pid 17; pid 18 (application "
	     "schema-change, user dba) waits to lock cms.appt_archive (under appointments), and "
	     "reads queue behind it",
	     "a table under a view, a session another role's (nothing but its pid shown) and "
	     "one queued for the lock");
}

/* A SQL_ASCII database's names may hold any bytes; the message goes into JSON. */
static void test_bad_bytes(void)
{
	static const char *const latin1[][NCOLS] = {
		{ "cms.r\xe9" "f", "referrals", "f", "7", "t", "reload", "\xe9" "tl", NULL },
	};
	says(latin1, 1, "canceling statement due to statement timeout; cms.r\xef\xbf\xbd" "f (under "
	     "referrals) is locked by another session: pid 7 (application reload, user "
	     "\xef\xbf\xbd" "tl)",
	     "bytes that are not UTF-8 in a table's or a role's name are shown as U+FFFD");
}

static void test_nothing(void)
{
	PGresult *err = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
	char *got = lockwait_describe("canceling statement due to statement timeout", NULL);

	tap_str(got, "canceling statement due to statement timeout",
		"no answer (the connection lost): the error as it was");
	free(got);
	got = lockwait_describe("canceling statement due to statement timeout", err);
	tap_str(got, "canceling statement due to statement timeout",
		"an error instead of rows (pg_locks not granted): the error as it was");
	free(got);
	says(NULL, 0, "canceling statement due to statement timeout",
	     "no lock in the way: the error as it was");
	PQclear(err);
}

/* The columns of daemon/sql/blocking_pids.sql, in its order. */
static const char *const bcols[] = { "what", "pid", "application_name", "usename", "since" };
#define NBCOLS 5

static PGresult *blockers(const char *const rows[][NBCOLS], int n)
{
	return result_of(bcols, NBCOLS, n ? rows[0] : NULL, n);
}

static void blocked_says(const char *const rows[][NBCOLS], int n, const char *want,
			 const char *name)
{
	PGresult *res = blockers(rows, n);
	char *got = lockwait_blockers_describe(res);

	tap_str(got, want, "%s", name);
	free(got);
	PQclear(res);
}

/* /healthz's words for a session held past health.stall_seconds (service_blockers.c). */
static void test_blockers(void)
{
	static const char *const one[][NBCOLS] = {
		{ "to lock casework.appointments", "4242", "nightly-reload", "etl", "2026-12-05 01:00:03" },
	};
	static const char *const two[][NBCOLS] = {
		{ "for a row lock", "11", "driftwatchd", "dw", NULL },
		{ "for a row lock", "12", NULL, NULL, NULL },
	};
	PGresult *failed = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
	char *got;

	blocked_says(one, 1, "waiting to lock casework.appointments, held by pid 4242 (application "
		     "nightly-reload, user etl, its transaction open since 2026-12-05 01:00:03 UTC)",
		     "a session waiting for a relation's lock: the relation and the holder");
	blocked_says(two, 2, "waiting for a row lock, held by pid 11 (application driftwatchd, "
		     "user dw) and pid 12", "two holders, what another role may not see left out");
	blocked_says(two, 0, "not blocked by another session",
		     "a session that waits for nobody says so");
	got = lockwait_blockers_describe(failed);
	tap_ok(got == NULL, "a failed question says nothing (got %s)", got ? got : "NULL");
	free(got);
	PQclear(failed);
}

static void test_cancelled(void)
{
	PGresult *ok = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);

	tap_ok(!lockwait_cancelled(NULL), "no result is no cancelled statement");
	tap_ok(!lockwait_cancelled(ok), "a result without an error is no cancelled statement");
	PQclear(ok);
}

int main(void)
{
	test_held();
	test_queued_and_view();
	test_bad_bytes();
	test_nothing();
	test_cancelled();
	test_blockers();
	return tap_status();
}
