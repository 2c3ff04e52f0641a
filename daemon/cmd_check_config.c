/* cmd_check_config: proves the configured database has the contract, naming what is wrong. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "driftwatch/cmd.h"
#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/credentials.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/errlist.h"
#include "driftwatch/grants.h"
#include "driftwatch/linktoken.h"
#include "driftwatch/log.h"
#include "driftwatch/mail.h"
#include "driftwatch/rule.h"
#include "driftwatch/secret.h"
#include "driftwatch/state.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/web_tokens.h"
#include "driftwatch/webhook.h"

struct check_run {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	struct db_conn *state_conn;  /* state.conninfo, when the state is in a database of its own */
	struct errlist problems;
	struct errlist warnings;     /* worth fixing, but the daemon runs */
	struct errlist notes;  /* advice that does not fail the check: missing indexes */
	int reached;          /* the database answered the catalogue query */
	int tz_ok;
};

static void check_done(struct check_run *cr)
{
	event_base_loopbreak(cr->ctx->base);
}

static void check_state_rows(struct check_run *cr, struct db_conn *conn, PGresult *res)
{
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		errlist_add(&cr->problems, "%s: database.state_schema: could not check the grants "
			    "on %s: %s", cr->ctx->cfg->path, cr->ctx->cfg->state_schema,
			    res ? PQresultErrorMessage(res) : db_error(conn));
		return;
	}
	for (int r = 0; r < PQntuples(res); r++)
		errlist_add(&cr->problems, "%s: database.state_schema: %s: %s", cr->ctx->cfg->path,
			    PQgetvalue(res, r, 0), PQgetvalue(res, r, 1));
}

static void check_on_own_state(struct db_conn *conn, PGresult *res, void *arg)
{
	struct check_run *cr = arg;

	check_state_rows(cr, conn, res);
	check_done(cr);
}

static void check_on_state_connect(struct db_conn *conn, int ok, void *arg)
{
	struct check_run *cr = arg;
	const char *params[2] = { cr->ctx->cfg->state_schema, STATE_VERSION_TEXT };

	if (!ok) {
		errlist_add(&cr->problems, "%s: state.conninfo: could not connect: %s",
			    cr->ctx->cfg->path, db_error(conn));
		check_done(cr);
		return;
	}
	if (db_query(conn, sql_check_state, 2, params, check_on_own_state, cr) < 0) {
		errlist_add(&cr->problems, "%s: state.conninfo: %s", cr->ctx->cfg->path,
			    db_error(conn));
		check_done(cr);
	}
}

/* The state in a database of its own (state.conninfo): its grants are checked there, last. */
static void check_on_grants(void *arg)
{
	struct check_run *cr = arg;
	const struct dw_config *cfg = cr->ctx->cfg;

	if (!cfg->state_conninfo) {
		check_done(cr);
		return;
	}
	cr->state_conn = db_conn_new(cr->ctx->base, cfg->state_conninfo, cr->ctx->log_level);
	if (!cr->state_conn) {
		check_done(cr);
		return;
	}
	db_set_query_timeout(cr->state_conn, cfg->query_timeout_s);
	if (db_connect(cr->state_conn, check_on_state_connect, cr) < 0) {
		errlist_add(&cr->problems, "%s: state.conninfo: %s", cfg->path,
			    db_error(cr->state_conn));
		check_done(cr);
	}
}

/* Last: more privilege than needed is a warning, said whatever else is wrong. */
static void check_grants(struct check_run *cr)
{
	if (grants_check_excess(cr->ctx, cr->conn, "database.conninfo", &cr->warnings,
				check_on_grants, cr) < 0)
		check_done(cr);
}

static void check_on_rls(struct db_conn *conn, PGresult *res, void *arg)
{
	struct check_run *cr = arg;

	(void)conn;
	for (int r = 0; res && PQresultStatus(res) == PGRES_TUPLES_OK && r < PQntuples(res); r++)
		errlist_add(&cr->warnings, "%s: database.case_schema: warning: %s", cr->ctx->cfg->path,
			    PQgetvalue(res, r, 0));
	check_grants(cr);
}

/* Row-level security that may hide children from the rules. */
static void check_rls(struct check_run *cr)
{
	if (contract_ask_rls(cr->ctx, cr->conn, check_on_rls, cr) < 0)
		check_grants(cr);
}

