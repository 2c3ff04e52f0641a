/* Unit test: each rule's three statements as rules/embed_sql.sh embeds them (eval_rule_sql). A
 * notified child is evaluated with a prepared statement and a generic plan; that plan reads only
 * the notified children through the (child_id, ...) indexes only when no "every child" branch
 * is left in its text. embed_sql.sh makes the incremental form by taking every
 * ":child_ids IS NULL" as false (the rule says so with `-- @incremental child_ids`); this test
 * checks what came of it: the full statement keeps one such branch per relation that names a
 * child, the incremental one has none and uses $2 (:child_ids) only as a plain filter, which a
 * generic plan can see through. It also checks that the parameters the statements declare
 * (rules/params.sql) are the ones eval.c sends, in the same order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/case_columns.h"
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

/* The k-th "-- @param NAME" line of sql names eval_param_names[k], and there are no others. */
static void test_params(const char *what, const char *sql)
{
	const char *p = sql;
	size_t k = 0;
	int same = 1;

	while ((p = strstr(p, "-- @param ")) != NULL) {
		const char *name = p + strlen("-- @param ");
		size_t len = strcspn(name, " \n");

		if (!eval_param_names[k] || strlen(eval_param_names[k]) != len ||
		    strncmp(eval_param_names[k], name, len) != 0) {
			tap_diag("  parameter %zu: declared %.*s, eval.c sends %s", k + 1, (int)len,
				 name, eval_param_names[k] ? eval_param_names[k] : "nothing");
			same = 0;
		}
		k++;
		p = name;
	}
	tap_ok(same && !eval_param_names[k], "%s: declares the %zu parameters eval.c sends, in its "
	       "order", what, k);
}

/* No named placeholder was left untranslated: a ":name" outside comments and strings that does
 * not follow a ':' (a cast). embed_sql.sh refuses an undeclared one; this is the proof. */
static void test_translated(const char *what, const char *bare)
{
	int quote = 0;

	for (const char *p = bare; *p; p++) {
		if (*p == '\'' || *p == '"')
			quote = quote == *p ? 0 : quote ? quote : *p;
		if (quote || *p != ':' || p == bare || p[-1] == ':' || !(p[1] >= 'a' && p[1] <= 'z'))
			continue;
		tap_ok(0, "%s: no placeholder left untranslated", what);
		tap_diag("  at \"%.40s\"", p);
		return;
	}
	tap_ok(1, "%s: no placeholder left untranslated", what);
}

/* The lookup form: the full one with each "-- @lookup" line's child_id IN (SELECT ...) an array
 * looked up by index on the column as it is, in the database's collation, the tails
 * (tail_family.sql, tail_allocation.sql) among them; nothing else. */
#define LOOKUP_IN " IN (SELECT "
#define LOOKUP_ANY " = ANY (ARRAY(SELECT "
#define LOOKUP_RAW "child_id_raw = ANY (ARRAY(SELECT "
#define LOOKUP_END ") COLLATE \"default\")"
/* rel is one of EVAL_LOOKUP_RELATIONS ("{a,b,c}"). */
static int lookup_relation(const char *rel)
{
	char list[] = EVAL_LOOKUP_RELATIONS, want[40];

	list[0] = ',';
	list[sizeof(list) - 2] = ',';
	snprintf(want, sizeof(want), ",%s,", rel);
	return rel[0] && strstr(list, want) != NULL;
}

static void test_lookup(const struct rule_def *def, const char *full)
{
	char *look = eval_rule_sql("\"cw\"", def, EVAL_FORM_LOOKUP, 0);
	size_t marks = count(full, "-- @lookup ");

	if (!tap_ok(look && def->sql_lookup && def->sql_lookup != def->sql,
		    "%s: the lookup form is embedded (RULE_SQL)", def->name))
		goto out;
	tap_ok(marks >= 1, "%s: %zu semi-joins marked -- @lookup (a tail at least)", def->name,
	       marks);
	for (const char *m = strstr(full, "-- @lookup "); m; m = strstr(m + 1, "-- @lookup ")) {
		char rel[32] = "";

		sscanf(m + 11, "%31[a-z_]", rel);
		tap_ok(lookup_relation(rel), "%s: -- @lookup %s names a relation whose index eval.c "
		       "checks (%s)", def->name, rel, EVAL_LOOKUP_RELATIONS);
	}
	tap_int(count(look, "-- @lookup "), marks, "%s: the lookup form keeps the marks",
		def->name);
	tap_int(count(full, LOOKUP_ANY), 0, "%s: the full form looks nothing up by array",
		def->name);
	tap_int(count(look, LOOKUP_ANY), marks, "%s: the lookup form has one array per mark",
		def->name);
	tap_int(count(look, LOOKUP_RAW), marks, "%s: ... probing the column as it is (child_id_raw)",
		def->name);
	tap_int(count(look, LOOKUP_END), marks, "%s: ... in the database's collation",
		def->name);
	tap_int(count(full, LOOKUP_IN) - count(look, LOOKUP_IN), marks,
		"%s: ... each in place of an IN (SELECT", def->name);
	tap_int(strlen(look) - strlen(full),
		marks * (strlen("_raw") + strlen(LOOKUP_ANY) - strlen(LOOKUP_IN) +
			 strlen(" COLLATE \"default\")")),
		"%s: and nothing else changed in length (the collation, the array's closing "
		"parenthesis)", def->name);
out:
	free(look);
}

