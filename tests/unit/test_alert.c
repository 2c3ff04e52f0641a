/* test_alert: recipients by role with their fallbacks, links, JSON form, and routing. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/alert.h"
#include "driftwatch/mailaddr.h"
#include "driftwatch/config.h"
#include "driftwatch/facts.h"
#include "driftwatch/routing.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

static struct config_addresses addresses(int with_fallback)
{
	struct config_addresses a = { 0 };

	a.fallback = with_fallback ? "duty@la.example" : NULL;
	a.cp_chair = "chairs@la.example";
	a.cp_manager = "cpm@la.example";
	a.head_of_service = NULL;
	return a;
}

static void alert_init(struct alert *a, const char *rule)
{
	memset(a, 0, sizeof(*a));
	a->rule = rule_registry_find(rule);
	a->child_id = strdup("C-1");
	a->fingerprint = strdup("ff");
	a->as_of = strdup("2026-11-22");
	a->facts = json_object();
}

static const char *recipient_field(const struct alert *a, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(a->recipients, i), key));
}

static void test_full_contacts(void)
{
	struct config_addresses addr = addresses(1);
	const char *roles[] = { "allocated_worker", "supervisor", "cp_chair", NULL };
	struct alert a;

	alert_init(&a, "cp_neglect_duration");
	a.contacts.alloc_worker_id = strdup("W-1");
	a.contacts.alloc_worker_email = strdup("w1@la.example");
	a.contacts.supervisor_id = strdup("W-2");
	a.contacts.supervisor_email = strdup("w2@la.example");
	a.contacts.team_manager_email = strdup("team@la.example");
	a.contacts.chair_id = strdup("W-9");
	a.contacts.chair_email = strdup("chair9@la.example");
	tap_int(alert_resolve_recipients(&a, roles, &addr), 0, "resolve with every contact");
	tap_int(json_array_size(a.recipients), 3, "three recipients");
	tap_str(recipient_field(&a, 0, "email"), "w1@la.example", "allocated worker's email");
	tap_str(recipient_field(&a, 1, "worker_id"), "W-2", "supervisor by supervisor_id");
	tap_str(recipient_field(&a, 2, "email"), "chair9@la.example", "the plan's chair");
	tap_int(a.used_fallback, 0, "no fallback needed");
	alert_free(&a);
}

static void test_fallbacks(void)
{
	struct config_addresses addr = addresses(1);
	const char *roles[] = { "supervisor", "cp_chair", "head_of_service", NULL };
	struct alert a;

	alert_init(&a, "cp_neglect_duration");
	a.contacts.alloc_worker_id = strdup("W-1");
	a.contacts.team_manager_email = strdup("team@la.example");
	tap_int(alert_resolve_recipients(&a, roles, &addr), 0, "resolve with gaps");
	tap_str(recipient_field(&a, 0, "email"), "team@la.example",
		"supervisor falls back to the team's manager_email");
	tap_str(recipient_field(&a, 1, "email"), "chairs@la.example",
		"cp_chair falls back to the configured CP chairs' address");
	tap_str(recipient_field(&a, 2, "email"), "duty@la.example",
		"unconfigured head_of_service goes to the fallback");
	tap_int(a.used_fallback, 1, "fallback use is counted");
	alert_free(&a);
}

static void test_no_allocation(void)
{
	struct config_addresses addr = addresses(1);
	const char *roles[] = { "allocated_worker", "supervisor", NULL };
	struct alert a;

	alert_init(&a, "was_not_brought");
	tap_int(alert_resolve_recipients(&a, roles, &addr), 0, "resolve with no allocation");
	tap_int(json_array_size(a.recipients), 1, "one notice to the front door, not two");
	tap_str(recipient_field(&a, 0, "email"), "duty@la.example", "no allocation: fallback");
	tap_str(recipient_field(&a, 0, "role"), "allocated_worker", "role kept");
	alert_free(&a);
}

static void test_unroutable(void)
{
	struct config_addresses addr = addresses(0);
	const char *roles[] = { "supervisor", NULL };
	struct alert a;

	alert_init(&a, "worker_churn");
	tap_int(alert_resolve_recipients(&a, roles, &addr), 0, "resolve with nothing at all");
	tap_int(json_array_size(a.recipients), 1, "still one recipient entry, never an empty list");
	tap_ok(json_is_null(json_object_get(json_array_get(a.recipients, 0), "email")),
	       "its email is null");
	tap_int(a.unroutable, 1, "counted as unroutable");
	alert_free(&a);
}

static void test_dedupe(void)
{
	struct config_addresses addr = addresses(1);
	const char *roles[] = { "supervisor", "cp_chair", NULL };
	struct alert a;

	alert_init(&a, "repeat_neglect_plan");
	a.contacts.supervisor_id = strdup("W-2");
	a.contacts.supervisor_email = strdup("same@la.example");
	a.contacts.chair_id = strdup("W-2");
	a.contacts.chair_email = strdup("same@la.example");
	alert_resolve_recipients(&a, roles, &addr);
	tap_int(json_array_size(a.recipients), 1, "one person in two roles gets one notice");
	tap_str(recipient_field(&a, 0, "role"), "supervisor", "under the first role");
	alert_free(&a);
	alert_init(&a, "repeat_neglect_plan");
	a.contacts.supervisor_id = strdup("W-2");
	a.contacts.supervisor_email = strdup("Same@LA.example");
	a.contacts.chair_id = strdup("W-2");
	a.contacts.chair_email = strdup("same@la.example");
	alert_resolve_recipients(&a, roles, &addr);
	tap_int(json_array_size(a.recipients), 1,
		"one person whose address the case data spells in two cases is one recipient");
	alert_free(&a);
}

/* A fallback says why it got the notice, and keeps whom it was meant for (issue 10). */
static void test_reasons(void)
{
	struct config_addresses addr = addresses(1);
	const char *roles[] = { "allocated_worker", "supervisor", "cp_chair", "cp_manager", NULL };
	struct alert a;

	addr.cp_manager = NULL;
	addr.cp_chair = NULL;
	alert_init(&a, "cp_neglect_duration");
	a.contacts.alloc_worker_id = strdup("W-28");
	a.contacts.supervisor_id = strdup("W-2");
	a.contacts.supervisor_email = strdup("boss@la.example\r\nBcc: evil@example.org");
	a.contacts.chair_id = strdup("W-9");
	tap_int(alert_resolve_recipients(&a, roles, &addr), 0, "resolve with unusable contacts");
	tap_int(json_array_size(a.recipients), 1, "the duty team gets one notice for four roles");
	tap_str(recipient_field(&a, 0, "worker_id"), "W-28", "the worker's id is kept");
	tap_str(recipient_field(&a, 0, "email"), "duty@la.example", "... and the fallback has it");
	tap_contains(recipient_field(&a, 0, "reason"), "allocated worker W-28 has no email address",
		     "... saying why");
	tap_contains(recipient_field(&a, 0, "reason"),
		     "as supervisor: the email address of supervisor W-2 cannot be used: it holds a "
		     "line break", "a supervisor address with CR/LF is refused, saying so");
	tap_str(recipient_field(&a, 0, "bad_address"), "W-2",
		"... and the worker with the bad address is named");
	tap_contains(recipient_field(&a, 0, "reason"), "as cp_chair: chair W-9 has no email address",
		     "the chair's reason");
	tap_contains(recipient_field(&a, 0, "reason"), "addresses.cp_chair is not set",
		     "... and the configuration's");
	tap_contains(recipient_field(&a, 0, "reason"), "as cp_manager: addresses.cp_manager is not set",
		     "an unset role address says so");
	tap_int(a.bad_addresses, 1, "one bad address counted");
	tap_int(a.used_fallback, 1, "fallback use counted");
	alert_free(&a);

	alert_init(&a, "worker_churn");
	a.contacts.alloc_worker_id = strdup("W-1");
	a.contacts.alloc_worker_email = strdup("ok@la.example");
	tap_int(alert_resolve_recipients(&a, roles, &addr), 0, "resolve a usable worker");
	tap_ok(json_object_get(json_array_get(a.recipients, 0), "reason") == NULL,
	       "no reason when the person themself has it");
	alert_free(&a);
}

