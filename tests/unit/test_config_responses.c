/* Unit tests of daemon/config.c's keys for responses (issue 13): web.*, responses.* and
 * calendar.*: each key's default, good values and bad values with the message naming the key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/errlist.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

#define NAME "test.json"
#define DB "'database': {'conninfo': 'host=/run/postgresql dbname=cases'}"
#define WEB_OK "'public_url': 'https://dw.la.example.gov.uk', 'link_secret_file': '/etc/dw/link'"

struct run {
	int rc;
	struct dw_config cfg;
	struct errlist errs;
	char *all;
};

/* Test JSON is written with single quotes to stay readable in C; this makes it JSON. */
static char *jq(const char *s)
{
	char *out = strdup(s);

	if (!out)
		exit(2);
	for (char *p = out; *p; p++)
		if (*p == '\'')
			*p = '"';
	return out;
}

static char *join_errors(const struct errlist *errs)
{
	size_t len = 1;
	char *all;

	for (size_t i = 0; i < errs->n; i++)
		len += strlen(errs->msgs[i]) + 1;
	if (!(all = calloc(1, len)))
		exit(2);
	for (size_t i = 0; i < errs->n; i++) {
		strcat(all, errs->msgs[i]);
		if (i + 1 < errs->n)
			strcat(all, "\n");
	}
	return all;
}

/* Loads {DB, members}, members written with single quotes. */
static void run_with(struct run *r, const char *members)
{
	size_t n = strlen(DB) + strlen(members) + 8;
	char *doc = malloc(n), *json;

	if (!doc)
		exit(2);
	snprintf(doc, n, "{%s%s%s}", DB, *members ? ", " : "", members);
	json = jq(doc);
	memset(r, 0, sizeof(*r));
	r->rc = config_load_text(NAME, json, &r->cfg, &r->errs);
	r->all = join_errors(&r->errs);
	free(json);
	free(doc);
}

static void run_free(struct run *r)
{
	config_free(&r->cfg);
	errlist_free(&r->errs);
	free(r->all);
}

#define expect_fault(members, want) expect_fault_at(__FILE__, __LINE__, members, want)
static void expect_fault_at(const char *file, int line, const char *members, const char *want)
{
	struct run r;

	run_with(&r, members);
	tap_contains_at(file, line, r.rc == -1 ? r.all : "(load succeeded)", want, "fault: %s",
			members);
	run_free(&r);
}

#define expect_clean(members) expect_clean_at(__FILE__, __LINE__, members)
static void expect_clean_at(const char *file, int line, const char *members)
{
	struct run r;

	run_with(&r, members);
	if (!tap_ok_at(file, line, r.rc == 0 && r.errs.n == 0, "loads cleanly", "clean: %s",
		       members))
		tap_diag_value("messages", r.all);
	run_free(&r);
}

static const char *strv_text(char *const *v, char *buf, size_t cap)
{
	size_t o = 0;

	if (!v)
		return NULL;
	buf[0] = '\0';
	for (size_t i = 0; v[i] && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "", v[i]);
	return buf;
}

