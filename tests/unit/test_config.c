/* Unit tests of daemon/config.c: defaults, every key's type and value checks, unknown keys,
 * rules, inheritance, messages (file, key path, no secrets) and freeing. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "driftwatch/config.h"
#include "driftwatch/errlist.h"
#include "driftwatch/rule.h"
#include "tap.h"

#define NAME "test.json"
#define DB "'database': {'conninfo': 'host=/run/postgresql dbname=cases'}"
#define MINIMAL "{" DB "}"
#define SECRET_WORD "hunter2"

/* Inline secrets for the Standard Webhooks tests: base64 of 23, 24, 64 and 65 bytes. */
#define B64_23 "AAECAwQFBgcICQoLDA0ODxAREhMUFRY="
#define B64_24 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"
#define B64_64 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw=="
#define B64_65 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A="

/* One load: its result, its configuration and its messages joined by newlines. */
struct run {
	int rc;
	struct dw_config cfg;
	struct errlist errs;
	char *all;
};

static char tzdir[300];
static char tmpdir[256];

/* Test JSON is written with single quotes to stay readable in C; this makes it JSON. */
static char *jq(const char *s)
{
	char *out = strdup(s);

	if (!out) {
		perror("strdup");
		exit(2);
	}
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
	if (!(all = calloc(1, len))) {
		perror("calloc");
		exit(2);
	}
	for (size_t i = 0; i < errs->n; i++) {
		strcat(all, errs->msgs[i]);
		if (i + 1 < errs->n)
			strcat(all, "\n");
	}
	return all;
}

/* Loads a JSON text written as is (double quotes). */
static void run_raw(struct run *r, const char *json)
{
	memset(r, 0, sizeof(*r));
	r->rc = config_load_text(NAME, json, &r->cfg, &r->errs);
	r->all = join_errors(&r->errs);
}

/* Loads a document written with single quotes. */
static void run_doc(struct run *r, const char *doc)
{
	char *json = jq(doc);

	run_raw(r, json);
	free(json);
}

/* Loads {DB, members}. */
static void run_with(struct run *r, const char *members)
{
	size_t n = strlen(DB) + strlen(members) + 8;
	char *doc = malloc(n);

	if (!doc) {
		perror("malloc");
		exit(2);
	}
	snprintf(doc, n, "{%s%s%s}", DB, *members ? ", " : "", members);
	run_doc(r, doc);
	free(doc);
}

static void run_free(struct run *r)
{
	config_free(&r->cfg);
	errlist_free(&r->errs);
	free(r->all);
	r->all = NULL;
}

/* The load of {DB, members} fails and one message contains want. */
#define expect_fault(members, want) expect_fault_at(__FILE__, __LINE__, members, want)
static void expect_fault_at(const char *file, int line, const char *members, const char *want)
{
	struct run r;

	run_with(&r, members);
	if (r.rc != -1 && r.errs.n > 0)
		tap_diag("load returned %d with messages", r.rc);
	tap_contains_at(file, line, r.rc == -1 ? r.all : "(load succeeded)", want,
			"fault: %s", members);
	run_free(&r);
}

/* The same for a whole document. */
#define expect_doc_fault(doc, want) expect_doc_fault_at(__FILE__, __LINE__, doc, want)
static void expect_doc_fault_at(const char *file, int line, const char *doc, const char *want)
{
	struct run r;

	run_doc(&r, doc);
	tap_contains_at(file, line, r.rc == -1 ? r.all : "(load succeeded)", want, "fault: %s",
			doc);
	run_free(&r);
}

/* The load of {DB, members} succeeds with no messages. */
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

/* The strings of a NULL-terminated vector, joined with ",", for comparing in one check. */
static const char *strv_text(char **v, char *buf, size_t cap)
{
	size_t o = 0;

	if (!v)
		return NULL;
	buf[0] = '\0';
	for (size_t i = 0; v[i] && o < cap; i++)
		o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "", v[i]);
	return buf;
}

static const char *cstrv_text(const char *const *v, char *buf, size_t cap)
{
	return strv_text((char **)v, buf, cap);
}

/* ---- fixtures on disk ---- */

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		exit(2);
	}
}

/* A private zoneinfo directory, so the tests do not depend on the host's tzdata. */
static void make_tzdir(void)
{
	const char *base = getenv("TEST_TMPDIR");
	char path[1024];

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_config.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(2);
	}
	snprintf(tzdir, sizeof(tzdir), "%s/zoneinfo", tmpdir);
	snprintf(path, sizeof(path), "%s/Europe", tzdir);
	if (mkdir(tzdir, 0755) != 0 || mkdir(path, 0755) != 0) {
		perror("mkdir");
		exit(2);
	}
	snprintf(path, sizeof(path), "%s/Europe/London", tzdir);
	write_file(path, "TZif2\0\0\0", 8);
	snprintf(path, sizeof(path), "%s/UTC", tzdir);
	write_file(path, "TZif2\0\0\0", 8);
	snprintf(path, sizeof(path), "%s/zone.tab", tzdir);
	write_file(path, "# not a zone\n", 13);
	setenv("TZDIR", tzdir, 1);
}

static void remove_tzdir(void)
{
	static const char *const files[] = { "zoneinfo/Europe/London", "zoneinfo/UTC",
					     "zoneinfo/zone.tab", "zoneinfo/Europe", "zoneinfo",
					     "config.json", "big.json", "bad.json",
					     "credentials/smtp-password", "credentials/hook-secret",
					     "credentials/team-hook-secret", "credentials/ca.pem",
					     "credentials" };
	char path[1024];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", tmpdir, files[i]);
		remove(path);
	}
	rmdir(tmpdir);
}

/* ---- tests ---- */

static void test_minimal(void)
{
	struct run r;

	run_doc(&r, MINIMAL);
	tap_int(r.rc, 0, "minimal config loads");
	tap_int(r.errs.n, 0, "minimal config has no messages");
	tap_str(r.cfg.conninfo, "host=/run/postgresql dbname=cases", "conninfo is read");
	tap_str(r.cfg.path, NAME, "path is the name given");
	run_free(&r);
}

static void test_defaults(void)
{
	struct run r;
	char buf[256], want[256];
	bool roles_ok = true, opts_ok = true, thresholds_ok = true, cats_ok = true;

	run_doc(&r, MINIMAL);
	tap_str(r.cfg.case_schema, "casework", "default case_schema");
	tap_str(r.cfg.state_schema, "driftwatch", "default state_schema");
	tap_int(r.cfg.query_timeout_s, 300, "default query_timeout_seconds");
	tap_str(r.cfg.timezone, "Europe/London", "default timezone");
	tap_str(r.cfg.link_template, NULL, "default link_template is null");
	tap_ok(!r.cfg.addresses.fallback && !r.cfg.addresses.cp_chair &&
		       !r.cfg.addresses.cp_manager && !r.cfg.addresses.head_of_service &&
		       !r.cfg.addresses.operators,
	       "default addresses are null");
	tap_int(r.cfg.eval_interval_s, 300, "default evaluation.interval_seconds");
	tap_int(r.cfg.repeat_after_days, 0, "default repeat_after_days");
	tap_int(r.cfg.delivery_max_age_h, 72, "default delivery.max_age_hours is 72 (three days)");
	tap_int(r.cfg.delivery_report_wait_s, 600,
		"default delivery.report_wait_seconds is 600 (ten minutes)");
	tap_int(r.cfg.delivery_lease_s, 60, "default delivery.lease_seconds is 60");
	tap_ok(!r.cfg.email.enabled, "email is off without \"email\"");
	tap_int(r.cfg.email.tls, CONFIG_TLS_STARTTLS, "default email.tls");
	tap_ok(r.cfg.email.verify_peer, "default email.verify is true");
	tap_ok(r.cfg.email.send_resolved, "default email.send_resolved is true (ALERTS.md: a "
	       "resolution is a notice on every channel)");
	tap_int(r.cfg.email.digest_minute, 8 * 60, "default email.digest_time is 08:00");
	tap_int(r.cfg.email.urgent_delay_s, 300, "default email.urgent_delay_seconds is 300");
	tap_int(r.cfg.email.digest_max_items, 25, "default email.digest_max_items is 25");
	tap_int(r.cfg.email.max_message_bytes, 10240000, "default email.max_message_bytes is "
		"Postfix's limit, 10240000");
	tap_ok(r.cfg.n_webhooks == 0 && r.cfg.webhooks == NULL, "no webhooks by default");
	tap_str(r.cfg.team_webhook_secret_file, NULL, "default team_webhook_secret_file");
	tap_ok(!r.cfg.team_hosts_limited && !r.cfg.team_allowed_hosts, "team webhooks go where "
	       "the case data says by default (no team_webhooks.allowed_hosts)");
	tap_str(r.cfg.http_listen, "127.0.0.1:9480", "default http.listen");
	tap_int(r.cfg.n_rules, rule_registry_count(), "every registered rule is configured");
	for (size_t i = 0; i < r.cfg.n_rules; i++) {
		const struct config_rule *rc = &r.cfg.rules[i];
		const struct rule_def *def = rule_registry_get(i);

		tap_ok(rc->def == def && rc->enabled, "rule %s: enabled by default", def->name);
		for (size_t k = 0; k < def->n_opts; k++)
			opts_ok &= rc->opts[k] == def->opts[k].def;
		for (size_t s = 0; s < def->n_stages; s++) {
			int t = def->stages[s].threshold_key ? def->stages[s].def_threshold : 0;

			thresholds_ok &= rc->thresholds[s] == t;
			cstrv_text(def->stages[s].default_roles, want, sizeof(want));
			roles_ok &= rc->roles[s] && strcmp(strv_text(rc->roles[s], buf, sizeof(buf)),
							   want) == 0;
		}
		cats_ok &= rc->neglect_categories &&
			   strcmp(strv_text(rc->neglect_categories, buf, sizeof(buf)), "NEG") == 0;
	}
	tap_ok(opts_ok, "every rule option has its default");
	tap_ok(thresholds_ok, "every stage threshold has its default");
	tap_ok(roles_ok, "every stage has its default recipients");
	tap_ok(cats_ok, "every rule counts [\"NEG\"] by default");
	run_free(&r);
}

