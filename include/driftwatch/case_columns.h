/* case_columns: the contract's columns that only address or name people, read as NULL when the
 * role may not read them, so that a column withheld by a grant silences no rule. */
#ifndef DRIFTWATCH_CASE_COLUMNS_H
#define DRIFTWATCH_CASE_COLUMNS_H

struct dw_ctx;

/* A SQL expression over $4 (the case schema): the columns of case_columns.c's list this role
 * may not SELECT, as "relation.column" joined by ',' ("" for none), named dw_withheld. For a
 * statement's select list (a macro, so that it joins eval.c's setup statement as one literal;
 * the list is case_columns.c's, which the unit test compares). */
#define CASE_COLUMNS_PROBE_SQL \
	"(SELECT coalesce(string_agg(v.r || '.' || v.c, ',' ORDER BY v.r, v.c), '') " \
	"FROM (VALUES ('children', 'date_of_birth'), ('children', 'disability'), " \
	"('children', 'expected_dob'), ('teams', 'manager_email'), ('teams', 'name'), " \
	"('teams', 'webhook_url'), ('workers', 'display_name'), ('workers', 'email')) v (r, c) " \
	"JOIN pg_catalog.pg_namespace n ON n.nspname = $4 " \
	"JOIN pg_catalog.pg_class k ON k.relnamespace = n.oid AND k.relname = v.r " \
	"JOIN pg_catalog.pg_attribute a ON a.attrelid = k.oid AND a.attname = v.c " \
	"AND NOT a.attisdropped " \
	"WHERE NOT has_column_privilege(k.oid, a.attnum, 'SELECT')) AS dw_withheld"

/* The i-th column of that list: 0, or -1 past its end. */
int case_columns_at(unsigned i, const char **relation, const char **column);

/* What it costs that relation.column is withheld, in words, when it is one of those columns;
 * NULL for any other column (every statement that reads it fails without it). */
const char *case_columns_cost(const char *relation, const char *column);

/* relation.column's bit in such a set, or 0 for a column not in the list. */
unsigned case_columns_bit(const char *relation, const char *column);

/* The set (a bit per column of the list) that a probe's answer names. */
unsigned case_columns_parse(const char *list);

/* withheld less the columns that reader (a rule's name, or "quality_RELATION") decides on:
 * those it must read or fail. */
unsigned case_columns_for(const char *reader, unsigned withheld);

/* translate()'s last two arguments for a value sent from the case database: the characters of
 * its encoding that UTF-8 lacks (daemon/db.c lists them in the session), each as '?', where
 * the server would refuse to send the value at all. Empty in a UTF-8 or SQL_ASCII database. */
#define CASE_COLUMNS_SHOWN_SQL \
	"coalesce(current_setting('driftwatch.untranslatable', true), ''), " \
	"repeat('?', length(coalesce(current_setting('driftwatch.untranslatable', true), '')))"

/* sql with @case@ replaced by case_ident, @shown@ by CASE_COLUMNS_SHOWN_SQL (`translate(X,
 * @shown@)`), and each `@col:RELATION:EXPR@` (rules/rows_teams.sql, rows_workers.sql) by EXPR,
 * or by NULL when RELATION's column (EXPR after its last '.') is in withheld; to free, NULL
 * when memory ran out. */
char *case_columns_sql(const char *sql, const char *case_ident, unsigned withheld);

/* Logs what changed from before to now: a warning for each column newly withheld, saying what
 * reading it as NULL costs, a notice for each given back. */
void case_columns_changed(const struct dw_ctx *ctx, unsigned before, unsigned now);

#endif
