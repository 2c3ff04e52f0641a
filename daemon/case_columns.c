/* case_columns: columns that only address or name people, read as NULL when not granted. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/case_columns.h"
#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/log.h"
#include "driftwatch/strbuf.h"

/* Columns that say where an alert goes or how a person is named, and the three of a child's
 * row that only was_not_brought decides on. A role refused one (a column-level grant, a view's
 * column kept back) failed every rule, since every rule reads teams, workers and children for
 * its recipients and families (audit 12, F2). Now each statement that does not decide on it
 * reads it as NULL (a recipient goes on to the next in RULES.md's order) and only a statement
 * that does fails, alone; every other column decides something for each statement reading it.
 * decided_by names those statements (rules, and "quality_RELATION" for a bad-row count whose
 * duplicates are ranked by it), space-separated. */
static const struct {
	const char *relation;
	const char *column;
	const char *decided_by;
	const char *cost;
} optional[] = {
	{ "children", "date_of_birth", "was_not_brought quality_children",
	  "was_not_brought and the bad-row count of children fail; the other rules do not need it" },
	{ "children", "disability", "was_not_brought quality_children",
	  "was_not_brought and the bad-row count of children fail; the other rules do not need it" },
	{ "children", "expected_dob", "quality_children",
	  "the bad-row count of children fails; the rules do not need it" },
	{ "teams", "manager_email", NULL,
	  "the rules read it as NULL: no team manager is addressed, and their alerts go to whoever "
	  "RULES.md names next" },
	{ "teams", "name", NULL, "the rules read it as NULL: teams are shown by their team_id" },
	{ "teams", "webhook_url", NULL,
	  "the rules read it as NULL: no team's own webhook is posted to" },
	{ "workers", "display_name", NULL,
	  "the rules read it as NULL: workers are named by their worker_id" },
	{ "workers", "email", NULL,
	  "the rules read it as NULL: no worker, supervisor or chair is addressed by email, and "
	  "their alerts go to whoever RULES.md names next" },
};

#define N_OPTIONAL (sizeof(optional) / sizeof(optional[0]))

int case_columns_at(unsigned i, const char **relation, const char **column)
{
	if (i >= N_OPTIONAL)
		return -1;
	*relation = optional[i].relation;
	*column = optional[i].column;
	return 0;
}

static int optional_index(const char *relation, size_t rlen, const char *column, size_t clen)
{
	for (size_t i = 0; i < N_OPTIONAL; i++)
		if (strlen(optional[i].relation) == rlen &&
		    strncmp(optional[i].relation, relation, rlen) == 0 &&
		    strlen(optional[i].column) == clen && strncmp(optional[i].column, column, clen) == 0)
			return (int)i;
	return -1;
}

const char *case_columns_cost(const char *relation, const char *column)
{
	int i = optional_index(relation, strlen(relation), column, strlen(column));

	return i >= 0 ? optional[i].cost : NULL;
}

unsigned case_columns_bit(const char *relation, const char *column)
{
	int i = optional_index(relation, strlen(relation), column, strlen(column));

	return i >= 0 ? 1u << i : 0;
}

unsigned case_columns_parse(const char *list)
{
	unsigned set = 0;
	const char *p = list, *end, *dot;
	int i;

	while (p && *p) {
		end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		dot = memchr(p, '.', (size_t)(end - p));
		i = dot ? optional_index(p, (size_t)(dot - p), dot + 1, (size_t)(end - dot - 1)) : -1;
		if (i >= 0)
			set |= 1u << i;
		p = *end ? end + 1 : end;
	}
	return set;
}

/* The contract's type of the column (CONTRACT.md), for a NULL that stands for it. */
static const char *null_type(const char *relation, const char *column)
{
	static const char *const sql_types[] = { "text", "date", "boolean", "timestamptz" };
	size_t n;
	const struct contract_column *c = contract_columns(&n);

	for (size_t i = 0; i < n; i++)
		if (strcmp(c[i].relation, relation) == 0 && strcmp(c[i].column, column) == 0)
			return sql_types[c[i].type];
	return "text";
}

/* One `@col:RELATION:EXPR@` at p (just after "@col:"): appends what it becomes, returns what
 * follows it, or NULL when it is not well formed (then it is copied as it is). */
static const char *col_token(struct strbuf *sb, const char *p, unsigned withheld)
{
	const char *colon = strchr(p, ':'), *at, *dot;
	int i;

	if (!colon)
		return NULL;
	at = strchr(colon + 1, '@');
	if (!at)
		return NULL;
	dot = colon + 1;
	for (const char *q = colon + 1; q < at; q++)
		if (*q == '.')
			dot = q + 1;
	i = optional_index(p, (size_t)(colon - p), dot, (size_t)(at - dot));
	if (i >= 0 && (withheld & (1u << i)))
		strbuf_printf(sb, "NULL::%s", null_type(optional[i].relation, optional[i].column));
	else
		strbuf_appendn(sb, colon + 1, (size_t)(at - colon - 1));
	return at + 1;
}

/* Whether the space-separated list names reader. */
static int names(const char *list, const char *reader)
{
	size_t n = strlen(reader);

	for (const char *p = list; p && *p; p += strcspn(p, " "), p += *p == ' ') {
		if (strncmp(p, reader, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	}
	return 0;
}

unsigned case_columns_for(const char *reader, unsigned withheld)
{
	for (size_t i = 0; i < N_OPTIONAL; i++)
		if (reader && names(optional[i].decided_by, reader))
			withheld &= ~(1u << i);
	return withheld;
}

char *case_columns_sql(const char *sql, const char *case_ident, unsigned withheld)
{
	static const char col[] = "@col:";
	struct strbuf sb;
	const char *p = sql, *hit, *next;
	char *out;

	strbuf_init(&sb);
	while ((hit = strstr(p, col)) != NULL) {
		strbuf_appendn(&sb, p, (size_t)(hit - p));
		next = col_token(&sb, hit + sizeof(col) - 1, withheld);
		if (!next) {
			strbuf_append(&sb, col);
			next = hit + sizeof(col) - 1;
		}
		p = next;
	}
	strbuf_append(&sb, p);
	out = strbuf_take(&sb);
	if (!out)
		return NULL;
	sql = out;
	out = strbuf_subst(sql, "@case@", case_ident);
	free((char *)sql);
	if (!out)
		return NULL;
	sql = out;
	out = strbuf_subst(sql, "@shown@", CASE_COLUMNS_SHOWN_SQL);
	free((char *)sql);
	return out;
}

void case_columns_changed(const struct dw_ctx *ctx, unsigned before, unsigned now)
{
	for (size_t i = 0; i < N_OPTIONAL; i++) {
		unsigned bit = 1u << i;

		if ((now & bit) && !(before & bit))
			log_warn(ctx, "database (%s: database.case_schema): column %s.%s.%s: this role "
				 "may not SELECT it: %s (GRANT SELECT (%s) ON %s.%s to give it back)", ctx->cfg->path, ctx->cfg->case_schema,
				 optional[i].relation, optional[i].column, optional[i].cost,
				 optional[i].column, ctx->cfg->case_schema, optional[i].relation);
		else if (!(now & bit) && (before & bit))
			log_notice(ctx, "database (%s: database.case_schema): column %s.%s.%s may be "
				   "read again", ctx->cfg->path, ctx->cfg->case_schema,
				   optional[i].relation, optional[i].column);
	}
}
