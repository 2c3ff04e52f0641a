/* digest_slot: when a person's email notice goes, and with which others (ALERTS.md, "Email"). */
#ifndef DRIFTWATCH_DIGEST_SLOT_H
#define DRIFTWATCH_DIGEST_SLOT_H

#include <stddef.h>
#include <stdint.h>

#include "driftwatch/calendar.h"

struct dw_config;

/*
 * Digests go out at email.digest_time (local, in the configured time zone) on working days,
 * each carrying every change since the last; a stage its rule declares urgent goes within
 * email.urgent_delay_seconds, gathered with the others of its burst. The outbox groups email
 * notices by (destination, digest_key) and holds each until its next_attempt_at: so a notice's
 * key names its slot, and its time is the slot's. Everything here is pure; the local "now"
 * comes from the state database (DIGEST_SLOT_NOW_SQL), which also turns the slot's local wall
 * clock into an instant with the zone's rules (a clock change included).
 */

/* The state database's "now", in the configured zone ($1): the local day "YYYY-MM-DD", the
 * seconds since local midnight, and the epoch. One query, so the three agree. floor, not a
 * cast: ::bigint rounds half up, which put an urgent window's end up to half a second past
 * urgent_delay_seconds after the recording. */
#define DIGEST_SLOT_NOW_SQL                                                                  \
	"SELECT to_char(now() AT TIME ZONE $1::text, 'YYYY-MM-DD'), "                       \
	"floor(extract(epoch FROM (now() AT TIME ZONE $1::text)::time))::int, "            \
	"floor(extract(epoch FROM now()))::bigint"

/*
 * The local day of the next digest for a notice recorded at now_s seconds after local midnight
 * on day today: today, when today is a working day and digest_minute is still ahead; else the
 * next working day after today. 0 and *slot, or -1 when the calendar runs out (9999).
 */
int digest_slot_day(const struct calendar *cal, int32_t today, int now_s, int digest_minute,
		    int32_t *slot);

/*
 * The end of the urgent window that holds epoch now: windows of delay_s seconds from the
 * epoch, so that the urgent notices of a burst (one evaluation, or several in a few minutes)
 * share a window and go together, none waiting longer than delay_s. delay_s 0: now.
 */
long long digest_slot_urgent_due(long long now, int delay_s);

/* The digest key of one evaluation (or escalation pass, with a suffix): the day evaluated, the
 * moment to the nanosecond and the process. Two evaluations in one second (incremental ones
 * after a burst of changes, or two --once runs) must not share a key: a digest resent after a
 * crash would take in the other's notices under a new Message-ID. */
void digest_slot_eval_key(char *buf, size_t cap, const char *as_of, const char *suffix);

/*
 * The SQL parameters that place a person's email notices (record.sql, record_resolve.sql,
 * unanswered_queue.sql): NULL pointers when nothing is held (--once, email.digest_time null),
 * and the notices go now under the caller's own key.
 */
struct digest_slot {
	int held;
	char key[48];          /* "digest YYYY-MM-DD HH:MM": one per person per slot */
	char local[32];        /* "YYYY-MM-DD HH:MM", the slot's local wall clock */
	char urgent_key[40];   /* "urgent <epoch of the window's end>" */
	char urgent_at[24];    /* the window's end, epoch seconds */
};

/* Fills *slot from the configuration and the database's now (DIGEST_SLOT_NOW_SQL's three
 * columns as text). hold 0 fills nothing held. 0, or -1 with why (a "now" that does not parse,
 * or no working day left). */
int digest_slot_make(const struct dw_config *cfg, int hold, const char *local_day,
		     const char *local_s, const char *epoch, struct digest_slot *slot,
		     const char **why);

/* The parameter texts for SQL, in this order: key, local, zone, urgent key, urgent at; each
 * NULL when the slot is not held. */
void digest_slot_params(const struct digest_slot *slot, const struct dw_config *cfg,
			const char *params[5]);

#endif
