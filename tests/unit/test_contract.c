/* test_contract: the comparison behind --check-config, and the words of dates and ordinals. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/errlist.h"
#include "driftwatch/facts.h"
#include "driftwatch/rule.h"
#include "tap.h"

/* The catalogue rows of a schema that has the whole contract as text/date/bool columns. */
static const char **full_catalogue(size_t *n)
{
	size_t nc;
	const struct contract_column *c = contract_columns(&nc);
	static const char *types[] = { "text", "date", "boolean", "timestamp with time zone" };
	const char **rows = calloc(nc * 4, sizeof(*rows));

	for (size_t i = 0; rows && i < nc; i++) {
		rows[i * 4] = c[i].relation;
		rows[i * 4 + 1] = c[i].column;
		rows[i * 4 + 2] = types[c[i].type];
		rows[i * 4 + 3] = "t";
	}
	*n = nc;
	return rows;
}

static int find(const char **rows, size_t n, const char *rel, const char *col)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i * 4], rel) == 0 && strcmp(rows[i * 4 + 1], col) == 0)
			return (int)i;
	return -1;
}

static const char *joined(const struct errlist *el)
{
	static char buf[4096];

	buf[0] = '\0';
	for (size_t i = 0; i < el->n; i++) {
		strncat(buf, el->msgs[i], sizeof(buf) - strlen(buf) - 2);
		strncat(buf, "\n", sizeof(buf) - strlen(buf) - 1);
	}
	return buf;
}

static void test_compare(void)
{
	size_t n;
	const char **rows = full_catalogue(&n);
	struct errlist el = { 0 };
	int i;

	tap_int(contract_compare("cw", rows, n, &el), 0, "the full contract has no problems");
	i = find(rows, n, "cp_plans", "start_date");
	rows[i * 4 + 2] = "timestamp without time zone";
	i = find(rows, n, "children", "disability");
	rows[i * 4 + 1] = "disabled";
	i = find(rows, n, "workers", "email");
	rows[i * 4 + 2] = "character varying";
	tap_int(contract_compare("cw", rows, n, &el), 2, "a wrong type and a missing column");
	tap_contains(joined(&el), "column cw.cp_plans.start_date: type timestamp without time zone "
		     "is not the contract's date: a time of day moves a day", "names the column, both "
		     "types and what it risks");
	tap_contains(joined(&el), "column cw.children.disability: missing", "names the missing column");
	tap_lacks(joined(&el), "workers.email", "varchar is usable for text");
	errlist_free(&el);
	/* what a type risks depends on what the column is, not only on what it should be */
	rows[find(rows, n, "children", "disabled") * 4 + 1] = "disability";
	rows[find(rows, n, "cp_plans", "start_date") * 4 + 2] = "date";
	rows[find(rows, n, "referrals", "referral_date") * 4 + 2] = "character varying";
	rows[find(rows, n, "appointments", "scheduled_for") * 4 + 2] = "date";
	rows[find(rows, n, "appointments", "outcome") * 4 + 2] = "enum public.appt_outcome";
	tap_int(contract_compare("cw", rows, n, &el), 3, "a text date, a date time, an enum code");
	tap_contains(joined(&el), "referrals.referral_date: type character varying is not the "
		     "contract's date: a date held as text cannot be compared with dates",
		     "a text date: the rules fail, nothing about a time of day");
	tap_contains(joined(&el), "appointments.scheduled_for: type date is not the contract's "
		     "timestamp with time zone: a date has no time of day: it is read as midnight",
		     "a date for a time: read as midnight, nothing about a missing zone");
	tap_contains(joined(&el), "appointments.outcome: type enum public.appt_outcome is not the "
		     "contract's text: its labels are read as text, which gives the same answers",
		     "an enum code: read as text, not \"ids joined as text\"");
	errlist_free(&el);
	/* back as the contract has them, but for the two faults the next case counts on */
	rows[find(rows, n, "children", "disability") * 4 + 1] = "disabled";
	rows[find(rows, n, "cp_plans", "start_date") * 4 + 2] = "timestamp without time zone";
	rows[find(rows, n, "referrals", "referral_date") * 4 + 2] = "date";
	rows[find(rows, n, "appointments", "scheduled_for") * 4 + 2] = "timestamp with time zone";
	rows[find(rows, n, "appointments", "outcome") * 4 + 2] = "text";
	tap_ok(contract_type_usable(CONTRACT_TEXT, "citext") &&
	       contract_type_usable(CONTRACT_TEXT, "ext.citext") &&
	       !contract_type_usable(CONTRACT_TEXT, "integer"),
	       "citext (qualified or not) is usable for text, an integer is not");
	errlist_free(&el);
	for (size_t k = 0; k < n; k++)
		if (strcmp(rows[k * 4], "strategies") == 0)
			rows[k * 4] = "strategy";
	tap_int(contract_compare("cw", rows, n, &el), 3, "a missing relation is one problem");
	tap_contains(joined(&el), "relation cw.strategies: missing", "names the relation");
	errlist_free(&el);
	free(rows);
}