static void test_full(void)
{
	struct run r;
	char buf[256];
	const struct config_rule *cp;

	run_with(&r, "'timezone': 'UTC', "
		     "'link_template': 'https://lcs.example.gov.uk/person/{child_id}', "
		     "'addresses': {'fallback': 'duty@la.example', 'cp_chair': 'chairs@la.example', "
		     "  'cp_manager': 'cpm@la.example', 'head_of_service': 'hos@la.example', "
		     "  'operators': 'ops@la.example'}, "
		     "'evaluation': {'interval_seconds': 600}, 'repeat_after_days': 7, "
		     "'email': {'smtp_url': 'smtps://mail.la.example:465', 'tls': 'implicit', "
		     "  'from': 'driftwatch@la.example', 'username': 'dw', "
		     "  'password_file': '/run/credentials/pw', 'ca_file': '/etc/ssl/la.pem', "
		     "  'verify': false, 'send_resolved': false, 'digest_time': '17:45', "
		     "  'urgent_delay_seconds': 60}, "
		     "'webhooks': [{'url': 'https://hooks.la.example/a', 'secret': 'whsec_" B64_24 "', "
		     "  'rules': ['cp_neglect_duration', 'worker_change']}, "
		     "  {'url': 'http://127.0.0.1:8080/b', 'secret_file': '/run/credentials/hook'}], "
		     "'team_webhook_secret_file': '/run/credentials/team', "
		     "'team_webhooks': {'allowed_hosts': ['*.la.example']}, "
		     "'http': {'listen': '[::1]:9100'}, "
		     "'rules': {'cp_neglect_duration': {'merge_gap_days': 14, 'stages': {"
		     "  '15m': {'months': 14, 'recipients': ['cp_manager']}, '18m': {'months': 20}}}, "
		     "  'worker_churn': {'enabled': false}}");
	tap_int(r.rc, 0, "full config loads");
	if (r.errs.n)
		tap_diag_value("messages", r.all);
	tap_str(r.cfg.timezone, "UTC", "timezone is read");
	tap_str(r.cfg.link_template, "https://lcs.example.gov.uk/person/{child_id}",
		"link_template is read");
	tap_str(r.cfg.addresses.fallback, "duty@la.example", "addresses.fallback is read");
	tap_str(r.cfg.addresses.cp_chair, "chairs@la.example", "addresses.cp_chair is read");
	tap_str(r.cfg.addresses.cp_manager, "cpm@la.example", "addresses.cp_manager is read");
	tap_str(r.cfg.addresses.head_of_service, "hos@la.example",
		"addresses.head_of_service is read");
	tap_str(r.cfg.addresses.operators, "ops@la.example", "addresses.operators is read");
	tap_int(r.cfg.eval_interval_s, 600, "evaluation.interval_seconds is read");
	tap_int(r.cfg.repeat_after_days, 7, "repeat_after_days is read");
	tap_ok(r.cfg.email.enabled, "email is on");
	tap_str(r.cfg.email.smtp_url, "smtps://mail.la.example:465", "email.smtp_url is read");
	tap_int(r.cfg.email.tls, CONFIG_TLS_IMPLICIT, "email.tls is read");
	tap_str(r.cfg.email.from, "driftwatch@la.example", "email.from is read");
	tap_str(r.cfg.email.username, "dw", "email.username is read");
	tap_str(r.cfg.email.password, NULL, "email.password stays null");
	tap_str(r.cfg.email.password_file, "/run/credentials/pw", "email.password_file is read");
	tap_str(r.cfg.email.ca_file, "/etc/ssl/la.pem", "email.ca_file is read");
	tap_ok(!r.cfg.email.verify_peer, "email.verify is read");
	tap_ok(!r.cfg.email.send_resolved, "email.send_resolved is read");
	tap_int(r.cfg.email.digest_minute, 17 * 60 + 45, "email.digest_time is read");
	tap_int(r.cfg.email.urgent_delay_s, 60, "email.urgent_delay_seconds is read");
	tap_int(r.cfg.n_webhooks, 2, "two webhooks");
	if (r.cfg.n_webhooks == 2) {
		tap_str(r.cfg.webhooks[0].url, "https://hooks.la.example/a", "webhook url is read");
		tap_str(r.cfg.webhooks[0].secret, "whsec_" B64_24, "webhook secret is read");
		tap_str(strv_text(r.cfg.webhooks[0].rules, buf, sizeof(buf)),
			"cp_neglect_duration,worker_change", "webhook rules are read");
		tap_str(r.cfg.webhooks[1].secret_file, "/run/credentials/hook",
			"webhook secret_file is read");
		tap_ok(r.cfg.webhooks[1].rules == NULL, "a webhook without rules gets every rule");
	}
	tap_str(r.cfg.team_webhook_secret_file, "/run/credentials/team",
		"team_webhook_secret_file is read");
	tap_ok(r.cfg.team_hosts_limited && r.cfg.team_allowed_hosts &&
	       strcmp(r.cfg.team_allowed_hosts[0], "*.la.example") == 0 &&
	       !r.cfg.team_allowed_hosts[1], "team_webhooks.allowed_hosts is read, and limits");
	tap_str(r.cfg.http_listen, "[::1]:9100", "http.listen is read");
	cp = config_rule_find(&r.cfg, "cp_neglect_duration");
	tap_ok(cp && cp->opts[0] == 14, "rule option is read");
	tap_ok(cp && cp->thresholds[0] == 9 && cp->thresholds[1] == 12 && cp->thresholds[2] == 14 &&
		       cp->thresholds[3] == 20,
	       "stage thresholds are read, the others keep their defaults");
	tap_str(cp ? strv_text(cp->roles[2], buf, sizeof(buf)) : NULL, "cp_manager",
		"stage recipients are read");
	tap_str(cp ? strv_text(cp->roles[3], buf, sizeof(buf)) : NULL,
		"head_of_service,cp_chair,supervisor", "a stage without recipients keeps its own");
	tap_ok(!config_rule_find(&r.cfg, "worker_churn")->enabled, "enabled: false is read");
	tap_ok(config_rule_find(&r.cfg, "worker_change")->enabled, "other rules stay enabled");
	run_free(&r);
}

static void test_example_file(void)
{
	const char *top = getenv("DW_TOP");
	char path[1024];
	struct dw_config cfg;
	struct errlist errs = { 0 };
	int rc;

	snprintf(path, sizeof(path), "%s/systemd/driftwatch.example.json", top && *top ? top : ".");
	rc = config_load(path, &cfg, &errs);
	tap_int(rc, 0, "systemd/driftwatch.example.json loads");
	for (size_t i = 0; i < errs.n; i++)
		tap_diag("%s", errs.msgs[i]);
	tap_ok(cfg.email.enabled && cfg.n_webhooks > 0 && cfg.addresses.fallback,
	       "the example sets email, webhooks and addresses");
	config_free(&cfg);
	errlist_free(&errs);
}

static void test_required(void)
{
	expect_doc_fault("{}", NAME ": database: is required");
	expect_doc_fault("{'database': {}}", NAME ": database.conninfo: is required");
	expect_doc_fault("{'database': {'conninfo': ''}}",
			 NAME ": database.conninfo: must be a non-empty string, got \"\"");
	expect_doc_fault("{'database': null}", NAME ": database: must be an object, got null");
	expect_doc_fault("{'database': 'host=x'}", NAME ": database: must be an object, got a "
						   "string");
	expect_doc_fault("[1, 2]", NAME ": must hold one JSON object, got an array");
	expect_fault("'email': {}", NAME ": email.smtp_url: is required when \"email\" is present");
	expect_fault("'email': {}", NAME ": email.from: is required when \"email\" is present");
	expect_fault("'webhooks': [{'secret_file': '/s'}]", NAME ": webhooks[0].url: is required");
	/* audit 16: a schema name with a space at an end, or a state in PostgreSQL's own */
	expect_doc_fault("{'database': {'conninfo': 'host=x', 'state_schema': 'driftwatch '}}",
			 NAME ": database.state_schema: must not begin or end with a space");
	expect_doc_fault("{'database': {'conninfo': 'host=x', 'case_schema': ' casework'}}",
			 NAME ": database.case_schema: must not begin or end with a space");
	expect_doc_fault("{'database': {'conninfo': 'host=x', 'state_schema': 'pg_catalog'}}",
			 NAME ": database.state_schema: must not be one of PostgreSQL's own schemas");
	/* audit 16: URLs libcurl cannot read passed, and mail and webhooks failed for days */
	expect_fault("'email': {'smtp_url': 'smtp://:587', 'from': 'a@b'}",
		     NAME ": email.smtp_url: must be a URL with a host");
	expect_fault("'email': {'smtp_url': 'smtp://127.0.0.1:99999', 'from': 'a@b'}",
		     NAME ": email.smtp_url: must be a URL whose port is a number from 1 to 65535");
	expect_fault("'email': {'smtp_url': 'smtp://[::1:25', 'from': 'a@b'}",
		     NAME ": email.smtp_url: must be a URL libcurl can read");
	expect_fault("'webhooks': [{'url': 'https:///x', 'secret_file': '/s'}]",
		     NAME ": webhooks[0].url: must be a URL with a host");
	expect_fault("'webhooks': [{'url': 'http://h.example:0/x', 'secret_file': '/s'}]",
		     NAME ": webhooks[0].url: must be a URL whose port is a number from 1 to 65535");
}

