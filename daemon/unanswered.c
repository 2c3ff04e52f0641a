/* unanswered: escalates the stages of firing alerts that nobody acknowledged or snoozed in time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "driftwatch/case_columns.h"
#include "driftwatch/advlock.h"
#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/digest_slot.h"
#include "driftwatch/escalation.h"
#include "driftwatch/log.h"
#include "driftwatch/mailaddr.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/unanswered.h"

struct unanswered_op {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	struct db_conn *case_conn;  /* the case data's, when the state is apart; NULL: conn */
	char *sql_candidates, *sql_queue, *sql_smgr;
	json_t *rows;               /* the due stages (unanswered_due_row) */
	json_t *managers;           /* alert_id -> {"email"} or {"why"} (unanswered_on_managers) */
	char *smgr_param;           /* unanswered_service_manager.sql's $1; "" when not needed */
	char *enabled;              /* the rules turned on, a text[] (unanswered_candidates' $2) */
	char smgr_error[512];       /* why the case data could not be read; "" when it was */
	char as_of[CALENDAR_DAY_LEN];
	int32_t day;
	char digest[64];
	int hold_email;             /* people's email waits for its digest slot (not --once) */
	struct digest_slot slot;    /* ... that slot, from the database's now */
	char error[1024];
	struct unanswered_stats st;
	unanswered_done_cb cb;
	void *arg;
};