/* A column-level grant that leaves a contract column out names that column (the rules fail
 * with "permission denied for table", which names none); no grant at all names the relation. */
static void test_compare_grants(void)
{
	size_t n;
	const char **rows = full_catalogue(&n);
	struct errlist el = { 0 };

	rows[find(rows, n, "cp_plans", "chair_id") * 4 + 3] = "f";
	tap_int(contract_compare("cw", rows, n, &el), 1, "one column not granted is one problem");
	tap_contains(joined(&el), "column cw.cp_plans.chair_id: this user may not SELECT it",
		     "names the column");
	tap_contains(joined(&el), "GRANT SELECT (chair_id) ON cw.cp_plans", "and the grant for it");
	tap_lacks(joined(&el), "relation cw.cp_plans", "not the whole relation");
	errlist_free(&el);
	for (size_t k = 0; k < n; k++)
		if (strcmp(rows[k * 4], "teams") == 0)
			rows[k * 4 + 3] = "f";
	tap_int(contract_compare("cw", rows, n, &el), 2, "a relation with no column granted is one more");
	tap_contains(joined(&el), "relation cw.teams: this user may not SELECT from it",
		     "names the relation");
	tap_lacks(joined(&el), "column cw.teams.", "not each of its columns");
	errlist_free(&el);
	free(rows);
}

/* Index catalogue rows (relation, relkind, lead column) of a schema of tables that has every
 * recommended index; the rows live in a static array the test edits. */
static const char *idx_rows[64 * 3];

static size_t idx_catalogue(void)
{
	size_t n, k = 0;
	const struct contract_index *x = contract_indexes(&n);

	for (size_t i = 0; i < n; i++) {
		idx_rows[k * 3] = x[i].relation;
		idx_rows[k * 3 + 1] = "r";
		idx_rows[k * 3 + 2] = x[i].lead;
		k++;
	}
	return k;
}

static int idx_find(size_t n, const char *rel, const char *lead)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(idx_rows[i * 3], rel) == 0 && idx_rows[i * 3 + 2] &&
		    strcmp(idx_rows[i * 3 + 2], lead) == 0)
			return (int)i;
	return -1;
}

static void test_indexes(void)
{
	size_t n = idx_catalogue(), m;
	struct errlist el = { 0 };
	int i;

	tap_ok(n >= 10, "contract_indexes lists the indexes of contract_indexes.sql (%zu)", n);
	tap_int(contract_index_advice("\"cw\"", idx_rows, n, &el), 0,
		"every recommended index present: no advice");
	/* children without any index, an allocations index that leads with the wrong column, the
	 * partial index gone, cp_plans a view, strategies not there at all */
	idx_rows[idx_find(n, "children", "child_id") * 3 + 2] = NULL;
	idx_rows[idx_find(n, "allocations", "child_id") * 3 + 2] = "start_date";
	idx_rows[idx_find(n, "appointments", "scheduled_for") * 3 + 2] = NULL;
	i = idx_find(n, "cp_plans", "child_id");
	idx_rows[i * 3 + 1] = "v";
	idx_rows[i * 3 + 2] = NULL;
	i = idx_find(n, "strategies", "child_id");
	idx_rows[i * 3] = "strategies_old";
	m = contract_index_advice("\"cw\"", idx_rows, n, &el);
	tap_int(m, 4, "four pieces of advice: children, allocations, the partial index, the view");
	tap_int(el.n, m, "one message each");
	tap_contains(joined(&el), "CREATE INDEX children_child_id_idx ON \"cw\".children (child_id);",
		     "children: the statement that adds the index");
	tap_contains(joined(&el),
		     "CREATE INDEX allocations_child_start_idx ON \"cw\".allocations (child_id, "
		     "start_date);", "allocations: an index leading with another column does not serve");
	tap_contains(joined(&el),
		     "CREATE INDEX appointments_not_brought_idx ON \"cw\".appointments "
		     "(scheduled_for) WHERE outcome = 'was_not_brought';",
		     "appointments: the partial index, with its predicate");
	tap_lacks(joined(&el), "appointments_child_sched_idx",
		  "appointments: the child_id index that is there is not asked for");
	tap_contains(joined(&el), "\"cw\".cp_plans is a view", "cp_plans: said to be a view");
	tap_contains(joined(&el), "(child_id, start_date)", "the view: the columns to index behind it");
	tap_lacks(joined(&el), "CREATE INDEX cp_plans", "the view: no CREATE INDEX on a view");
	tap_lacks(joined(&el), "strategies", "a relation that is missing is contract_compare's");
	errlist_free(&el);
}