static void test_wrong_types(void)
{
	static const char *const cases[][2] = {
		{ "'timezone': 5", NAME ": timezone: must be a non-empty string, got 5" },
		{ "'timezone': null", NAME ": timezone: must be a non-empty string, got null" },
		{ "'link_template': true", NAME ": link_template: must be a non-empty string or null, "
					   "got true" },
		{ "'addresses': []", NAME ": addresses: must be an object or null, got []" },
		{ "'addresses': {'fallback': 1}", NAME ": addresses.fallback: must be a non-empty "
						  "string or null, got 1" },
		{ "'evaluation': 300", NAME ": evaluation: must be an object, got a number" },
		{ "'evaluation': {'interval_seconds': '300'}",
		  NAME ": evaluation.interval_seconds: must be an integer from 10 to 86400, got "
		       "\"300\"" },
		{ "'repeat_after_days': 1.5", NAME ": repeat_after_days: must be an integer from 0 "
					      "to 365, got 1.5" },
		{ "'repeat_after_days': null", NAME ": repeat_after_days: must be an integer from 0 "
					       "to 365, got null" },
		/* audit 16: said as "got 12", it read as a refusal of 12 itself */
		{ "'repeat_after_days': 12.0", NAME ": repeat_after_days: must be an integer from 0 "
					       "to 365, got 12.0" },
		{ "'email': 'smtp://x'", NAME ": email: must be an object or null, got a string" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'verify': 'yes'}",
		  NAME ": email.verify: must be true or false, got \"yes\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'send_resolved': 1}",
		  NAME ": email.send_resolved: must be true or false, got 1" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'digest_time': '8:00'}",
		  NAME ": email.digest_time: must be a local time \"HH:MM\" from 00:00 to 23:59, or "
		       "null for a digest after every evaluation, got \"8:00\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'digest_time': '24:00'}",
		  NAME ": email.digest_time: must be a local time \"HH:MM\" from 00:00 to 23:59, or "
		       "null for a digest after every evaluation, got \"24:00\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'digest_time': '07:60'}",
		  NAME ": email.digest_time: must be a local time \"HH:MM\" from 00:00 to 23:59, or "
		       "null for a digest after every evaluation, got \"07:60\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'digest_time': 800}",
		  NAME ": email.digest_time: must be a non-empty string or null, got 800" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'urgent_delay_seconds': -1}",
		  NAME ": email.urgent_delay_seconds: must be an integer from 0 to 86400, got -1" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'urgent_delay_seconds': '300'}",
		  NAME ": email.urgent_delay_seconds: must be an integer from 0 to 86400, got "
		       "\"300\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'digest_max_items': 0}",
		  NAME ": email.digest_max_items: must be an integer from 1 to 100000, got 0" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'max_message_bytes': 4096}",
		  NAME ": email.max_message_bytes: must be an integer from 100000 to 1000000000, "
		  "got 4096" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'tls': 1}",
		  NAME ": email.tls: must be a non-empty string, got 1" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'username': ['u']}",
		  NAME ": email.username: must be a non-empty string or null, got an array" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 7}",
		  NAME ": email.from: must be a non-empty string, got 7" },
		{ "'webhooks': {}", NAME ": webhooks: must be an array of webhook objects, got {}" },
		{ "'webhooks': ['https://x']", NAME ": webhooks[0]: must be an object with \"url\" "
					       "and \"secret\" or \"secret_file\", got a string" },
		{ "'webhooks': [{'url': 'https://x', 'secret_file': '/s', 'rules': "
		  "'cp_neglect_duration'}]",
		  NAME ": webhooks[0].rules: must be a non-empty array of rule names or null, got "
		       "\"cp_neglect_duration\"" },
		{ "'webhooks': [{'url': 'https://x', 'secret_file': '/s', 'rules': []}]",
		  NAME ": webhooks[0].rules: must be a non-empty array of rule names or null, got "
		       "[]" },
		{ "'webhooks': [{'url': 'https://x', 'secret_file': '/s', 'rules': [3]}]",
		  NAME ": webhooks[0].rules[0]: must be a rule name (one of: " },
		{ "'team_webhook_secret_file': 1", NAME ": team_webhook_secret_file: must be a "
						   "non-empty string or null, got 1" },
		{ "'http': '127.0.0.1:9480'", NAME ": http: must be an object, got a string" },
		{ "'http': null", NAME ": http: must be an object, got null" },
		{ "'http': {'listen': 9480}", NAME ": http.listen: must be a non-empty string or "
					      "null, got 9480" },
		{ "'rules': []", NAME ": rules: must be an object, got []" },
		{ "'rules': {'cp_neglect_duration': true}",
		  NAME ": rules.cp_neglect_duration: must be an object, got true" },
		{ "'rules': {'cp_neglect_duration': {'enabled': 'no'}}",
		  NAME ": rules.cp_neglect_duration.enabled: must be true or false, got \"no\"" },
		{ "'rules': {'cp_neglect_duration': {'merge_gap_days': '28'}}",
		  NAME ": rules.cp_neglect_duration.merge_gap_days: must be an integer from 0 to "
		       "365, got \"28\"" },
		{ "'rules': {'cp_neglect_duration': {'stages': []}}",
		  NAME ": rules.cp_neglect_duration.stages: must be an object, got []" },
		{ "'rules': {'cp_neglect_duration': {'stages': {'15m': 15}}}",
		  NAME ": rules.cp_neglect_duration.stages.15m: must be an object, got 15" },
		{ "'rules': {'cp_neglect_duration': {'stages': {'15m': {'months': 'fifteen'}}}}",
		  NAME ": rules.cp_neglect_duration.stages.15m.months: must be an integer from 1 to "
		       "1000, got \"fifteen\"" },
		{ "'rules': {'cp_neglect_duration': {'stages': {'15m': {'recipients': "
		  "'cp_chair'}}}}",
		  NAME ": rules.cp_neglect_duration.stages.15m.recipients: must be a non-empty "
		       "array of roles, got \"cp_chair\"" },
		{ "'rules': {'cp_neglect_duration': {'neglect_categories': 'NEG'}}",
		  NAME ": rules.cp_neglect_duration.neglect_categories: must be a non-empty array "
		       "of category codes, got \"NEG\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_fault(cases[i][0], cases[i][1]);
	expect_doc_fault("{'database': {'conninfo': 5}}",
			 NAME ": database.conninfo: must be a non-empty string, got a number");
	/* what libpq would refuse at connect time is refused at load (exit 2, not 1) */
	expect_doc_fault("{'database': {'conninfo': 'hostx== port=5432'}}",
			 NAME ": database.conninfo: is not a libpq connection string");
	expect_doc_fault("{'database': {'conninfo': 'dbname=x', 'case_schema': 1}}",
			 NAME ": database.case_schema: must be a non-empty string, got 1");
	expect_doc_fault("{'database': {'conninfo': 'dbname=x', 'query_timeout_seconds': '300'}}",
			 NAME ": database.query_timeout_seconds: must be an integer from 1 to "
			      "86400, got \"300\"");
}