static void check_on_categories(struct db_conn *conn, PGresult *res, void *arg)
{
	struct check_run *cr = arg;
	const struct config_rule *shared = config_categories_rule(cr->ctx->cfg);
	char key[128];

	(void)conn;
	/* a cp_plans missing or unreadable was said by the contract check */
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		check_rls(cr);
		return;
	}
	if (shared)
		snprintf(key, sizeof(key), "rules.%s.neglect_categories", shared->def->name);
	else
		snprintf(key, sizeof(key), "rules.cp_neglect_duration.neglect_categories (unset: "
			 "[\"NEG\"])");
	for (int r = 0; r < PQntuples(res); r++)
		errlist_add(&cr->warnings, "%s: %s: warning: no plan in %s.cp_plans has the category "
			    "\"%s\" (initial or latest), so the CP neglect rules find nothing by it: "
			    "is it the code the case system uses? (the census codes are NEG, PHY, "
			    "EMO, SAB and MUL)", cr->ctx->cfg->path, key, cr->ctx->cfg->case_schema,
			    PQgetvalue(res, r, 0));
	check_rls(cr);
}

/* A neglect category no CP plan has is most likely a typo or another system's code: the
 * rules then find no CP neglect at all, without a word. Said only when cp_plans has rows. */
static void check_categories(struct check_run *cr)
{
	char *schema = db_escape_identifier(cr->conn, cr->ctx->cfg->case_schema);
	char *list = config_categories_param(cr->ctx->cfg, NULL);
	char *sql = NULL;
	struct strbuf sb;
	const char *params[1] = { list };

	strbuf_init(&sb);
	if (schema)
		strbuf_printf(&sb, "SELECT c FROM unnest($1::text[]) c WHERE EXISTS (SELECT 1 FROM "
			      "%s.cp_plans) AND NOT EXISTS (SELECT 1 FROM %s.cp_plans p WHERE "
			      "p.initial_category = c OR p.latest_category = c)", schema, schema);
	sql = strbuf_take(&sb);
	if (!sql || !list || db_query(cr->conn, sql, 1, params, check_on_categories, cr) < 0)
		check_rls(cr);
	free(sql);
	free(list);
	free(schema);
}

/* Missing indexes are advice: without them an evaluation of a few children reads whole
 * relations, but every evaluation still works. */
static void check_on_indexes(struct db_conn *conn, PGresult *res, void *arg)
{
	struct check_run *cr = arg;
	char *schema = db_escape_identifier(conn, cr->ctx->cfg->case_schema);
	const char **rows;
	int n;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || !schema) {
		errlist_add(&cr->notes, "could not list the indexes of schema \"%s\": %s",
			    cr->ctx->cfg->case_schema, res ? PQresultErrorMessage(res) : db_error(conn));
		free(schema);
		check_categories(cr);
		return;
	}
	n = PQntuples(res);
	rows = calloc((size_t)n * 3 + 1, sizeof(*rows));
	if (rows) {
		for (int r = 0; r < n; r++)
			for (int c = 0; c < 3; c++)
				rows[r * 3 + c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
		contract_index_advice(schema, rows, (size_t)n, &cr->notes);
	}
	free(rows);
	free(schema);
	check_categories(cr);
}

static void check_on_state(struct db_conn *conn, PGresult *res, void *arg)
{
	struct check_run *cr = arg;
	const char *params[1] = { cr->ctx->cfg->case_schema };

	check_state_rows(cr, conn, res);
	if (db_query(conn, contract_index_sql, 1, params, check_on_indexes, cr) < 0)
		check_grants(cr);
}

static void check_on_timezone(struct db_conn *conn, PGresult *res, void *arg)
{
	struct check_run *cr = arg;
	const char *params[2] = { cr->ctx->cfg->state_schema, STATE_VERSION_TEXT };
	const char *case_params[1] = { cr->ctx->cfg->case_schema };

	cr->tz_ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
		    !PQgetisnull(res, 0, 0);
	if (!cr->tz_ok)
		errlist_add(&cr->problems, "%s: timezone: PostgreSQL does not know the zone \"%s\"",
			    cr->ctx->cfg->path, cr->ctx->cfg->timezone);
	/* the state is written: a read-only standby can hold the case data only (--once failed
	 * at "cannot execute TRUNCATE TABLE in a read-only transaction", naming neither) */
	if (res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	    strcmp(PQgetvalue(res, 0, 1), "t") == 0 && !cr->ctx->cfg->state_conninfo)
		errlist_add(&cr->problems, "%s: database.conninfo: the server is a hot standby, "
			    "read-only, and the state schema (alerts, outbox) must be written: set "
			    "state.conninfo to the primary (README, \"Case data from a hot standby\")",
			    cr->ctx->cfg->path);
	/* the state's grants are checked where the state is: check_on_grants */
	if (cr->ctx->cfg->state_conninfo) {
		if (db_query(conn, contract_index_sql, 1, case_params, check_on_indexes, cr) < 0)
			check_grants(cr);
		return;
	}
	if (db_query(conn, sql_check_state, 2, params, check_on_state, cr) < 0)
		check_done(cr);
}

