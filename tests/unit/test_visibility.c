/* test_visibility: who a person is to driftwatch: the header's email, the configured addresses
 * that see everything, and the peers whose header is believed (RESPONSES.md, "Who is who"); what
 * the case data's statement hands the state's; and that no statement of the pages reads the case
 * data and the state together (they may be different databases: state.conninfo). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "driftwatch/config.h"
#include "driftwatch/errlist.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/visibility.h"
#include "tap.h"

static void person(const char *value, const char *want)
{
	char *got = visibility_person(value);

	/* a value with a line break is named by its length: the TAP line must stay one line */
	if (value && strpbrk(value, "\r\n"))
		tap_str(got, want, "person: a value of %zu bytes with a line break", strlen(value));
	else
		tap_str(got, want, "person: \"%s\"", value ? value : "(null)");
	free(got);
}

static void test_person(void)
{
	person("sup@la.example", "sup@la.example");
	person("  Sup.One@LA.Example\t", "sup.one@la.example");
	person(NULL, NULL);
	person("", NULL);
	person("nobody", NULL);
	person("@la.example", NULL);
	person("sup@", NULL);
	person("a@b@c", NULL);
	person("Sup One <sup@la.example>", NULL);
	person("a@x.example, b@x.example", NULL);
	person("sup@la.example\r\nX-Evil: 1", NULL);
}

static int peer(const struct dw_config *cfg, const char *text)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;

	memset(&v4, 0, sizeof(v4));
	memset(&v6, 0, sizeof(v6));
	if (inet_pton(AF_INET, text, &v4.sin_addr) == 1) {
		v4.sin_family = AF_INET;
		return visibility_trusted_peer(cfg, (struct sockaddr *)&v4);
	}
	if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1) {
		v6.sin6_family = AF_INET6;
		return visibility_trusted_peer(cfg, (struct sockaddr *)&v6);
	}
	return -1;
}

static void test_config(void)
{
	struct dw_config cfg;
	struct errlist errs = { 0 };
	int rc = config_load_text("test.json",
		"{\"database\": {\"conninfo\": \"dbname=x\"}, \"addresses\": {"
		"\"fallback\": \"duty@la.example\", \"head_of_service\": \"HoS@la.example\", "
		"\"cp_manager\": \"cpm@la.example\", \"operators\": \"ops@la.example\"}, "
		"\"web\": {\"trusted_proxies\": [\"10.0.0.5\", \"::1\", \"::ffff:10.0.0.9\"], "
		"\"viewers\": [\"QA@la.example\"]}}", &cfg, &errs);

	tap_int(rc, 0, "the configuration loads");
	tap_ok(visibility_sees_all(&cfg, "hos@la.example"), "head_of_service sees all (any case)");
	tap_ok(visibility_sees_all(&cfg, "cpm@la.example"), "cp_manager sees all");
	tap_ok(visibility_sees_all(&cfg, "ops@la.example"), "operators see all");
	tap_ok(visibility_sees_all(&cfg, "qa@la.example"), "a web.viewers address sees all");
	tap_ok(!visibility_sees_all(&cfg, "duty@la.example"),
	       "the fallback does not: it sees what it was sent");
	tap_ok(!visibility_sees_all(&cfg, "sup@la.example"), "a worker does not");
	tap_ok(!visibility_sees_all(&cfg, NULL), "nobody does not");
	tap_int(peer(&cfg, "10.0.0.5"), 1, "a listed IPv4 proxy is trusted");
	tap_int(peer(&cfg, "::ffff:10.0.0.5"), 1,
		"so is it over a dual-stack socket (IPv4-mapped)");
	tap_int(peer(&cfg, "10.0.0.9"), 1, "a proxy written IPv4-mapped is its IPv4 address");
	tap_int(peer(&cfg, "::1"), 1, "a listed IPv6 proxy is trusted");
	tap_int(peer(&cfg, "10.0.0.6"), 0, "a neighbour is not");
	tap_int(peer(&cfg, "127.0.0.1"), 0, "nor is loopback unless listed");
	tap_ok(!visibility_trusted_peer(&cfg, NULL), "an unknown peer is not");
	config_free(&cfg);
	errlist_free(&errs);
	rc = config_load_text("test.json", "{\"database\": {\"conninfo\": \"dbname=x\"}}", &cfg,
			      &errs);
	tap_int(peer(&cfg, "127.0.0.1"), 0, "by default nobody's header is believed");
	config_free(&cfg);
	errlist_free(&errs);
}

