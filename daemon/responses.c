/* responses: checks a person's answer to an alert and records it as an event and a state. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/facts.h"
#include "driftwatch/responses.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/utf8.h"

static const char *const reasons[] = {
	"strategy_agreed", "legal_planning", "step_down_planned", "case_closing", "data_wrong",
	"other",
};

/* The reasons as a person reads them, in the order the forms list them. */
static const char *const reason_labels[] = {
	"A strategy is agreed",
	"Legal planning (pre-proceedings or PLO)",
	"Step-down is planned",
	"The case is closing",
	"The case record is wrong and is being corrected",
	"Other (say why in the note)",
};

_Static_assert(sizeof(reasons) / sizeof(reasons[0]) == RESPONSES_REASONS,
	       "RESPONSES_REASONS is the number of reasons");
_Static_assert(sizeof(reason_labels) / sizeof(reason_labels[0]) == RESPONSES_REASONS,
	       "a label for every reason");

static const char *const kinds[] = {
	[RESPONSES_ACKNOWLEDGE] = "acknowledged",
	[RESPONSES_SNOOZE] = "snoozed",
	[RESPONSES_UNSNOOZE] = "unsnoozed",
};

struct responses_op {
	responses_done_cb cb;
	void *arg;
	int note_not_ascii;   /* the note holds a character beyond ASCII */
};

int responses_reason_valid(const char *reason)
{
	for (size_t i = 0; reason && i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reasons[i], reason) == 0)
			return 1;
	return 0;
}

const char *responses_reason_name(size_t i)
{
	return i < RESPONSES_REASONS ? reasons[i] : NULL;
}

const char *responses_reason_label(const char *reason)
{
	for (size_t i = 0; reason && i < RESPONSES_REASONS; i++)
		if (strcmp(reasons[i], reason) == 0)
			return reason_labels[i];
	return reason;
}

/* "15 Jan 2027", as the pages and emails write a day */
static const char *responses_day(const char *iso, char *out, size_t size)
{
	if (!iso)
		return "?";
	facts_date_words(iso, out, size);
	return out;
}

void responses_next_words(enum responses_kind kind, const char *stage, const char *until,
			  const char *reason, char *buf, size_t size)
{
	char day[32];

	if (kind == RESPONSES_ACKNOWLEDGE)
		snprintf(buf, size, "Acknowledged for the %s stage: no reminders or escalation for "
			 "this stage. If the alert reaches a higher stage it will need a new answer.",
			 stage ? stage : "current");
	else if (kind == RESPONSES_SNOOZE)
		snprintf(buf, size, "Snoozed until %s (%s): no reminders or escalation until then. "
			 "A new stage is still sent, showing the snooze.", responses_day(until, day,
									       sizeof(day)),
			 responses_reason_label(reason));
	else
		snprintf(buf, size, "Unsnoozed: reminders and escalation start again from now, as "
			 "if it had never been snoozed.");
}

int responses_outcome_words(const struct responses_result *r, enum responses_kind kind,
			    const char *until, const char *reason, const char **title, char *buf,
			    size_t size)
{
	switch (r->outcome) {
	case RESPONSES_RECORDED:
		*title = "Thank you";
		responses_next_words(kind, r->stage, until, reason, buf, size);
		return 200;
	case RESPONSES_INVALID:
		*title = "Please correct the form";
		if (r->words[0])
			snprintf(buf, size, "Nothing was recorded. %s Go back to the form, correct it "
				 "and send it again.", r->words);
		else
			snprintf(buf, size, "Nothing was recorded. %s. Go back to the form, correct "
				 "it and send it again.", r->error);
		return 400;
	case RESPONSES_NOT_FOUND:
		*title = "There is no such alert";
		snprintf(buf, size, "driftwatch no longer has this alert. Nothing was recorded.");
		return 404;
	case RESPONSES_MOVED:
		*title = "The alert has moved on";
		snprintf(buf, size, "Since this form was shown, the alert has moved to the %s "
			 "stage, and an acknowledgement is for one stage. Nothing was recorded. Look "
			 "at the alert again as it is now, and answer that.", r->stage);
		return 409;
	case RESPONSES_RESOLVED:
		*title = "Nothing to answer";
		snprintf(buf, size, "This alert is resolved: there is nothing left to answer. "
			 "Nothing was recorded.");
		return 409;
	default:
		*title = "Please try again later";
		snprintf(buf, size, "The database did not answer. Nothing was changed; please try "
			 "again in a few minutes.");
		return 503;
	}
}

