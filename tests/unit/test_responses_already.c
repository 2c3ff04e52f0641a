/* test_responses_already: a form sent again changes nothing, and any difference (another person,
 * note, date, reason, or a stage acknowledged before) is recorded. */
#include <string.h>

#include "driftwatch/responses.h"
#include "tap.h"

static const struct responses_current acked = {
	.ack_current = 1, .ack_by = "Supa@LA.example", .ack_note = "seen at visit",
};

static const struct responses_current snoozed = {
	.snooze_by = "supa@la.example", .snooze_until = "2026-12-20",
	.snooze_reason = "legal_planning", .snooze_note = NULL,
};

static void acknowledge(void)
{
	struct responses_current old = acked;

	tap_ok(responses_already(&acked, RESPONSES_ACKNOWLEDGE, "supa@la.example", "seen at visit",
				 NULL, NULL) != NULL,
	       "the same acknowledgement by the same person (any case) changes nothing");
	tap_ok(responses_already(&acked, RESPONSES_ACKNOWLEDGE, "supb@la.example", "seen at visit",
				 NULL, NULL) == NULL, "another person's is recorded");
	tap_ok(responses_already(&acked, RESPONSES_ACKNOWLEDGE, "supa@la.example", "new note",
				 NULL, NULL) == NULL, "another note is recorded");
	tap_ok(responses_already(&acked, RESPONSES_ACKNOWLEDGE, "supa@la.example", NULL, NULL,
				 NULL) == NULL, "no note where there was one is recorded");
	old.ack_current = 0;
	tap_ok(responses_already(&old, RESPONSES_ACKNOWLEDGE, "supa@la.example", "seen at visit",
				 NULL, NULL) == NULL,
	       "an acknowledgement of an earlier stage does not answer the current one");
	old = (struct responses_current){ .ack_current = 1, .ack_by = NULL };
	tap_ok(responses_already(&old, RESPONSES_ACKNOWLEDGE, NULL, NULL, NULL, NULL) == NULL,
	       "no one recorded and no actor: recorded, never taken as the same");
}

static void snooze(void)
{
	tap_ok(responses_already(&snoozed, RESPONSES_SNOOZE, "SUPA@la.example", NULL, "2026-12-20",
				 "legal_planning") != NULL,
	       "the same snooze by the same person changes nothing");
	tap_ok(responses_already(&snoozed, RESPONSES_SNOOZE, "supa@la.example", NULL, "2026-12-21",
				 "legal_planning") == NULL, "another day is recorded");
	tap_ok(responses_already(&snoozed, RESPONSES_SNOOZE, "supa@la.example", NULL, "2026-12-20",
				 "other") == NULL, "another reason is recorded");
	tap_ok(responses_already(&snoozed, RESPONSES_SNOOZE, "supa@la.example", "a note",
				 "2026-12-20", "legal_planning") == NULL, "a note added is recorded");
	tap_ok(responses_already(&snoozed, RESPONSES_SNOOZE, "supb@la.example", NULL, "2026-12-20",
				 "legal_planning") == NULL, "another person's is recorded");
}

static void unsnooze(void)
{
	struct responses_current none = { 0 };
	const char *w = responses_already(&none, RESPONSES_UNSNOOZE, "supa@la.example", NULL, NULL,
					  NULL);

	tap_ok(w && strstr(w, "not snoozed"), "unsnoozing an alert not snoozed says so: %s",
	       w ? w : "(null)");
	tap_ok(responses_already(&snoozed, RESPONSES_UNSNOOZE, "supb@la.example", NULL, NULL,
				 NULL) == NULL, "unsnoozing a snoozed alert is recorded, by anyone");
}

int main(void)
{
	acknowledge();
	snooze();
	unsnooze();
	return tap_status();
}