static void test_defaults(void)
{
	struct run r;
	char buf[256];
	struct calendar cal;
	const struct config_escalate *e;

	run_with(&r, "");
	tap_int(r.rc, 0, "defaults: the minimal configuration loads");
	tap_str(r.cfg.web.public_url, NULL, "defaults: web.public_url is unset: no links");
	tap_str(r.cfg.web.link_secret_file, NULL, "defaults: web.link_secret_file is unset");
	tap_int(r.cfg.web.link_days, 30, "defaults: web.link_days is 30");
	tap_str(r.cfg.web.listen, NULL, "defaults: web.listen is off");
	tap_str(r.cfg.web.user_header, "X-Forwarded-Email",
		"defaults: web.user_header is X-Forwarded-Email");
	tap_ok(r.cfg.web.trusted_proxies == NULL,
	       "defaults: web.trusted_proxies is empty: the user header is believed from nobody");
	tap_ok(r.cfg.web.viewers == NULL, "defaults: web.viewers is empty");
	tap_int(r.cfg.responses.max_snooze_days, 90, "defaults: responses.max_snooze_days is 90");
	tap_int(r.cfg.responses.n_escalate, 2, "defaults: two escalation entries");
	if (r.cfg.responses.n_escalate == 2) {
		e = r.cfg.responses.escalate;
		tap_str(strv_text(e[0].rules, buf, sizeof(buf)), "cp_neglect_duration",
			"defaults: first entry: cp_neglect_duration");
		tap_str(strv_text(e[0].stages, buf, sizeof(buf)), "15m,18m",
			"defaults: first entry: stages 15m and 18m");
		tap_int(e[0].after_working_days, 5, "defaults: first entry: 5 working days");
		tap_str(strv_text(e[0].to, buf, sizeof(buf)), "head_of_service",
			"defaults: first entry: to head_of_service");
		tap_ok(e[1].rules == NULL && e[1].stages == NULL,
		       "defaults: second entry: every rule and stage");
		tap_int(e[1].after_working_days, 10, "defaults: second entry: 10 working days");
		tap_str(strv_text(e[1].to, buf, sizeof(buf)), "service_manager",
			"defaults: second entry: to service_manager");
	}
	cal = config_calendar(&r.cfg);
	tap_ok(cal.region == CALENDAR_ENGLAND_AND_WALES && cal.n_closures == 0 &&
		       cal.closures == NULL,
	       "defaults: calendar is england-and-wales with no closures");
	run_free(&r);
}