/* Audit 10: a chair whose address cannot be used, with addresses.cp_chair set, left the
 * recipient "bad_address" with no "reason"; record.sql's report to the operators then had a
 * NULL key and failed the rule's whole recording, every child's CP alerts with it. A bad address
 * routed to the next address of its role keeps its reason and is reported. */
static void test_bad_address_next(void)
{
	struct config_addresses addr = addresses(1);
	const char *chair[] = { "cp_chair", NULL }, *sup[] = { "supervisor", NULL };
	struct alert a;

	alert_init(&a, "cp_neglect_duration");
	a.contacts.chair_id = strdup("CH1");
	a.contacts.chair_email = strdup("chair one@la.example");
	tap_int(alert_resolve_recipients(&a, chair, &addr), 0, "resolve a chair with a space in "
		"the address");
	tap_str(recipient_field(&a, 0, "email"), "chairs@la.example",
		"the CP chairs' configured address has it");
	tap_str(recipient_field(&a, 0, "bad_address"), "CH1", "the chair is named as bad");
	tap_contains(recipient_field(&a, 0, "reason"), "the email address of chair CH1 cannot be "
		     "used: it holds a space", "... with the reason the report is made of");
	tap_int(a.used_fallback, 0, "not the fallback");
	alert_free(&a);

	alert_init(&a, "cp_neglect_duration");
	a.contacts.alloc_worker_id = strdup("W-1");
	a.contacts.supervisor_id = strdup("W-2");
	a.contacts.supervisor_email = strdup("boss@la.example ");
	a.contacts.team_manager_email = strdup("tm@la.example");
	tap_int(alert_resolve_recipients(&a, sup, &addr), 0, "resolve a supervisor whose address "
		"ends in a space");
	tap_str(recipient_field(&a, 0, "email"), "tm@la.example", "the team manager has it");
	tap_str(recipient_field(&a, 0, "bad_address"), "W-2",
		"the supervisor's bad address is still reported");
	tap_contains(recipient_field(&a, 0, "reason"), "supervisor W-2 cannot be used",
		     "... and the team manager reads why");
	alert_free(&a);

	alert_init(&a, "cp_neglect_duration");
	a.contacts.alloc_worker_id = strdup("W-1");
	a.contacts.team_manager_email = strdup("tm@la.example");
	alert_resolve_recipients(&a, sup, &addr);
	tap_ok(json_object_get(json_array_get(a.recipients, 0), "reason") == NULL &&
	       json_object_get(json_array_get(a.recipients, 0), "bad_address") == NULL,
	       "no supervisor at all: the team manager, with no reason and nothing bad");
	alert_free(&a);
}

