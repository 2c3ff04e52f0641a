/* Unit test: every "first by content" in the embedded statements lists its relation's content
 * order, as rules/contract.sql defines the relation (docs/internals.md): a rule settles the rows
 * it reads by keeping, per key, the first row by content order, and the bad-row count ranks the
 * copies of a key the same way. Content order is the relation's non-key columns in table order;
 * if one statement listed them otherwise, a rule and the count (or two rules) would keep
 * different copies of a duplicated key, and nothing else would notice.
 * Checked: each `SELECT DISTINCT ON (<the relation's whole key>) ... FROM X_rows ... ORDER BY`
 * and each `PARTITION BY <whole key> ORDER BY` of quality_X.sql: the ORDER BY is the key, then
 * the content order. Reads rules/contract.sql from $DW_TOP (default "."). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "tap.h"

#define MAX_COLS 12
#define MAX_RELS 9

struct relation {
	const char *name;
	const char *key;          /* the key column; with child_id for a relation of a child */
	int of_child;
	char cols[MAX_COLS][32];  /* every column, in table order (rules/contract.sql) */
	size_t n_cols;
	int checked;              /* first-by-content lists found and checked */
};

static struct relation rels[MAX_RELS] = {
	{ .name = "teams", .key = "team_id" }, { .name = "workers", .key = "worker_id" },
	{ .name = "children", .key = "child_id" },
	{ .name = "allocations", .key = "allocation_id", .of_child = 1 },
	{ .name = "referrals", .key = "referral_id", .of_child = 1 },
	{ .name = "cin_plans", .key = "plan_id", .of_child = 1 },
	{ .name = "cp_plans", .key = "plan_id", .of_child = 1 },
	{ .name = "appointments", .key = "appointment_id", .of_child = 1 },
	{ .name = "strategies", .key = "strategy_id", .of_child = 1 },
};

static int failures;

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The columns of each CREATE TABLE in contract.sql, in order. */
static int read_contract(const char *sql)
{
	for (size_t r = 0; r < MAX_RELS; r++) {
		char head[64];
		const char *p;

		snprintf(head, sizeof(head), "CREATE TABLE %s (", rels[r].name);
		p = strstr(sql, head);
		if (!p)
			return -1;
		p += strlen(head);
		while (*p) {
			size_t len;

			p += strspn(p, " \t\n");
			if (*p == ')')
				break;
			if (strncmp(p, "--", 2) == 0) {
				p += strcspn(p, "\n");
				continue;
			}
			len = strspn(p, "abcdefghijklmnopqrstuvwxyz_");
			if (len > 0 && len < 32 && rels[r].n_cols < MAX_COLS)
				snprintf(rels[r].cols[rels[r].n_cols++], 32, "%.*s", (int)len, p);
			p += strcspn(p, "\n");
		}
	}
	return 0;
}

