/* record: diffs an evaluation's alerts against the state schema as they stream, one savepoint per rule. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driftwatch/advlock.h"
#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/digest_slot.h"
#include "driftwatch/eval.h"
#include "driftwatch/log.h"
#include "driftwatch/notice.h"
#include "driftwatch/record.h"
#include "driftwatch/routing.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/utf8.h"

/* Batches in flight on the state connection while the evaluation fetches the next: the two
 * servers work at once, and memory stays at two batches. */
#define RECORD_IN_FLIGHT 2

#define RECORD_SAVEPOINT "dw_rec"
/* record.sql is prepared once per session of the state connection: parsed again for every
 * batch, its 200 lines took 0.8 s of parsing and a share of 4.1 s of bind (planning, and the
 * batch's jsonb) in the 926 batches of a dense million's evaluation; prepared, its server time
 * went from 13.4 to 11.8 s. */
#define RECORD_BATCH_STMT "dw_record_batch"
/* record_resolve.sql for a few notified children, prepared once per session as well. Sent as
 * text it was parsed and planned seven times an evaluation, 0.9 ms each: a third of one changed
 * child's 18 ms (100,000 dense children, the server's log). Its generic plan finds the children's
 * alerts through alerts_child_idx because this form has no "$3 IS NULL OR" branch, which would
 * leave a generic plan no index to use. The whole evaluation keeps the text and its custom plan. */
#define RECORD_RESOLVE_STMT "dw_record_resolve"
/* ... when this many children or fewer were notified. A generic plan is made for a few: its
 * guess of alert_seen (an empty table to the statistics) is a list read once per alert, which a
 * burst of up to SERVICE_MAX_INCREMENTAL children would make thousands of alerts times
 * thousands; such a burst keeps the text and a plan for its own numbers. */
#define RECORD_FEW_CHILDREN 64
/* record_end.sql for a few children: parsed and planned each time it took 1.1 ms. */
#define RECORD_END_STMT "dw_record_end"
#define RECORD_RESOLVE_ALL \
	"a.rule = $1::text AND ($3::text[] IS NULL OR a.child_id = ANY($3::text[]))"
/* "|| ''" keeps the rule's condition off alerts_firing_idx: a generic plan guesses a rule's
 * share of the firing alerts and ANDed its bitmap with the children's (0.28 ms a rule against
 * 0.08 at 20,000 alerts, more with more alerts), where the children's few alerts need only
 * their own index and a filter. */
#define RECORD_RESOLVE_KIDS "a.child_id = ANY($3::text[]) AND a.rule || '' = $1::text"

/* A whole evaluation that changed at least this many alerts analyzes the state's tables after
 * its commit. Until autovacuum comes round (a minute or more; never before a daemon started
 * right after a first --once), the planner takes them for the few rows they held: resolving one
 * notified child's alerts then read every firing alert of the rule, 3-4 ms a rule at 21,000
 * alerts, most of an incremental evaluation. The analysis costs a fraction of the evaluation. */
#define RECORD_ANALYZE_MIN 1000

/* A statement prepared once per session of the state connection (db.h). */
struct record_named {
	struct record *rec;
	const char *name;
	char *sql;
	const char *what;             /* "a batch of alerts": what its failure is said to be */
	int preparing;                /* its PREPARE is queued, not answered */
};

struct record {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	const struct eval_request *req;
	struct eval_run *run;         /* the evaluation feeding it */
	char *sql_begin, *sql_resolve, *sql_end, *sql_analyze, *sql_daily;
	struct record_named batch;    /* record.sql */
	struct record_named resolve;  /* record_resolve.sql for a few children */
	char *sql_clear_seen;         /* empties alert_seen, the list record_resolve.sql reads */
	char *sql_truncate_seen;      /* ... for a whole evaluation: its list is the size of alerts */
	char *kids;                   /* the children evaluated (text[]), NULL for everyone */
	int few;                      /* ... at most RECORD_FEW_CHILDREN of them: generic plans */
	char as_of[11];
	char eval_id[24];             /* record_begin.sql's evaluation_id */
	char digest[64];
	int hold_email;               /* people's email waits for its digest slot (not --once) */
	struct digest_slot slot;      /* ... that slot, from the database's now */
	char repeat[16];
	int begun;                    /* BEGIN was sent */
	unsigned long session;        /* the database session the transaction lives in */
	int in_rule;                  /* the rule's savepoint was sent */
	int in_flight;                /* batches sent and not answered */
	int owe;                      /* the evaluation waits for an answer (eval_continue) */
	int owe_rule_end;             /* ... to its rule_end */
	int pending;                  /* queries of this recording not answered yet */
	int finishing;                /* record_finish was called: no new work, then the end */
	int final_sent;               /* COMMIT or ROLLBACK is on its way */
	int commit;                   /* record_finish asked to keep it */
	const struct eval_result *res;  /* ... with these figures */
	char *rule_error;             /* the rule in flight could not be recorded: why */
	int broken;                   /* the transaction is lost (connection, a failed step) */
	char error[1024];             /* the first failure, or "" */
	struct record_changes rule_ch;  /* of the rule in flight, kept when it is released */
	struct record_changes ch;
	record_done_cb cb;
	void *cb_arg;
};