static void check_after_empty(void *arg)
{
	struct check_run *cr = arg;
	const char *params[1] = { cr->ctx->cfg->timezone };

	if (db_query(cr->conn, "SELECT (SELECT name FROM pg_timezone_names WHERE name = $1), "
		     "pg_catalog.pg_is_in_recovery()", 1, params, check_on_timezone, cr) < 0)
		check_done(cr);
}

/* The contract compared with the catalogue, each problem said with the file and the key that
 * chose the schema: nine lines "relation casewrk.teams: missing" did not say that the key was
 * what was wrong (audit 16). */
static void check_contract(struct check_run *cr, const char *const *rows, size_t n)
{
	struct errlist found = { NULL, 0, 0 };

	contract_compare(cr->ctx->cfg->case_schema, rows, n, &found);
	for (size_t i = 0; i < found.n; i++)
		errlist_add(&cr->problems, "%s: database.case_schema: %s", cr->ctx->cfg->path,
			    found.msgs[i]);
	errlist_free(&found);
}

static void check_on_catalog(struct db_conn *conn, PGresult *res, void *arg)
{
	struct check_run *cr = arg;
	int n;
	const char **rows;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_err(cr->ctx, "database (%s): could not read the catalogue: %s", cr->ctx->cfg->path,
			res ? PQresultErrorMessage(res) : db_error(conn));
		check_done(cr);
		return;
	}
	cr->reached = 1;
	n = PQntuples(res);
	rows = calloc((size_t)n * 4 + 1, sizeof(*rows));
	if (!rows) {
		log_err(cr->ctx, "out of memory");
		check_done(cr);
		return;
	}
	for (int r = 0; r < n; r++)
		for (int c = 0; c < 4; c++)
			rows[r * 4 + c] = PQgetvalue(res, r, c);
	check_contract(cr, rows, (size_t)n);
	free(rows);
	if (n > 0 && strcmp(PQgetvalue(res, 0, 4), "t") != 0)
		errlist_add(&cr->problems, "%s: database.case_schema: schema %s: this user may not "
			    "use it (every rule would fail with \"permission denied for schema\"): "
			    "GRANT USAGE ON SCHEMA %s TO the role in database.conninfo",
			    cr->ctx->cfg->path, cr->ctx->cfg->case_schema, cr->ctx->cfg->case_schema);
	/* An empty relation is a warning, not a problem: an authority may truly have none yet. */
	if (contract_check_empty(cr->ctx, conn, &cr->warnings, &cr->notes, &cr->problems,
				 check_after_empty, cr) < 0)
		check_after_empty(cr);
}

static void check_on_connect(struct db_conn *conn, int ok, void *arg)
{
	struct check_run *cr = arg;
	const char *params[1] = { cr->ctx->cfg->case_schema };

	if (!ok) {
		log_err(cr->ctx, "database (%s: database.conninfo): %s", cr->ctx->cfg->path,
			db_error(conn));
		check_done(cr);
		return;
	}
	if (db_query(conn, contract_catalog_sql, 1, params, check_on_catalog, cr) < 0) {
		log_err(cr->ctx, "database: %s", db_error(conn));
		check_done(cr);
	}
}

/* What the configuration allows but a council would not want, said before it matters. */
static void check_warnings(const struct dw_config *cfg, struct errlist *w)
{
	if (!cfg->addresses.fallback)
		errlist_add(w, "%s: addresses.fallback: warning: not set, so an alert with no "
			    "reachable recipient (no open allocation, a worker with no usable email) "
			    "goes to nobody and is only counted; set it to the front door or duty "
			    "team", cfg->path);
	if (!cfg->email.enabled)
		errlist_add(w, "%s: email: warning: no email section, so nobody is emailed: alerts "
			    "go to the configured webhooks only", cfg->path);
	if (config_email_clear_remote(&cfg->email))
		errlist_add(w, "%s: email.tls: warning: \"none\" to a host that is not a loopback "
			    "address sends mail and the SMTP password in clear text across the network: "
			    "\"none\" is only for a relay on the same host; use \"starttls\"",
			    cfg->path);
}

/* What a secret file must hold beyond being a readable, non-empty file. */
enum secret_kind { SECRET_TEXT, SECRET_WHSEC, SECRET_LINK, SECRET_TOKENS };

/* The secret's form, as its user will check it: 0, or -1 with err filled. */
static int check_secret_form(enum secret_kind kind, const char *path, const char *text,
			     char *err, size_t errsz)
{
	struct webhook_secret ws;
	struct linktoken_key key;
	struct web_tokens *tokens;

	switch (kind) {
	case SECRET_WHSEC:
		if (webhook_secret_parse(text, path, &ws, err, errsz) < 0)
			return -1;
		webhook_secret_clear(&ws);
		return 0;
	case SECRET_LINK:
		if (linktoken_key_load(&key, path, err, errsz) < 0)
			return -1;
		linktoken_key_clear(&key);
		return 0;
	case SECRET_TOKENS:
		if (web_tokens_parse(text, &tokens, err, errsz) < 0)
			return -1;
		web_tokens_free(tokens);
		return 0;
	case SECRET_TEXT:
		break;
	}
	return 0;
}