static void test_web(void)
{
	struct run r;

	run_with(&r, "'web': {'public_url': 'https://dw.la.example.gov.uk/driftwatch/', "
		     "'link_secret_file': '/etc/driftwatch/link-secret', 'link_days': 14, "
		     "'listen': '127.0.0.1:9481'}");
	tap_int(r.rc, 0, "web: a full section loads");
	tap_str(r.cfg.web.public_url, "https://dw.la.example.gov.uk/driftwatch",
		"web: public_url is kept without its trailing '/'");
	tap_str(r.cfg.web.link_secret_file, "/etc/driftwatch/link-secret",
		"web: link_secret_file is kept as a path");
	tap_int(r.cfg.web.link_days, 14, "web: link_days is read");
	tap_str(r.cfg.web.listen, "127.0.0.1:9481", "web: listen is read");
	run_free(&r);

	expect_clean("'web': {" WEB_OK "}");
	expect_clean("'web': {'public_url': 'http://127.0.0.1:8080', 'link_secret_file': '/s'}");
	expect_clean("'web': {'public_url': 'http://localhost:8080/dw', 'link_secret_file': '/s'}");
	expect_clean("'web': {'public_url': 'http://[::1]:8080', 'link_secret_file': '/s'}");
	expect_clean("'web': {'public_url': null, 'link_secret_file': null}");
	expect_clean("'web': {'listen': '[::1]:9481'}");
	expect_clean("'web': {'link_days': 1}");
	expect_clean("'web': {'link_days': 365}");

	expect_fault("'web': {'public_url': 'http://dw.la.example.gov.uk', 'link_secret_file': "
		     "'/s'}",
		     NAME ": web.public_url: must be an https:// URL (http:// only to a loopback "
			  "host");
	expect_fault("'web': {'public_url': 'http://127.0.0.1.evil.example', "
		     "'link_secret_file': '/s'}",
		     NAME ": web.public_url: must be an https:// URL (http:// only to a loopback");
	expect_fault("'web': {'public_url': 'ftp://x', 'link_secret_file': '/s'}",
		     NAME ": web.public_url: must be an https:// URL without spaces, query or "
			  "fragment, got \"ftp://...\"");
	expect_fault("'web': {'public_url': 'https://dw.example/?a=1', 'link_secret_file': '/s'}",
		     NAME ": web.public_url: must be an https:// URL without spaces, query or "
			  "fragment");
	expect_fault("'web': {'public_url': 'https://', 'link_secret_file': '/s'}",
		     NAME ": web.public_url: must be an https:// URL");
	expect_fault("'web': {'public_url': 'https://user:hunter2@dw.example', "
		     "'link_secret_file': '/s'}",
		     NAME ": web.public_url: must be an https:// URL with a host and no user name, "
			  "got \"https://...\"");
	{
		run_with(&r, "'web': {'public_url': 'https://user:hunter2@dw.example', "
			     "'link_secret_file': '/s'}");
		tap_lacks(r.all, "hunter2", "web: a password in public_url is never quoted back");
		run_free(&r);
	}
	expect_fault("'web': {'public_url': 5, 'link_secret_file': '/s'}",
		     NAME ": web.public_url: must be a non-empty string or null, got a number");
	expect_fault("'web': {'public_url': 'https://dw.example'}",
		     NAME ": web.link_secret_file: is required with \"public_url\"");
	expect_fault("'web': {'link_secret_file': '/s'}",
		     NAME ": web.public_url: is required with \"link_secret_file\"");
	expect_fault("'web': {'public_url': 'https://dw.example', 'link_secret_file': 'rel/s'}",
		     NAME ": web.link_secret_file: must be an absolute path or \"credential:NAME\"");
	expect_fault("'web': {'link_days': 0}",
		     NAME ": web.link_days: must be an integer from 1 to 365, got 0");
	expect_fault("'web': {'link_days': 366}",
		     NAME ": web.link_days: must be an integer from 1 to 365, got 366");
	expect_fault("'web': {'link_days': '30'}",
		     NAME ": web.link_days: must be an integer from 1 to 365, got \"30\"");
	expect_fault("'web': {'listen': '9481'}", NAME ": web.listen: must be HOST:PORT");
	expect_fault("'web': {'listen': '127.0.0.1:9480'}",
		     NAME ": web.listen: must differ from http.listen");
	/* 0.0.0.0 takes every address's port, a name may resolve to the other's address: the
	 * daemon could not start (it said "Address already in use" and exited 1) */
	expect_fault("'web': {'listen': '0.0.0.0:9480'}",
		     NAME ": web.listen: must differ from http.listen");
	expect_fault("'web': {'listen': '[::]:9480'}",
		     NAME ": web.listen: must differ from http.listen");
	expect_fault("'web': {'listen': 'localhost:9480'}",
		     NAME ": web.listen: must differ from http.listen");
	expect_fault("'http': {'listen': '0.0.0.0:9481'}, 'web': {'listen': '127.0.0.1:9481'}",
		     NAME ": web.listen: must differ from http.listen");
	expect_fault("'http': {'listen': '[::1]:9481'}, 'web': {'listen': '[::1]:9481'}",
		     NAME ": web.listen: must differ from http.listen");
	/* two numeric addresses can share a port; a wildcard on another port is no conflict */
	expect_clean("'http': {'listen': '127.0.0.1:9481'}, 'web': {'listen': '127.0.0.2:9481'}");
	expect_clean("'web': {'listen': '0.0.0.0:9481'}");
	expect_clean("'http': {'listen': '[::]:9480'}, 'web': {'listen': '127.0.0.1:9481'}");
	expect_clean("'http': {'listen': null}, 'web': {'listen': '127.0.0.1:9480'}");
	expect_fault("'web': {'lisen': '127.0.0.1:9481'}",
		     NAME ": web.lisen: unknown key (expected one of: public_url, link_secret_file, "
			  "link_days, listen, api_tokens_file, user_header, trusted_proxies, "
			  "viewers)");
	expect_clean("'web': {'api_tokens_file': '/etc/driftwatch/api-tokens'}");
	expect_fault("'web': []", NAME ": web: must be an object, got []");
}