static void unanswered_free(struct unanswered_op *op)
{
	free(op->sql_candidates);
	free(op->sql_queue);
	free(op->sql_smgr);
	free(op->smgr_param);
	free(op->enabled);
	json_decref(op->rows);
	json_decref(op->managers);
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
static void unanswered_on_now(struct db_conn *conn, PGresult *res, void *arg);

static void unanswered_on_locked(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;
	const char *zone[1] = { op->ctx->cfg->timezone };

	(void)conn;
	if (unanswered_step_failed(op, res, "its lock"))
		return;
	if (db_query(op->conn, DIGEST_SLOT_NOW_SQL, 1, zone, unanswered_on_now, op) < 0) {
		unanswered_fail(op, "the time of the next digest", NULL);
		unanswered_end(op);
	}
}

/* The database's local now places people's email in its digest slot (digest_slot.h); then the
 * candidates. */
static void unanswered_on_now(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;
	const char *params[2] = { op->as_of, op->enabled };
	const char *why = NULL;

	(void)conn;
	if (unanswered_step_failed(op, res, "the time of the next digest"))
		return;
	if (PQntuples(res) != 1 ||
	    digest_slot_make(op->ctx->cfg, op->hold_email, PQgetvalue(res, 0, 0),
			     PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), &op->slot, &why) < 0) {
		snprintf(op->error, sizeof(op->error), "escalating unanswered alerts: the time of "
			 "the next digest: %s", why ? why : "no answer");
		unanswered_end(op);
		return;
	}
	if (db_query(op->conn, op->sql_candidates, 2, params, unanswered_on_candidates, op) < 0) {
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

/* The service manager of the row's alert (unanswered_service_manager.sql, read into
 * op->managers), else head_of_service with *why saying which link of the chain is missing or
 * why the case data could not be read (RULES.md: "else head_of_service"). */
static const char *unanswered_service_manager(const struct unanswered_op *op, const char *key,
					      char *why, size_t n)
{
	const char *hos = op->ctx->cfg->addresses.head_of_service;
	json_t *m = op->managers ? json_object_get(op->managers, key) : NULL;
	const char *email = json_string_value(json_object_get(m, "email"));
	const char *reason = json_string_value(json_object_get(m, "why"));

	if (email)
		return email;
	if (!reason)
		reason = op->smgr_error[0] ? op->smgr_error : "not found in the case data";
	snprintf(why, n, "%.440s: sent to head_of_service%s", reason,
		 hos ? " instead" : ", which has no address configured either");
	return hos;
}

/* The address a configured role stands for, or NULL with *why. Recipient roles
 * (allocated_worker, supervisor, cp_chair) are the alert's own destinations already. */
static const char *unanswered_address(const struct unanswered_op *op, const char *role,
				      const char *key, char *why, size_t n)
{
	const struct dw_config *cfg = op->ctx->cfg;

	why[0] = '\0';
	if (strcmp(role, "head_of_service") == 0)
		return cfg->addresses.head_of_service;
	if (strcmp(role, "cp_manager") == 0)
		return cfg->addresses.cp_manager;
	if (strcmp(role, "service_manager") == 0)
		return unanswered_service_manager(op, key, why, n);
	return NULL;
}

static int unanswered_is_recipient_role(const char *role)
{
	return strcmp(role, "allocated_worker") == 0 || strcmp(role, "supervisor") == 0 ||
	       strcmp(role, "cp_chair") == 0;
}

static int unanswered_has_role(json_t *have, const char *role)
{
	size_t k;
	json_t *r;

	json_array_foreach(have, k, r)
		if (json_is_string(r) && strcmp(json_string_value(r), role) == 0)
			return 1;
	return 0;
}

/* RULES.md: "Nobody is ever silently dropped". An escalation role with no address (no
 * head_of_service configured, a supervisor with no supervisor above them) went to nobody new,
 * said only inside the stored event (audit 14); it goes to the fallback address instead, as a
 * rule's recipient does, and why says so. */
static const char *unanswered_or_fallback(const struct unanswered_op *op, const char *addr,
					  char *why, size_t n)
{
	const struct dw_config *cfg = op->ctx->cfg;
	size_t len = strlen(why);

	if (addr || !cfg->email.enabled || !cfg->addresses.fallback || !*cfg->addresses.fallback)
		return addr;
	snprintf(why + len, n - len, ": sent to addresses.fallback instead");
	return cfg->addresses.fallback;
}

/* have: the recipient roles among the alert's destinations. An escalation to one of them reaches
 * it already (the notice goes to the alert's recipients); to one the alert has not (its rule
 * notifies no cp_chair, say) it reaches nobody, and is said so rather than dropped. */
static int unanswered_add_roles(const struct unanswered_op *op, json_t *roles, json_t *have,
				const char *key, json_t *also, json_t *unresolved)
{
	size_t k;
	json_t *r;

	json_array_foreach(roles, k, r) {
		const char *role = json_string_value(r);
		char why[600];
		const char *addr;

		if (!role)
			continue;
		if (unanswered_is_recipient_role(role)) {
			if (!unanswered_has_role(have, role) &&
			    json_array_append_new(unresolved, json_pack(
				    "{s:s, s:s}", "role", role, "why", "this alert's rule does not "
				    "notify this role, so no address is known for it")) < 0)
				return -1;
			continue;
		}
		addr = unanswered_address(op, role, key, why, sizeof(why));
		if (addr && !op->ctx->cfg->email.enabled) {
			snprintf(why, sizeof(why), "no email section: nothing is mailed");
			addr = NULL;
		}
		if (!addr && !why[0])
			snprintf(why, sizeof(why), "no address configured for this role");
		addr = unanswered_or_fallback(op, addr, why, sizeof(why));
		if (why[0] && json_array_append_new(unresolved, json_pack("{s:s, s:s}", "role", role,
									"why", why)) < 0)
			return -1;
		if (addr && json_array_append_new(also, json_pack("{s:s, s:s, s:s}", "channel",
								  "email", "destination", addr,
								  "role", role)) < 0)
			return -1;
	}
	return 0;
}

static json_t *unanswered_roles(const char *const *to)
{
	json_t *roles = json_array();

	for (; roles && to && *to; to++)
		if (json_array_append_new(roles, json_string(*to)) < 0) {
			json_decref(roles);
			return NULL;
		}
	return roles;
}

/* One due stage, with its escalation roles (_roles) and child (child_id) until
 * unanswered_queue_rows settles their addresses; NULL when it is not due (or no policy entry
 * matches), with *bad set when out of memory. */
static json_t *unanswered_due_row(struct unanswered_op *op, const struct calendar *cal,
				  PGresult *res, int i, int *bad)
{
	const struct dw_config *cfg = op->ctx->cfg;
	const char *rule = PQgetvalue(res, i, 1), *stage = PQgetvalue(res, i, 2);
	struct escalation_due due;
	int32_t since;
	json_t *row, *roles, *have;

	*bad = 0;
	/* column 4 (count_from), not 3 (stage_since): an alert already firing when state v4
	 * arrived counts from the last evaluation before it (state_v4.sql says why) */
	if (calendar_day_parse(PQgetvalue(res, i, 4), &since) < 0 ||
	    escalation_due(cfg->responses.escalate, cfg->responses.n_escalate, cal, rule, stage,
			   since, &due) != 1 || due.due_day > op->day)
		return NULL;
	roles = unanswered_roles(due.to);
	have = json_loads(PQgetvalue(res, i, 6), 0, NULL);
	if (!json_is_array(have)) {
		json_decref(have);
		have = json_array();
	}
	row = roles && have ? json_pack("{s:I, s:s, s:s, s:i, s:o, s:o, s:o}", "alert_id",
					(json_int_t)strtoll(PQgetvalue(res, i, 0), NULL, 10),
					"stage", stage, "stage_since", PQgetvalue(res, i, 3),
					"working_days", due.after_working_days, "_roles", roles,
					"_have", have, "child_id",
					PQgetisnull(res, i, 5) ? json_null()
							       : json_string(PQgetvalue(res, i, 5)))
			    : NULL;
	if (!(roles && have)) {         /* json_pack took neither */
		json_decref(roles);
		json_decref(have);
	}
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

/* Settles each due row's escalation addresses (also, unresolved) and queues them all. */
static void unanswered_queue_rows(struct unanswered_op *op)
{
	size_t k;
	json_t *row;
	char *text = NULL;
	const char *params[8];
	int bad = 0;

	json_array_foreach(op->rows, k, row) {
		json_t *also = json_array(), *unresolved = json_array();
		char key[32];

		snprintf(key, sizeof(key), "%" JSON_INTEGER_FORMAT,
			 json_integer_value(json_object_get(row, "alert_id")));
		if (!also || !unresolved ||
		    unanswered_add_roles(op, json_object_get(row, "_roles"),
					 json_object_get(row, "_have"), key, also, unresolved) < 0) {
			json_decref(also);
			json_decref(unresolved);
			bad = 1;
			break;
		}
		json_object_del(row, "_roles");
		json_object_del(row, "_have");
		json_object_del(row, "child_id");
		bad = json_object_set_new(row, "also", also) < 0 ||
		      json_object_set_new(row, "unresolved", unresolved) < 0;
		if (bad)
			break;
	}
	if (!bad)
		text = json_dumps(op->rows, JSON_COMPACT);
	if (!text) {
		snprintf(op->error, sizeof(op->error), "escalating unanswered alerts: out of memory");
		unanswered_end(op);
		return;
	}
	params[0] = text;
	params[1] = op->as_of;
	params[2] = op->digest;
	digest_slot_params(&op->slot, op->ctx->cfg, params + 3);
	if (db_query(op->conn, op->sql_queue, 8, params, unanswered_on_queued, op) < 0) {
		unanswered_fail(op, "queueing its notices", NULL);
		unanswered_end(op);
	}
	free(text);
}

/* Why this alert's chain has no service manager to send to, or NULL when it has one. */
static const char *unanswered_chain_gap(PGresult *res, int i, char *why, size_t n)
{
	const char *email = PQgetisnull(res, i, 4) ? NULL : PQgetvalue(res, i, 4);
	const char *bad;

	if (PQgetisnull(res, i, 1))
		snprintf(why, n, "the child has no open allocation to a known worker");
	else if (PQgetisnull(res, i, 2))
		snprintf(why, n, "allocated worker %.120s has no supervisor (supervisor_id naming a "
			 "worker)", PQgetvalue(res, i, 1));
	else if (PQgetisnull(res, i, 3))
		snprintf(why, n, "supervisor %.120s has no supervisor of their own (supervisor_id "
			 "naming a worker)", PQgetvalue(res, i, 2));
	else if (!email || !email[0])
		snprintf(why, n, "service manager %.120s has no email address",
			 PQgetvalue(res, i, 3));
	else if (!mailaddr_usable(email, &bad))
		snprintf(why, n, "service manager %.120s: the address %s", PQgetvalue(res, i, 3),
			 bad ? bad : "is not usable");
	else
		return NULL;
	return why;
}

static void unanswered_on_restored(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;

	(void)conn;
	if (unanswered_step_failed(op, res, "the end of reading the service managers"))
		return;
	unanswered_queue_rows(op);
}

/* The case data unreadable (a view refused, a relation missing, a timeout) is not a reason to
 * stay silent: service_manager falls back to head_of_service with the error as its reason, as
 * does every alert the statement did not return. 1 when read, 0 when not, -1 out of memory. */
static int unanswered_read_managers(struct unanswered_op *op, struct db_conn *conn,
				    PGresult *res)
{
	int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok) {
		const char *why = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

		snprintf(op->smgr_error, sizeof(op->smgr_error), "the case data in schema %.64s "
			 "could not be read: %.300s", op->ctx->cfg->case_schema,
			 why ? why : db_error(conn));
		log_warn(op->ctx, "escalating unanswered alerts: service_manager: %s; sent to "
			 "head_of_service instead", op->smgr_error);
	}
	for (int i = 0; ok && op->managers && i < PQntuples(res); i++) {
		char why[400];
		const char *gap = unanswered_chain_gap(res, i, why, sizeof(why));
		json_t *m = gap ? json_pack("{s:s}", "why", gap)
				: json_pack("{s:s}", "email", PQgetvalue(res, i, 4));

		if (!m || json_object_set_new(op->managers, PQgetvalue(res, i, 0), m) < 0) {
			snprintf(op->error, sizeof(op->error), "escalating unanswered alerts: out of "
				 "memory");
			return -1;
		}
	}
	return ok;
}

/* In the state's transaction, under its savepoint (one database). */
static void unanswered_on_managers(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;
	int ok = unanswered_read_managers(op, conn, res);

	if (ok < 0) {
		unanswered_end(op);
		return;
	}
	if (db_query(op->conn, ok ? "RELEASE SAVEPOINT unanswered_service_manager"
				  : "ROLLBACK TO SAVEPOINT unanswered_service_manager",
		     0, NULL, unanswered_on_restored, op) < 0) {
		unanswered_fail(op, "the end of reading the service managers", NULL);
		unanswered_end(op);
	}
}

/* On the case data's own connection (state.conninfo): the state's transaction waits, and
 * nothing needs restoring there. */
static void unanswered_on_managers_apart(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;

	if (unanswered_read_managers(op, conn, res) < 0) {
		unanswered_end(op);
		return;
	}
	unanswered_queue_rows(op);
}

static void unanswered_on_savepoint(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;
	const char *params[2] = { op->smgr_param, op->as_of };

	(void)conn;
	if (unanswered_step_failed(op, res, "reading the service managers"))
		return;
	if (db_query(op->conn, op->sql_smgr, 2, params, unanswered_on_managers, op) < 0) {
		unanswered_fail(op, "reading the service managers", NULL);
		unanswered_end(op);
	}
}

/* [{alert_id, child_id}] of the due rows escalated to service_manager, as compact JSON; ""
 * when none is; NULL when out of memory. */
static char *unanswered_smgr_param(json_t *rows)
{
	json_t *want = json_array(), *row;
	size_t k;
	char *text;

	json_array_foreach(rows, k, row) {
		json_t *r;
		size_t j;
		int smgr = 0;

		json_array_foreach(json_object_get(row, "_roles"), j, r)
			smgr |= json_string_value(r) && strcmp(json_string_value(r),
							       "service_manager") == 0;
		if (smgr && want &&
		    json_array_append_new(want, json_pack("{s:O, s:O}", "alert_id",
							  json_object_get(row, "alert_id"),
							  "child_id",
							  json_object_get(row, "child_id"))) < 0) {
			json_decref(want);
			want = NULL;
		}
	}
	if (!want)
		return NULL;
	text = json_array_size(want) ? json_dumps(want, JSON_COMPACT) : strdup("");
	json_decref(want);
	return text;
}

static void unanswered_on_candidates(struct db_conn *conn, PGresult *res, void *arg)
{
	struct unanswered_op *op = arg;
	struct calendar cal = config_calendar(op->ctx->cfg);
	int bad = 0;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		unanswered_fail(op, "reading the unanswered alerts", res);
		unanswered_end(op);
		return;
	}
	op->st.candidates = PQntuples(res);
	op->rows = json_array();
	for (int i = 0; op->rows && !bad && i < PQntuples(res); i++) {
		json_t *row = unanswered_due_row(op, &cal, res, i, &bad);

		if (row && json_array_append_new(op->rows, row) < 0)
			bad = 1;
	}
	if (op->rows && !bad)
		op->smgr_param = unanswered_smgr_param(op->rows);
	op->managers = json_object();
	if (!op->rows || bad || !op->smgr_param || !op->managers) {
		snprintf(op->error, sizeof(op->error), "escalating unanswered alerts: out of memory");
		unanswered_end(op);
		return;
	}
	if (json_array_size(op->rows) == 0) {
		unanswered_end(op);
		return;
	}
	if (!op->smgr_param[0]) {
		unanswered_queue_rows(op);
		return;
	}
	if (op->case_conn) {
		const char *params[2] = { op->smgr_param, op->as_of };

		if (db_query(op->case_conn, op->sql_smgr, 2, params, unanswered_on_managers_apart,
			     op) < 0)
			unanswered_on_managers_apart(op->case_conn, NULL, op);
		return;
	}
	if (db_query(op->conn, "SAVEPOINT unanswered_service_manager", 0, NULL,
		     unanswered_on_savepoint, op) < 0) {
		unanswered_fail(op, "reading the service managers", NULL);
		unanswered_end(op);
	}
}

/* The rules turned on, as a text[] literal: a rule turned off keeps its alerts as they were,
 * and nobody is chased for an answer to what driftwatch no longer looks at. */
static char *unanswered_enabled_rules(const struct dw_config *cfg)
{
	const char *names[RULE_REGISTRY_MAX];
	size_t n = 0;

	for (size_t i = 0; i < cfg->n_rules && n < RULE_REGISTRY_MAX; i++)
		if (cfg->rules[i].enabled)
			names[n++] = cfg->rules[i].def->name;
	return strbuf_text_array(names, n);
}

int unanswered_run(struct dw_ctx *ctx, struct db_conn *conn, struct db_conn *case_conn,
		   const char *as_of, int hold_email, const char *digest_key,
		   unanswered_done_cb cb, void *arg)
{
	struct unanswered_op *op = calloc(1, sizeof(*op));
	char *ident;

	if (!op)
		return -1;
	op->ctx = ctx;
	op->conn = conn;
	op->case_conn = case_conn != conn ? case_conn : NULL;
	op->cb = cb;
	op->arg = arg;
	op->hold_email = hold_email;
	snprintf(op->as_of, sizeof(op->as_of), "%s", as_of);
	/* with the evaluation's news in one digest per person; else one of its own */
	if (digest_key && *digest_key)
		snprintf(op->digest, sizeof(op->digest), "%s", digest_key);
	else
		digest_slot_eval_key(op->digest, sizeof(op->digest), as_of, "-unanswered");
	ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	if (ident) {
		op->sql_candidates = strbuf_subst(sql_unanswered_candidates, "@state@", ident);
		op->sql_queue = strbuf_subst(sql_unanswered_queue, "@state@", ident);
	}
	free(ident);
	ident = db_escape_identifier(conn, ctx->cfg->case_schema);
	if (ident)
		op->sql_smgr = case_columns_sql(sql_unanswered_service_manager, ident,
					       ctx->case_withheld);
	free(ident);
	op->enabled = unanswered_enabled_rules(ctx->cfg);
	if (calendar_day_parse(as_of, &op->day) < 0 || !op->sql_candidates || !op->sql_queue ||
	    !op->sql_smgr || !op->enabled ||
	    db_query(conn, "BEGIN", 0, NULL, unanswered_on_begun, op) < 0) {
		unanswered_free(op);
		return -1;
	}
	return 0;
}