static void record_free(struct record *rec)
{
	free(rec->sql_begin);
	free(rec->sql_clear_seen);
	free(rec->sql_truncate_seen);
	free(rec->batch.sql);
	free(rec->resolve.sql);
	free(rec->sql_resolve);
	free(rec->sql_end);
	free(rec->sql_analyze);
	free(rec->sql_daily);
	free(rec->kids);
	free(rec->rule_error);
	free(rec);
}

/* Keeps the first failure: it is the cause, and what follows it only says the transaction was
 * aborted. */
static void record_fail(struct record *rec, const char *what, const char *why)
{
	size_t n;

	if (rec->error[0])
		return;
	snprintf(rec->error, sizeof(rec->error), "recording the evaluation in schema %s failed at "
		 "%s: %s", rec->ctx->cfg->state_schema, what, why ? why : "unknown error");
	n = strlen(rec->error);
	while (n > 0 && rec->error[n - 1] == '\n')
		rec->error[--n] = '\0';
}

/* The server's sentence without its severity or DETAIL (a DETAIL can quote a row). */
static const char *record_pg_error(struct record *rec, PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	if (primary && *primary)
		return primary;
	return res ? PQresultErrorMessage(res) : db_error(rec->conn);
}

/* Answers the evaluation's latest call, once. */
static void record_answer(struct record *rec, enum eval_next next, const char *why)
{
	if (!rec->owe)
		return;
	rec->owe = 0;
	rec->owe_rule_end = 0;
	eval_continue(rec->run, next, why);
}

/* The transaction is gone: the evaluation is told to stop. */
static void record_break(struct record *rec, const char *what, const char *why)
{
	record_fail(rec, what, why);
	rec->broken = 1;
	record_answer(rec, EVAL_NEXT_ABORT, rec->error);
}

/* Every query this recording sends is counted until its answer comes, so that COMMIT or
 * ROLLBACK goes only after the last of them (record_finish): a step queued by an answer after
 * the end was sent would run outside the transaction, and call back into a freed recording. */
static int record_send(struct record *rec, const char *sql, int n, const char *const *params,
		       db_result_cb cb, const char *what)
{
	if (db_query(rec->conn, sql, n, params, cb, rec) == 0) {
		rec->pending++;
		return 0;
	}
	record_break(rec, what, db_error(rec->conn));
	return -1;
}

static int record_script(struct record *rec, const char *sql, db_result_cb cb,
			 const char *what)
{
	if (db_script(rec->conn, sql, cb, rec) == 0) {
		rec->pending++;
		return 0;
	}
	record_break(rec, what, db_error(rec->conn));
	return -1;
}

static void record_send_final(struct record *rec);

/* An answer came. Returns 1 when the recording is ending, and the caller must queue nothing
 * more (the end goes out once every answer is in). */
static int record_settled(struct record *rec)
{
	rec->pending--;
	if (!rec->finishing)
		return 0;
	if (rec->pending == 0 && !rec->final_sent)
		record_send_final(rec);
	return 1;
}

/* A sink call finds the transaction gone (a failed step, or the connection lost and made
 * again: a batch sent now would run outside it): the evaluation is told to stop. */
static int record_lost(struct record *rec)
{
	if (!rec->broken && rec->session == db_session(rec->conn) && db_is_up(rec->conn))
		return 0;
	record_break(rec, "its transaction", "the database connection was lost");
	return 1;
}

/* Where reports to the operators go: nowhere without an email section to send them. */
static const char *record_operators(const struct dw_config *cfg)
{
	return cfg->email.enabled ? cfg->addresses.operators : NULL;
}

/* ---- opening ---- */

static void record_on_begun(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;

	(void)conn;
	if (record_settled(rec))
		return;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		record_break(rec, "its start", record_pg_error(rec, res));
		return;
	}
	snprintf(rec->eval_id, sizeof(rec->eval_id), "%s", PQgetvalue(res, 0, 0));
	record_answer(rec, EVAL_NEXT_GO_ON, NULL);
}

static void record_on_step(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;

	(void)conn;
	if (record_settled(rec))
		return;
	if (!res || (PQresultStatus(res) != PGRES_COMMAND_OK &&
		     PQresultStatus(res) != PGRES_TUPLES_OK))
		record_break(rec, "its transaction", record_pg_error(rec, res));
}

/* The database's local now places people's email in its digest slot (digest_slot.h). Answered
 * before the evaluation's row, so before any batch is built. */