/* sql without "--" comments, with runs of white space as one space. */
static char *normalise(const char *sql)
{
	char *out = malloc(strlen(sql) + 1), *o = out;
	int quote = 0, space = 0;

	if (!out)
		return NULL;
	for (const char *p = sql; *p; p++) {
		if (!quote && p[0] == '-' && p[1] == '-') {
			p += strcspn(p, "\n");
			if (!*p)
				break;
		}
		if (*p == '\'')
			quote = !quote;
		if (!quote && isspace((unsigned char)*p)) {
			space = 1;
			continue;
		}
		if (space && o > out)
			*o++ = ' ';
		space = 0;
		*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* A list of expressions from p up to the ')' that closes the enclosing group, a clause at
 * depth 0 (FROM, WHERE, ORDER BY, ...) or the end, as "a,b,c": each item without its table
 * qualifier ("x.") and COLLATE clause. Returns where it stopped. */
static const char *read_list(const char *p, char *out, size_t size)
{
	static const char *const stops[] = { " FROM ", " WHERE ", " LIMIT ", " WINDOW ",
					     " UNION ", " ORDER BY ", NULL };
	int depth = 0;
	size_t n = 0;

	out[0] = '\0';
	while (*p) {
		if (depth == 0) {
			for (size_t s = 0; stops[s]; s++)
				if (strncmp(p, stops[s], strlen(stops[s])) == 0)
					return p;
			if (*p == ')')
				return p;
		}
		if (*p == '(')
			depth++;
		if (*p == ')')
			depth--;
		if (depth == 0 && strncmp(p, " COLLATE \"", 10) == 0) {
			p = strchr(p + 10, '"');
			p = p ? p + 1 : "";
			continue;
		}
		if (depth == 0 && *p == ' ') {
			p++;
			continue;
		}
		/* a qualifier: letters then '.' */
		if (depth == 0 && (n == 0 || out[n - 1] == ',')) {
			size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz_");

			if (len > 0 && len < 4 && p[len] == '.')
				p += len + 1;
		}
		if (n + 1 < size)
			out[n++] = *p;
		out[n] = '\0';
		p++;
	}
	return p;
}

/* The key of r as a DISTINCT ON / PARTITION BY list says it ("child_id,plan_id" or
 * "worker_id"). */
static void key_list(const struct relation *r, char *out, size_t size)
{
	if (r->of_child)
		snprintf(out, size, "child_id,%s", r->key);
	else
		snprintf(out, size, "%s", r->key);
}

/* What an ORDER BY that picks the first by content must be: the key (for DISTINCT ON; a
 * window partitions by it instead), then every other column in table order. */
static void want_order(const struct relation *r, int with_key, char *out, size_t size)
{
	size_t n;

	out[0] = '\0';
	if (with_key)
		key_list(r, out, size);
	for (size_t c = 0; c < r->n_cols; c++) {
		if (strcmp(r->cols[c], r->key) == 0 || strcmp(r->cols[c], "child_id") == 0)
			continue;
		n = strlen(out);
		snprintf(out + n, size - n, "%s%s", n ? "," : "", r->cols[c]);
	}
}

static struct relation *relation_named(const char *p, size_t len)
{
	for (size_t r = 0; r < MAX_RELS; r++)
		if (strlen(rels[r].name) == len && strncmp(rels[r].name, p, len) == 0)
			return &rels[r];
	return NULL;
}

static void check(const char *what, struct relation *r, int with_key, const char *got)
{
	char want[512];

	want_order(r, with_key, want, sizeof(want));
	r->checked++;
	if (strcmp(got, want) == 0)
		return;
	failures++;
	tap_ok(0, "%s: the first %s row by content is picked in content order", what, r->name);
	tap_diag("  ORDER BY %s", got);
	tap_diag("  want     %s", want);
}

/* Each SELECT DISTINCT ON (whole key) ... FROM X_rows ... ORDER BY ... */
static void check_distinct_on(const char *what, const char *sql)
{
	for (const char *p = strstr(sql, "DISTINCT ON ("); p; p = strstr(p + 1, "DISTINCT ON (")) {
		char keys[256], order[512];
		const char *q = read_list(p + strlen("DISTINCT ON ("), keys, sizeof(keys));
		const char *from, *name, *ob;
		struct relation *r;
		char want[64];
		int depth = 0;

		/* the FROM of this SELECT: the first at its own depth */
		for (from = q + 1; *from; from++) {
			if (*from == '(')
				depth++;
			if (*from == ')' && --depth < 0)
				break;
			if (depth == 0 && strncmp(from, " FROM ", 6) == 0)
				break;
		}
		if (strncmp(from, " FROM ", 6) != 0)
			continue;
		name = from + 6;
		if (!strstr(name, "_rows") || (size_t)(strstr(name, "_rows") - name) >
		    strcspn(name, " )"))
			continue;
		r = relation_named(name, (size_t)(strstr(name, "_rows") - name));
		if (!r)
			continue;
		key_list(r, want, sizeof(want));
		if (strcmp(keys, want) != 0)
			continue;   /* not the whole key: a pick by something else (the latest ...) */
		/* its ORDER BY: the first at the FROM's depth */
		depth = 0;
		for (ob = name; *ob; ob++) {
			if (*ob == '(')
				depth++;
			if (*ob == ')' && --depth < 0)
				break;
			if (depth == 0 && strncmp(ob, " ORDER BY ", 10) == 0)
				break;
		}
		if (strncmp(ob, " ORDER BY ", 10) != 0) {
			failures++;
			tap_ok(0, "%s: DISTINCT ON the key of %s has an ORDER BY", what, r->name);
			continue;
		}
		read_list(ob + 10, order, sizeof(order));
		check(what, r, 1, order);
	}
}

/* quality_X.sql ranks the copies of a key: PARTITION BY (whole key) ORDER BY ... */
static void check_windows(const char *what, const char *sql, struct relation *r)
{
	for (const char *p = strstr(sql, "PARTITION BY "); p; p = strstr(p + 1, "PARTITION BY ")) {
		char keys[256], order[512], want[64];
		const char *q = read_list(p + strlen("PARTITION BY "), keys, sizeof(keys));

		key_list(r, want, sizeof(want));
		if (strcmp(keys, want) != 0 || strncmp(q, " ORDER BY ", 10) != 0)
			continue;   /* not the whole key: numbering, episodes */
		read_list(q + 10, order, sizeof(order));
		check(what, r, 0, order);
	}
}

int main(void)
{
	static const struct { const char *rel, *sql; } quality[] = {
		{ "teams", sql_quality_teams }, { "workers", sql_quality_workers },
		{ "children", sql_quality_children }, { "allocations", sql_quality_allocations },
		{ "referrals", sql_quality_referrals }, { "cin_plans", sql_quality_cin_plans },
		{ "cp_plans", sql_quality_cp_plans }, { "appointments", sql_quality_appointments },
		{ "strategies", sql_quality_strategies },
	};
	const char *top = getenv("DW_TOP") ? getenv("DW_TOP") : ".";
	char path[1024], *contract;

	snprintf(path, sizeof(path), "%s/rules/contract.sql", top);
	contract = slurp(path);
	if (!tap_ok(contract && read_contract(contract) == 0, "read the relations of %s", path))
		return tap_status();
	free(contract);
	for (size_t r = 0; r < MAX_RELS; r++)
		tap_ok(rels[r].n_cols >= 3, "%s has %zu columns", rels[r].name, rels[r].n_cols);

	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct rule_def *def = rule_registry_get(i);
		char *full = normalise(def->sql), *inc = normalise(def->sql_incremental);

		if (full)
			check_distinct_on(def->name, full);
		if (inc)
			check_distinct_on(def->name, inc);
		free(full);
		free(inc);
	}
	for (size_t i = 0; i < sizeof(quality) / sizeof(quality[0]); i++) {
		char *sql = normalise(quality[i].sql);

		if (sql) {
			check_distinct_on(quality[i].rel, sql);
			check_windows(quality[i].rel, sql, relation_named(quality[i].rel,
									  strlen(quality[i].rel)));
		}
		free(sql);
	}
	tap_int(failures, 0, "every first-by-content pick lists its relation's content order");
	for (size_t r = 0; r < MAX_RELS; r++)
		tap_ok(rels[r].checked > 0, "%s: %d picks checked (the test sees them)",
		       rels[r].name, rels[r].checked);
	return tap_status();
}
