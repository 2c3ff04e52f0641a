/* test_responses_check: a refused form says every fault of what a person filled in, in their
 * words, while the API keeps naming the first field. */
#include <string.h>

#include "driftwatch/responses.h"
#include "tap.h"

#define TODAY 20000 /* 4 Oct 2024, as days since 1970 */

static struct responses_request snooze(const char *reason, const char *note, const char *until)
{
	return (struct responses_request){ .kind = RESPONSES_SNOOZE, .fingerprint = "ab12",
					   .actor = "supa@la.example", .via = "page",
					   .reason = reason, .note = note, .until = until,
					   .today = TODAY };
}

static void every_fault(void)
{
	struct responses_request req = snooze("other", "   ", "2024-10-04");
	struct responses_result r;

	tap_ok(responses_check(&req, 90, &r) < 0 && r.outcome == RESPONSES_INVALID,
	       "other with a blank note, ending today: refused");
	tap_ok(strcmp(r.field, "note") == 0 && strstr(r.error, "note: required") != NULL,
	       "the API's field and error are the first fault's, as before: %s %s", r.field,
	       r.error);
	tap_ok(strstr(r.words, "Write a note saying why") != NULL &&
	       strstr(r.words, "The snooze must end after today.") != NULL,
	       "the words name both faults: %s", r.words);
	req = snooze(NULL, NULL, NULL);
	tap_ok(responses_check(&req, 90, &r) < 0 && strstr(r.words, "Choose a reason") &&
	       strstr(r.words, "Choose the day the snooze ends."),
	       "no reason and no day: both said: %s", r.words);
	req = snooze("whim", NULL, "2025-06-30");
	tap_ok(responses_check(&req, 90, &r) < 0 &&
	       strstr(r.words, "Choose one of the reasons the form offers.") &&
	       strstr(r.words, "at most 90 days ahead, by 2025-01-02"),
	       "an unknown reason and a day too far: both said: %s", r.words);
	req = snooze("legal_planning", NULL, "someday");
	tap_ok(responses_check(&req, 90, &r) < 0 && strcmp(r.field, "until") == 0 &&
	       strcmp(r.words, "The day the snooze ends is not a date: choose one.") == 0,
	       "only the date wrong: only the date said: %s", r.words);
}

static void note_and_others(void)
{
	char big[1102];
	struct responses_request req = { .kind = RESPONSES_ACKNOWLEDGE, .fingerprint = "ab12",
					 .actor = "supa@la.example", .via = "page", .note = big,
					 .today = TODAY };
	struct responses_result r;
	const char *title;
	char text[1024];

	memset(big, 'x', 1001);
	big[1001] = '\0';
	tap_ok(responses_check(&req, 90, &r) < 0 &&
	       strstr(r.words, "The note is 1001 characters long; at most 1000 are kept"),
	       "a long note: its length in words: %s", r.words);
	tap_ok(responses_outcome_words(&r, req.kind, NULL, NULL, &title, text, sizeof(text)) == 400 &&
	       strncmp(text, "Nothing was recorded. The note is 1001", 38) == 0,
	       "the page's text is the words: %s", text);
	req.note = "fine";
	req.actor = "nobody";
	tap_ok(responses_check(&req, 90, &r) < 0 && r.words[0] == '\0' &&
	       responses_outcome_words(&r, req.kind, NULL, NULL, &title, text, sizeof(text)) == 400 &&
	       strstr(text, "actor: must be"),
	       "a fault that is not the person's (the actor): no words, the error as before: %s",
	       text);
	req.actor = "supa@la.example";
	tap_ok(responses_check(&req, 90, &r) == 0, "a sound acknowledgement passes");
	req = snooze("legal_planning", "PLO letter", "2024-10-20");
	tap_ok(responses_check(&req, 90, &r) == 0, "a sound snooze passes");
}

int main(void)
{
	every_fault();
	note_and_others();
	return tap_status();
}