static void record_on_now(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;
	const char *why = NULL;

	(void)conn;
	if (record_settled(rec))
		return;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		record_break(rec, "the time of the next digest", record_pg_error(rec, res));
		return;
	}
	if (digest_slot_make(rec->ctx->cfg, rec->hold_email, PQgetvalue(res, 0, 0),
			     PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), &rec->slot, &why) < 0)
		record_break(rec, "the time of the next digest", why);
}

static const char record_lock_all[] = "SELECT pg_advisory_xact_lock(" ADVLOCK_RECORD_KEY ")";
/* A few children's recording plans each statement once a session: record_resolve.sql's custom
 * plan for each rule's one child cost 0.4 ms of planning, seven times an evaluation. Its
 * generic plan reads the children's alerts through alerts_child_idx; the other statements of
 * such a recording read the evaluation's own rows by key, whatever their values. */
static const char record_lock_kids[] =
	"SELECT pg_advisory_xact_lock(" ADVLOCK_RECORD_KEY "), "
	"set_config('plan_cache_mode', 'force_generic_plan', true)";

/* The lock serialises recording between daemons sharing the state schema: each diff runs on a
 * snapshot taken after the previous one committed, so no change is announced twice. BEGIN, the
 * lock and the evaluation's row go one after another; the first failure breaks the rest. */
static void record_begin(void *arg, struct eval_run *run, const char *as_of)
{
	struct record *rec = arg;
	const char *lock[1] = { rec->ctx->cfg->state_schema };
	const char *zone[1] = { rec->ctx->cfg->timezone };
	char scope[32];
	const char *params[2] = { as_of, scope };

	rec->run = run;
	rec->owe = 1;
	snprintf(rec->as_of, sizeof(rec->as_of), "%s", as_of);
	/* one digest per person per evaluation */
	digest_slot_eval_key(rec->digest, sizeof(rec->digest), as_of, NULL);
	snprintf(scope, sizeof(scope), rec->req->child_ids ? "%zu children" : "all",
		 rec->req->n_child_ids);
	rec->begun = 1;
	rec->session = db_session(rec->conn);
	if (record_send(rec, "BEGIN", 0, NULL, record_on_step, "its transaction") < 0 ||
	    record_send(rec, rec->few ? record_lock_kids : record_lock_all, 1, lock,
			record_on_step, "its lock") < 0 ||
	    record_send(rec, DIGEST_SLOT_NOW_SQL, 1, zone, record_on_now,
			"the time of the next digest") < 0 ||
	    record_send(rec, rec->sql_clear_seen, 0, NULL, record_on_step,
			"emptying its list of alerts seen") < 0)
		return;
	record_send(rec, rec->sql_begin, 2, params, record_on_begun, "its start");
}

/* ---- a rule's alerts ---- */

/* A team's webhook_url that is not used is reported to the operators once per URL: the row says
 * why, and names the URL by a digest (a team URL can carry its credential in the query). */
static int record_team_refused(const struct alert *a, const struct dw_config *cfg, json_t *row)
{
	const char *why = routing_team_refused(a, cfg);
	char digest[ALERT_FINGERPRINT_LEN + 1];

	if (!why)
		return 0;
	if (alert_fingerprint("team_webhook_url", a->contacts.team_webhook_url, NULL, digest) < 0)
		return -1;
	return json_object_set_new(row, "team_webhook_refused",
				   json_pack("{s:s, s:s}", "why", why, "digest", digest));
}

/* Each destination keeps the notice's words for its reader (notice.h): what the outbox hands
 * the mail composer, so that sending needs nothing but the notice. A webhook's reader has no
 * role. */
static int record_notices(const struct alert *a, json_t *dest)
{
	size_t i;
	json_t *d;

	json_array_foreach(dest, i, d) {
		const char *channel = json_string_value(json_object_get(d, "channel"));
		const char *role = json_string_value(json_object_get(d, "role"));
		int email = channel && strcmp(channel, "email") == 0;
		json_t *words = notice_for(a, email ? role : NULL);

		if (!words || json_object_set_new(d, "notice", words) < 0)
			return -1;
	}
	return 0;
}

/* The fingerprint the alert had when its rule named its subject otherwise (rule.h,
 * former_subject_fact), or NULL when that was the same one. Made from the text the facts hold,
 * which for an identifier that is not UTF-8 differs from the bytes its fingerprint is made of:
 * such an alert is resolved and announced again, as it was before. */
static json_t *record_former(const struct alert *a)
{
	const char *former = a->rule->former_subject_fact
		? json_string_value(json_object_get(a->facts, a->rule->former_subject_fact)) : NULL;
	char fp[ALERT_FINGERPRINT_LEN + 1];

	if (!former || (a->subject_id && strcmp(former, a->subject_id) == 0) ||
	    alert_fingerprint(a->rule->name, a->child_id, former, fp) < 0)
		return json_null();
	return json_string(fp);
}