static void test_mailaddr(void)
{
	static const struct { const char *a; int ok; const char *why; } cases[] = {
		{ "w1@la.example", 1, NULL },
		{ "first.last+tag@council.gov.uk", 1, NULL },
		{ "", 0, "is empty" },
		{ "no-at.example", 0, "is not one name, an @ and a domain" },
		{ "a@b@c", 0, "is not one name, an @ and a domain" },
		{ "@la.example", 0, "is not one name, an @ and a domain" },
		{ "w1@", 0, "is not one name, an @ and a domain" },
		{ "w1@la.example\r\nBcc: x@y", 0, "holds a line break or another control character" },
		{ "<b>w1</b>@la.example", 0, "holds a space, a quote, a bracket or a separator" },
		{ "w 1@la.example", 0, "holds a space, a quote, a bracket or a separator" },
		{ "w\xc3\xa9@la.example", 0, "holds characters outside ASCII" },
		/* what a mail server refuses for good (Postfix: 501 5.1.3 Bad recipient address
		 * syntax) goes to the fallback instead */
		{ "x@la..example", 0, "has a domain that is not labels of letters, digits and "
		  "hyphens joined by dots" },
		{ "x@-la.example", 0, "has a domain that is not labels of letters, digits and "
		  "hyphens joined by dots" },
		{ "x@la-.example", 0, NULL },
		{ "x@la.example.", 0, NULL },
		{ "x@la_team.example", 0, NULL },
		{ "a..b@la.example", 0, "has a name with a dot at its start or end, or two in a "
		  "row" },
		{ ".x@la.example", 0, NULL },
		{ "x.@la.example", 0, NULL },
		{ "o'brien+tag@la.example", 1, NULL },
		{ "a@b", 1, NULL },
		{ "x@sub-domain.la-2.example", 1, NULL },
	};
	char longaddr[300];
	const char *why;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		tap_int(mailaddr_usable(cases[i].a, &why), cases[i].ok, "mailaddr: %s", cases[i].a);
		if (cases[i].why)
			tap_str(why, cases[i].why, "mailaddr: why %s", cases[i].a);
	}
	memset(longaddr, 'a', sizeof(longaddr));
	memcpy(longaddr + 250, "@x.uk", 6);
	tap_int(mailaddr_usable(longaddr, &why), 0, "mailaddr: 255 bytes is too long");
	tap_str(why, "is longer than 254 bytes", "mailaddr: why too long");
}

