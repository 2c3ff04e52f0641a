/* test_url_redact: URLs shown in logs keep scheme, host, port and path, and nothing secret. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/url_redact.h"
#include "tap.h"

/* The test's name with control characters as '^', so that each result stays one line. */
static const char *printable(const char *s, char *buf, size_t n)
{
	size_t i;

	for (i = 0; s && s[i] && i + 1 < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 ? '^' : s[i];
	buf[i] = '\0';
	return s ? buf : "NULL";
}

static void shows(const char *url, const char *want)
{
	char out[URL_SHOWN_MAX], name[URL_SHOWN_MAX];

	url_redact(url, out, sizeof(out));
	tap_str(out, want, "%s is shown as %s", printable(url, name, sizeof(name)), want);
}

static void test_plain(void)
{
	shows("https://hooks.la.example/drift", "https://hooks.la.example/drift");
	shows("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000/hook");
	shows("https://hooks.la.example", "https://hooks.la.example");
	shows("https://hooks.la.example:/x", "https://hooks.la.example:/x");
	shows("https://hooks.la.example/", "https://hooks.la.example/");
	shows("https://[::1]:8443/a/b", "https://[::1]:8443/a/b");
	shows("https://[fe80::1%25eth0]/x", "https://[fe80::1%25eth0]/x");
	shows("HTTPS://Hooks.LA.example:443/Drift", "HTTPS://Hooks.LA.example:443/Drift");
	shows("smtp://mail.la.example:587", "smtp://mail.la.example:587");
	/* relative (a redirect's Location) and scheme-less text */
	shows("/redirect-target", "/redirect-target");
	shows("hooks.la.example/x?sig=abc", "hooks.la.example/x");
	shows(NULL, "(none)");
	shows("", "(empty)");
}

static void test_secrets(void)
{
	shows("https://user:s3cret@hooks.la.example/drift", "https://hooks.la.example/drift");
	shows("https://user:s3cret@hooks.la.example:8443/d?x=1", "https://hooks.la.example:8443/d");
	shows("https://:pw@h/p", "https://h/p");
	shows("https://user@h/p", "https://h/p");
	/* an '@' in the password: the last one before the path ends the userinfo */
	shows("https://u:p@ss@w@rd@hooks.la.example/p", "https://hooks.la.example/p");
	shows("https://hooks.la.example/team?sig=SIGSECRET&sv=2", "https://hooks.la.example/team");
	shows("https://hooks.la.example/x?token=T", "https://hooks.la.example/x");
	shows("https://hooks.la.example?token=T", "https://hooks.la.example");
	shows("https://hooks.la.example#frag-secret", "https://hooks.la.example");
	shows("https://hooks.la.example/p#a?b", "https://hooks.la.example/p");
	shows("https://u:pw@hooks.la.example?sig=1#f", "https://hooks.la.example");
	/* a '/' in the password: the "port" is not a number, so nothing past the scheme shows */
	shows("https://user:pa/ss@hooks.la.example/p", "https://(unreadable)");
	shows("https://user:pa\\ss@hooks.la.example/p", "https://(unreadable)");
	/* the query never shows, whatever it holds */
	shows("https://h/p?https://u:pw@x/y", "https://h/p");
	shows("https://h/p?@evil", "https://h/p");
}

static void test_nasty(void)
{
	char big[4096], out[64], tiny[8];

	shows("https://h/p\r\nX-Injected: 1", "https://h/p??X-Injected:?1");
	shows("https://h/\x01\x7f\xc3\xa9", "https://h/????");
	shows("https://[::1/p", "https://(unreadable)");
	shows("https://[::1]x/p", "https://(unreadable)");
	shows("https://h:99999999/p", "https://(unreadable)");
	shows("https://h:80x/p", "https://(unreadable)");
	shows("https://h o/p", "https://(unreadable)");
	shows("javascript:alert(document.cookie)", "(unreadable)");
	shows("http:/single-slash/p?sig=1", "http:/single-slash/p");
	shows("://nothing", "://nothing");
	shows("?sig=only-a-query", "");
	shows("#only-a-fragment", "");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "https://u:SECRET@h/", 19);
	url_redact(big, out, sizeof(out));
	tap_int((long long)strlen(out), (long long)sizeof(out) - 1,
		"a 4 KB URL is cut at the buffer (%zu bytes)", strlen(out));
	tap_lacks(out, "SECRET", "and its password is not in what is left");
	url_redact("https://u:pw@hooks.la.example/long/path", tiny, sizeof(tiny));
	tap_str(tiny, "https:/", "a tiny buffer holds the start and is terminated");
	memset(tiny, '#', sizeof(tiny));
	tap_ok(url_redact("https://h/p", tiny, 0) == tiny && memcmp(tiny, "########", 8) == 0,
	       "a zero-sized buffer is left alone");
}

static void scrubs(const char *text, const char *source, const char *want)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", text);
	url_scrub(buf, sizeof(buf), source);
	tap_str(buf, want, "scrubbing \"%s\"", text);
}

static void test_scrub(void)
{
	/* a token runs to the next blank: the colon after the query goes with it */
	scrubs("webhook https://u:pw@h:81/p?sig=S: HTTP 500", NULL, "webhook https://h:81/p HTTP 500");
	scrubs("webhook https://u:pw@h:81/p: HTTP 500", NULL, "webhook https://h:81/p: HTTP 500");
	scrubs("redirect to \"https://evil/x?token=T\" not followed", NULL,
	       "redirect to \"https://evil/x\" not followed");
	scrubs("two: http://a/?x=1 and smtp://u:p@m:25 end", NULL,
	       "two: http://a/ and smtp://m:25 end");
	scrubs("no URL here at all", NULL, "no URL here at all");
	scrubs("tabs\tstay\tas they are", NULL, "tabs\tstay\tas they are");
	/* a library message that echoes parts of the URL without its scheme */
	scrubs("Could not resolve host: h; query sig=SECRETSIG&a=b was sent",
	       "https://h/p?sig=SECRETSIG&a=b", "Could not resolve host: h; query ... was sent");
	scrubs("login for user:hunter2 failed", "https://user:hunter2@h/p",
	       "login for ... failed");
	scrubs("a short query ?a is left", "https://h/p?a", "a short query ?a is left");
	scrubs("already shown: https://(unreadable) stays", NULL,
	       "already shown: https://(unreadable) stays");
	/* a database error quoting a row: the token runs to the blank, comma and all */
	scrubs("Failing row contains (7, https://h/p?sig=ROWSECRET, pending)", NULL,
	       "Failing row contains (7, https://h/p pending)");
}

static void scrub_null(void *unused)
{
	(void)unused;
	url_scrub(NULL, 10, NULL);
}

static void test_scrub_edges(void)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "x https://u:pw@host/p?q");
	url_scrub(buf, sizeof(buf), NULL);
	tap_str(buf, "x https://host/p", "a full buffer is rewritten within its size");
	tap_survives(scrub_null, NULL, "NULL text is left alone");
}

int main(void)
{
	test_plain();
	test_secrets();
	test_nasty();
	test_scrub();
	test_scrub_edges();
	return tap_status();
}