static void test_bad_values(void)
{
	static const char *const cases[][2] = {
		{ "'timezone': 'Europe/Londn'", ": timezone: must name a time zone in " },
		{ "'timezone': '../../etc/passwd'", ": timezone: must name a time zone" },
		{ "'timezone': '/etc/localtime'", ": timezone: must name a time zone" },
		{ "'timezone': 'zone.tab'", ": timezone: must name a time zone" },
		{ "'timezone': 'Europe'", ": timezone: must name a time zone" },
		{ "'timezone': 'Europe/London '", ": timezone: must name a time zone" },
		{ "'timezone': 'right/UTC'", ": timezone: names a leap-second zone, which "
		  "PostgreSQL's clock does not keep (its times are 27 s off); use \"UTC\", got "
		  "\"right/UTC\"" },
		{ "'link_template': 'lcs.example/{child_id}'",
		  ": link_template: must be an https:// or http:// URL without spaces, got "
		  "\"lcs.example/{child_id}\"" },
		{ "'link_template': 'https://lcs.example/person'",
		  ": link_template: must contain {child_id}" },
		{ "'addresses': {'cp_chair': 'a@la.example, b@la.example'}",
		  ": addresses.cp_chair: must be one email address" },
		{ "'addresses': {'cp_chair': 'chairs'}", ": addresses.cp_chair: must be one email" },
		{ "'addresses': {'fallback': 'a@@la.example'}", ": addresses.fallback: must be one" },
		{ "'addresses': {'fallback': 'duty team@la.example'}",
		  ": addresses.fallback: must be one" },
		{ "'addresses': {'fallback': '@la.example'}", ": addresses.fallback: must be one" },
		{ "'addresses': {'fallback': 'duty@'}", ": addresses.fallback: must be one" },
		{ "'addresses': {'operators': 'ops@la.example\\r\\nBcc: x@y'}",
		  ": addresses.operators: must be one email address (ASCII, one \"@\" with text on "
		  "both sides, at most 254 bytes, no spaces, quotes, brackets, commas or control "
		  "characters), got \"ops@la.example\\x0d\\x0aBcc: x@y\"" },
		{ "'evaluation': {'interval_seconds': 9}",
		  ": evaluation.interval_seconds: must be an integer from 10 to 86400, got 9" },
		{ "'evaluation': {'interval_seconds': 86401}", ", got 86401" },
		{ "'repeat_after_days': -1", ": repeat_after_days: must be an integer from 0 to 365, "
					     "got -1" },
		{ "'repeat_after_days': 366", ", got 366" },
		{ "'repeat_after_days': 99999999999999", ", got 99999999999999" },
		{ "'http': {'listen': '9480'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': ':9480'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': 'localhost:0'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': 'localhost:65536'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': 'localhost:http'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': 'localhost:'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': '::1:9480'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': '[::1:9480'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': 'local host:80'}", ": http.listen: must be HOST:PORT" },
		{ "'http': {'listen': ''}", ": http.listen: must be a non-empty string or null" },
		{ "'email': {'smtp_url': 'mail.la.example:587', 'from': 'a@la.example'}",
		  ": email.smtp_url: must be an smtp:// or smtps:// URL without spaces, got a "
		  "string without a URL scheme" },
		{ "'email': {'smtp_url': 'https://mail.la.example', 'from': 'a@la.example'}",
		  ": email.smtp_url: must be an smtp:// or smtps:// URL without spaces, got "
		  "\"https://...\"" },
		{ "'email': {'smtp_url': 'smtp://', 'from': 'a@la.example'}",
		  ": email.smtp_url: must be an smtp:// or smtps:// URL without spaces, got "
		  "\"smtp://\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'driftwatch'}",
		  ": email.from: must be one email address" },
		/* addresses the mail composer refuses (mailaddr.h) are refused here too */
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'dr\u00efft@la.example'}",
		  ": email.from: must be one email address (ASCII," },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a<b>@la.example'}",
		  ": email.from: must be one email address" },
		{ "'addresses': {'head_of_service': 'hos[1]@la.example'}",
		  ": addresses.head_of_service: must be one email address" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'tls': 'ssl'}",
		  ": email.tls: must be \"starttls\", \"implicit\" or \"none\", got \"ssl\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'username': 'u', "
		  "'password_file': 'secrets/pw'}",
		  ": email.password_file: must be an absolute path or \"credential:NAME\", got \"secrets/pw\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'ca_file': 'ca.pem'}",
		  ": email.ca_file: must be an absolute path or \"credential:NAME\", got \"ca.pem\"" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'username': 'u', "
		  "'password': 'p', 'password_file': '/p'}",
		  ": email.password: give \"password\" or \"password_file\", not both" },
		{ "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'password_file': '/p'}",
		  ": email.username: is required with \"password\" or \"password_file\"" },
		{ "'team_webhook_secret_file': 'team.secret'",
		  ": team_webhook_secret_file: must be an absolute path" },
		{ "'webhooks': [{'url': 'ftp://hooks.la.example', 'secret_file': '/s'}]",
		  ": webhooks[0].url: must be an https:// or http:// URL without spaces, got "
		  "\"ftp://...\"" },
		{ "'webhooks': [{'url': 'https://x', 'secret_file': 's'}]",
		  ": webhooks[0].secret_file: must be an absolute path or \"credential:NAME\", got \"s\"" },
		{ "'webhooks': [{'url': 'https://x', 'secret_file': '/s', 'rules': ['cp']}]",
		  ": webhooks[0].rules[0]: must be a rule name (one of: cin_neglect_duration, "
		  "cp_neglect_duration, " },
		{ "'webhooks': [{'url': 'https://x', 'secret_file': '/s', 'rules': "
		  "['worker_change', 'worker_change']}]",
		  ": webhooks[0].rules[1]: repeats rules[0], got \"worker_change\"" },
	};
	char big[200];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_fault(cases[i][0], cases[i][1]);
	expect_doc_fault("{'database': {'conninfo': 'dbname=x', 'query_timeout_seconds': 0}}",
			 ": database.query_timeout_seconds: must be an integer from 1 to 86400, "
			 "got 0");
	expect_fault("'delivery': {'max_age_hours': 0}",
		     NAME ": delivery.max_age_hours: must be an integer from 1 to 720, got 0");
	expect_fault("'delivery': {'max_age_hours': 721}",
		     NAME ": delivery.max_age_hours: must be an integer from 1 to 720, got 721");
	expect_fault("'delivery': {'max_age_hours': '72'}",
		     NAME ": delivery.max_age_hours: must be an integer from 1 to 720, got \"72\"");
	expect_fault("'delivery': {'max_age_hours': 1.5}",
		     NAME ": delivery.max_age_hours: must be an integer from 1 to 720, got 1.5");
	expect_fault("'delivery': {'report_wait_seconds': -1}",
		     NAME ": delivery.report_wait_seconds: must be an integer from 0 to 86400, got -1");
	expect_fault("'delivery': {'report_wait_seconds': 86401}",
		     NAME ": delivery.report_wait_seconds: must be an integer from 0 to 86400, got "
			  "86401");
	expect_fault("'delivery': {'lease_seconds': 9}",
		     NAME ": delivery.lease_seconds: must be an integer from 10 to 3600, got 9");
	expect_fault("'delivery': {'lease_seconds': '60'}",
		     NAME ": delivery.lease_seconds: must be an integer from 10 to 3600, got \"60\"");
	expect_fault("'delivery': {'report_wait_seconds': '600'}",
		     NAME ": delivery.report_wait_seconds: must be an integer from 0 to 86400, got "
			  "\"600\"");
	expect_fault("'delivery': 72", NAME ": delivery: must be an object, got a number");
	expect_doc_fault("{'database': {'conninfo': 'dbname=x', 'query_timeout_seconds': 86401}}",
			 ", got 86401");
	expect_doc_fault("{'database': {'conninfo': 'dbname=x', 'case_schema': 'cw', "
			 "'state_schema': 'cw'}}",
			 ": database.state_schema: must differ from case_schema");
	snprintf(big, sizeof(big), "{'database': {'conninfo': 'dbname=x', 'case_schema': '%064d'}}", 0);
	expect_doc_fault(big, ": database.case_schema: must be a schema name of at most 63 bytes");
}

static void test_good_values(void)
{
	struct run r;

	expect_clean("'timezone': 'Europe/London'");
	expect_clean("'link_template': null");
	expect_clean("'link_template': 'http://lcs.local/p?id={child_id}&x=1'");
	expect_clean("'addresses': null");
	expect_clean("'addresses': {'fallback': null, 'cp_chair': 'root@localhost'}");
	expect_clean("'evaluation': {'interval_seconds': 10}");
	expect_clean("'evaluation': {'interval_seconds': 86400}");
	expect_clean("'repeat_after_days': 365");
	expect_clean("'http': {}");
	expect_clean("'http': {'listen': 'localhost:9480'}");
	expect_clean("'http': {'listen': '0.0.0.0:65535'}");
	expect_clean("'http': {'listen': '[::1]:1'}");
	expect_clean("'email': null");
	expect_clean("'webhooks': []");
	expect_clean("'webhooks': null");
	expect_clean("'rules': {}");
	expect_doc_fault("{'database': {'conninfo': 'dbname=x', 'query_timeout_seconds': 1, "
			 "'case_schema': 'lcs_views', 'state_schema': 'dw_state'}, 'bogus': 1}",
			 NAME ": bogus: unknown key");

	run_with(&r, "'http': {'listen': null}");
	tap_ok(r.rc == 0 && r.cfg.http_listen == NULL, "http.listen null switches it off");
	run_free(&r);
	run_with(&r, "'delivery': {'max_age_hours': 1}");
	tap_ok(r.rc == 0 && r.cfg.delivery_max_age_h == 1, "delivery.max_age_hours 1 is read");
	run_free(&r);
	run_with(&r, "'delivery': {'max_age_hours': 720}");
	tap_ok(r.rc == 0 && r.cfg.delivery_max_age_h == 720, "delivery.max_age_hours 720 is read");
	run_free(&r);
	run_with(&r, "'delivery': {'report_wait_seconds': 0}");
	tap_ok(r.rc == 0 && r.cfg.delivery_report_wait_s == 0,
	       "delivery.report_wait_seconds 0 is read (reports sent at once)");
	run_free(&r);
	run_with(&r, "'delivery': {}");
	tap_ok(r.rc == 0 && r.cfg.delivery_max_age_h == 72,
	       "an empty delivery section keeps max_age_hours 72");
	run_free(&r);
	run_with(&r, "'email': null");
	tap_ok(r.rc == 0 && !r.cfg.email.enabled, "email null is no email");
	run_free(&r);
	run_with(&r, "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'digest_time': null, "
		 "'urgent_delay_seconds': 0}");
	tap_ok(r.rc == 0 && r.cfg.email.digest_minute == CONFIG_DIGEST_EACH,
	       "email.digest_time null is a digest after every evaluation");
	tap_int(r.cfg.email.urgent_delay_s, 0, "email.urgent_delay_seconds 0 is read");
	run_free(&r);
	run_with(&r, "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'digest_time': '00:00'}");
	tap_ok(r.rc == 0 && r.cfg.email.digest_minute == 0, "email.digest_time 00:00 is read");
	run_free(&r);
	run_with(&r, "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'digest_time': '23:59'}");
	tap_ok(r.rc == 0 && r.cfg.email.digest_minute == 23 * 60 + 59,
	       "email.digest_time 23:59 is read");
	run_free(&r);
}

