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
	test_dates();
	return tap_status();
}
