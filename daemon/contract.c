/* contract: what --check-config compares the case schema against; the comparisons are pure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/config.h"
#include "driftwatch/case_columns.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/errlist.h"
#include "driftwatch/log.h"
#include "driftwatch/strbuf.h"

static const struct contract_column columns[] = {
	{ "teams", "team_id", CONTRACT_TEXT },
	{ "teams", "name", CONTRACT_TEXT },
	{ "teams", "manager_email", CONTRACT_TEXT },
	{ "teams", "webhook_url", CONTRACT_TEXT },
	{ "workers", "worker_id", CONTRACT_TEXT },
	{ "workers", "display_name", CONTRACT_TEXT },
	{ "workers", "email", CONTRACT_TEXT },
	{ "workers", "team_id", CONTRACT_TEXT },
	{ "workers", "supervisor_id", CONTRACT_TEXT },
	{ "workers", "role", CONTRACT_TEXT },
	{ "children", "child_id", CONTRACT_TEXT },
	{ "children", "family_id", CONTRACT_TEXT },
	{ "children", "date_of_birth", CONTRACT_DATE },
	{ "children", "expected_dob", CONTRACT_DATE },
	{ "children", "disability", CONTRACT_BOOL },
	{ "allocations", "allocation_id", CONTRACT_TEXT },
	{ "allocations", "child_id", CONTRACT_TEXT },
	{ "allocations", "worker_id", CONTRACT_TEXT },
	{ "allocations", "start_date", CONTRACT_DATE },
	{ "allocations", "end_date", CONTRACT_DATE },
	{ "referrals", "referral_id", CONTRACT_TEXT },
	{ "referrals", "child_id", CONTRACT_TEXT },
	{ "referrals", "referral_date", CONTRACT_DATE },
	{ "referrals", "primary_need", CONTRACT_TEXT },
	{ "referrals", "neglect", CONTRACT_BOOL },
	{ "referrals", "closure_date", CONTRACT_DATE },
	{ "referrals", "closure_reason", CONTRACT_TEXT },
	{ "cin_plans", "plan_id", CONTRACT_TEXT },
	{ "cin_plans", "child_id", CONTRACT_TEXT },
	{ "cin_plans", "start_date", CONTRACT_DATE },
	{ "cin_plans", "end_date", CONTRACT_DATE },
	{ "cin_plans", "neglect", CONTRACT_BOOL },
	{ "cp_plans", "plan_id", CONTRACT_TEXT },
	{ "cp_plans", "child_id", CONTRACT_TEXT },
	{ "cp_plans", "start_date", CONTRACT_DATE },
	{ "cp_plans", "end_date", CONTRACT_DATE },
	{ "cp_plans", "initial_category", CONTRACT_TEXT },
	{ "cp_plans", "latest_category", CONTRACT_TEXT },
	{ "cp_plans", "chair_id", CONTRACT_TEXT },
	{ "appointments", "appointment_id", CONTRACT_TEXT },
	{ "appointments", "child_id", CONTRACT_TEXT },
	{ "appointments", "service", CONTRACT_TEXT },
	{ "appointments", "scheduled_for", CONTRACT_TIMESTAMPTZ },
	{ "appointments", "outcome", CONTRACT_TEXT },
	{ "strategies", "strategy_id", CONTRACT_TEXT },
	{ "strategies", "child_id", CONTRACT_TEXT },
	{ "strategies", "kind", CONTRACT_TEXT },
	{ "strategies", "decided_on", CONTRACT_DATE },
	{ "strategies", "review_by", CONTRACT_DATE },
};

static const char *const type_names[] = { "text", "date", "boolean", "timestamp with time zone" };

/* What reading another type risks, said with it: the rules read most types as they are (a
 * one-shot run with a timestamp for a date runs), so "not usable" was not true (audit 12, F7);
 * what is true is that the answers can be wrong, which is why it stays a problem. The words
 * depend on what the column is as well as on what it should be: a text date does not move a
 * day, it fails the rules that read it (audit 17). */
static int type_is_text(const char *t)
{
	return contract_type_usable(CONTRACT_TEXT, t);
}