/* One element of record.sql's $1, appended to sb as JSON text: the row's own keys, then the
 * alert as its "payload", written from the facts' text (alert_json_write). Returns 0 or -1. */
static int record_alert_row(struct strbuf *sb, const struct alert *a, const struct dw_config *cfg)
{
	json_t *dest = routing_destinations(a, cfg);
	char *key = routing_notify_key(a);
	json_t *row = NULL;
	char *text = NULL;
	size_t len;
	int rc = -1;

	if (dest && record_notices(a, dest) < 0) {
		json_decref(dest);
		dest = NULL;
	}
	if (dest && key)
		row = json_pack("{s:s, s:s, s:s, s:o, s:s, s:i, s:s, s:O}", "fingerprint",
				a->fingerprint, "rule", a->rule->name, "child_id", a->child_id,
				"subject_id", a->subject_id ? json_string(a->subject_id) : json_null(),
				"stage", a->rule->stages[a->stage].name, "stage_rank", a->stage,
				"notify_key", key, "destinations", dest);
	/* The team moves with the child's allocation: recorded at every evaluation, NULL when the
	 * child has no open allocation (the API's team_id and team filter). */
	if (row && json_object_set_new(row, "team_id", a->contacts.team_id ?
				       json_string(a->contacts.team_id) : json_null()) < 0) {
		json_decref(row);
		row = NULL;
	}
	if (row && json_object_set_new(row, "former_fingerprint", record_former(a)) < 0) {
		json_decref(row);
		row = NULL;
	}
	if (row && record_team_refused(a, cfg, row) < 0) {
		json_decref(row);
		row = NULL;
	}
	if (row)
		text = json_dumps(row, JSON_COMPACT);
	len = text ? strlen(text) : 0;
	if (len >= 2 && text[len - 1] == '}') {
		size_t start = sb->len;

		strbuf_appendn(sb, text, len - 1);
		strbuf_append(sb, ",\"payload\":");
		rc = alert_json_write(sb, a, "firing", 0);
		strbuf_append(sb, "}");
		if (rc < 0)
			strbuf_truncate(sb, start);
	}
	free(text);
	json_decref(row);
	json_decref(dest);
	free(key);
	return rc;
}

static char *record_batch_json(const struct alert *alerts, size_t n,
			       const struct dw_config *cfg)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_append(&sb, "[");
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strbuf_append(&sb, ",");
		if (record_alert_row(&sb, &alerts[i], cfg) < 0) {
			strbuf_free(&sb);
			return NULL;
		}
	}
	strbuf_append(&sb, "]");
	return strbuf_take(&sb);
}

/* The rule could not be recorded: the evaluation hears it at its next call or now. */
static void record_rule_fails(struct record *rec, const char *why)
{
	size_t n;

	if (!rec->rule_error) {
		rec->rule_error = strdup(why ? why : "unknown error");
		n = rec->rule_error ? strlen(rec->rule_error) : 0;
		while (n > 0 && rec->rule_error[n - 1] == '\n')
			rec->rule_error[--n] = '\0';
	}
	if (rec->owe && !rec->owe_rule_end)
		record_answer(rec, EVAL_NEXT_RULE_FAILED, rec->rule_error);
}

static void record_on_batch(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;
	struct record_changes *c = &rec->rule_ch;

	(void)conn;
	rec->in_flight--;
	if (record_settled(rec))
		return;
	if (!res) {
		record_break(rec, "a batch of alerts", db_error(rec->conn));
		return;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		/* the first error; a batch sent after it only says the savepoint is aborted */
		record_rule_fails(rec, record_pg_error(rec, res));
		return;
	}
	c->firing += atoll(PQgetvalue(res, 0, 0));
	c->escalated += atoll(PQgetvalue(res, 0, 1));
	c->updated += atoll(PQgetvalue(res, 0, 2));
	c->reminders += atoll(PQgetvalue(res, 0, 4));
	c->email_notices += atoll(PQgetvalue(res, 0, 5));
	c->webhook_notices += atoll(PQgetvalue(res, 0, 6));
	c->reports += atoll(PQgetvalue(res, 0, 7));
	if (rec->owe && !rec->owe_rule_end)
		record_answer(rec, EVAL_NEXT_GO_ON, NULL);
}

/* Each rule's writes go in a savepoint: a rule that fails, at either end, takes back only its
 * own. */
static int record_open_rule(struct record *rec)
{
	if (rec->in_rule)
		return 0;
	rec->in_rule = 1;
	memset(&rec->rule_ch, 0, sizeof(rec->rule_ch));
	return record_send(rec, "SAVEPOINT " RECORD_SAVEPOINT, 0, NULL, record_on_step,
			   "a rule's savepoint");
}

/* A PREPARE that failed (the rule's savepoint already aborted by a batch before it) is tried
 * again by the next use that finds the statement missing; the execution queued behind it fails
 * and fails the rule, with this first reason. */