static void test_link(void)
{
	struct alert a;

	alert_init(&a, "worker_churn");
	free(a.child_id);
	a.child_id = strdup("C 1/&x");
	tap_int(alert_build_link(&a, "https://lcs.example/person/{child_id}?v={child_id}"), 0,
		"link built");
	tap_str(a.link, "https://lcs.example/person/C%201%2F%26x?v=C%201%2F%26x",
		"child id URL-escaped at every placeholder");
	tap_int(alert_build_link(&a, NULL), 0, "no template");
	tap_ok(a.link == NULL, "no template, no link");
	alert_free(&a);
}

static void test_json(void)
{
	struct alert a;
	json_t *o;

	alert_init(&a, "cp_neglect_duration");
	a.stage = 2;
	a.subject_id = strdup("CPP-7");
	a.since = strdup("2025-08-14");
	a.recipients = json_array();
	o = alert_to_json(&a, "firing");
	tap_ok(o != NULL, "alert as JSON");
	tap_str(json_string_value(json_object_get(o, "stage")), "15m", "stage by name");
	tap_str(json_string_value(json_object_get(o, "rule")), "cp_neglect_duration", "rule");
	tap_ok(json_is_null(json_object_get(o, "family_id")), "unknown family is null");
	tap_int(json_object_size(o), 13, "every field of ALERTS.md");
	json_decref(o);
	alert_free(&a);
}

/* The alert as written out (dry run, recording) is byte for byte what jansson writes of
 * alert_to_json, whether its facts are kept as text or only as a tree. */
static void json_write_same(struct alert *a, const char *name)
{
	for (int ascii = 0; ascii <= 1; ascii++) {
		json_t *o = alert_to_json(a, "firing");
		char *want = o ? json_dumps(o, JSON_COMPACT | (ascii ? JSON_ENSURE_ASCII : 0)) : NULL;
		struct strbuf sb;

		strbuf_init(&sb);
		tap_int(alert_json_write(&sb, a, "firing", ascii), 0, "%s (ascii %d): written",
			name, ascii);
		tap_str(sb.buf, want, "%s (ascii %d): as jansson writes it", name, ascii);
		strbuf_free(&sb);
		free(want);
		json_decref(o);
	}
}

