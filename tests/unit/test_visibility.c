/* test_visibility: who a person is to driftwatch: the header's email, the configured addresses
 * that see everything, and the peers whose header is believed (RESPONSES.md, "Who is who"). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "driftwatch/config.h"
#include "driftwatch/errlist.h"
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

int main(void)
{
	test_person();
	test_config();
	return tap_status();
}