/* A secret file as the daemon will read it: a regular, non-empty file (a FIFO or a device is
 * refused, not waited on), a webhook key in the Standard Webhooks form, a link secret long
 * enough; readable by everyone is only a warning. A "credential:NAME" not resolved here (see
 * CONFIG_LOAD_CHECK) is skipped. */
static void check_secret(struct check_run *cr, const char *key, const char *path,
			 enum secret_kind kind)
{
	char err[512], *text;

	if (!path || credentials_is_reference(path))
		return;
	if (secret_read(path, &text, err, sizeof(err)) < 0) {
		errlist_add(&cr->problems, "%s: %s: %s", cr->ctx->cfg->path, key, err);
		return;
	}
	if (check_secret_form(kind, path, text, err, sizeof(err)) < 0)
		errlist_add(&cr->problems, "%s: %s: %s", cr->ctx->cfg->path, key, err);
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	if (secret_world_readable(path))
		errlist_add(&cr->warnings, "%s: %s: warning: %s is readable by every user of this "
			    "machine: chmod o-r it (or hand it over with systemd's LoadCredential=)",
			    cr->ctx->cfg->path, key, path);
}

/* A CA bundle is not secret, but it must be there to read when the first email goes; the
 * daemon's start checks it the same way (mail_ca_file_check). */
static void check_ca_file(struct check_run *cr, const char *path)
{
	char err[512];

	if (!path || credentials_is_reference(path))
		return;
	if (mail_ca_file_check(path, err, sizeof(err)) < 0)
		errlist_add(&cr->problems, "%s: %s", cr->ctx->cfg->path, err);
}

static void check_files(struct check_run *cr)
{
	const struct dw_config *cfg = cr->ctx->cfg;
	char key[64];

	for (size_t i = 0; i < cfg->n_webhooks; i++) {
		snprintf(key, sizeof(key), "webhooks[%zu].secret_file", i);
		check_secret(cr, key, cfg->webhooks[i].secret_file, SECRET_WHSEC);
	}
	check_secret(cr, "team_webhook_secret_file", cfg->team_webhook_secret_file, SECRET_WHSEC);
	check_secret(cr, "web.link_secret_file", cfg->web.link_secret_file, SECRET_LINK);
	/* without it every API client is refused (401), though the daemon starts */
	check_secret(cr, "web.api_tokens_file", cfg->web.api_tokens_file, SECRET_TOKENS);
	if (cfg->email.enabled) {
		check_secret(cr, "email.password_file", cfg->email.password_file, SECRET_TEXT);
		check_ca_file(cr, cfg->email.ca_file);
	}
}

int cmd_check_config(struct dw_ctx *ctx)
{
	struct check_run cr = { ctx, NULL, NULL, { NULL, 0, 0 }, { NULL, 0, 0 }, { NULL, 0, 0 }, 0, 0 };
	int status;

	check_warnings(ctx->cfg, &cr.warnings);
	check_files(&cr);
	for (size_t i = 0; i < ctx->cfg->notes.n; i++)
		fprintf(stderr, "%s\n", ctx->cfg->notes.msgs[i]);
	cr.conn = db_conn_new(ctx->base, ctx->cfg->conninfo, ctx->log_level);
	if (!cr.conn)
		return 1;
	db_set_query_timeout(cr.conn, ctx->cfg->query_timeout_s);
	if (db_connect(cr.conn, check_on_connect, &cr) < 0)
		log_err(ctx, "database (%s: database.conninfo): %s", ctx->cfg->path,
			db_error(cr.conn));
	else
		event_base_dispatch(ctx->base);
	for (size_t i = 0; i < cr.warnings.n; i++)
		fprintf(stderr, "%s\n", cr.warnings.msgs[i]);
	for (size_t i = 0; i < cr.problems.n; i++)
		fprintf(stderr, "%s\n", cr.problems.msgs[i]);
	for (size_t i = 0; i < cr.notes.n; i++)
		printf("%s: %s\n", ctx->cfg->path, cr.notes.msgs[i]);
	if (!cr.reached)
		status = 1;
	else if (cr.problems.n)
		status = 2;
	else
		status = 0;
	if (status == 0)
		printf("%s: configuration and the contract in schema \"%s\" are good\n", ctx->cfg->path,
		       ctx->cfg->case_schema);
	else if (cr.reached)
		fprintf(stderr, "%s: %zu problems found\n", ctx->cfg->path, cr.problems.n);
	errlist_free(&cr.problems);
	errlist_free(&cr.warnings);
	errlist_free(&cr.notes);
	db_conn_free(cr.conn);
	db_conn_free(cr.state_conn);
	return status;
}
