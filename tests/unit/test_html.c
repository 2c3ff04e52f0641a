/* test_html: escaping and British dates, shared by the pages, the mail and the timeline. */
#include <stdlib.h>

#include "driftwatch/calendar.h"
#include "driftwatch/html.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

/* What write (html_escape or html_escape_wrap) makes of s. */
static char *written(void (*write)(struct strbuf *, const char *), const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb);
	write(&sb, s);
	return strbuf_take(&sb);
}

static char *escaped(const char *s)
{
	return written(html_escape, s);
}

static char *wrapped(const char *s)
{
	return written(html_escape_wrap, s);
}

static char *dated(const char *iso, int longform, int *rc)
{
	struct strbuf sb;

	strbuf_init(&sb);
	*rc = html_date(&sb, iso, longform);
	return strbuf_take(&sb);
}

static void test_escape(void)
{
	char *s = escaped("<a href=\"x\">Tom & Jerry's</a>");

	tap_str(s, "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;",
		"the five characters that matter in text and quoted attributes become entities");
	free(s);
	s = escaped(NULL);
	tap_str(s, "", "NULL appends nothing");
	free(s);
	s = escaped("caf\xc3\xa9 \xe2\x80\x94 ok");
	tap_str(s, "caf\xc3\xa9 \xe2\x80\x94 ok", "UTF-8 passes through untouched");
	free(s);
}

static void test_wrap(void)
{
	static const struct {
		const char *in, *want, *what;
	} cases[] = {
		{ "add its host to team_webhooks.allowed_hosts; otherwise C-1042",
		  "add its host to team_<wbr>webhooks.<wbr>allowed_<wbr>hosts; otherwise C-1042",
		  "a long identifier may break after its punctuation; short words and prose do not" },
		{ "supervisor.of.the.week@example.gov.uk,",
		  "supervisor.<wbr>of.<wbr>the.<wbr>week@<wbr>example.<wbr>gov.<wbr>uk,",
		  "an address breaks at its dots and its @, never after its last character" },
		{ "https://x/0123456789abcdef0123456789ab",
		  "https:<wbr>/<wbr>/<wbr>x/<wbr>0123456789abcdef0123<wbr>456789ab",
		  "a run of 20 bytes with nowhere to break is given one" },
		{ "<a_long_identifier&name>", "&lt;a_<wbr>long_<wbr>identifier&amp;<wbr>name&gt;",
		  "what it writes is escaped as html_escape escapes it" },
		/* eight three-byte signs: the 20th byte is inside the seventh, so the break waits
		 * for the eighth */
		{ "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
		  "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
		  "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
		  "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac<wbr>\xe2\x82\xac",
		  "a break is never put inside a UTF-8 sequence" },
		{ NULL, "", "NULL appends nothing" },
		{ "  two\tspaces\n", "  two\tspaces\n", "white space is kept as it came" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = wrapped(cases[i].in);

		tap_str(s, cases[i].want, "wrap: %s", cases[i].what);
		free(s);
	}
}

static void test_dates(void)
{
	int rc;
	char *s = dated("2026-12-03", 0, &rc);

	tap_ok(rc == 0, "a day parses");
	tap_str(s, "3 Dec 2026", "short form: day without a leading zero, month, year");
	free(s);
	s = dated("2024-02-29", 1, &rc);
	tap_str(s, "29 February 2024", "long form, on a leap day");
	free(s);
	s = dated("2025-02-29", 0, &rc);
	tap_ok(rc == -1, "a day that does not exist is not a day");
	tap_str(s, "2025-02-29", "and is written as it came");
	free(s);
	s = dated("<b>soon</b>", 0, &rc);
	tap_str(s, "&lt;b&gt;soon&lt;/b&gt;", "text that is not a date is escaped");
	free(s);
	s = dated(NULL, 0, &rc);
	tap_ok(rc == -1 && s && !*s, "NULL writes nothing and says so");
	free(s);
}

int main(void)
{
	test_escape();
	test_wrap();
	test_dates();
	return tap_status();
}