static const char *type_risk(enum contract_type want, const char *actual)
{
	switch (want) {
	case CONTRACT_TEXT:
		if (strncmp(actual, "enum ", 5) == 0)
			return "its labels are read as text, which gives the same answers (cast it "
			       "to text in the view)";
		/* Every statement reads an id as text (rules/rows_*.sql, daemon/sql/case_*.sql), so
		 * an integer or a uuid gives the alerts its text would; what is lost is an index on
		 * it for a few children's evaluation, and a number's text is not always the id
		 * people see (leading zeros). */
		return "it is read as text, which gives the same alerts when its text is the id "
		       "people know, but no index on it serves a few children's evaluation (cast it "
		       "to text in the view)";
	case CONTRACT_DATE:
		if (strncmp(actual, "timestamp", 9) == 0)
			return "a time of day moves a day across the rules' boundaries, and shows in "
			       "the facts (cast it to date in the view)";
		if (type_is_text(actual))
			return "a date held as text cannot be compared with dates: the rules that "
			       "read it fail (cast it to date in the view)";
		break;
	case CONTRACT_BOOL:
		return "the rules test it as true or false (cast it to boolean in the view)";
	case CONTRACT_TIMESTAMPTZ:
		if (strcmp(actual, "timestamp without time zone") == 0)
			return "a time without its zone is read in the server's (cast it to "
			       "timestamptz in the view)";
		if (strcmp(actual, "date") == 0)
			return "a date has no time of day: it is read as midnight in the server's "
			       "time zone, not in \"timezone\" (cast it to timestamptz in the view)";
		if (type_is_text(actual))
			return "a time held as text cannot be compared with times: the rules that "
			       "read it fail (cast it to timestamptz in the view)";
		break;
	}
	return "the rules that read it may fail or read it wrongly (cast it in the view)";
}

/* From pg_catalog, not information_schema: information_schema hides a relation this role may
 * not read, which would be reported as missing instead of as a grant to give. Types are named
 * as information_schema names them (contract_type_usable), domains by their base type,
 * an enum as "enum NAME" (its labels are read as text: type_risk). */
const char contract_catalog_sql[] =
	"SELECT c.relname::text, a.attname::text, "
	"       CASE WHEN bt.typtype = 'e' THEN 'enum ' || format_type(bt.oid, NULL) "
	"            ELSE CASE bt.typname WHEN 'text' THEN 'text' "
	"            WHEN 'varchar' THEN 'character varying' "
	"            WHEN 'bpchar' THEN 'character' WHEN 'date' THEN 'date' "
	"            WHEN 'bool' THEN 'boolean' WHEN 'timestamptz' THEN 'timestamp with time zone' "
	"            WHEN 'timestamp' THEN 'timestamp without time zone' "
	"            ELSE format_type(bt.oid, NULL) END END, "
	"       has_column_privilege(c.oid, a.attnum, 'SELECT'), "
	/* a SELECT grant is nothing without USAGE on the schema: every rule fails on it */
	"       has_schema_privilege(n.oid, 'USAGE') "
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
	"JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
	"JOIN pg_type t ON t.oid = a.atttypid "
	"JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'f', 'p') "
	"ORDER BY 1, 2";

const struct contract_column *contract_columns(size_t *n)
{
	*n = sizeof(columns) / sizeof(columns[0]);
	return columns;
}

/* Identifiers are text in the contract, but a varchar or char column holds them as well. A
 * date must be a date: a timestamp would compare by instant and shift days. */
int contract_type_usable(enum contract_type want, const char *data_type)
{
	switch (want) {
	case CONTRACT_TEXT:
		/* citext too (its schema may qualify it): every column is read as text COLLATE "C",
		 * so its case-insensitive equality plays no part (audit 12, F7) */
		return strcmp(data_type, "text") == 0 ||
		       strcmp(data_type, "character varying") == 0 ||
		       strcmp(data_type, "character") == 0 || strcmp(data_type, "citext") == 0 ||
		       (strlen(data_type) > 7 &&
			strcmp(data_type + strlen(data_type) - 7, ".citext") == 0);
	case CONTRACT_DATE:
		return strcmp(data_type, "date") == 0;
	case CONTRACT_BOOL:
		return strcmp(data_type, "boolean") == 0;
	case CONTRACT_TIMESTAMPTZ:
		return strcmp(data_type, "timestamp with time zone") == 0;
	}
	return 0;
}

/* rows is n_rows * 4 strings: relation, column, data_type, can_select ("t"/"f"). */
static const char *const *find_row(const char *const *rows, size_t n_rows, const char *rel,
				   const char *col)
{
	for (size_t i = 0; i < n_rows; i++) {
		const char *const *r = rows + i * 4;

		if (strcmp(r[0], rel) == 0 && (!col || strcmp(r[1], col) == 0))
			return r;
	}
	return NULL;
}

