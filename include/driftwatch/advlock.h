/* advlock: the PostgreSQL advisory-lock keys driftwatch takes, all in one place. */
#ifndef DRIFTWATCH_ADVLOCK_H
#define DRIFTWATCH_ADVLOCK_H

/*
 * Advisory locks share one bigint space with every other application on the database, so each
 * key is a hash of a name that says whose it is. The keys are SQL expressions; $1 is the state
 * schema's name (as configured, not quoted): instances sharing one state schema share one
 * leader and take turns recording, while instances with separate state schemas never wait for
 * each other.
 *
 * These values must not change between releases: during an upgrade the old and the new daemon
 * run side by side for a moment, and they keep each other out only if they compute the same
 * key. (The migration key is a fixed number from the first release for the same reason; a
 * migration is rare and short, so one key for every state schema costs nothing.)
 */

/* Held for the session by the instance that evaluates (leader.c). */
#define ADVLOCK_LEADER_KEY "hashtext('driftwatch:' || $1)::bigint"

/* Held for the transaction that records an evaluation (record.c): a --once run and the daemon
 * never interleave their recordings. */
#define ADVLOCK_RECORD_KEY "hashtext('driftwatch-record:' || $1)::bigint"

/* Held for the transaction that applies a state schema migration (state.c). */
#define ADVLOCK_MIGRATE_KEY "7428031"

#endif
