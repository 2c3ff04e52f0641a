/* unanswered: escalates the stages of firing alerts that nobody acknowledged or snoozed in time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "driftwatch/advlock.h"
#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/escalation.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/unanswered.h"

struct unanswered_op {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	char *sql_candidates, *sql_queue;
	char as_of[CALENDAR_DAY_LEN];
	int32_t day;
	char digest[64];
	char error[1024];
	struct unanswered_stats st;
	unanswered_done_cb cb;
	void *arg;
};

static void unanswered_free(struct unanswered_op *op)
{
	free(op->sql_candidates);
	free(op->sql_queue);
	free(op);
}

static void unanswered_done(struct unanswered_op *op)
{
	unanswered_done_cb cb = op->cb;
	void *arg = op->arg;
	struct unanswered_stats st = op->st;
	char error[sizeof(op->error)];
	int ok = !op->error[0];

	snprintf(error, sizeof(error), "%s", op->error);
	unanswered_free(op);
	if (!ok)
		memset(&st, 0, sizeof(st));
	cb(ok, ok ? NULL : error, &st, arg);
}

static void unanswered_fail(struct unanswered_op *op, const char *what, PGresult *res)
{
	const char *why = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	size_t n;

	if (op->error[0])
		return;
	snprintf(op->error, sizeof(op->error), "escalating unanswered alerts in schema %s failed "
		 "at %s: %s", op->ctx->cfg->state_schema, what,
		 why ? why : res ? PQresultErrorMessage(res) : db_error(op->conn));
	n = strlen(op->error);
	while (n > 0 && op->error[n - 1] == '\n')
		op->error[--n] = '\0';
}

static void unanswered_on_end(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		unanswered_fail(op, "the end of its transaction", res);
	unanswered_done(op);
}

/* COMMIT, or ROLLBACK after a failure (COMMIT of an aborted transaction rolls back too, but
 * says nothing of why). */
static void unanswered_end(struct unanswered_op *op)
{
	if (db_query(op->conn, op->error[0] ? "ROLLBACK" : "COMMIT", 0, NULL, unanswered_on_end,
		     op) < 0) {
		unanswered_fail(op, "the end of its transaction", NULL);
		unanswered_done(op);
	}
}

static int unanswered_step_failed(struct unanswered_op *op, PGresult *res, const char *what)
{
	if (res && (PQresultStatus(res) == PGRES_COMMAND_OK ||
		    PQresultStatus(res) == PGRES_TUPLES_OK))
		return 0;
	unanswered_fail(op, what, res);
	unanswered_end(op);
	return 1;
}

static void unanswered_on_candidates(struct db_conn *conn, PGresult *res, void *arg);

static void unanswered_on_locked(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;
	const char *day[1] = { op->as_of };

	(void)conn;
	if (unanswered_step_failed(op, res, "its lock"))
		return;
	if (db_query(op->conn, op->sql_candidates, 1, day, unanswered_on_candidates, op) < 0) {
		unanswered_fail(op, "reading the unanswered alerts", NULL);
		unanswered_end(op);
	}
}

/* The recording lock: one daemon at a time reads and queues, so a stage is escalated once even
 * by two daemons sharing the state schema. One step after another: every failure ends it. */
static void unanswered_on_begun(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;
	const char *lock[1] = { op->ctx->cfg->state_schema };

	(void)conn;
	if (unanswered_step_failed(op, res, "its transaction"))
		return;
	if (db_query(op->conn, "SELECT pg_advisory_xact_lock(" ADVLOCK_RECORD_KEY ")", 1, lock,
		     unanswered_on_locked, op) < 0) {
		unanswered_fail(op, "its lock", NULL);
		unanswered_end(op);
	}
}

/* The address a configured role stands for; service_manager is not looked up in the case data
 * yet (the supervisor's supervisor_id): it goes to the head of service, as escalation.h allows,
 * and the event says so. Recipient roles (allocated_worker, supervisor, cp_chair) are the
 * alert's own destinations already. */
static const char *unanswered_address(const struct dw_config *cfg, const char *role,
				      const char **why)
{
	*why = NULL;
	if (strcmp(role, "head_of_service") == 0)
		return cfg->addresses.head_of_service;
	if (strcmp(role, "cp_manager") == 0)
		return cfg->addresses.cp_manager;
	if (strcmp(role, "service_manager") == 0) {
		*why = "the supervisor's own supervisor is not looked up in the case data yet: "
		       "sent to head_of_service instead";
		return cfg->addresses.head_of_service;
	}
	return NULL;
}

static int unanswered_add_roles(const struct dw_config *cfg, const char *const *to, json_t *also,
				json_t *unresolved)
{
	for (; to && *to; to++) {
		const char *why, *addr = unanswered_address(cfg, *to, &why);
		int recipient = strcmp(*to, "allocated_worker") == 0 ||
				strcmp(*to, "supervisor") == 0 || strcmp(*to, "cp_chair") == 0;

		if (recipient)
			continue;
		if (addr && !cfg->email.enabled) {
			why = "no email section: nothing is mailed";
			addr = NULL;
		}
		if (!addr && !why)
			why = "no address configured for this role";
		if (why && json_array_append_new(unresolved, json_pack("{s:s, s:s}", "role", *to,
								       "why", why)) < 0)
			return -1;
		if (addr && json_array_append_new(also, json_pack("{s:s, s:s, s:s}", "channel",
								  "email", "destination", addr,
								  "role", *to)) < 0)
			return -1;
	}
	return 0;
}