/* Who is who (RESPONSES.md): the proxy's header, whom it is believed from, who sees all. */
/* A list is as long as the authority needs: 64 viewers was the end of a fixed array once. */
static void test_long_lists(void)
{
	struct strbuf sb;
	struct run r;
	size_t n = 0;

	strbuf_init(&sb);

	strbuf_append(&sb, "'web': {'viewers': [");
	for (int i = 0; i < 500; i++)
		strbuf_printf(&sb, "%s'qa%d@la.example'", i ? ", " : "", i);
	strbuf_append(&sb, "]}");
	run_with(&r, sb.buf);
	for (char **v = r.cfg.web.viewers; v && *v; v++)
		n++;
	tap_ok(r.rc == 0 && n == 500 && strcmp(r.cfg.web.viewers[499], "qa499@la.example") == 0,
	       "web people: 500 viewers are read, in order (%zu)", n);
	run_free(&r);
	strbuf_truncate(&sb, 0);
	strbuf_append(&sb, "'web': {'viewers': [");
	for (int i = 0; i <= 10000; i++)
		strbuf_printf(&sb, "%s'q%d@la.example'", i ? ", " : "", i);
	strbuf_append(&sb, "]}");
	run_with(&r, sb.buf);
	tap_contains(r.rc == -1 ? r.all : "(load succeeded)",
		     NAME ": web.viewers: must have at most 10000 items, got 10001",
		     "web people: 10,001 viewers are refused, the bound named");
	run_free(&r);
	strbuf_free(&sb);
}

static void test_web_people(void)
{
	struct run r;
	char buf[256];

	run_with(&r, "'web': {'user_header': 'X-Auth-Request-Email', 'trusted_proxies': "
		     "['10.0.0.5', '::1'], 'viewers': ['QA@la.example', 'dpo@la.example']}");
	tap_int(r.rc, 0, "web people: a full set loads");
	tap_str(r.cfg.web.user_header, "X-Auth-Request-Email", "web people: user_header is read");
	tap_str(strv_text(r.cfg.web.trusted_proxies, buf, sizeof(buf)), "10.0.0.5,::1",
		"web people: trusted_proxies is read");
	tap_str(strv_text(r.cfg.web.viewers, buf, sizeof(buf)), "QA@la.example,dpo@la.example",
		"web people: viewers is read");
	run_free(&r);
	expect_clean("'web': {'trusted_proxies': [], 'viewers': []}");
	test_long_lists();
	expect_fault("'web': {'user_header': 'X Email'}",
		     NAME ": web.user_header: must be an HTTP header name (letters, digits and -, "
			  "at most 64), got \"X Email\"");
	expect_fault("'web': {'user_header': 'authorization'}",
		     NAME ": web.user_header: must be a header of its own, not one HTTP or the API "
			  "uses");
	expect_fault("'web': {'user_header': ''}", NAME ": web.user_header: must be a non-empty "
		     "string");
	expect_fault("'web': {'trusted_proxies': ['proxy.la.example']}",
		     NAME ": web.trusted_proxies[0]: must be an IP address such as \"10.0.0.5\"");
	expect_fault("'web': {'trusted_proxies': ['10.0.0.0/8']}",
		     NAME ": web.trusted_proxies[0]: must be an IP address");
	expect_fault("'web': {'trusted_proxies': ['10.0.0.5', '[::1]']}",
		     NAME ": web.trusted_proxies[1]: must be an IP address");
	expect_fault("'web': {'trusted_proxies': '10.0.0.5'}",
		     NAME ": web.trusted_proxies: must be a non-empty array of IP addresses");
	expect_fault("'web': {'trusted_proxies': ['10.0.0.5', '10.0.0.5']}",
		     NAME ": web.trusted_proxies[1]: repeats trusted_proxies[0]");
	expect_fault("'web': {'viewers': ['Quality Team <qa@la.example>']}",
		     NAME ": web.viewers[0]: must be one email address");
	expect_fault("'web': {'viewers': ['a@x.example', 'nobody']}",
		     NAME ": web.viewers[1]: must be one email address");
}