static void record_on_prepared(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record_named *st = arg;
	struct record *rec = st->rec;
	char what[128];

	(void)conn;
	st->preparing = 0;
	if (record_settled(rec))
		return;
	if (!res) {
		snprintf(what, sizeof(what), "preparing %s", st->what);
		record_break(rec, what, db_error(rec->conn));
		return;
	}
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		record_rule_fails(rec, record_pg_error(rec, res));
}

/* Executes st, preparing it first in a new session (or after its last execution failed): the
 * PREPARE and the execution queue in that order. */
static int record_send_named(struct record *rec, struct record_named *st, int n,
			     const char *const *params, db_result_cb cb)
{
	if (!st->preparing && !db_prepared(rec->conn, st->name, st->sql)) {
		if (db_prepare(rec->conn, st->name, st->sql, record_on_prepared, st) < 0) {
			char what[128];

			snprintf(what, sizeof(what), "preparing %s", st->what);
			record_break(rec, what, db_error(rec->conn));
			return -1;
		}
		rec->pending++;
		st->preparing = 1;
	}
	if (db_query_prepared(rec->conn, st->name, n, params, cb, rec) < 0) {
		record_break(rec, st->what, db_error(rec->conn));
		return -1;
	}
	rec->pending++;
	return 0;
}

static void record_alerts(void *arg, struct eval_run *run, const struct config_rule *rc,
			  struct alert *alerts, size_t n)
{
	struct record *rec = arg;
	char *batch;
	const char *params[11];

	(void)run;
	(void)rc;
	rec->owe = 1;
	if (record_lost(rec))
		return;
	if (rec->rule_error) {
		record_answer(rec, EVAL_NEXT_RULE_FAILED, rec->rule_error);
		return;
	}
	if (record_open_rule(rec) < 0)
		return;
	batch = record_batch_json(alerts, n, rec->ctx->cfg);
	if (!batch) {
		record_rule_fails(rec, "out of memory building a batch of alerts");
		return;
	}
	params[0] = batch;
	params[1] = rec->as_of;
	params[2] = rec->digest;
	params[3] = rec->repeat;
	params[4] = rec->eval_id;
	params[5] = record_operators(rec->ctx->cfg);
	digest_slot_params(&rec->slot, rec->ctx->cfg, params + 6);
	rec->in_flight++;
	/* libpq copies the parameters, so the batch's text goes as soon as it is sent. */
	if (record_send_named(rec, &rec->batch, 11, params, record_on_batch) < 0) {
		free(batch);
		return;
	}
	free(batch);
	if (rec->in_flight < RECORD_IN_FLIGHT)
		record_answer(rec, EVAL_NEXT_GO_ON, NULL);
}

/* ---- a rule's end ---- */

static void record_add(struct record_changes *to, const struct record_changes *c)
{
	to->firing += c->firing;
	to->escalated += c->escalated;
	to->updated += c->updated;
	to->resolved += c->resolved;
	to->reminders += c->reminders;
	to->email_notices += c->email_notices;
	to->webhook_notices += c->webhook_notices;
	to->reports += c->reports;
}

static void record_on_rule_closed(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;
	char *why;

	(void)conn;
	rec->in_rule = 0;
	if (record_settled(rec))
		return;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
		record_break(rec, "the end of a rule", record_pg_error(rec, res));
		return;
	}
	if (!rec->rule_error) {
		record_add(&rec->ch, &rec->rule_ch);
		record_answer(rec, EVAL_NEXT_GO_ON, NULL);
		return;
	}
	why = rec->rule_error;
	rec->rule_error = NULL;
	record_answer(rec, EVAL_NEXT_RULE_FAILED, why);
	free(why);
}

static const char record_undo[] = "ROLLBACK TO SAVEPOINT " RECORD_SAVEPOINT
				  "; RELEASE SAVEPOINT " RECORD_SAVEPOINT;
static const char record_keep[] = "RELEASE SAVEPOINT " RECORD_SAVEPOINT;

static void record_close_rule(struct record *rec)
{
	/* two statements: the simple protocol (no parameters) */
	record_script(rec, rec->rule_error ? record_undo : record_keep, record_on_rule_closed,
		      "the end of a rule");
}

static void record_on_resolved(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;
	struct record_changes *c = &rec->rule_ch;

	(void)conn;
	if (record_settled(rec))
		return;
	if (!res) {
		record_break(rec, "resolving a rule's alerts", db_error(rec->conn));
		return;
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		record_rule_fails(rec, record_pg_error(rec, res));
	} else {
		c->resolved += atoll(PQgetvalue(res, 0, 0));
		c->email_notices += atoll(PQgetvalue(res, 0, 1));
		c->webhook_notices += atoll(PQgetvalue(res, 0, 2));
	}
	record_close_rule(rec);
}