/* Whether this user may SELECT some column of rel (a relation-level grant gives every one). */
static int contract_any_selectable(const char *const *rows, size_t n_rows, const char *rel)
{
	for (size_t i = 0; i < n_rows; i++)
		if (strcmp(rows[i * 4], rel) == 0 && strcmp(rows[i * 4 + 3], "t") == 0)
			return 1;
	return 0;
}

size_t contract_compare(const char *schema, const char *const *rows, size_t n_rows,
			struct errlist *errs)
{
	size_t problems = 0;
	const char *last_missing = "";

	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
		const struct contract_column *c = &columns[i];
		const char *const *rel = find_row(rows, n_rows, c->relation, NULL);
		const char *const *r;

		if (!rel) {
			/* One message per missing relation, not one per column of it. */
			if (strcmp(last_missing, c->relation) != 0) {
				errlist_add(errs, "relation %s.%s: missing (or not visible to this user)",
					    schema, c->relation);
				problems++;
				last_missing = c->relation;
			}
			continue;
		}
		if ((i == 0 || strcmp(columns[i - 1].relation, c->relation) != 0) &&
		    !contract_any_selectable(rows, n_rows, c->relation)) {
			errlist_add(errs, "relation %s.%s: this user may not SELECT from it (the "
				    "rules that read it would fail): GRANT SELECT ON %s.%s TO "
				    "the role in database.conninfo", schema, c->relation, schema,
				    c->relation);
			problems++;
		}
		r = find_row(rows, n_rows, c->relation, c->column);
		/* a column-level grant that leaves one out: the rules that read the relation fail
		 * with "permission denied for table", which names no column */
		if (r && strcmp(r[3], "t") != 0 &&
		    contract_any_selectable(rows, n_rows, c->relation) &&
		    case_columns_cost(c->relation, c->column)) {
			errlist_add(errs, "column %s.%s.%s: this user may not SELECT it (%s): GRANT "
				    "SELECT (%s) ON %s.%s TO the role in database.conninfo", schema,
				    c->relation, c->column, case_columns_cost(c->relation, c->column),
				    c->column, schema, c->relation);
			problems++;
		} else if (r && strcmp(r[3], "t") != 0 &&
		    contract_any_selectable(rows, n_rows, c->relation)) {
			errlist_add(errs, "column %s.%s.%s: this user may not SELECT it (the rules that "
				    "read %s would fail): GRANT SELECT (%s) ON %s.%s TO the role in "
				    "database.conninfo", schema, c->relation, c->column, c->relation,
				    c->column, schema, c->relation);
			problems++;
		}
		if (!r) {
			errlist_add(errs, "column %s.%s.%s: missing (want %s)", schema, c->relation,
				    c->column, type_names[c->type]);
			problems++;
			continue;
		}
		if (!contract_type_usable(c->type, r[2])) {
			errlist_add(errs, "column %s.%s.%s: type %s is not the contract's %s: %s",
				    schema, c->relation, c->column, r[2], type_names[c->type],
				    type_risk(c->type, r[2]));
			problems++;
		}
	}
	return problems;
}

/* The contract's columns whose type is outside it, one bit each in contract_columns() order:
 * the server's error of a rule that reads one ("function isfinite(text) does not exist")
 * names no column, so the daemon says which with it (audit 17). */
uint64_t contract_mistyped(const char *const *rows, size_t n_rows)
{
	uint64_t set = 0;

	_Static_assert(sizeof(columns) / sizeof(columns[0]) <= 64, "one bit a column");
	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]); i++) {
		const char *const *r = find_row(rows, n_rows, columns[i].relation, columns[i].column);

		if (r && !contract_type_usable(columns[i].type, r[2]))
			set |= (uint64_t)1 << i;
	}
	return set;
}

size_t contract_mistyped_say(uint64_t set, const char *schema, const char *relation, char *buf,
			     size_t size)
{
	size_t at = 0, n = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < sizeof(columns) / sizeof(columns[0]) && at < size; i++) {
		if (!(set & ((uint64_t)1 << i)) || strcmp(columns[i].relation, relation) != 0)
			continue;
		at += (size_t)snprintf(buf + at, size - at, "%s%s.%s.%s", n++ ? ", " : "", schema,
				       relation, columns[i].column);
	}
	return n;
}