static void test_unknown_keys(void)
{
	expect_fault("'databse': {}", NAME ": databse: unknown key (expected one of: database, "
				      "state, timezone, link_template, addresses, evaluation, "
				      "repeat_after_days, email, webhooks, "
				      "team_webhook_secret_file, team_webhooks, http, retention, "
				      "health, rules, web, responses, calendar, delivery)");
	expect_doc_fault("{'database': {'conninfo': 'dbname=x', 'conninf': 'y'}}",
			 NAME ": database.conninf: unknown key (expected one of: conninfo, "
			      "case_schema, state_schema, query_timeout_seconds)");
	expect_fault("'addresses': {'duty': 'duty@la.example'}",
		     NAME ": addresses.duty: unknown key (expected one of: fallback, cp_chair, "
			  "cp_manager, head_of_service, operators)");
	expect_fault("'evaluation': {'interval': 60}",
		     NAME ": evaluation.interval: unknown key (expected one of: interval_seconds, takeover_seconds)");
	expect_fault("'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'port': 25}",
		     NAME ": email.port: unknown key (expected one of: smtp_url, tls, from, "
			  "username, password, password_file, ca_file, verify, send_resolved, "
			  "digest_time, urgent_delay_seconds, digest_max_items, max_message_bytes)");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret_file': '/s', 'header': 'h'}]",
		     NAME ": webhooks[0].header: unknown key (expected one of: url, secret, "
			  "secret_file, rules, format)");
	expect_fault("'http': {'port': 9480}",
		     NAME ": http.port: unknown key (expected one of: listen)");
	expect_fault("'delivery': {'max_age_days': 3}",
		     NAME ": delivery.max_age_days: unknown key (expected one of: max_age_hours, "
			  "report_wait_seconds, lease_seconds)");
	expect_fault("'rules': {'cp_neglect_duration': {'gap_days': 28}}",
		     NAME ": rules.cp_neglect_duration.gap_days: unknown key (expected one of: "
			  "enabled, merge_gap_days, strategy_months, strategy_kinds, stages, "
			  "neglect_categories)");
	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'15m': {'weeks': 60}}}}",
		     NAME ": rules.cp_neglect_duration.stages.15m.weeks: unknown key (expected "
			  "one of: months, recipients)");
	expect_fault("'rules': {'repeat_neglect_plan': {'stages': {'any': {'months': 1}}}}",
		     NAME ": rules.repeat_neglect_plan.stages.any.months: unknown key (expected "
			  "one of: recipients)");
	expect_fault("'rules': {'was_not_brought': {'neglect_categories': ['NEG']}}",
		     NAME ": rules.was_not_brought.neglect_categories: unknown key");
	expect_fault("'rules': {'cp_neglect_duration': {'bad\\u0001key': 1}}",
		     NAME ": rules.cp_neglect_duration.bad?key: unknown key");
}

static void test_rules(void)
{
	expect_fault("'rules': {'cp_neglect': {}}",
		     NAME ": rules.cp_neglect: unknown rule \"cp_neglect\"; known rules are: "
			  "cin_neglect_duration, cp_neglect_duration, repeat_neglect_plan, "
			  "was_not_brought, worker_change, worker_churn");
	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'16m': {}}}}",
		     NAME ": rules.cp_neglect_duration.stages.16m: unknown stage \"16m\"; stages "
			  "of cp_neglect_duration are: 9m, 12m, 15m, 18m");
	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'15m': {'recipients': "
		     "['cp_chair', 'chair']}}}}",
		     NAME ": rules.cp_neglect_duration.stages.15m.recipients[1]: must be a role "
			  "(one of: supervisor, cp_chair, cp_manager, head_of_service, "
			  "allocated_worker), got \"chair\"");
	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'15m': {'recipients': "
		     "['supervisor', 'cp_chair', 'supervisor']}}}}",
		     NAME ": rules.cp_neglect_duration.stages.15m.recipients[2]: repeats "
			  "recipients[0], got \"supervisor\"");
	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'15m': {'recipients': []}}}}",
		     NAME ": rules.cp_neglect_duration.stages.15m.recipients: must be a non-empty "
			  "array of roles, got []");
	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'15m': {'recipients': "
		     "[null]}}}}",
		     "recipients[0]: must be a role (one of: ");
	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'15m': {'months': 0}}}}",
		     ".stages.15m.months: must be an integer from 1 to 1000, got 0");
	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'18m': {'months': 1001}}}}",
		     ".stages.18m.months: must be an integer from 1 to 1000, got 1001");
	expect_fault("'rules': {'cp_neglect_duration': {'neglect_categories': ['neg']}}",
		     NAME ": rules.cp_neglect_duration.neglect_categories[0]: must be a category "
			  "code of 1 to 8 characters A-Z, 0-9 or _, like \"NEG\", got \"neg\"");
	expect_fault("'rules': {'cp_neglect_duration': {'neglect_categories': ['NEGLECTED']}}",
		     ".neglect_categories[0]: must be a category code");
	expect_fault("'rules': {'cp_neglect_duration': {'neglect_categories': ['']}}",
		     ".neglect_categories[0]: must be a category code");
	expect_fault("'rules': {'cp_neglect_duration': {'neglect_categories': []}}",
		     ".neglect_categories: must be a non-empty array of category codes, got []");
	expect_fault("'rules': {'cp_neglect_duration': {'neglect_categories': ['NEG', 'NEG']}}",
		     ".neglect_categories[1]: repeats neglect_categories[0], got \"NEG\"");
	expect_clean("'rules': {'cp_neglect_duration': {'neglect_categories': ['NEG', 'MUL', "
		     "'N_1']}}");
	expect_clean("'rules': {'repeat_neglect_plan': {'stages': {'any': {'recipients': "
		     "['cp_chair']}}}}");
}

/* Every option of every rule at its bounds, from the registry, so a new rule is covered. */
static void test_rule_options(void)
{
	for (size_t i = 0; i < rule_registry_count(); i++) {
		const struct rule_def *def = rule_registry_get(i);

		for (size_t k = 0; k < def->n_opts; k++) {
			const struct rule_opt *o = &def->opts[k];
			char members[256], want[256];
			struct run r;

			snprintf(members, sizeof(members), "'rules': {'%s': {'%s': %d}}", def->name,
				 o->key, o->min);
			run_with(&r, members);
			tap_ok(r.rc == 0 && config_rule_find(&r.cfg, def->name)->opts[k] == o->min,
			       "%s.%s takes its minimum %d", def->name, o->key, o->min);
			run_free(&r);
			snprintf(members, sizeof(members), "'rules': {'%s': {'%s': %d}}", def->name,
				 o->key, o->max + 1);
			snprintf(want, sizeof(want), NAME ": rules.%s.%s: must be an integer from %d "
				 "to %d, got %d", def->name, o->key, o->min, o->max, o->max + 1);
			expect_fault(members, want);
		}
	}
}

/* A rule's list options (strategy_kinds): absent or null is the rule's default (NULL), a
 * non-empty array of short one-line strings is kept in order, anything else names the key. */
static void test_rule_lists(void)
{
	const struct config_rule *rc;
	struct run r;
	char buf[128];

	run_with(&r, "");
	rc = config_rule_find(&r.cfg, "cp_neglect_duration");
	tap_ok(r.rc == 0 && rc && rc->lists[0] == NULL,
	       "cp_neglect_duration.strategy_kinds defaults to every kind (no list)");
	run_free(&r);
	run_with(&r, "'rules': {'cp_neglect_duration': {'strategy_kinds': ['plo', 'care proceedings "
		     "(local)']}}");
	rc = config_rule_find(&r.cfg, "cp_neglect_duration");
	tap_str(r.rc == 0 && rc ? strv_text(rc->lists[0], buf, sizeof(buf)) : NULL,
		"plo,care proceedings (local)", "strategy_kinds is read in order");
	run_free(&r);
	run_with(&r, "'rules': {'cp_neglect_duration': {'strategy_kinds': null}}");
	rc = config_rule_find(&r.cfg, "cp_neglect_duration");
	tap_ok(r.rc == 0 && rc && rc->lists[0] == NULL, "strategy_kinds null is every kind");
	run_free(&r);
	expect_fault("'rules': {'cp_neglect_duration': {'strategy_kinds': []}}",
		     NAME ": rules.cp_neglect_duration.strategy_kinds: must be a non-empty array of "
		     "strings or null, got []");
	expect_fault("'rules': {'cp_neglect_duration': {'strategy_kinds': 'plo'}}",
		     NAME ": rules.cp_neglect_duration.strategy_kinds: must be a non-empty array");
	expect_fault("'rules': {'cp_neglect_duration': {'strategy_kinds': ['plo', 3]}}",
		     NAME ": rules.cp_neglect_duration.strategy_kinds[1]: must be a string of 1 to "
		     "200 characters");
	expect_fault("'rules': {'cp_neglect_duration': {'strategy_kinds': ['']}}",
		     NAME ": rules.cp_neglect_duration.strategy_kinds[0]: must be a string of 1 to "
		     "200 characters");
	expect_fault("'rules': {'worker_churn': {'strategy_kinds': ['plo']}}",
		     NAME ": rules.worker_churn.strategy_kinds: unknown key");
}