/* One element of unanswered_queue.sql's $1 when the row's stage is due on or before the
 * evaluation day; NULL when it is not due (or no policy entry matches), with *bad set when out
 * of memory or a day out of the calendar's range. */
static json_t *unanswered_due_row(struct unanswered_op *op, const struct calendar *cal,
				  PGresult *res, int i, int *bad)
{
	const struct dw_config *cfg = op->ctx->cfg;
	const char *rule = PQgetvalue(res, i, 1), *stage = PQgetvalue(res, i, 2);
	struct escalation_due due;
	int32_t since;
	json_t *row, *also = json_array(), *unresolved = json_array();

	*bad = 0;
	/* column 4 (count_from), not 3 (stage_since): an alert already firing when state v4
	 * arrived counts from the last evaluation before it (state_v4.sql says why) */
	if (calendar_day_parse(PQgetvalue(res, i, 4), &since) < 0 ||
	    escalation_due(cfg->responses.escalate, cfg->responses.n_escalate, cal, rule, stage,
			   since, &due) != 1 || due.due_day > op->day) {
		json_decref(also);
		json_decref(unresolved);
		return NULL;
	}
	if (!also || !unresolved || unanswered_add_roles(cfg, due.to, also, unresolved) < 0) {
		json_decref(also);
		json_decref(unresolved);
		*bad = 1;
		return NULL;
	}
	row = json_pack("{s:I, s:s, s:s, s:i, s:o, s:o}", "alert_id",
			(json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10), "stage", stage,
			"stage_since", PQgetvalue(res, i, 3), "working_days",
			due.after_working_days, "also", also, "unresolved", unresolved);
	*bad = row == NULL;
	return row;
}

/* [[rule, stage, n], ...] into st->by_stage, by registry index; a rule or stage this build does
 * not know (a state schema shared with another version) is left out. */
static void unanswered_count_stages(struct unanswered_stats *st, const char *text)
{
	json_t *all = json_loads(text, 0, NULL), *e;
	size_t k;

	json_array_foreach(all, k, e) {
		const char *rule = json_string_value(json_array_get(e, 0));
		const char *stage = json_string_value(json_array_get(e, 1));
		const struct rule_def *def = rule ? rule_registry_find(rule) : NULL;
		int j = def && stage ? rule_stage_index(def, stage) : -1;

		for (size_t i = 0; j >= 0 && j < RULE_MAX_STAGES && i < rule_registry_count() &&
				   i < RULE_REGISTRY_MAX; i++)
			if (rule_registry_get(i) == def)
				st->by_stage[i][j] += json_integer_value(json_array_get(e, 2));
	}
	json_decref(all);
}

static void unanswered_on_queued(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		unanswered_fail(op, "queueing its notices", res);
	} else {
		op->st.unanswered = atoll(PQgetvalue(res, 0, 0));
		op->st.email_notices = atoll(PQgetvalue(res, 0, 1));
		op->st.webhook_notices = atoll(PQgetvalue(res, 0, 2));
		unanswered_count_stages(&op->st, PQgetvalue(res, 0, 3));
	}
	unanswered_end(op);
}

static void unanswered_on_candidates(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;
	struct calendar cal = config_calendar(op->ctx->cfg);
	json_t *rows;
	char *text;
	const char *params[3];
	int bad = 0;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		unanswered_fail(op, "reading the unanswered alerts", res);
		unanswered_end(op);
		return;
	}
	op->st.candidates = PQntuples(res);
	rows = json_array();
	for (int i = 0; rows && !bad && i < PQntuples(res); i++) {
		json_t *row = unanswered_due_row(op, &cal, res, i, &bad);

		if (row && json_array_append_new(rows, row) < 0)
			bad = 1;
	}
	if (!rows || bad) {
		json_decref(rows);
		snprintf(op->error, sizeof(op->error), "escalating unanswered alerts: out of memory");
		unanswered_end(op);
		return;
	}
	if (json_array_size(rows) == 0) {
		json_decref(rows);
		unanswered_end(op);
		return;
	}
	text = json_dumps(rows, JSON_COMPACT);
	json_decref(rows);
	params[0] = text;
	params[1] = op->as_of;
	params[2] = op->digest;
	if (!text || db_query(op->conn, op->sql_queue, 3, params, unanswered_on_queued, op) < 0) {
		unanswered_fail(op, "queueing its notices", NULL);
		unanswered_end(op);
	}
	free(text);
}

int unanswered_run(struct dw_ctx *ctx, struct db_conn *conn, const char *as_of,
		   unanswered_done_cb cb, void *arg)
{
	struct unanswered_op *op = calloc(1, sizeof(*op));
	char *ident;

	if (!op)
		return -1;
	op->ctx = ctx;
	op->conn = conn;
	op->cb = cb;
	op->arg = arg;
	snprintf(op->as_of, sizeof(op->as_of), "%s", as_of);
	/* one digest per person per escalation pass, as recording has per evaluation */
	snprintf(op->digest, sizeof(op->digest), "%s-%lld-unanswered", as_of,
		 (long long)time(NULL));
	ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	if (ident) {
		op->sql_candidates = strbuf_subst(sql_unanswered_candidates, "@state@", ident);
		op->sql_queue = strbuf_subst(sql_unanswered_queue, "@state@", ident);
	}
	free(ident);
	if (calendar_day_parse(as_of, &op->day) < 0 || !op->sql_candidates || !op->sql_queue ||
	    db_query(conn, "BEGIN", 0, NULL, unanswered_on_begun, op) < 0) {
		unanswered_free(op);
		return -1;
	}
	return 0;
}