static void test_rule(const struct rule_def *def)
{
	char *full = eval_rule_sql("\"cw\"", def, EVAL_FORM_FULL, 0);
	char *inc = eval_rule_sql("\"cw\"", def, EVAL_FORM_INCREMENTAL, 0);
	char *bare = inc ? strip_comments(inc) : NULL;
	char *bare_full = full ? strip_comments(full) : NULL;
	const char *other;
	size_t n_rel;

	if (!tap_ok(def->sql && def->sql_incremental && def->sql != def->sql_incremental,
		    "%s: both statements are embedded (RULE_SQL, -- @incremental child_ids)",
		    def->name) ||
	    !tap_ok(full && inc && bare && bare_full, "%s: both statements built", def->name))
		goto out;
	tap_lacks(full, "@case@", "%s: the case schema is substituted", def->name);
	tap_lacks(full, "@col:", "%s: every column token is read (case_columns_sql)", def->name);
	tap_ok(strncmp(bare_full + strspn(bare_full, " \n"), "WITH p AS (", 11) == 0,
	       "%s: the statement is whole: it opens the WITH list itself (head.sql)", def->name);
	tap_contains(bare_full, "ORDER BY h.child_id COLLATE \"C\"",
		     "%s: and ends with the rows in byte order (alert_rows.sql)", def->name);
	n_rel = child_relations(full);
	tap_ok(n_rel >= 2, "%s: reads %zu relations that name a child (children and allocations "
	       "at least, for the recipients)", def->name, n_rel);
	tap_int(count(bare_full, ALL_CHILDREN), n_rel,
		"%s: the full statement keeps every branch (a NULL $2 means everyone)", def->name);
	tap_int(count(bare, ALL_CHILDREN), 0, "%s: the incremental statement has none left",
		def->name);
	tap_int(count(bare, "(false OR ") - count(bare_full, "(false OR "), n_rel,
		"%s: each became \"false OR\"", def->name);
	tap_int(strlen(full) - strlen(inc), n_rel * (strlen(ALL_CHILDREN) - strlen("false OR")),
		"%s: and nothing else changed in length", def->name);
	other = other_use_of_2(bare);
	if (!tap_ok(other == NULL, "%s: the incremental statement uses $2 only as "
		    "\"X.child_id = ANY ($2::text[])\"", def->name))
		tap_diag("  first other use: \"%.60s\"", other);
	tap_int(count(bare, "child_ids"), 1, "%s: nothing reads p.child_ids", def->name);
	test_params(def->name, full);
	test_translated(def->name, bare_full);
	test_lookup(def, full);
out:
	free(full);
	free(inc);
	free(bare);
	free(bare_full);
}

int main(void)
{
	static const struct { const char *name, *sql; } quality[] = {
		{ "quality_teams", sql_quality_teams }, { "quality_workers", sql_quality_workers },
		{ "quality_children", sql_quality_children },
		{ "quality_allocations", sql_quality_allocations },
		{ "quality_referrals", sql_quality_referrals },
		{ "quality_cin_plans", sql_quality_cin_plans },
		{ "quality_cp_plans", sql_quality_cp_plans },
		{ "quality_appointments", sql_quality_appointments },
		{ "quality_strategies", sql_quality_strategies },
		{ "quality_child_ids", sql_quality_child_ids },
		{ "quality_child_ids_branch", sql_quality_child_ids_branch },
	};

	tap_ok(rule_registry_count() > 0, "the rules are registered (%zu)",
	       rule_registry_count());
	for (size_t i = 0; i < rule_registry_count(); i++)
		test_rule(rule_registry_get(i));
	for (size_t i = 0; i < sizeof(quality) / sizeof(quality[0]); i++) {
		/* as eval_quality.c sends it: every @col:...@ token read as its column */
		char *sent = case_columns_sql(quality[i].sql, "\"cw\"", 0);
		char *bare = sent ? strip_comments(sent) : NULL;

		test_params(quality[i].name, quality[i].sql);
		if (bare)
			test_translated(quality[i].name, bare);
		tap_ok(sent && !strstr(sent, "@col:"), "%s: every column token is read",
		       quality[i].name);
		free(bare);
		free(sent);
	}
	tap_int(count(sql_quality_child_ids_branch, ALL_CHILDREN), 1,
		"quality_child_ids_branch: a branch reads the given children, or everyone");
	return tap_status();
}