static void test_inheritance(void)
{
	struct run r;
	char buf[128];
	bool all = true;

	run_with(&r, "'rules': {'cp_neglect_duration': {'neglect_categories': ['NEG', 'MUL']}}");
	for (size_t i = 0; i < r.cfg.n_rules; i++)
		all &= strcmp(strv_text(r.cfg.rules[i].neglect_categories, buf, sizeof(buf)) ?
				      buf : "", "NEG,MUL") == 0;
	tap_ok(r.rc == 0 && all, "cp_neglect_duration's categories reach every rule");
	run_free(&r);

	run_with(&r, "'rules': {'cp_neglect_duration': {'neglect_categories': ['NEG', 'MUL']}, "
		     "'worker_churn': {'neglect_categories': ['NEG']}}");
	tap_str(strv_text(config_rule_find(&r.cfg, "worker_churn")->neglect_categories, buf,
			  sizeof(buf)), "NEG", "a rule's own categories win");
	tap_str(strv_text(config_rule_find(&r.cfg, "worker_change")->neglect_categories, buf,
			  sizeof(buf)), "NEG,MUL", "the others still inherit");
	run_free(&r);

	run_with(&r, "'rules': {'worker_change': {'neglect_categories': ['MUL']}}");
	tap_str(strv_text(config_rule_find(&r.cfg, "cp_neglect_duration")->neglect_categories,
			  buf, sizeof(buf)), "NEG", "cp_neglect_duration does not inherit");
	tap_str(strv_text(config_rule_find(&r.cfg, "repeat_neglect_plan")->neglect_categories,
			  buf, sizeof(buf)), "NEG", "without cp's list the default is NEG");
	tap_str(strv_text(config_rule_find(&r.cfg, "worker_change")->neglect_categories, buf,
			  sizeof(buf)), "MUL", "worker_change keeps its own");
	run_free(&r);
}

/* The rule defs' check() hooks: stage thresholds must stay in order. */
static void test_rule_checks(void)
{
	struct run r;

	expect_fault("'rules': {'cp_neglect_duration': {'stages': {'12m': {'months': 16}}}}",
		     NAME ": rules.cp_neglect_duration.stages.15m.months: must be more than");
	expect_fault("'rules': {'repeat_neglect_plan': {'stages': {'12m': {'months': 30}}}}",
		     NAME ": rules.repeat_neglect_plan.stages.12m.months: must not be more than");
	expect_fault("'rules': {'was_not_brought': {'stages': {'vulnerable': {'count': 3}}}}",
		     NAME ": rules.was_not_brought.stages.vulnerable.count: must not be more than");
	expect_clean("'rules': {'cp_neglect_duration': {'stages': {'9m': {'months': 6}, "
		     "'12m': {'months': 10}, '15m': {'months': 13}, '18m': {'months': 16}}}}");

	run_with(&r, "'rules': {'cp_neglect_duration': {'merge_gap_days': -1, "
		     "'stages': {'12m': {'months': 16}}}}");
	tap_int(r.errs.n, 1, "a rule with its own fault is not cross-checked as well");
	run_free(&r);
}

static void test_multiple_errors(void)
{
	struct run r;

	run_doc(&r, "{'database': {'conninfo': 'dbname=x', 'query_timeout_seconds': 0}, "
		    "'timezone': 'Mars/Olympus', 'colour': 'blue', "
		    "'email': {'smtp_url': 'smtp://m'}, "
		    "'rules': {'nope': {}, 'worker_churn': {'window_months': 0}}}");
	tap_int(r.rc, -1, "several faults fail the load");
	tap_int(r.errs.n, 6, "every fault is reported, not only the first");
	tap_contains(r.all, NAME ": colour: unknown key", "report names the unknown key");
	tap_contains(r.all, NAME ": database.query_timeout_seconds: ", "report has the timeout");
	tap_contains(r.all, NAME ": timezone: ", "report has the time zone");
	tap_contains(r.all, NAME ": email.from: is required", "report has the missing from");
	tap_contains(r.all, NAME ": rules.nope: unknown rule", "report has the unknown rule");
	tap_contains(r.all, NAME ": rules.worker_churn.window_months: ", "report has the option");
	run_free(&r);
}

static void test_invalid_json(void)
{
	struct run r;

	run_doc(&r, "{\n  'database': {\n    'conninfo': 'dbname=x',\n  }\n}\n");
	tap_int(r.rc, -1, "invalid JSON fails");
	tap_contains(r.all, NAME ": line 4, column ", "invalid JSON names file and line");
	tap_contains(r.all, "invalid JSON: ", "invalid JSON says so");
	run_free(&r);

	run_raw(&r, "");
	tap_contains(r.all, NAME ": line 1, column ", "an empty file is invalid JSON");
	run_free(&r);

	run_doc(&r, "{" DB ", 'timezone': 'UTC', 'timezone': 'UTC'}");
	tap_contains(r.all, "duplicate object key", "duplicate keys are refused");
	run_free(&r);

	/* jansson names a key of at most 20 bytes; a longer one is found at the error's position */
	run_doc(&r, "{" DB ", 'team_webhook_secret_file': '/a', 'team_webhook_secret_file': '/b'}");
	tap_contains(r.all, "duplicate object key \"team_webhook_secret_file\"",
		     "a duplicated key longer than 20 bytes is named");
	run_free(&r);
	run_doc(&r, "{" DB ", 'web': {'api_tokens_file': '/a', 'x': 1, 'api_tokens_file': '/b'}}");
	tap_contains(r.all, "duplicate object key near '\"api_tokens_file\"'",
		     "a short one as jansson names it");
	run_free(&r);

	run_doc(&r, MINIMAL " {}");
	tap_contains(r.all, "invalid JSON: end of file expected", "trailing text is refused");
	run_free(&r);

	/* audit 16: Notepad's byte-order mark was "invalid JSON" at line 1, column 1 */
	run_raw(&r, "\xEF\xBB\xBF{\"database\": {\"conninfo\": \"dbname=x\"}}");
	tap_int(r.rc, 0, "a UTF-8 byte-order mark at the start is ignored");
	tap_str(r.cfg.conninfo, "dbname=x", "... and the file after it is read");
	run_free(&r);

	run_doc(&r, "{" DB ", 'repeat_after_days': 99999999999999999999}");
	tap_contains(r.all, "invalid JSON: too big integer (the largest is 9223372036854775807)",
		     "an integer past 2^63 says what the largest is");
	run_free(&r);
}

static void test_files(void)
{
	struct dw_config cfg;
	struct errlist errs = { 0 };
	char path[1024], *big;
	int rc;

	rc = config_load("/nonexistent-dir/driftwatch.json", &cfg, &errs);
	tap_int(rc, -1, "a missing file fails");
	tap_str(errs.n ? errs.msgs[0] : NULL,
		"/nonexistent-dir/driftwatch.json: cannot read: No such file or directory",
		"a missing file is named with the errno text");
	config_free(&cfg);
	errlist_free(&errs);

	rc = config_load(tzdir, &cfg, &errs);
	tap_ok(rc == -1 && errs.n == 1 && strstr(errs.msgs[0], ": cannot read: is a directory"),
	       "a directory is refused, saying so");
	config_free(&cfg);
	errlist_free(&errs);

	snprintf(path, sizeof(path), "%s/config.json", tmpdir);
	{
		char *json = jq(MINIMAL);

		write_file(path, json, strlen(json));
		free(json);
	}
	rc = config_load(path, &cfg, &errs);
	tap_ok(rc == 0 && errs.n == 0, "a file loads");
	tap_str(cfg.path, path, "the configuration remembers its file");
	config_free(&cfg);
	errlist_free(&errs);

	snprintf(path, sizeof(path), "%s/bad.json", tmpdir);
	write_file(path, "{\n\n  \"database\" {}\n}\n", 21);
	rc = config_load(path, &cfg, &errs);
	tap_ok(rc == -1 && errs.n == 1 && strncmp(errs.msgs[0], path, strlen(path)) == 0 &&
		       strstr(errs.msgs[0], ": line 3, column "),
	       "invalid JSON in a file names the file and line");
	if (errs.n)
		tap_diag("%s", errs.msgs[0]);
	config_free(&cfg);
	errlist_free(&errs);

	snprintf(path, sizeof(path), "%s/big.json", tmpdir);
	if (!(big = malloc(2 * 1024 * 1024))) {
		perror("malloc");
		exit(2);
	}
	memset(big, ' ', 2 * 1024 * 1024);
	write_file(path, big, 2 * 1024 * 1024);
	free(big);
	rc = config_load(path, &cfg, &errs);
	tap_ok(rc == -1 && errs.n == 1 && strstr(errs.msgs[0], "cannot read: is larger than"),
	       "a huge file is refused");
	config_free(&cfg);
	errlist_free(&errs);
}

