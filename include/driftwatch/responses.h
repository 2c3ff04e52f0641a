/* responses: people's answers to an alert (acknowledge, snooze, unsnooze) recorded in the state
 * schema as events of the alert and as its response state (RESPONSES.md, "Responses"). */
#ifndef DRIFTWATCH_RESPONSES_H
#define DRIFTWATCH_RESPONSES_H

#include <stddef.h>
#include <stdint.h>

struct dw_ctx;
struct db_conn;

/* RESPONSES.md: a note is at most this many characters. */
#define RESPONSES_NOTE_MAX 1000

enum responses_kind {
	RESPONSES_ACKNOWLEDGE,
	RESPONSES_SNOOZE,
	RESPONSES_UNSNOOZE,
};

/* One response. Strings are the caller's and need live only until responses_record returns
 * (libpq copies parameters). */
struct responses_request {
	enum responses_kind kind;
	const char *fingerprint;
	const char *actor;          /* an email address, or "api:name" */
	const char *via;            /* "link", "api" or "page" */
	const char *reason;         /* snooze: one of RESPONSES.md's reasons; else NULL */
	const char *note;           /* NULL or "" for none; required with reason "other" */
	const char *until;          /* snooze: YYYY-MM-DD, after today; else NULL */
	/* acknowledge: the stage the person was shown (a form's), recorded only while it is
	 * still the alert's; NULL for whatever stage is current (the API asked without one) */
	const char *stage;
	int32_t today;              /* the day it is made (calendar.h day number) */
};

/* What became of it; the HTTP status an API would answer is given for each. */
enum responses_outcome {
	RESPONSES_RECORDED,         /* 200 */
	RESPONSES_INVALID,          /* 400: field names the value at fault */
	RESPONSES_NOT_FOUND,        /* 404: no alert has this fingerprint */
	RESPONSES_RESOLVED,         /* 409: the alert is resolved; nothing was recorded */
	RESPONSES_MOVED,            /* 409: not at the stage acknowledged; nothing was recorded */
	RESPONSES_FAILED,           /* 500: the database failed; error says how */
};

struct responses_result {
	enum responses_outcome outcome;
	const char *field;          /* RESPONSES_INVALID: "note", "until", "reason", ... */
	char error[256];            /* the first fault, naming the field (the API's "error") */
	/* RESPONSES_INVALID: every fault of what a person fills in (note, reason, date) in
	 * plain words, a sentence each, for the pages; "" when the fault is none of those */
	char words[768];
	char stage[64];             /* RESPONSES_RECORDED: the stage it answered; MOVED: the
				     * alert's stage now */
};

typedef void (*responses_done_cb)(const struct responses_result *res, void *arg);

/* 1 when reason is one of RESPONSES.md's snooze reasons. */
int responses_reason_valid(const char *reason);

/* The snooze reasons: RESPONSES_REASONS of them, the i-th's name (NULL past the end), and a
 * reason's words for a person ("Legal planning (pre-proceedings or PLO)"; a name it does not
 * know is returned as it is; NULL for NULL). */
#define RESPONSES_REASONS 6
const char *responses_reason_name(size_t i);
const char *responses_reason_label(const char *reason);

/* What an answer recorded means from now on, in words ("Acknowledged for the 15m stage: no
 * reminders or escalation for this stage. ..."): the thank-you of the link pages and the
 * pages' note after an answer. until is YYYY-MM-DD. */
void responses_next_words(enum responses_kind kind, const char *stage, const char *until,
			  const char *reason, char *buf, size_t size);

/* An answer's outcome as a person reads it, on the link pages and the pages alike: returns the
 * HTTP status, sets *title and writes into buf (always terminated) what happened: after a
 * recording, what happens next (RESPONSES.md: the page "says what happens next") for the stage
 * answered, the day snoozed until and its reason; otherwise why nothing was recorded. */
int responses_outcome_words(const struct responses_result *r, enum responses_kind kind,
			    const char *until, const char *reason, const char **title, char *buf,
			    size_t size);

/* An alert's answers in force as the pages and the link pages read them (NULL: none). */
struct responses_current {
	int ack_current;             /* the acknowledgement is of the current stage */
	const char *ack_by, *ack_note;
	const char *snooze_by, *snooze_until, *snooze_reason, *snooze_note;
};

/* A form sent again (a double click, the back button, a replay) must change nothing: the words
 * to show when cur already holds exactly this answer of kind from actor (note, and for a snooze
 * until and reason), or an unsnooze of an alert not snoozed; NULL when there is something to
 * record. */
const char *responses_already(const struct responses_current *cur, enum responses_kind kind,
			      const char *actor, const char *note, const char *until,
			      const char *reason);

/* Something other than spaces and line breaks: a note of blanks says nothing (and "other"
 * needs a note that does). */
int responses_note_says(const char *note);

/* Checks req without the database: 0, or -1 with out->outcome RESPONSES_INVALID, out->field
 * and out->error filled. max_snooze_days is responses.max_snooze_days. */
int responses_check(const struct responses_request *req, int max_snooze_days,
		    struct responses_result *out);

/* Checks req (as responses_check) and records it on conn (the state database, connected):
 * returns 0 when sent (cb runs once, later), 1 when refused by the checks (*refused filled, cb
 * never runs), -1 when it could not be sent (db_error says why; cb never runs). */
int responses_record(struct dw_ctx *ctx, struct db_conn *conn, const struct responses_request *req,
		     struct responses_result *refused, responses_done_cb cb, void *arg);

#endif