/* Equal as kept: a line break sent as CR LF is the LF it is kept as (note_kept). */
static int responses_same(const char *a, const char *b)
{
	a = a ? a : "";
	b = b ? b : "";
	while (*a || *b) {
		a += a[0] == '\r' && a[1] == '\n';
		b += b[0] == '\r' && b[1] == '\n';
		if (*a != *b)
			return 0;
		if (*a) {
			a++;
			b++;
		}
	}
	return 1;
}

static int responses_by(const char *by, const char *actor)
{
	return by && actor && strcasecmp(by, actor) == 0;
}

const char *responses_already(const struct responses_current *cur, enum responses_kind kind,
			      const char *actor, const char *note, const char *until,
			      const char *reason)
{
	switch (kind) {
	case RESPONSES_ACKNOWLEDGE:
		return cur->ack_current && responses_by(cur->ack_by, actor) &&
		       responses_same(cur->ack_note, note) ?
		       "This stage is already acknowledged by you with this note: nothing was "
		       "changed." : NULL;
	case RESPONSES_SNOOZE:
		return responses_by(cur->snooze_by, actor) &&
		       responses_same(cur->snooze_until, until) &&
		       responses_same(cur->snooze_reason, reason) &&
		       responses_same(cur->snooze_note, note) ?
		       "This alert is already snoozed by you until that date for that reason: "
		       "nothing was changed." : NULL;
	default:
		return cur->snooze_until ? NULL : "This alert is not snoozed: nothing was changed.";
	}
}