static void test_words(void)
{
	char buf[32];

	facts_date_words("2025-08-14", buf, sizeof(buf));
	tap_str(buf, "14 Aug 2025", "a date in words");
	facts_date_words("14/08/2025", buf, sizeof(buf));
	tap_str(buf, "14/08/2025", "an unparsable date is kept");
	facts_ordinal(2, buf, sizeof(buf));
	tap_str(buf, "2nd", "2nd");
	facts_ordinal(11, buf, sizeof(buf));
	tap_str(buf, "11th", "11th");
	facts_ordinal(23, buf, sizeof(buf));
	tap_str(buf, "23rd", "23rd");
}

/* Which rules read a relation comes from the rules' own statements, so these are the rules'
 * real SQL, not a copy. */
static void test_empty(void)
{
	static const char *const tail[] = { "teams", "workers", "children", "allocations" };
	const struct rule_def *wnb = rule_registry_find("was_not_brought");
	const struct rule_def *cpd = rule_registry_find("cp_neglect_duration");
	struct config_rule rules[RULE_REGISTRY_MAX] = { 0 };
	size_t n = rule_registry_count();
	struct errlist el = { 0 };
	const char *all;

	tap_int((long long)contract_relation_count(), 9, "the contract has nine relations");
	tap_str(contract_relation(0), "teams", "the first relation is teams");
	tap_str(contract_relation(8), "strategies", "the last relation is strategies");
	tap_ok(contract_relation(9) == NULL, "there is no tenth relation");
	tap_ok(wnb && cpd, "the registry has was_not_brought and cp_neglect_duration");
	if (!wnb || !cpd)
		return;
	tap_ok(contract_sql_reads(wnb->sql, "appointments"), "was_not_brought reads appointments");
	tap_ok(!contract_sql_reads(cpd->sql, "appointments"),
	       "cp_neglect_duration does not read appointments");
	tap_ok(contract_sql_reads(cpd->sql, "strategies"), "cp_neglect_duration reads strategies");
	tap_ok(!contract_sql_reads(wnb->sql, "strategies"), "was_not_brought does not read strategies");
	for (size_t i = 0; i < n; i++)
		for (size_t t = 0; t < 4; t++)
			tap_ok(contract_sql_reads(rule_registry_get(i)->sql, tail[t]),
			       "%s reads %s (tail_rows.sql)", rule_registry_get(i)->name, tail[t]);
	tap_ok(!contract_sql_reads("FROM @case@.cp_plans_old", "cp_plans"),
	       "a longer name is not the relation");
	tap_ok(!contract_sql_reads("FROM cp_plans", "cp_plans"), "a name without @case@ is not read");
	tap_ok(contract_sql_reads("FROM @case@.cp_plans c", "cp_plans"), "@case@.NAME is read");

	for (size_t i = 0; i < n; i++) {
		rules[i].def = rule_registry_get(i);
		rules[i].enabled = true;
	}
	contract_empty_warning("f.json", "cw", "appointments", rules, n, &el);
	all = joined(&el);
	tap_int((long long)el.n, 1, "one warning for one empty relation");
	tap_contains(all, "f.json: database.case_schema: warning: relation \"cw\".\"appointments\" is empty",
		     "the warning names the file, the key and the relation");
	tap_contains(all, "was_not_brought, worker_change", "it names the rules that read it");
	tap_lacks(all, "cp_neglect_duration", "and not a rule that does not");
	errlist_free(&el);

	contract_empty_warning("f.json", "cw", "teams", rules, n, &el);
	all = joined(&el);
	tap_contains(all, "every rule reads it", "a relation every rule reads is said to be one");
	errlist_free(&el);

	for (size_t i = 0; i < n; i++)
		if (contract_sql_reads(rules[i].def->sql, "appointments"))
			rules[i].enabled = false;
	contract_empty_warning("f.json", "cw", "appointments", rules, n, &el);
	all = joined(&el);
	tap_contains(all, "no enabled rule reads it", "with its readers disabled, none is blind");
	tap_lacks(all, "was_not_brought", "and a disabled rule is not named");
	errlist_free(&el);
}

int main(void)
{
	test_compare();
	test_compare_grants();
	test_indexes();
	test_words();
	test_empty();
	return tap_status();
}