/* The value of a secret never appears in a message: only its key. */
static void test_secrets(void)
{
	static const char *const docs[] = {
		"{'database': {'conninfo': 'password=" SECRET_WORD "'}, 'timezone': 1}",
		"{'database': {'conninfo': 'password=" SECRET_WORD "', 'extra': 1}}",
		"{" DB ", 'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'password': '"
		SECRET_WORD "'}}",
		"{" DB ", 'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'password': ['"
		SECRET_WORD "']}}",
		"{" DB ", 'email': {'smtp_url': 'ftp://user:" SECRET_WORD "@mail', 'from': 'a@b'}}",
		"{" DB ", 'email': {'smtp_url': 'user:" SECRET_WORD "@mail', 'from': 'a@b'}}",
		"{" DB ", 'email': {'smtp_url': 'smtp://user:" SECRET_WORD "@mail', 'tls': "
		"'implicit', 'from': 'a@b'}}",
		"{" DB ", 'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'pasword': '"
		SECRET_WORD "'}}",
		"{" DB ", 'webhooks': [{'url': 'https://x', 'secret': 'whsec_" SECRET_WORD "'}]}",
		"{" DB ", 'webhooks': [{'url': 'https://x', 'secret': '" SECRET_WORD "AAAAAAAAAAA"
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'}]}",
		"{" DB ", 'webhooks': [{'url': 'https://x', 'secret': 12345" SECRET_WORD "}]}",
		"{" DB ", 'webhooks': [{'url': 'hooks.example/" SECRET_WORD "', 'secret_file': "
		"'/s'}]}",
		"{" DB ", 'webhooks': [{'url': 'https://x/" SECRET_WORD "', 'secret': 'whsec_"
		B64_24 "', 'secret_file': '/s'}]}",
		"{" DB ", 'email': {'password': " SECRET_WORD "}}",
		"{" DB ", 'email': {'password': '" SECRET_WORD "\n'}}",
		"{'database': {'conninfo': 'password=" SECRET_WORD "}}",
	};

	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		struct run r;

		run_doc(&r, docs[i]);
		tap_ok(r.rc == -1 && r.errs.n > 0, "secret case %zu fails", i);
		tap_lacks(r.all, SECRET_WORD, "secret case %zu: the secret is not in the message",
			  i);
		run_free(&r);
	}
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" SECRET_WORD "'}]",
		     NAME ": webhooks[0].secret: must be \"whsec_\" followed by the base64 of 24 "
			  "to 64 bytes");
	expect_fault("'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'password': 1}",
		     NAME ": email.password: must be a non-empty string or null, got a number");
}

static void test_tls(void)
{
	static const char *const good[] = {
		"'email': {'smtp_url': 'smtp://mail:587', 'from': 'a@b'}",
		"'email': {'smtp_url': 'smtp://mail:587', 'tls': 'starttls', 'from': 'a@b'}",
		"'email': {'smtp_url': 'smtps://mail:465', 'tls': 'implicit', 'from': 'a@b'}",
		"'email': {'smtp_url': 'smtp://localhost:25', 'tls': 'none', 'from': 'a@b'}",
	};
	static const char *const bad[][2] = {
		{ "'email': {'smtp_url': 'smtp://mail:465', 'tls': 'implicit', 'from': 'a@b'}",
		  NAME ": email.tls: \"implicit\" needs an smtps:// smtp_url, got smtp://" },
		{ "'email': {'smtp_url': 'smtps://mail:465', 'tls': 'starttls', 'from': 'a@b'}",
		  NAME ": email.tls: \"starttls\" needs an smtp:// smtp_url" },
		{ "'email': {'smtp_url': 'smtps://mail:465', 'from': 'a@b'}",
		  NAME ": email.tls: \"starttls\" (the default) needs an smtp:// smtp_url" },
		{ "'email': {'smtp_url': 'smtps://mail:465', 'tls': 'none', 'from': 'a@b'}",
		  NAME ": email.tls: \"none\" needs an smtp:// smtp_url" },
	};
	struct run r;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		expect_clean(good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_fault(bad[i][0], bad[i][1]);
	run_with(&r, good[3]);
	tap_int(r.cfg.email.tls, CONFIG_TLS_NONE, "tls none is read");
	run_free(&r);
}

static void test_webhook_formats(void)
{
	struct run r;

	expect_clean("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" B64_24 "', "
		     "'format': 'teams'}], 'team_webhooks': {'format': 'slack'}");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" B64_24 "', "
		     "'format': 'Teams'}]",
		     NAME ": webhooks[0].format: must be \"standard\" (Standard Webhooks JSON), "
		     "\"teams\"");
	expect_fault("'team_webhooks': {'format': 7}", NAME ": team_webhooks.format:");
	run_with(&r, "'webhooks': [{'url': 'https://a', 'secret': 'whsec_" B64_24 "'}, "
		 "{'url': 'https://b', 'secret': 'whsec_" B64_24 "', 'format': 'slack'}], "
		 "'team_webhooks': {'format': 'teams'}");
	tap_ok(r.rc == 0 && r.cfg.n_webhooks == 2 && r.cfg.webhooks[0].format == CHAT_STANDARD &&
	       r.cfg.webhooks[1].format == CHAT_SLACK && r.cfg.team_webhook_format == CHAT_TEAMS,
	       "formats are read; absent is standard");
	run_free(&r);
}

static void test_webhooks(void)
{
	expect_clean("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" B64_24 "'}]");
	expect_clean("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" B64_64 "'}]");
	expect_clean("'webhooks': [{'url': 'https://x', 'secret_file': '/run/s', 'secret': null}]");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" B64_23 "'}]",
		     NAME ": webhooks[0].secret: must be \"whsec_\" followed by the base64");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" B64_65 "'}]",
		     NAME ": webhooks[0].secret: must be \"whsec_\" followed by the base64");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': '" B64_24 "'}]",
		     NAME ": webhooks[0].secret: must be \"whsec_\"");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" B64_24 "!'}]",
		     NAME ": webhooks[0].secret: must be \"whsec_\"");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': 'whsec_AAAA=AAAAAAAAAAAAAAAAAAAAAAA"
		     "AAAAAAAA'}]",
		     NAME ": webhooks[0].secret: must be \"whsec_\"");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': 'whsec_" B64_24 "', "
		     "'secret_file': '/run/s'}]",
		     NAME ": webhooks[0]: give \"secret\" or \"secret_file\", not both");
	expect_fault("'webhooks': [{'url': 'https://x'}]",
		     NAME ": webhooks[0]: needs \"secret\" or \"secret_file\"");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret': null}]",
		     NAME ": webhooks[0]: needs \"secret\" or \"secret_file\"");
	expect_fault("'webhooks': [{'url': 'https://x', 'secret_file': '/s'}, {'url': 'https://y'}]",
		     NAME ": webhooks[1]: needs \"secret\" or \"secret_file\"");
}

static void free_zeroed_twice_and_null(void *cfg)
{
	config_free(cfg);
	config_free(cfg);
	config_free(NULL);
}

static void test_free(void)
{
	struct dw_config cfg;
	struct run r;

	memset(&cfg, 0, sizeof(cfg));
	tap_survives(free_zeroed_twice_and_null, &cfg,
		     "config_free takes a zeroed struct, twice, and NULL");

	run_doc(&r, "{'database': {'conninfo': 'dbname=x'}, 'webhooks': [{'url': 'https://x', "
		    "'secret': 'whsec_" B64_24 "', 'rules': ['worker_change', 'bogus']}, 7], "
		    "'rules': {'cp_neglect_duration': {'neglect_categories': ['NEG', 'x']}}}");
	config_free(&r.cfg);
	config_free(&r.cfg);
	tap_ok(r.cfg.n_rules == 0 && r.cfg.webhooks == NULL,
	       "config_free takes a half-filled struct and zeroes it");
	run_free(&r);

	run_doc(&r, MINIMAL);
	tap_ok(config_rule_find(&r.cfg, "worker_change") == &r.cfg.rules[4],
	       "config_rule_find finds a rule");
	tap_ok(config_rule_find(&r.cfg, "nope") == NULL, "config_rule_find: NULL for others");
	run_free(&r);
}

/* ---- "credential:NAME" in the keys naming files ---- */

#define EMAIL_WITH(key, value) \
	"'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'username': 'u', '" key "': '" value "'}"
#define HOOK_WITH(value) "'webhooks': [{'url': 'https://x', 'secret_file': '" value "'}]"

static char creds_dir[300];

