/* test_hostmatch: which team webhook URLs from the case data may be posted to. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "driftwatch/hostmatch.h"
#include "tap.h"

static void url(const char *u, char *const *pats, int want, const char *why_has, const char *name)
{
	const char *why = NULL;

	tap_int(hostmatch_url(u, pats, &why), want, "%s", name);
	if (why_has)
		tap_contains(why, why_has, "%s: why", name);
}

static void addr(const char *text, int want)
{
	struct sockaddr_in v4;
	struct sockaddr_in6 v6;

	memset(&v4, 0, sizeof(v4));
	memset(&v6, 0, sizeof(v6));
	if (inet_pton(AF_INET, text, &v4.sin_addr) == 1) {
		v4.sin_family = AF_INET;
		tap_int(hostmatch_addr_local((struct sockaddr *)&v4), want, "address %s", text);
	} else if (inet_pton(AF_INET6, text, &v6.sin6_addr) == 1) {
		v6.sin6_family = AF_INET6;
		tap_int(hostmatch_addr_local((struct sockaddr *)&v6), want, "address %s", text);
	} else {
		tap_ok(0, "address %s parses", text);
	}
}

/* At connect time: which resolved addresses a team's URL allowed by "*." may not reach, and
 * which URLs are named exactly (those may resolve anywhere). */
static void test_connect_time(char *const *pats)
{
	addr("127.0.0.1", 1);
	addr("127.1.2.3", 1);
	addr("0.0.0.0", 1);
	addr("169.254.169.254", 1);
	addr("::1", 1);
	addr("::", 1);
	addr("fe80::1", 1);
	addr("::ffff:127.0.0.1", 1);
	addr("::ffff:169.254.1.1", 1);
	addr("10.1.2.3", 0);
	addr("192.168.1.1", 0);
	addr("8.8.8.8", 0);
	addr("2001:db8::1", 0);
	addr("::ffff:10.0.0.1", 0);
	addr("fd00::1", 0);
	tap_int(hostmatch_named_exactly("https://hooks.example.org/x", pats), 1,
		"named exactly: an exact host");
	tap_int(hostmatch_named_exactly("https://council.webhook.office.com/w", pats), 0,
		"named exactly: not a name under a wildcard");
	tap_int(hostmatch_named_exactly("https://10.1.2.3/x", pats), 1,
		"named exactly: a listed address");
	tap_int(hostmatch_named_exactly("https://other.example/x", pats), 0,
		"named exactly: not an unlisted host");
	tap_int(hostmatch_named_exactly(NULL, pats), 0, "named exactly: not a NULL URL");
}

int main(void)
{
	char *pats[] = { "hooks.example.org", "*.webhook.office.com", "10.1.2.3", "[fd00::1]", NULL };
	char *local[] = { "127.0.0.1", "localhost", NULL };
	char *none[] = { NULL };
	char *plain[] = { "http://10.0.0.9", "https.example", NULL };

	tap_int(hostmatch_pattern_ok("hooks.slack.com"), 1, "pattern: a host name");
	tap_int(hostmatch_pattern_ok("*.webhook.office.com"), 1, "pattern: a wildcard domain");
	tap_int(hostmatch_pattern_ok("[::1]"), 1, "pattern: an IPv6 literal");
	tap_int(hostmatch_pattern_ok("*"), 0, "pattern: a bare * is refused");
	tap_int(hostmatch_pattern_ok("a.*.b"), 0, "pattern: * inside is refused");
	tap_int(hostmatch_pattern_ok("https://x"), 0, "pattern: a URL is refused");
	tap_int(hostmatch_pattern_ok(""), 0, "pattern: empty is refused");

	url("https://hooks.example.org/services/T1?sig=abc", pats, 1, NULL, "an exact host");
	url("https://HOOKS.Example.ORG:8443/x", pats, 1, NULL, "case and port do not matter");
	url("https://council.webhook.office.com/w", pats, 1, NULL, "a name under a wildcard");
	url("https://webhook.office.com/w", pats, 0, "does not allow", "the wildcard's domain itself");
	url("https://evilwebhook.office.com/w", pats, 0, "does not allow", "a suffix that is not a label");
	url("http://hooks.example.org/x", pats, 0, "https", "http is refused");
	url("https://user:pw@hooks.example.org/x", pats, 0, "user name", "userinfo is refused");
	url("https://hooks.example.org@evil.example/x", pats, 0, "user name", "an @ trick is refused");
	url("https://10.1.2.3/x", pats, 1, NULL, "a listed IPv4 address");
	url("https://[fd00::1]:443/x", pats, 1, NULL, "a listed IPv6 address");
	url("https://127.0.0.1/x", pats, 0, "loopback", "loopback is refused");
	url("https://169.254.169.254/latest", pats, 0, "link-local", "link-local is refused");
	url("https://[::1]/x", pats, 0, "loopback", "IPv6 loopback is refused");
	url("https://[fe80::1]/x", pats, 0, "link-local", "IPv6 link-local is refused");
	url("https://localhost/x", pats, 0, "loopback", "localhost is refused");
	url("https://127.0.0.1/x", local, 1, NULL, "loopback named exactly is allowed");
	url("https://localhost:9/x", local, 1, NULL, "localhost named exactly is allowed");
	url("https://hooks.example.org/x", none, 0, "allowed_hosts is empty", "no patterns: off");
	url("https://hooks.example.org/x", NULL, 0, "allowed_hosts is empty", "NULL patterns: off");
	url("http://10.0.0.9:8080/x", plain, 1, NULL, "http to a host named http://HOST");
	url("http://https.example/x", plain, 0, "http://HOST", "http to a host named for https only");
	url("https://10.0.0.9/x", plain, 1, NULL, "https to a host named http://HOST");
	tap_int(hostmatch_pattern_ok("http://*.example"), 0, "pattern: http:// takes no wildcard");
	tap_int(hostmatch_pattern_ok("http://10.0.0.9"), 1, "pattern: http://HOST");
	url("https:///x", pats, 0, "no host", "no host");
	url("https://[fe80::1/x", pats, 0, "IPv6", "a broken IPv6 literal");
	test_connect_time(pats);
	return tap_status();
}
