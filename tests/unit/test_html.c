/* test_html: escaping and British dates, shared by the pages, the mail and the timeline. */
#include <stdlib.h>

#include "driftwatch/calendar.h"
#include "driftwatch/html.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

static char *escaped(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb);
	html_escape(&sb, s);
	return strbuf_take(&sb);
}

static char *wrapped(const char *s)
{
	struct strbuf sb;

	strbuf_init(&sb);
	html_escape_wrap(&sb, s);
	return strbuf_take(&sb);
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
	char *s = wrapped("add its host to team_webhooks.allowed_hosts; otherwise C-1042");

	tap_str(s, "add its host to team_<wbr>webhooks.<wbr>allowed_<wbr>hosts; otherwise C-1042",
		"a long identifier may break after its punctuation; short words and prose do not");
	free(s);
	s = wrapped("supervisor.of.the.week@example.gov.uk,");
	tap_str(s, "supervisor.<wbr>of.<wbr>the.<wbr>week@<wbr>example.<wbr>gov.<wbr>uk,",
		"an address breaks at its dots and its @, never after its last character");
	free(s);
	s = wrapped("https://x/0123456789abcdef0123456789ab");
	tap_str(s, "https:<wbr>/<wbr>/<wbr>x/<wbr>0123456789abcdef0123<wbr>456789ab",
		"a run of 20 bytes with nowhere to break is given one");
	free(s);
	s = wrapped("<a_long_identifier&name>");
	tap_str(s, "&lt;a_<wbr>long_<wbr>identifier&amp;<wbr>name&gt;",
		"what it writes is escaped as html_escape escapes it");
	free(s);
	/* eight three-byte signs: the 20th byte is inside the seventh, so the break waits for
	 * the eighth */
	s = wrapped("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac");
	tap_str(s, "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac<wbr>\xe2\x82\xac", "a break is never put inside a UTF-8 sequence");
	free(s);
	s = wrapped(NULL);
	tap_str(s, "", "NULL appends nothing");
	free(s);
	s = wrapped("  two\tspaces\n");
	tap_str(s, "  two\tspaces\n", "white space is kept as it came");
	free(s);
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
