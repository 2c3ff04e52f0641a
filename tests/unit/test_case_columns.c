/* test_case_columns: which withheld columns a statement reads as NULL, and how its text says so. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/case_columns.h"
#include "driftwatch/contract.h"
#include "tap.h"

/* The probe (a macro, for eval.c's setup statement) lists exactly case_columns.c's columns,
 * each a column of the contract. */
static void test_probe_lists_the_table(void)
{
	const char *rel, *col;
	char pair[96];
	size_t n_contract, found;
	const struct contract_column *c = contract_columns(&n_contract);
	unsigned i;

	for (i = 0; case_columns_at(i, &rel, &col) == 0; i++) {
		snprintf(pair, sizeof(pair), "('%s', '%s')", rel, col);
		tap_contains(CASE_COLUMNS_PROBE_SQL, pair, "the probe asks about %s.%s", rel, col);
		found = 0;
		for (size_t k = 0; k < n_contract; k++)
			found += strcmp(c[k].relation, rel) == 0 && strcmp(c[k].column, col) == 0;
		tap_int((int)found, 1, "%s.%s is a column of the contract", rel, col);
	}
	size_t pairs = 0;
	for (const char *p = CASE_COLUMNS_PROBE_SQL; (p = strstr(p, "', '")) != NULL; p++)
		pairs++;
	tap_int((int)pairs, (int)i, "the probe asks about no column the table lacks");
}

static void test_parse(void)
{
	unsigned a = case_columns_parse("teams.webhook_url");
	unsigned b = case_columns_parse("children.disability,teams.webhook_url");

	tap_ok(a != 0, "a listed column is in the set");
	tap_ok((b & a) == a && b != a, "two columns: both in the set");
	tap_int((int)case_columns_parse(""), 0, "none: the empty set");
	tap_int((int)case_columns_parse("cp_plans.chair_id,teams"), 0,
		"a column that decides (chair_id) or a malformed name is never read as NULL");
}

static void test_sql(void)
{
	const char *sql = "SELECT @col:teams:t.webhook_url@::text AS u, @col:children:c.disability@ "
			  "AS d FROM @case@.teams t, @case@.children c";
	unsigned all = case_columns_parse("teams.webhook_url,children.disability");
	char *s;

	s = case_columns_sql(sql, "\"cw\"", 0);
	tap_str(s, "SELECT t.webhook_url::text AS u, c.disability AS d FROM \"cw\".teams t, "
		"\"cw\".children c", "nothing withheld: every column as it is");
	free(s);
	s = case_columns_sql(sql, "\"cw\"", all);
	tap_str(s, "SELECT NULL::text::text AS u, NULL::boolean AS d FROM \"cw\".teams t, "
		"\"cw\".children c", "withheld: a NULL of the contract's type");
	free(s);
	s = case_columns_sql(sql, "\"cw\"", case_columns_for("was_not_brought", all));
	tap_contains(s, "c.disability AS d", "was_not_brought decides on disability: read, or fail");
	tap_contains(s, "NULL::text::text AS u", "... but not on a team's webhook");
	free(s);
	s = case_columns_sql(sql, "\"cw\"", case_columns_for("cin_neglect_duration", all));
	tap_contains(s, "NULL::boolean AS d", "another rule reads disability as NULL");
	free(s);
	s = case_columns_sql("a @col:broken b", "x", all);
	tap_str(s, "a @col:broken b", "a token with no end is left as it is");
	free(s);
	s = case_columns_sql("SELECT translate(x, @shown@) FROM @case@.t", "\"cw\"", 0);
	tap_str(s, "SELECT translate(x, " CASE_COLUMNS_SHOWN_SQL ") FROM \"cw\".t",
		"@shown@: the characters UTF-8 lacks, from the session, each as '?'");
	tap_contains(s, "current_setting('driftwatch.untranslatable', true)",
		     "... read from the setting daemon/db.c makes");
	free(s);
}

static void test_cost(void)
{
	tap_contains(case_columns_cost("teams", "webhook_url"), "no team's own webhook",
		     "a withheld column's cost is said in words");
	tap_ok(case_columns_cost("cp_plans", "chair_id") == NULL,
	       "a column that decides has no cost: the statements reading it fail");
}

int main(void)
{
	test_probe_lists_the_table();
	test_parse();
	test_sql();
	test_cost();
	return tap_status();
}