/* credential:NAME is resolved like every other secret file. */
static void test_web_credential(void)
{
	const char *base = getenv("TEST_TMPDIR");
	char dir[256], path[320];
	struct run r;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s/test_config_responses.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir))
		exit(2);
	snprintf(path, sizeof(path), "%s/link-secret", dir);
	if (!(f = fopen(path, "w")) || fputs("x\n", f) < 0 || fclose(f) != 0)
		exit(2);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	run_with(&r, "'web': {'public_url': 'https://dw.example', "
		     "'link_secret_file': 'credential:link-secret'}");
	tap_int(r.rc, 0, "web: link_secret_file takes credential:NAME");
	tap_str(r.cfg.web.link_secret_file, path, "web: and resolves it to a path");
	run_free(&r);
	expect_fault("'web': {'public_url': 'https://dw.example', "
		     "'link_secret_file': 'credential:missing'}",
		     NAME ": web.link_secret_file: credential \"missing\"");
	unsetenv("CREDENTIALS_DIRECTORY");
	remove(path);
	rmdir(dir);
}

static void test_responses(void)
{
	struct run r;
	char buf[256];
	const struct config_escalate *e;

	run_with(&r, "'responses': {'max_snooze_days': 30, 'escalate': ["
		     "{'rules': ['re_referral'], 'stages': ['cycle'], 'after_working_days': 3, "
		     " 'to': ['head_of_service', 'cp_manager']}, "
		     "{'rules': '*', 'stages': '*', 'after_working_days': 15, 'to': ['supervisor']}, "
		     "{'after_working_days': 20, 'to': ['service_manager']}]}");
	tap_int(r.rc, 0, "responses: a full section loads");
	if (r.rc != 0)
		tap_diag_value("messages", r.all);
	tap_int(r.cfg.responses.max_snooze_days, 30, "responses: max_snooze_days is read");
	tap_int(r.cfg.responses.n_escalate, 3, "responses: escalate replaces the defaults");
	if (r.cfg.responses.n_escalate == 3) {
		e = r.cfg.responses.escalate;
		tap_str(strv_text(e[0].rules, buf, sizeof(buf)), "re_referral",
			"responses: an entry's rules");
		tap_str(strv_text(e[0].stages, buf, sizeof(buf)), "cycle",
			"responses: an entry's stages");
		tap_int(e[0].after_working_days, 3, "responses: an entry's working days");
		tap_str(strv_text(e[0].to, buf, sizeof(buf)), "head_of_service,cp_manager",
			"responses: an entry's roles, in order");
		tap_ok(!e[1].rules && !e[1].stages, "responses: \"*\" is every rule and stage");
		tap_ok(!e[2].rules && !e[2].stages, "responses: absent rules and stages are \"*\"");
	}
	run_free(&r);

	run_with(&r, "'responses': {'escalate': []}");
	tap_ok(r.rc == 0 && r.cfg.responses.n_escalate == 0,
	       "responses: an empty list escalates nothing");
	run_free(&r);

	expect_clean("'responses': {'max_snooze_days': 1}");
	expect_clean("'responses': {'max_snooze_days': 365}");
	expect_clean("'responses': {'escalate': [{'rules': ['cp_neglect_duration', "
		     "'re_referral'], 'stages': ['cycle'], 'after_working_days': 1, "
		     "'to': ['cp_chair']}]}");
	expect_clean("'responses': {'escalate': [{'stages': ['churn'], 'after_working_days': 260, "
		     "'to': ['allocated_worker']}]}");

	expect_fault("'responses': {'max_snooze_days': 0}",
		     NAME ": responses.max_snooze_days: must be an integer from 1 to 365, got 0");
	expect_fault("'responses': {'max_snooze_days': 366}",
		     NAME ": responses.max_snooze_days: must be an integer from 1 to 365, got 366");
	expect_fault("'responses': {'escalate': {}}",
		     NAME ": responses.escalate: must be an array of {\"rules\", \"stages\", "
			  "\"after_working_days\", \"to\"} objects");
	expect_fault("'responses': {'escalate': [5]}",
		     NAME ": responses.escalate[0]: must be an object with \"after_working_days\" "
			  "and \"to\", got 5");
	expect_fault("'responses': {'escalate': [{'to': ['supervisor']}]}",
		     NAME ": responses.escalate[0].after_working_days: is required");
	expect_fault("'responses': {'escalate': [{'after_working_days': 5}]}",
		     NAME ": responses.escalate[0].to: is required");
	expect_fault("'responses': {'escalate': [{'after_working_days': 0, 'to': ['supervisor']}]}",
		     NAME ": responses.escalate[0].after_working_days: must be an integer from 1 to "
			  "260, got 0");
	expect_fault("'responses': {'escalate': [{'after_working_days': 5, 'to': ['supervisor']}, "
		     "{'rules': ['cp_neglect_durations'], 'after_working_days': 5, "
		     "'to': ['supervisor']}]}",
		     NAME ": responses.escalate[1].rules[0]: must be a rule name (one of: "
			  "cin_neglect_duration, cp_neglect_duration");
	expect_fault("'responses': {'escalate': [{'rules': 'cp_neglect_duration', "
		     "'after_working_days': 5, 'to': ['supervisor']}]}",
		     NAME ": responses.escalate[0].rules: must be \"*\" or a non-empty array of "
			  "rule names, got \"cp_neglect_duration\"");
	expect_fault("'responses': {'escalate': [{'rules': [], 'after_working_days': 5, "
		     "'to': ['supervisor']}]}",
		     NAME ": responses.escalate[0].rules: must be \"*\" or a non-empty array of "
			  "rule names, got []");
	expect_fault("'responses': {'escalate': [{'rules': ['cp_neglect_duration'], "
		     "'stages': ['15m', '16m'], 'after_working_days': 5, 'to': ['supervisor']}]}",
		     NAME ": responses.escalate[0].stages[1]: \"16m\" is not a stage of "
			  "cp_neglect_duration (cp_neglect_duration: 9m, 12m, 15m, 18m)");
	expect_fault("'responses': {'escalate': [{'rules': ['cp_neglect_duration', 'worker_churn'],"
		     " 'stages': ['cycle'], 'after_working_days': 5, 'to': ['supervisor']}]}",
		     NAME ": responses.escalate[0].stages[0]: \"cycle\" is not a stage of any rule "
			  "listed (cp_neglect_duration: 9m, 12m, 15m, 18m; worker_churn: churn)");
	expect_fault("'responses': {'escalate': [{'stages': ['15months'], "
		     "'after_working_days': 5, 'to': ['supervisor']}]}",
		     NAME ": responses.escalate[0].stages[0]: \"15months\" is not a stage of any "
			  "rule");
	expect_fault("'responses': {'escalate': [{'stages': ['15m', '15m'], "
		     "'after_working_days': 5, 'to': ['supervisor']}]}",
		     NAME ": responses.escalate[0].stages[1]: repeats stages[0]");
	expect_fault("'responses': {'escalate': [{'after_working_days': 5, 'to': ['manager']}]}",
		     NAME ": responses.escalate[0].to[0]: must be a role (one of: allocated_worker, "
			  "supervisor, cp_chair, cp_manager, head_of_service, service_manager), got "
			  "\"manager\"");
	expect_fault("'responses': {'escalate': [{'after_working_days': 5, 'to': []}]}",
		     NAME ": responses.escalate[0].to: must be a non-empty array of roles");
	expect_fault("'responses': {'escalate': [{'after_working_days': 5, 'to': ['supervisor'], "
		     "'role': 'x'}]}",
		     NAME ": responses.escalate[0].role: unknown key (expected one of: rules, "
			  "stages, after_working_days, to)");
	expect_fault("'responses': {'snooze_days': 5}",
		     NAME ": responses.snooze_days: unknown key (expected one of: max_snooze_days, "
			  "escalate)");
	/* service_manager is for escalation only: rules' stage recipients do not take it */
	expect_fault("'rules': {'worker_churn': {'stages': {'churn': {'recipients': "
		     "['service_manager']}}}}",
		     NAME ": rules.worker_churn.stages.churn.recipients[0]: must be a role");
}