static int refuse(struct responses_result *out, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int refuse(struct responses_result *out, const char *field, const char *fmt, ...)
{
	va_list ap;

	memset(out, 0, sizeof(*out));
	out->outcome = RESPONSES_INVALID;
	out->field = field;
	va_start(ap, fmt);
	vsnprintf(out->error, sizeof(out->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* Characters, not bytes: the limit people are told is 1,000 characters. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

static int has_text(const char *s)
{
	return s && *s;
}

int responses_note_says(const char *s)
{
	return s && s[strspn(s, " \t\r\n")] != '\0';
}

/* Characters as a person typed them: a browser sends each line break of a textarea as CR LF,
 * two characters its own maxlength counted as one, so a note the form took was refused. */
static size_t note_chars(const char *note)
{
	size_t n = utf8_chars(note);

	for (const char *p = strstr(note, "\r\n"); p; p = strstr(p + 2, "\r\n"))
		n--;
	return n;
}

/* The note as kept: CR LF as LF (what the pages and the API show), NULL when it says nothing;
 * *out is malloc'd (or NULL). Returns -1 when memory ran out. */
static int note_kept(const char *note, char **out)
{
	char *w;

	*out = NULL;
	if (!responses_note_says(note))
		return 0;
	if (!(*out = strdup(note)))
		return -1;
	w = *out;
	for (const char *r = note; *r; r++)
		if (!(r[0] == '\r' && r[1] == '\n'))
			*w++ = *r;
	*w = '\0';
	return 0;
}

/* An actor is someone: an email address (people) or "api:name" (an API token's name). */
static int actor_valid(const char *actor)
{
	const char *at;

	if (!has_text(actor) || !utf8_valid(actor) || strlen(actor) > 320)
		return 0;
	if (strncmp(actor, "api:", 4) == 0)
		return actor[4] != '\0';
	at = strchr(actor, '@');
	return at && at != actor && at[1] != '\0' && !strchr(actor, ' ');
}

static int check_note(const struct responses_request *req, struct responses_result *out)
{
	if (!req->note)
		return 0;
	if (!utf8_valid(req->note))
		return refuse(out, "note", "note: not valid UTF-8");
	if (note_chars(req->note) > RESPONSES_NOTE_MAX)
		return refuse(out, "note", "note: %zu characters, at most %d are kept",
			      note_chars(req->note), RESPONSES_NOTE_MAX);
	return 0;
}

static int check_snooze(const struct responses_request *req, int max_days,
			struct responses_result *out)
{
	int32_t until;
	char last[CALENDAR_DAY_LEN];

	if (!has_text(req->reason))
		return refuse(out, "reason", "reason: required to snooze (strategy_agreed, "
			      "legal_planning, step_down_planned, case_closing, data_wrong or other)");
	if (!responses_reason_valid(req->reason))
		return refuse(out, "reason", "reason: not one of strategy_agreed, legal_planning, "
			      "step_down_planned, case_closing, data_wrong, other");
	if (strcmp(req->reason, "other") == 0 && !responses_note_says(req->note))
		return refuse(out, "note", "note: required when the reason is other");
	if (!has_text(req->until))
		return refuse(out, "until", "until: required to snooze (YYYY-MM-DD)");
	if (calendar_day_parse(req->until, &until) < 0)
		return refuse(out, "until", "until: not a date in the form YYYY-MM-DD");
	if (until <= req->today)
		return refuse(out, "until", "until: must be after today");
	if ((int64_t)until > (int64_t)req->today + max_days)
		return refuse(out, "until", "until: at most %d days ahead (%s)", max_days,
			      calendar_day_format(req->today + max_days, last, sizeof(last)));
	return 0;
}

static void fault(char *buf, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void fault(char *buf, size_t size, const char *fmt, ...)
{
	size_t used = strlen(buf);
	va_list ap;

	if (used + 1 >= size)
		return;
	if (used)
		buf[used++] = ' ', buf[used] = '\0';
	va_start(ap, fmt);
	vsnprintf(buf + used, size - used, fmt, ap);
	va_end(ap);
}

/* Everything wrong with the fields a person fills in, at once and in their words: the check
 * stops at the first fault (the API names one field), and a manager who mended only that one
 * was refused again for the next. */
static void form_faults(const struct responses_request *req, int max_days, char *buf,
			size_t size)
{
	int32_t until;
	char last[CALENDAR_DAY_LEN];

	buf[0] = '\0';
	if (req->note && !utf8_valid(req->note))
		fault(buf, size, "The note holds characters that could not be read: type it again.");
	else if (req->note && note_chars(req->note) > RESPONSES_NOTE_MAX)
		fault(buf, size, "The note is %zu characters long; at most %d are kept: shorten "
		      "it.", note_chars(req->note), RESPONSES_NOTE_MAX);
	if (req->kind != RESPONSES_SNOOZE)
		return;
	if (!has_text(req->reason))
		fault(buf, size, "Choose a reason for the snooze.");
	else if (!responses_reason_valid(req->reason))
		fault(buf, size, "Choose one of the reasons the form offers.");
	else if (strcmp(req->reason, "other") == 0 && !responses_note_says(req->note))
		fault(buf, size, "Write a note saying why: the reason \"Other\" needs one.");
	if (!has_text(req->until))
		fault(buf, size, "Choose the day the snooze ends.");
	else if (calendar_day_parse(req->until, &until) < 0)
		fault(buf, size, "The day the snooze ends is not a date: choose one.");
	else if (until <= req->today)
		fault(buf, size, "The snooze must end after today.");
	else if ((int64_t)until > (int64_t)req->today + max_days)
		fault(buf, size, "A snooze ends at most %d days ahead, by %s.", max_days,
		      calendar_day_format(req->today + max_days, last, sizeof(last)));
}

static int check_fields(const struct responses_request *req, int max_snooze_days,
			struct responses_result *out)
{
	if (check_note(req, out) < 0)
		return -1;
	if (req->kind == RESPONSES_SNOOZE)
		return check_snooze(req, max_snooze_days, out);
	if (has_text(req->reason))
		return refuse(out, "reason", "reason: only a snooze takes a reason");
	if (has_text(req->until))
		return refuse(out, "until", "until: only a snooze takes a date");
	return 0;
}

int responses_check(const struct responses_request *req, int max_snooze_days,
		    struct responses_result *out)
{
	memset(out, 0, sizeof(*out));
	if (!has_text(req->fingerprint) || !utf8_valid(req->fingerprint) ||
	    strlen(req->fingerprint) > 128)
		return refuse(out, "fingerprint", "fingerprint: not an alert's fingerprint");
	if (!actor_valid(req->actor))
		return refuse(out, "actor", "actor: must be an email address or api:NAME");
	if (!req->via || (strcmp(req->via, "link") != 0 && strcmp(req->via, "api") != 0 &&
			  strcmp(req->via, "page") != 0))
		return refuse(out, "via", "via: must be link, api or page");
	if (check_fields(req, max_snooze_days, out) == 0)
		return 0;
	form_faults(req, max_snooze_days, out->words, sizeof(out->words));
	return -1;
}

/* A state database in an encoding other than UTF-8 (WIN1252, where the state schema shares the
 * case database) cannot store every character a person types ("Ł", an emoji): the server
 * refuses the parameter. That is the person's to correct, in words, not "the database did not
 * answer". 1 when res is that refusal, with r filled. */
static int responses_unstorable(const struct responses_op *op, PGresult *res,
				struct responses_result *r)
{
	const char *why = db_untranslatable(res);

	if (!why)
		return 0;
	r->outcome = RESPONSES_INVALID;
	r->field = op->note_not_ascii ? "note" : NULL;
	snprintf(r->error, sizeof(r->error), "%s: driftwatch's database cannot store a character "
		 "of it (%s): write it without that character",
		 op->note_not_ascii ? "note" : "the response", why);
	if (op->note_not_ascii)
		snprintf(r->words, sizeof(r->words), "The note holds a character that driftwatch's "
			 "database cannot store (its encoding is not UTF-8): write it without "
			 "that character.");
	return 1;
}

static void responses_on_recorded(struct db_conn *conn, PGresult *res, void *arg)
{
	struct responses_op *op = arg;
	struct responses_result r;
	const char *outcome;

	memset(&r, 0, sizeof(r));
	if (responses_unstorable(op, res, &r)) {
		/* r says what to correct */
	} else if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		r.outcome = RESPONSES_FAILED;
		snprintf(r.error, sizeof(r.error), "recording the response failed: %s",
			 res ? PQresultErrorMessage(res) : db_error(conn));
	} else {
		outcome = PQgetvalue(res, 0, 0);
		snprintf(r.stage, sizeof(r.stage), "%s", PQgetvalue(res, 0, 1));
		if (strcmp(outcome, "recorded") == 0) {
			r.outcome = RESPONSES_RECORDED;
		} else if (strcmp(outcome, "moved") == 0) {
			r.outcome = RESPONSES_MOVED;
			r.field = "stage";
			snprintf(r.error, sizeof(r.error), "the alert is at stage %s now, not the "
				 "stage acknowledged: nothing was recorded", r.stage);
		} else if (strcmp(outcome, "resolved") == 0) {
			r.outcome = RESPONSES_RESOLVED;
			snprintf(r.error, sizeof(r.error), "the alert is resolved: there is "
				 "nothing left to answer");
		} else {
			r.outcome = RESPONSES_NOT_FOUND;
			r.field = "fingerprint";
			snprintf(r.error, sizeof(r.error), "no alert has this fingerprint");
		}
	}
	op->cb(&r, op->arg);
	free(op);
}

/* Where a data_wrong snooze is reported: nowhere without an email section to send it, as with
 * record.c's reports to the operators. */
static const char *responses_operators(const struct dw_config *cfg)
{
	return cfg->email.enabled ? cfg->addresses.operators : NULL;
}

int responses_record(struct dw_ctx *ctx, struct db_conn *conn, const struct responses_request *req,
		     struct responses_result *refused, responses_done_cb cb, void *arg)
{
	struct responses_op *op;
	char *ident, *sql, *note;
	char today[CALENDAR_DAY_LEN];
	const char *params[10];
	int rc;

	if (responses_check(req, ctx->cfg->responses.max_snooze_days, refused) < 0)
		return 1;
	op = calloc(1, sizeof(*op));
	ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	sql = ident ? strbuf_subst(sql_responses_record, "@state@", ident) : NULL;
	free(ident);
	if (!op || !sql || note_kept(req->note, &note) < 0) {
		free(op);
		free(sql);
		return -1;
	}
	op->cb = cb;
	op->arg = arg;
	for (const unsigned char *c = (const unsigned char *)note; c && *c; c++)
		op->note_not_ascii |= *c >= 0x80;
	params[0] = req->fingerprint;
	params[1] = kinds[req->kind];
	params[2] = req->actor;
	params[3] = req->via;
	params[4] = has_text(req->reason) ? req->reason : NULL;
	params[5] = note;
	params[6] = req->kind == RESPONSES_SNOOZE ? req->until : NULL;
	params[7] = calendar_day_format(req->today, today, sizeof(today));
	params[8] = responses_operators(ctx->cfg);
	params[9] = req->kind == RESPONSES_ACKNOWLEDGE && has_text(req->stage) ? req->stage : NULL;
	rc = db_query(conn, sql, 10, params, responses_on_recorded, op);
	free(sql);
	free(note);
	if (rc < 0)
		free(op);
	return rc < 0 ? -1 : 0;
}