/* ---- recommended indexes (rules/contract_indexes.sql; keep the two alike) ---- */

static const struct contract_index indexes[] = {
	{ "teams", "teams_team_id_idx", "(team_id)", "team_id", NULL },
	{ "workers", "workers_worker_id_idx", "(worker_id)", "worker_id", NULL },
	{ "children", "children_child_id_idx", "(child_id)", "child_id", NULL },
	{ "allocations", "allocations_child_start_idx", "(child_id, start_date)", "child_id", NULL },
	{ "allocations", "allocations_worker_idx", "(worker_id)", "worker_id", NULL },
	{ "referrals", "referrals_child_date_idx", "(child_id, referral_date)", "child_id", NULL },
	{ "cin_plans", "cin_plans_child_start_idx", "(child_id, start_date)", "child_id", NULL },
	{ "cp_plans", "cp_plans_child_start_idx", "(child_id, start_date)", "child_id", NULL },
	{ "appointments", "appointments_child_sched_idx", "(child_id, scheduled_for)", "child_id",
	  NULL },
	{ "strategies", "strategies_child_idx", "(child_id, decided_on)", "child_id", NULL },
	{ "appointments", "appointments_not_brought_idx", "(scheduled_for)", "scheduled_for",
	  "outcome = 'was_not_brought'" },
};

#define CONTRACT_N_INDEXES (sizeof(indexes) / sizeof(indexes[0]))

const struct contract_index *contract_indexes(size_t *n)
{
	*n = CONTRACT_N_INDEXES;
	return indexes;
}

/* An index serves when its first column is the one the rules look up by; its other columns and
 * a partial predicate only make it smaller. An expression index (indkey 0) is left out: the
 * rules compare the plain column. */
const char contract_index_sql[] =
	"SELECT c.relname::text, c.relkind::text, a.attname::text "
	"FROM pg_catalog.pg_class c "
	"JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
	"LEFT JOIN pg_catalog.pg_index i ON i.indrelid = c.oid AND i.indisvalid "
	"     AND i.indkey[0] <> 0 "
	"LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0] "
	"WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'm', 'v', 'f') "
	"ORDER BY 1, 3";

/* rows is n_rows * 3 strings (relation, relkind, lead column or NULL). The relation's kind, or
 * NULL when the schema has no such relation. */
static const char *relation_kind(const char *const *rows, size_t n_rows, const char *rel)
{
	for (size_t i = 0; i < n_rows; i++)
		if (strcmp(rows[i * 3], rel) == 0)
			return rows[i * 3 + 1];
	return NULL;
}

static int has_lead(const char *const *rows, size_t n_rows, const char *rel, const char *col)
{
	for (size_t i = 0; i < n_rows; i++)
		if (strcmp(rows[i * 3], rel) == 0 && rows[i * 3 + 2] &&
		    strcmp(rows[i * 3 + 2], col) == 0)
			return 1;
	return 0;
}

/* A view or a foreign table has no index of its own: what it reads has, or has not. */
static int without_indexes(const char *kind)
{
	return strcmp(kind, "v") == 0 || strcmp(kind, "f") == 0;
}

/* The recommended columns of rel, as "(child_id, start_date), (scheduled_for) WHERE ...". */
static void relation_columns(const char *rel, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < CONTRACT_N_INDEXES && len < size; i++) {
		if (strcmp(indexes[i].relation, rel) != 0)
			continue;
		len += (size_t)snprintf(buf + len, size - len, "%s%s%s%s", len ? ", " : "",
					indexes[i].columns, indexes[i].predicate ? " WHERE " : "",
					indexes[i].predicate ? indexes[i].predicate : "");
	}
}

static int first_of_relation(size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(indexes[j].relation, indexes[i].relation) == 0)
			return 0;
	return 1;
}

/* The missing ones, one message each: with the statement (--check-config), or in brief for the
 * daemon's notice ("rel (cols)" in out, the names of views in views). */
static size_t index_messages(const char *schema_ident, const char *const *rows, size_t n_rows,
			     struct errlist *out, struct errlist *views, int brief)
{
	size_t added = 0;
	char cols[256];