/* A result of web_visible.sql's shape, made without a server. */
static PGresult *case_row(const char *const names[], const char *const values[], int n)
{
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	PGresAttDesc attrs[8];

	memset(attrs, 0, sizeof(attrs));
	for (int i = 0; i < n; i++) {
		attrs[i].name = (char *)names[i];
		attrs[i].format = 0;
		attrs[i].typid = 25;    /* text */
		attrs[i].typlen = -1;
		attrs[i].atttypmod = -1;
	}
	if (!res || !PQsetResultAttrs(res, n, attrs))
		return res;
	for (int i = 0; values && i < n; i++)
		PQsetvalue(res, 0, i, (char *)values[i], values[i] ? (int)strlen(values[i]) : -1);
	return res;
}

static void test_case_to_state(void)
{
	static const char *const names[] = { "known", "child_ids", "plan_child_ids", "plan_ids" };
	static const char *const values[] = { "t", "{C-1,\"C 2\"}", "{C-9}", "{P-9}" };
	static const char *const no_plans[] = { "f", "{}", "{}", NULL };
	const char *params[VISIBILITY_STATE_PARAMS];
	struct visibility_case c = { 0 };
	PGresult *res = case_row(names, values, 4);

	tap_int(visibility_case_read(res, &c), 0, "case row: read");
	visibility_state_params("sw@la.example", &c, params);
	tap_str(params[0], "sw@la.example", "state params: $1 the person");
	tap_str(params[1], "{C-1,\"C 2\"}", "state params: $2 the children, as the case data gave");
	tap_str(params[2], "{C-9}", "state params: $3 the chaired plans' children");
	tap_str(params[3], "{P-9}", "state params: $4 the chaired plans");
	tap_str(params[4], "true", "state params: $5 known to the case data");
	visibility_case_clear(&c);
	PQclear(res);

	visibility_state_params("x@la.example", NULL, params);
	tap_ok(strcmp(params[1], "{}") == 0 && strcmp(params[2], "{}") == 0 &&
	       strcmp(params[3], "{}") == 0 && strcmp(params[4], "false") == 0,
	       "state params without the case data: empty lists, not known (only what they were "
	       "sent)");

	res = case_row(names, no_plans, 4);
	tap_int(visibility_case_read(res, &c), -1, "case row: a NULL list is refused");
	tap_ok(!c.child_ids && !c.plan_ids, "... and nothing is kept of it");
	PQclear(res);
	res = case_row(names, values, 3);
	tap_int(visibility_case_read(res, &c), -1, "case row: a missing column is refused");
	PQclear(res);
}

/* Each statement runs on one connection, chosen by what it names (web.c): none may name both. */
static void test_one_side(void)
{
	static const struct { const char *name, *sql; } stmts[] = {
		{ "web_visible", sql_web_visible }, { "web_visible_state", sql_web_visible_state },
		{ "web_service", sql_web_service }, { "web_service_state", sql_web_service_state },
		{ "web_alert", sql_web_alert }, { "web_alerts", sql_web_alerts },
		{ "web_pages_alerts", sql_web_pages_alerts },
		{ "web_pages_workers", sql_web_pages_workers },
		{ "web_child_alerts", sql_web_child_alerts },
		{ "web_child_allocations", sql_web_child_allocations },
		{ "web_child_appointments", sql_web_child_appointments },
		{ "web_child_children", sql_web_child_children },
		{ "web_child_plans", sql_web_child_plans },
		{ "web_child_referrals", sql_web_child_referrals },
		{ "web_child_strategies", sql_web_child_strategies },
	};

	for (size_t i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		tap_ok(!(strstr(stmts[i].sql, "@case@") && strstr(stmts[i].sql, "@state@")),
		       "%s.sql reads the case data or the state, not both", stmts[i].name);
	tap_ok(strstr(sql_web_visible, "@case@") && !strstr(sql_web_visible, "@state@"),
	       "web_visible.sql reads the case data only");
	tap_ok(strstr(sql_web_visible_state, "@state@") && !strstr(sql_web_visible_state, "@case@"),
	       "web_visible_state.sql reads the state only");
}

int main(void)
{
	test_person();
	test_config();
	test_case_to_state();
	test_one_side();
	return tap_status();
}