static void test_json_write(void)
{
	struct alert a;
	struct strbuf sb;

	alert_init(&a, "re_referral");
	a.stage = 1;
	a.recipients = json_pack("[{s:s, s:s, s:s}]", "role", "supervisor", "worker_id", "W-\xc3\xa9",
				 "email", "w@la.example");
	json_write_same(&a, "facts as a tree, nulls");
	a.subject_id = strdup("REF-1 \"quoted\"");
	a.family_id = strdup("F-caf\xc3\xa9");
	a.since = strdup("2026-01-02");
	a.link = strdup("https://lcs.example/p/C-1");
	a.summary = strdup("Child C-1 \xe2\x80\x94 referred again \xf0\x9f\x98\x80");
	a.facts_text = strdup("{\"referrals\" : [{\"referral_id\" : \"R\\u00e9\", \"n\" : 1}, \n "
			      "{\"referral_id\" : \"R2\\t\", \"n\" : null}], \"who\" : \"O\xe2\x80\x99" "Brien\"}");
	json_write_same(&a, "facts as text, every field set");
	free(a.facts_text);
	a.facts_text = strdup("{\"broken\": ");
	strbuf_init(&sb);
	strbuf_append(&sb, "[");
	tap_int(alert_json_write(&sb, &a, "firing", 0), -1, "facts that are not JSON: not written");
	tap_str(sb.buf, "[", "and nothing of the alert is left in the buffer");
	strbuf_free(&sb);
	alert_free(&a);
}

static void test_routing(void)
{
	struct dw_config cfg;
	struct config_webhook hooks[2];
	char *only_cp[] = { "cp_neglect_duration", NULL };
	char *allowed[] = { "team.example", NULL };
	struct alert a;
	json_t *d;
	char *key;

	memset(&cfg, 0, sizeof(cfg));
	memset(hooks, 0, sizeof(hooks));
	hooks[0].url = "https://all.example/hook";
	hooks[1].url = "https://cp.example/hook";
	hooks[1].rules = only_cp;
	cfg.webhooks = hooks;
	cfg.n_webhooks = 2;
	alert_init(&a, "was_not_brought");
	a.recipients = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "supervisor", "email",
				 "s@la.example", "role", "allocated_worker", "email", "s@la.example");
	a.contacts.team_webhook_url = strdup("https://team.example/hook");
	d = routing_destinations(&a, &cfg);
	tap_int(json_array_size(d), 2, "no email section: no email destination, the webhook and "
		"the team's");
	tap_str(json_string_value(json_object_get(json_array_get(d, 0), "channel")), "webhook",
		"... the first is a webhook");
	json_decref(d);
	cfg.email.enabled = true;
	/* ALERTS.md: each team's webhook_url receives its alerts, "signed with the secret named
	 * by team_webhook_secret_file when set": unsigned without it (audit 19) */
	d = routing_destinations(&a, &cfg);
	tap_int(json_array_size(d), 3, "a team webhook with no secret to sign it: used, unsigned");
	json_decref(d);
	cfg.team_webhook_secret_file = "/run/credentials/driftwatch.service/team-hook-secret";
	cfg.team_hosts_limited = 1;
	d = routing_destinations(&a, &cfg);
	tap_int(json_array_size(d), 2, "no team webhook to a host team_webhooks.allowed_hosts, "
		"when given, does not name");
	json_decref(d);
	cfg.team_allowed_hosts = allowed;
	d = routing_destinations(&a, &cfg);
	tap_int(json_array_size(d), 3, "one email, the unfiltered webhook, the team's webhook");
	tap_str(json_string_value(json_object_get(json_array_get(d, 1), "destination")),
		"https://all.example/hook", "a webhook without rules gets every rule");
	json_decref(d);
	json_decref(a.recipients);
	a.recipients = json_pack("[{s:s,s:s},{s:s,s:s}]", "role", "supervisor", "email",
				 "W1@LA.Example", "role", "allocated_worker", "email", "w1@la.example");
	d = routing_destinations(&a, &cfg);
	tap_int(json_array_size(d), 3, "one person spelt in two cases is one email destination");
	tap_str(json_string_value(json_object_get(json_array_get(d, 0), "destination")),
		"w1@la.example", "... in lower case, so every alert of theirs is in one digest");
	json_decref(d);
	json_object_set_new(a.facts, "latest", json_string("2026-11-01"));
	key = routing_notify_key(&a);
	tap_str(key, "\"2026-11-01\"", "was_not_brought is news again when latest moves");
	free(key);
	alert_free(&a);
}