/* After the rule's batches (the connection runs its queries in order): what the rule no
 * longer yields resolves, and the savepoint is released; or, when the rule failed on either
 * side, everything it wrote is taken back. */
static void record_rule_end(void *arg, struct eval_run *run, const struct config_rule *rc,
			    const char *error)
{
	struct record *rec = arg;
	const char *params[9] = { rc->def->name, rec->as_of, rec->kids,
				  rec->ctx->cfg->email.send_resolved ? "true" : "false",
				  rec->digest };
	const char *held[5];
	char *hooks;

	(void)run;
	rec->owe = 1;
	rec->owe_rule_end = 1;
	if (record_lost(rec))
		return;
	if (error && !rec->rule_error)
		rec->rule_error = strdup(error);
	if (record_open_rule(rec) < 0)
		return;
	if (error || rec->rule_error) {
		record_close_rule(rec);
		return;
	}
	/* a resolution is never urgent: the slot's three */
	digest_slot_params(&rec->slot, rec->ctx->cfg, held);
	memcpy(params + 5, held, 3 * sizeof(params[0]));
	hooks = routing_rule_webhooks(rec->ctx->cfg, rc->def->name);
	params[8] = hooks;  /* NULL: the alert's own webhooks (record_resolve.sql) */
	if (rec->few)
		record_send_named(rec, &rec->resolve, 9, params, record_on_resolved);
	else
		record_send(rec, rec->sql_resolve, 9, params, record_on_resolved,
			    "resolving a rule's alerts");
	free(hooks);
}

/* ---- the end ---- */

static void record_done(struct record *rec)
{
	record_done_cb cb = rec->cb;
	void *arg = rec->cb_arg;
	struct record_changes ch = rec->ch;
	char error[sizeof(rec->error)];
	int ok = !rec->error[0] && !rec->broken;

	snprintf(error, sizeof(error), "%s", rec->error);
	snprintf(ch.digest_key, sizeof(ch.digest_key), "%s", rec->digest);
	record_free(rec);
	if (!ok)
		memset(&ch, 0, sizeof(ch));
	cb(ok, ok || !error[0] ? NULL : error, &ch, arg);
}

/* The analysis is housekeeping: its failure is said and changes nothing recorded. */
static void record_on_analyzed(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		log_warn(rec->ctx, "state: could not analyze the state tables after a whole "
			 "evaluation (the planner keeps older statistics until autovacuum): %s",
			 record_pg_error(rec, res));
	record_done(rec);
}

static int record_wants_analyze(const struct record *rec)
{
	const struct record_changes *c = &rec->ch;

	return !rec->kids && rec->commit && !rec->broken && !rec->error[0] &&
	       c->firing + c->escalated + c->updated + c->resolved >= RECORD_ANALYZE_MIN;
}

/* After the daily count: the analysis when it is wanted, then the end. */
static void record_after_count(struct record *rec)
{
	if (record_wants_analyze(rec) &&
	    db_query(rec->conn, rec->sql_analyze, 0, NULL, record_on_analyzed, rec) == 0)
		return;
	record_done(rec);
}

/* The daily count is housekeeping too: a failure is said, the evaluation stays kept, and the
 * next whole evaluation of the day writes the count. */
static void record_on_counted(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		log_warn(rec->ctx, "state: could not write the daily count of open alerts for %s "
			 "(the next whole evaluation today writes it): %s", rec->as_of,
			 record_pg_error(rec, res));
	else if (strcmp(PQgetvalue(res, 0, 0), "1") == 0)
		log_info(rec->ctx, "state: the daily count of open alerts for %s is written (%s "
			 "rows)", rec->as_of, PQgetvalue(res, 0, 1));
	record_after_count(rec);
}

/* Only a whole evaluation that was kept counts the day's open alerts (record_daily.sql): an
 * incremental one sees a few children, and its day is counted already. */
static int record_wants_count(const struct record *rec)
{
	return !rec->kids && rec->commit && !rec->broken && !rec->error[0];
}

static void record_on_final(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;
	const char *params[2] = { rec->eval_id, rec->as_of };

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		record_fail(rec, "the end of its transaction", record_pg_error(rec, res));
	if (record_wants_count(rec) &&
	    db_query(rec->conn, rec->sql_daily, 2, params, record_on_counted, rec) == 0)
		return;
	record_after_count(rec);
}

static void record_on_end(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		/* COMMIT of an aborted transaction rolls it back; the error says why */
		record_fail(rec, "its figures", record_pg_error(rec, res));
		rec->broken = 1;
		return;
	}
	rec->ch.reports += atoll(PQgetvalue(res, 0, 0));
	if (PQnfields(res) > 3 && atoll(PQgetvalue(res, 0, 3)) > 0)
		log_info(rec->ctx, "email: %s notices held for an earlier digest time or day now "
			 "wait for %s (or go now when their own day's slot has passed)",
			 PQgetvalue(res, 0, 3), rec->slot.held ? rec->slot.key : "no slot");
}

