/* Unit test: the incremental form of each rule's statement (eval_rule_sql). A notified child is
 * evaluated with a prepared statement and a generic plan; that plan reads only the notified
 * children through the (child_id, ...) indexes only when no "every child" branch is left in the
 * text. eval.c removes every "$2::text[] IS NULL OR" branch (one per X_rows CTE that names a
 * child) by substitution, so an edit to the SQL that spells the branch another way would make
 * every incremental evaluation read every child, silently (the rows would still be right).
 * This test is what fails instead. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/eval.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "tap.h"

#define ALL_CHILDREN "$2::text[] IS NULL OR"
/* Every relation of the contract but teams and workers names a child; each statement defines
 * one X_rows CTE per relation it reads (rules/rows_X.sql), and each of those that names a child
 * filters on $2. */
#define ROWS_CTE "_rows AS NOT MATERIALIZED ("

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	for (const char *p = strstr(hay, needle); p; p = strstr(p + len, needle))
		n++;
	return n;
}

/* sql without its "-- ..." comments, which may mention $2 freely. */
static char *strip_comments(const char *sql)
{
	char *out = malloc(strlen(sql) + 1), *o = out;
	int in_string = 0;

	if (!out)
		return NULL;
	for (const char *p = sql; *p; p++) {
		if (*p == '\'')
			in_string = !in_string;
		if (!in_string && p[0] == '-' && p[1] == '-') {
			while (p[1] && p[1] != '\n')
				p++;
			continue;
		}
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* Every use of $2 that is left must be a plain filter on the notified children, or p's
 * naming of it; anything else ("$2 IS NULL", "cardinality($2)", "coalesce($2, ...)") could be
 * a way to mean "every child" that the generic plan cannot see through. Returns the first
 * other use, or NULL. */
static const char *other_use_of_2(const char *sql)
{
	static const char filter[] = "= ANY ($2::text[])";
	static const char naming[] = "$2::text[] AS child_ids";

	for (const char *p = strstr(sql, "$2"); p; p = strstr(p + 2, "$2")) {
		size_t back = strlen("= ANY (");

		if ((size_t)(p - sql) >= back && strncmp(p - back, filter, sizeof(filter) - 1) == 0)
			continue;
		if (strncmp(p, naming, sizeof(naming) - 1) == 0)
			continue;
		return p;
	}
	return NULL;
}

/* The X_rows CTEs in sql that name a child: every one but teams_rows and workers_rows. */
static size_t child_relations(const char *sql)
{
	return count(sql, ROWS_CTE) - count(sql, "teams" ROWS_CTE) - count(sql, "workers" ROWS_CTE);
}

static void test_common_has_the_branch(void)
{
	/* the grep: rules/common.sql is sql_common, embedded byte for byte with its includes */
	tap_ok(child_relations(sql_common) >= 2, "common.sql defines the relations of the tail "
	       "that name a child (children, allocations): %zu", child_relations(sql_common));
	tap_int(count(sql_common, ALL_CHILDREN), child_relations(sql_common),
		"common.sql spells the every-child branch \"%s\" once per relation that names a "
		"child (eval.c replaces exactly that text in incremental statements)", ALL_CHILDREN);
	tap_int(count(sql_common, "child_ids"), 1,
		"common.sql names $2 as p.child_ids once, and nothing reads p.child_ids");
	tap_int(count(sql_alert_rows, "$2"), 0, "alert_rows.sql does not read $2");
}

static void test_rule(const struct rule_def *def)
{
	char *full = eval_rule_sql("\"cw\"", def, 0);
	char *inc = eval_rule_sql("\"cw\"", def, 1);
	char *bare = inc ? strip_comments(inc) : NULL;
	const char *other;
	size_t n_rel;

	if (!tap_ok(full && inc && bare, "%s: both statements built", def->name))
		goto out;
	tap_lacks(full, "@case@", "%s: the case schema is substituted", def->name);
	n_rel = child_relations(full);
	tap_ok(n_rel >= child_relations(sql_common), "%s: reads %zu relations that name a child",
	       def->name, n_rel);
	tap_int(count(full, ALL_CHILDREN), n_rel,
		"%s: the full statement keeps every branch (a NULL $2 means everyone)", def->name);
	tap_int(count(inc, ALL_CHILDREN), 0, "%s: the incremental statement has none left",
		def->name);
	tap_int(count(inc, "false OR") - count(full, "false OR"), n_rel,
		"%s: each became \"false OR\"", def->name);
	tap_int(strlen(full) - strlen(inc), n_rel * (strlen(ALL_CHILDREN) - strlen("false OR")),
		"%s: and nothing else changed in length", def->name);
	other = other_use_of_2(bare);
	if (!tap_ok(other == NULL, "%s: the incremental statement uses $2 only as "
		    "\"X.child_id = ANY ($2::text[])\"", def->name))
		tap_diag("  first other use: \"%.60s\"", other);
	tap_int(count(bare, "child_ids"), 1, "%s: nothing reads p.child_ids", def->name);
out:
	free(full);
	free(inc);
	free(bare);
}

int main(void)
{
	test_common_has_the_branch();
	tap_ok(rule_registry_count() > 0, "the rules are registered (%zu)",
	       rule_registry_count());
	for (size_t i = 0; i < rule_registry_count(); i++)
		test_rule(rule_registry_get(i));
	return tap_status();
}