static void test_calendar(void)
{
	struct run r;
	struct calendar cal;
	int32_t d29 = 0, d31 = 0;
	char buf[CALENDAR_DAY_LEN];

	run_with(&r, "'calendar': {'region': 'scotland', "
		     "'closures': ['2026-12-31', '2026-12-29', '2026-12-31']}");
	tap_int(r.rc, 0, "calendar: a region and closures load");
	cal = config_calendar(&r.cfg);
	calendar_day_parse("2026-12-29", &d29);
	calendar_day_parse("2026-12-31", &d31);
	tap_int(cal.region, CALENDAR_SCOTLAND, "calendar: the region is decoded");
	tap_int(cal.n_closures, 2, "calendar: closures without repeats");
	tap_ok(cal.n_closures == 2 && cal.closures[0] == d29 && cal.closures[1] == d31,
	       "calendar: closures decoded to days, ascending");
	tap_ok(!calendar_is_working_day(&cal, d29), "calendar: a closure is not a working day");
	tap_str(calendar_day_format(d29, buf, sizeof(buf)), "2026-12-29", "calendar: round trip");
	run_free(&r);

	expect_clean("'calendar': {}");
	expect_clean("'calendar': {'region': 'northern-ireland', 'closures': []}");
	expect_clean("'calendar': {'region': 'england-and-wales', 'closures': null}");

	expect_fault("'calendar': {'region': 'wales'}",
		     NAME ": calendar.region: \"wales\" is not a region (england-and-wales, "
			  "scotland or northern-ireland)");
	expect_fault("'calendar': {'region': 5}",
		     NAME ": calendar.region: must be a non-empty string, got 5");
	expect_fault("'calendar': {'closures': ['2026-12-29', '2026-02-30']}",
		     NAME ": calendar.closures[1]: \"2026-02-30\" is not a real day");
	expect_fault("'calendar': {'closures': [20261229]}",
		     NAME ": calendar.closures[0]: is not a string");
	expect_fault("'calendar': {'closures': '2026-12-29'}",
		     NAME ": calendar.closures: must be an array of days (\"YYYY-MM-DD\"), got "
			  "\"2026-12-29\"");
	expect_fault("'calendar': {'closure': []}",
		     NAME ": calendar.closure: unknown key (expected one of: region, closures)");
	expect_fault("'calendar': {'region': 'wal\\nes'}",
		     NAME ": calendar.region: \"wal?es\" is not a region");
	{
		char members[700];

		snprintf(members, sizeof(members), "'calendar': {'closures': ['%0500d']}", 7);
		run_with(&r, members);
		tap_ok(r.rc == -1 && r.errs.n == 1 && strlen(r.all) < 400,
		       "calendar: a very long bad value is cut in the message");
		run_free(&r);
	}
}

/* Every fault in the new sections at once, not only the first. */
static void test_all_faults(void)
{
	struct run r;

	run_with(&r, "'web': {'link_days': 0}, 'responses': {'max_snooze_days': 0}, "
		     "'calendar': {'region': 'wales'}");
	tap_int(r.errs.n, 3, "all faults: one message for each bad key");
	if (r.errs.n != 3)
		tap_diag_value("messages", r.all);
	run_free(&r);
}

int main(void)
{
	test_defaults();
	test_web();
	test_web_people();
	test_web_credential();
	test_responses();
	test_calendar();
	test_all_faults();
	return tap_status();
}