/* {"rule": "why", ...} of the failed rules, and the text[] of the rules that ran to the end. */
static int record_health(const struct dw_config *cfg, const struct eval_result *res,
			 char **failed, char **ok)
{
	json_t *f = json_object();
	const char *names[RULE_REGISTRY_MAX];
	size_t n = 0;

	for (size_t i = 0; f && i < cfg->n_rules; i++) {
		if (res->rules[i].status == EVAL_RULE_FAILED)
			json_object_set_new(f, cfg->rules[i].def->name,
					    json_string(res->rules[i].error ? res->rules[i].error
									    : "failed"));
		else if (res->rules[i].status == EVAL_RULE_OK)
			names[n++] = cfg->rules[i].def->name;
	}
	*failed = f ? json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	*ok = strbuf_text_array(names, n);
	json_decref(f);
	return *failed && *ok ? 0 : -1;
}

static char *record_bad_rows_json(const struct eval_result *res)
{
	json_t *o = json_object();
	char *text;

	if (!o)
		return NULL;
	for (size_t i = 0; i < res->n_bad; i++)
		json_object_set_new(o, res->bad[i].kind, json_integer(res->bad[i].count));
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	return text;
}

/* The execution queued behind a PREPARE that failed fails too, and less plainly: the first
 * failure is the one said. */
static void record_on_end_prepared(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		record_fail(rec, "preparing its figures' statement", record_pg_error(rec, res));
}

static int record_send_end_kids(struct record *rec, const char *const *params)
{
	if (!db_prepared(rec->conn, RECORD_END_STMT, rec->sql_end) &&
	    db_prepare(rec->conn, RECORD_END_STMT, rec->sql_end, record_on_end_prepared, rec) < 0)
		return -1;
	return db_query_prepared(rec->conn, RECORD_END_STMT, 13, params, record_on_end, rec);
}

static int record_send_end(struct record *rec, const struct eval_result *res)
{
	char children[24], alerts[24], notices[24];
	char *bad = record_bad_rows_json(res), *failed = NULL, *ok = NULL;
	const char *params[13], *slot[5];
	int rc = -1;

	snprintf(children, sizeof(children), "%lld", res->children);
	snprintf(alerts, sizeof(alerts), "%zu", res->n_alerts);
	snprintf(notices, sizeof(notices), "%lld", rec->ch.email_notices + rec->ch.webhook_notices);
	if (bad && record_health(rec->ctx->cfg, res, &failed, &ok) == 0) {
		params[0] = rec->eval_id;
		/* Bad rows and children counted elsewhere (the daemon's own connection) or not at
		 * all: NULL, so that nobody reads a zero as "none". */
		params[1] = res->counted ? children : NULL;
		params[2] = res->counted ? bad : NULL;
		params[3] = alerts;
		params[4] = notices;
		params[5] = failed;
		params[6] = ok;
		params[7] = record_operators(rec->ctx->cfg);
		params[8] = rec->digest;
		/* held notices move to the slot new ones wait for: its key, local time and zone */
		digest_slot_params(&rec->slot, rec->ctx->cfg, slot);
		memcpy(params + 9, slot, 3 * sizeof(params[0]));
		params[12] = rec->req->child_ids ? "false" : "true";
		rc = rec->few ? record_send_end_kids(rec, params)
			       : db_query(rec->conn, rec->sql_end, 13, params, record_on_end, rec);
	}
	free(bad);
	free(failed);
	free(ok);
	return rc;
}

/* Sent at the end, after every answer was counted: not counted itself (record_settled). */
static void record_on_emptied(struct db_conn *conn, PGresult *res, void *arg)
{
	struct record *rec = arg;

	(void)conn;
	if (res && PQresultStatus(res) == PGRES_COMMAND_OK)
		return;
	/* the transaction is aborted: the figures' statement fails, and COMMIT rolls it back */
	record_fail(rec, "emptying its list of alerts seen", record_pg_error(rec, res));
	rec->broken = 1;
}

/* The figures and the rules' health, then COMMIT; or ROLLBACK. Sent once every answer to the
 * recording's other queries is in. */
static void record_send_final(struct record *rec)
{
	int commit = rec->commit && !rec->broken && !rec->error[0];

	rec->final_sent = 1;
	/* a whole evaluation's list holds every alert it yielded: emptied before its commit, so the
	 * next evaluation's DELETE (a notified child's) has nothing to take away */
	if (commit && !rec->kids &&
	    db_query(rec->conn, rec->sql_truncate_seen, 0, NULL, record_on_emptied, rec) < 0) {
		record_fail(rec, "emptying its list of alerts seen", db_error(rec->conn));
		commit = 0;
	}
	if (commit && record_send_end(rec, rec->res) < 0) {
		record_fail(rec, "its figures", db_error(rec->conn));
		commit = 0;
	}
	if (!commit)
		rec->broken = 1;  /* rolled back: reported as not kept, the caller knows why */
	if (db_query(rec->conn, commit ? "COMMIT" : "ROLLBACK", 0, NULL, record_on_final, rec) < 0) {
		record_fail(rec, "the end of its transaction", db_error(rec->conn));
		record_done(rec);
	}
}