	for (size_t i = 0; i < CONTRACT_N_INDEXES; i++) {
		const struct contract_index *x = &indexes[i];
		const char *kind = relation_kind(rows, n_rows, x->relation);

		if (!kind)
			continue;
		if (without_indexes(kind)) {
			if (!first_of_relation(i))
				continue;
			relation_columns(x->relation, cols, sizeof(cols));
			if (brief)
				errlist_add(views, "%s", x->relation);
			else
				errlist_add(out, "relation %s.%s is a %s, which has no index of its own: "
					    "index the table behind it on the columns it shows as %s "
					    "(docs/sql.md, \"Indexing the views of a real case-management "
					    "system\")", schema_ident, x->relation,
					    kind[0] == 'v' ? "view" : "foreign table", cols);
			added++;
			continue;
		}
		if (has_lead(rows, n_rows, x->relation, x->lead))
			continue;
		if (brief)
			errlist_add(out, "%s %s%s%s", x->relation, x->columns,
				    x->predicate ? " WHERE " : "", x->predicate ? x->predicate : "");
		else
			errlist_add(out, "recommended index missing: no index of %s.%s starts with "
				    "%s; add it with: CREATE INDEX %s ON %s.%s %s%s%s;", schema_ident,
				    x->relation, x->lead, x->name, schema_ident, x->relation, x->columns,
				    x->predicate ? " WHERE " : "", x->predicate ? x->predicate : "");
		added++;
	}
	return added;
}

size_t contract_index_advice(const char *schema_ident, const char *const *rows, size_t n_rows,
			     struct errlist *notes)
{
	return index_messages(schema_ident, rows, n_rows, notes, notes, 0);
}

/* ---- the daemon's notice at start ---- */

struct note_run {
	struct dw_ctx *ctx;
	char *schema_ident;
};

static char *note_join(const struct errlist *items)
{
	struct strbuf sb;

	strbuf_init(&sb);
	for (size_t i = 0; i < items->n; i++)
		strbuf_printf(&sb, "%s%s", i ? "; " : "", items->msgs[i]);
	return strbuf_take(&sb);
}

static void note_log(struct note_run *nr, const struct errlist *items,
		     const struct errlist *views)
{
	char *line;

	if (items->n) {
		line = note_join(items);
		log_notice(nr->ctx, "database: %zu recommended index%s missing, so evaluating a few "
			   "children reads whole relations (a full evaluation needs none; "
			   "driftwatchd --check-config gives the statements): %s", items->n,
			   items->n == 1 ? " is" : "es are", line ? line : "");
		free(line);
	}
	if (views->n) {
		line = note_join(views);
		log_notice(nr->ctx, "database: %zu contract relation%s a view, with no index of "
			   "%s own: the recommended indexes belong on the tables behind %s "
			   "(driftwatchd --check-config lists the columns): %s", views->n,
			   views->n == 1 ? " is" : "s are each", views->n == 1 ? "its" : "their",
			   views->n == 1 ? "it" : "them", line ? line : "");
		free(line);
	}
}

static void note_on_indexes(struct db_conn *conn, PGresult *res, void *arg)
{
	struct note_run *nr = arg;
	struct errlist items = { NULL, 0, 0 }, views = { NULL, 0, 0 };
	const char **rows = NULL;
	int n;

	(void)conn;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* Advice only: the evaluations say what is wrong with the schema. */
		log_debug(nr->ctx, "database: could not list the case schema's indexes: %s",
			  res ? PQresultErrorMessage(res) : "connection closed");
		goto out;
	}
	n = PQntuples(res);
	rows = calloc((size_t)n * 3 + 1, sizeof(*rows));
	if (!rows)
		goto out;
	for (int r = 0; r < n; r++)
		for (int c = 0; c < 3; c++)
			rows[r * 3 + c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
	index_messages(nr->schema_ident, rows, (size_t)n, &items, &views, 1);
	note_log(nr, &items, &views);
out:
	free(rows);
	errlist_free(&items);
	errlist_free(&views);
	free(nr->schema_ident);
	free(nr);
}

int contract_note_indexes(struct dw_ctx *ctx, struct db_conn *conn)
{
	struct note_run *nr = calloc(1, sizeof(*nr));
	const char *params[1] = { ctx->cfg->case_schema };

	if (!nr)
		return -1;
	nr->ctx = ctx;
	nr->schema_ident = db_escape_identifier(conn, ctx->cfg->case_schema);
	if (!nr->schema_ident ||
	    db_query(conn, contract_index_sql, 1, params, note_on_indexes, nr) < 0) {
		free(nr->schema_ident);
		free(nr);
		return -1;
	}
	return 0;
}