/* The fingerprint is over the bytes as stored: the same as the SQL's sha256 of UTF-8 text for
 * well-formed ids (values checked with sha256sum), and defined for any bytes. */
static void test_fingerprint(void)
{
	char fp[ALERT_FINGERPRINT_LEN + 1];

	tap_int(alert_fingerprint("cp_neglect_duration", "C-1042", "CPP-77", fp), 0,
		"fingerprint: made");
	tap_str(fp, "b032341d68b492a0317e04674c6a8d001203044f31f4009e72af255e7bed88b7",
		"fingerprint: sha256 of rule, child and subject joined by 0x1F");
	alert_fingerprint("was_not_brought", "C-1", NULL, fp);
	tap_str(fp, "af5fb409cd814a64c577be1a08f7b19477ea03613afc83a20c8f1aa241929038",
		"fingerprint: no subject is the empty string");
	alert_fingerprint("r", "C-\xff\xfe", "P-\xe9", fp);
	tap_str(fp, "ff507b8831981c5d36cfac3365e907e6b6222aa1b4bc68070ae88527f3a2768f",
		"fingerprint: bytes that are not UTF-8 are hashed as they are");
	/* (audit 12) ids holding the separator: "X<US>P1" with "Q" and "X" with "P1<US>Q" joined
	 * to the same text, one fingerprint for two alerts (380da268..., the first scheme's) */
	alert_fingerprint("cin_neglect_duration", "X\x1fP1", "Q", fp);
	tap_str(fp, "f8ff0794a4ecd0ca493d9e71ebdae6f7a2e9719e52574a4219adfca8f394da67",
		"fingerprint: an id holding 0x1F is written with the lengths after 0x1E");
	alert_fingerprint("cin_neglect_duration", "X", "P1\x1fQ", fp);
	tap_str(fp, "aa69197f1acdbd5d79c6fb069d830e3f3095ea52276f0e849308e174d8758ba2",
		"fingerprint: ... so the other pair of ids with the same bytes has another one");
}

static void test_fingerprint_parse(void)
{
	char fp[ALERT_FINGERPRINT_LEN + 1], in[ALERT_FINGERPRINT_LEN + 2];

	memset(in, 'A', ALERT_FINGERPRINT_LEN);
	in[ALERT_FINGERPRINT_LEN] = '/';
	in[ALERT_FINGERPRINT_LEN + 1] = '\0';
	tap_ok(alert_fingerprint_parse(in, ALERT_FINGERPRINT_LEN, fp) == 0 && fp[0] == 'a' &&
	       strlen(fp) == ALERT_FINGERPRINT_LEN,
	       "64 hex digits before a '/' parse, in lower case");
	tap_ok(alert_fingerprint_parse(in, ALERT_FINGERPRINT_LEN + 1, fp) < 0,
	       "one character more does not");
	in[3] = 'g';
	tap_ok(alert_fingerprint_parse(in, ALERT_FINGERPRINT_LEN, fp) < 0, "nor a non-hex digit");
	tap_ok(alert_fingerprint_parse(NULL, ALERT_FINGERPRINT_LEN, fp) < 0, "nor NULL");
}

int main(void)
{
	test_fingerprint_parse();
	test_full_contacts();
	test_fallbacks();
	test_no_allocation();
	test_unroutable();
	test_dedupe();
	test_link();
	test_json();
	test_json_write();
	test_routing();
	test_fingerprint();
	test_reasons();
	test_bad_address_next();
	test_mailaddr();
	return tap_status();
}
