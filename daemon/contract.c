/* contract: what --check-config compares the case schema against; the comparison is pure. */
#include <stdio.h>
#include <string.h>

#include "driftwatch/contract.h"
#include "driftwatch/errlist.h"

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

/* From pg_catalog, not information_schema: information_schema hides a relation this role may
 * not read, which would be reported as missing instead of as a grant to give. Types are named
 * as information_schema names them (contract_type_usable), domains by their base type. */
const char contract_catalog_sql[] =
	"SELECT c.relname::text, a.attname::text, "
	"       CASE bt.typname WHEN 'text' THEN 'text' WHEN 'varchar' THEN 'character varying' "
	"            WHEN 'bpchar' THEN 'character' WHEN 'date' THEN 'date' "
	"            WHEN 'bool' THEN 'boolean' WHEN 'timestamptz' THEN 'timestamp with time zone' "
	"            WHEN 'timestamp' THEN 'timestamp without time zone' "
	"            ELSE format_type(bt.oid, NULL) END, "
	"       has_column_privilege(c.oid, a.attnum, 'SELECT') "
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
		return strcmp(data_type, "text") == 0 ||
		       strcmp(data_type, "character varying") == 0 ||
		       strcmp(data_type, "character") == 0;
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
		if (i == 0 || strcmp(columns[i - 1].relation, c->relation) != 0) {
			if (strcmp(rel[3], "t") != 0) {
				errlist_add(errs, "relation %s.%s: this user may not SELECT from it (the "
					    "rules that read it would fail): GRANT SELECT ON %s.%s TO "
					    "the role in database.conninfo", schema, c->relation, schema,
					    c->relation);
				problems++;
			}
		}
		r = find_row(rows, n_rows, c->relation, c->column);
		if (!r) {
			errlist_add(errs, "column %s.%s.%s: missing (want %s)", schema, c->relation,
				    c->column, type_names[c->type]);
			problems++;
			continue;
		}
		if (!contract_type_usable(c->type, r[2])) {
			errlist_add(errs, "column %s.%s.%s: type %s is not usable (want %s)", schema,
				    c->relation, c->column, r[2], type_names[c->type]);
			problems++;
		}
	}
	return problems;
}