/* $CREDENTIALS_DIRECTORY as systemd would fill it for LoadCredential= lines. */
static void make_credentials(void)
{
	static const char *const names[] = { "smtp-password", "hook-secret", "team-hook-secret",
					     "ca.pem" };
	char path[1024];

	snprintf(creds_dir, sizeof(creds_dir), "%s/credentials", tmpdir);
	if (mkdir(creds_dir, 0700) != 0) {
		perror("mkdir");
		exit(2);
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", creds_dir, names[i]);
		write_file(path, "x\n", 2);
	}
}

/* path is creds_dir/name. */
static void expect_credential_path(const char *path, const char *name, const char *what)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s/%s", creds_dir, name);
	tap_str(path, want, "%s", what);
}

static void test_credential_good(void)
{
	struct run r;
	char dir_slash[320];

	setenv("CREDENTIALS_DIRECTORY", creds_dir, 1);
	run_with(&r, "'email': {'smtp_url': 'smtp://m', 'from': 'a@b', 'username': 'u', "
		     "  'password_file': 'credential:smtp-password', "
		     "  'ca_file': 'credential:ca.pem'}, "
		     HOOK_WITH("credential:hook-secret") ", "
		     "'team_webhook_secret_file': 'credential:team-hook-secret'");
	tap_ok(r.rc == 0 && r.errs.n == 0, "credential:NAME loads in every key naming a file");
	if (r.errs.n)
		tap_diag_value("messages", r.all);
	expect_credential_path(r.cfg.email.password_file, "smtp-password",
			       "credential:NAME is $CREDENTIALS_DIRECTORY/NAME");
	expect_credential_path(r.cfg.email.ca_file, "ca.pem",
			       "email.ca_file takes credential:NAME");
	expect_credential_path(r.cfg.n_webhooks ? r.cfg.webhooks[0].secret_file : NULL,
			       "hook-secret", "webhooks[].secret_file takes credential:NAME");
	expect_credential_path(r.cfg.team_webhook_secret_file, "team-hook-secret",
			       "team_webhook_secret_file takes credential:NAME");
	run_free(&r);

	snprintf(dir_slash, sizeof(dir_slash), "%s/", creds_dir);
	setenv("CREDENTIALS_DIRECTORY", dir_slash, 1);
	run_with(&r, HOOK_WITH("credential:hook-secret"));
	expect_credential_path(r.cfg.n_webhooks ? r.cfg.webhooks[0].secret_file : NULL,
			       "hook-secret", "a trailing '/' on the directory is not doubled");
	run_free(&r);

	run_with(&r, HOOK_WITH("/run/credentials/driftwatch.service/hook-secret"));
	tap_str(r.cfg.n_webhooks ? r.cfg.webhooks[0].secret_file : NULL,
		"/run/credentials/driftwatch.service/hook-secret",
		"an absolute path is kept as written beside $CREDENTIALS_DIRECTORY");
	run_free(&r);
}

static void test_credential_no_directory(void)
{
	struct run r;

	unsetenv("CREDENTIALS_DIRECTORY");
	run_with(&r, HOOK_WITH("credential:hook-secret"));
	tap_ok(r.rc == -1 && r.errs.n == 1,
	       "an unresolved secret_file is one fault, not also \"needs a secret\"");
	if (r.errs.n != 1)
		tap_diag_value("messages", r.all);
	run_free(&r);
	expect_fault(EMAIL_WITH("password_file", "credential:smtp-password"),
		     NAME ": email.password_file: credential \"smtp-password\": "
			  "$CREDENTIALS_DIRECTORY is unset");
	expect_fault(EMAIL_WITH("password_file", "credential:smtp-password"),
		     "LoadCredential=smtp-password:FILE");
	expect_fault(HOOK_WITH("credential:hook-secret"),
		     NAME ": webhooks[0].secret_file: credential \"hook-secret\": "
			  "$CREDENTIALS_DIRECTORY is unset");
	expect_fault("'team_webhook_secret_file': 'credential:team-hook-secret'",
		     NAME ": team_webhook_secret_file: credential \"team-hook-secret\": "
			  "$CREDENTIALS_DIRECTORY is unset");
	expect_fault(EMAIL_WITH("ca_file", "credential:ca.pem"),
		     NAME ": email.ca_file: credential \"ca.pem\": $CREDENTIALS_DIRECTORY is "
			  "unset");

	setenv("CREDENTIALS_DIRECTORY", "", 1);
	expect_fault(HOOK_WITH("credential:hook-secret"),
		     NAME ": webhooks[0].secret_file: credential \"hook-secret\": "
			  "$CREDENTIALS_DIRECTORY is empty");
	setenv("CREDENTIALS_DIRECTORY", "run/credentials", 1);
	expect_fault(HOOK_WITH("credential:hook-secret"),
		     NAME ": webhooks[0].secret_file: credential \"hook-secret\": "
			  "$CREDENTIALS_DIRECTORY \"run/credentials\" is not an absolute path");
}

static void test_credential_missing(void)
{
	char want[1024];
	struct run r;

	setenv("CREDENTIALS_DIRECTORY", creds_dir, 1);
	snprintf(want, sizeof(want), NAME ": email.password_file: credential \"smtp-pasword\": "
		 "%s/smtp-pasword does not exist: the unit needs LoadCredential=smtp-pasword:FILE",
		 creds_dir);
	expect_fault(EMAIL_WITH("password_file", "credential:smtp-pasword"), want);
	snprintf(want, sizeof(want), NAME ": team_webhook_secret_file: credential \"gone\": "
		 "%s/gone does not exist", creds_dir);
	expect_fault("'team_webhook_secret_file': 'credential:gone'", want);

	run_with(&r, HOOK_WITH("credential:one") ", 'team_webhook_secret_file': 'credential:two'");
	tap_ok(r.rc == -1 && r.errs.n == 2 && strstr(r.all, "\"one\"") && strstr(r.all, "\"two\""),
	       "every missing credential is reported at once");
	if (r.errs.n != 2)
		tap_diag_value("messages", r.all);
	run_free(&r);
}

static void test_credential_bad_name(void)
{
	static const char *const cases[][2] = {
		{ EMAIL_WITH("password_file", "credential:creds/smtp-password"),
		  NAME ": email.password_file: credential \"creds/smtp-password\": is not a "
		       "credential name" },
		{ HOOK_WITH("credential:../../etc/shadow"),
		  NAME ": webhooks[0].secret_file: credential \"../../etc/shadow\": is not a "
		       "credential name" },
		{ HOOK_WITH("credential:"),
		  NAME ": webhooks[0].secret_file: credential \"\": is not a credential name" },
		{ HOOK_WITH("credential:.."),
		  NAME ": webhooks[0].secret_file: credential \"..\": is not a credential name" },
		{ "'team_webhook_secret_file': 'credential:a\\nb'",
		  NAME ": team_webhook_secret_file: credential \"a?b\": is not a credential name" },
		{ EMAIL_WITH("ca_file", "credential:/etc/ssl/ca.pem"),
		  NAME ": email.ca_file: credential \"/etc/ssl/ca.pem\": is not a credential "
		       "name" },
	};

	/* The name is judged before the environment: these fail the same with it set. */
	setenv("CREDENTIALS_DIRECTORY", creds_dir, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_fault(cases[i][0], cases[i][1]);
	unsetenv("CREDENTIALS_DIRECTORY");
	expect_fault(HOOK_WITH("credential:a/b"),
		     NAME ": webhooks[0].secret_file: credential \"a/b\": is not a credential "
			  "name");
}

static void test_credentials(void)
{
	const char *saved = getenv("CREDENTIALS_DIRECTORY");
	char *keep = saved ? strdup(saved) : NULL;

	make_credentials();
	test_credential_good();
	test_credential_no_directory();
	test_credential_missing();
	test_credential_bad_name();
	if (keep)
		setenv("CREDENTIALS_DIRECTORY", keep, 1);
	else
		unsetenv("CREDENTIALS_DIRECTORY");
	free(keep);
}

/* Every message starts with the file name, and a load with messages never succeeds. */
static void test_message_shape(void)
{
	struct run r;
	bool shaped = true;

	run_doc(&r, "{'database': {'conninfo': 1, 'x': 2}, 'webhooks': [{}], 'rules': {'a': 1, "
		    "'cp_neglect_duration': {'stages': {'x': 1, '9m': {'recipients': [1]}}}}}");
	for (size_t i = 0; i < r.errs.n; i++)
		shaped &= strncmp(r.errs.msgs[i], NAME ": ", strlen(NAME) + 2) == 0 &&
			  !strchr(r.errs.msgs[i], '\n');
	tap_ok(r.rc == -1 && r.errs.n == 7 && shaped,
	       "each message is one line starting with the file name");
	if (r.errs.n != 7)
		tap_diag_value("messages", r.all);
	run_free(&r);
}

int main(void)
{
	make_tzdir();
	test_minimal();
	test_defaults();
	test_full();
	test_example_file();
	test_required();
	test_wrong_types();
	test_bad_values();
	test_good_values();
	test_unknown_keys();
	test_rules();
	test_rule_options();
	test_rule_lists();
	test_inheritance();
	test_rule_checks();
	test_multiple_errors();
	test_invalid_json();
	test_files();
	test_secrets();
	test_tls();
	test_webhooks();
	test_webhook_formats();
	test_credentials();
	test_free();
	test_message_shape();
	remove_tzdir();
	return tap_status();
}