void record_finish(struct record *rec, const struct eval_result *res, int keep,
		   record_done_cb cb, void *arg)
{
	rec->cb = cb;
	rec->cb_arg = arg;
	rec->res = res;
	rec->commit = keep && !res->error && rec->eval_id[0];
	rec->finishing = 1;
	if (!rec->begun) {
		rec->broken = 1;
		record_done(rec);
		return;
	}
	if (rec->pending == 0)
		record_send_final(rec);
}

/* ---- setting up ---- */

static char *record_stmt(const char *sql, const char *ident)
{
	return strbuf_subst(sql, "@state@", ident);
}

char *record_resolve_for_children(const char *sql)
{
	const char *at = strstr(sql, RECORD_RESOLVE_ALL);

	if (!at || strstr(at + 1, RECORD_RESOLVE_ALL))
		return NULL;
	return strbuf_subst(sql, RECORD_RESOLVE_ALL, RECORD_RESOLVE_KIDS);
}

static void record_named_init(struct record *rec)
{
	rec->batch = (struct record_named){ rec, RECORD_BATCH_STMT, rec->batch.sql,
					    "a batch of alerts", 0 };
	rec->resolve = (struct record_named){ rec, RECORD_RESOLVE_STMT, rec->resolve.sql,
					      "resolving a rule's alerts", 0 };
}

struct record *record_new(struct dw_ctx *ctx, struct db_conn *conn,
			  const struct eval_request *req, int hold_email)
{
	struct record *rec = calloc(1, sizeof(*rec));
	char *ident, *repaired;

	if (!rec)
		return NULL;
	rec->ctx = ctx;
	rec->conn = conn;
	rec->req = req;
	rec->hold_email = hold_email;
	ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	if (ident) {
		rec->sql_begin = record_stmt(sql_record_begin, ident);
		/* the last evaluation's list (state_v10.sql): under the lock, so no other's */
		rec->sql_truncate_seen = record_stmt("TRUNCATE @state@.alert_seen", ident);
		/* A few children's list is a few rows, which a DELETE takes away in microseconds:
		 * TRUNCATE makes new files for the table and its index, 1.8 ms of a changed child's
		 * evaluation. A whole evaluation empties it again before its commit (record_send_final),
		 * so the next one finds it empty. */
		rec->sql_clear_seen = req->child_ids
			? record_stmt("DELETE FROM @state@.alert_seen", ident)
			: strdup(rec->sql_truncate_seen ? rec->sql_truncate_seen : "");
		rec->batch.sql = record_stmt(sql_record, ident);
		rec->sql_resolve = record_stmt(sql_record_resolve, ident);
		rec->resolve.sql = rec->sql_resolve ? record_resolve_for_children(rec->sql_resolve)
						    : NULL;
		rec->sql_end = record_stmt(sql_record_end, ident);
		rec->sql_daily = record_stmt(sql_record_daily, ident);
		rec->sql_analyze = record_stmt("ANALYZE @state@.alerts, @state@.alert_events, "
					       "@state@.outbox", ident);
	}
	free(ident);
	/* Notified ids come from the case database as bytes; the state database wants UTF-8. */
	rec->kids = req->child_ids ? strbuf_text_array(req->child_ids, req->n_child_ids) : NULL;
	repaired = rec->kids ? utf8_repair(rec->kids, NULL) : NULL;
	free(rec->kids);
	rec->kids = repaired;
	rec->few = req->child_ids && req->n_child_ids <= RECORD_FEW_CHILDREN;
	snprintf(rec->repeat, sizeof(rec->repeat), "%d", ctx->cfg->repeat_after_days);
	record_named_init(rec);
	if (!rec->sql_begin || !rec->sql_clear_seen || !rec->sql_truncate_seen || !rec->batch.sql ||
	    !rec->sql_resolve || !rec->resolve.sql ||
	    !rec->sql_end || !rec->sql_analyze || !rec->sql_daily ||
	    (req->child_ids && !rec->kids)) {
		record_free(rec);
		return NULL;
	}
	return rec;
}

void record_sink(struct record *rec, struct eval_sink *sink)
{
	memset(sink, 0, sizeof(*sink));
	sink->begin = record_begin;
	sink->alerts = record_alerts;
	sink->rule_end = record_rule_end;
	sink->arg = rec;
}

void record_cancel(struct record *rec)
{
	if (rec)
		record_free(rec);
}
