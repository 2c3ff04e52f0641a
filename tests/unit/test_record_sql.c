/* Unit test: record_resolve.sql's form for a few notified children (record.c). It is prepared
 * once a session and planned generically, so it must have no "everyone" branch left, which
 * would leave a generic plan no index to read the children's alerts through; and a text that
 * no longer holds that branch exactly once is refused, not prepared as it is. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/record.h"
#include "driftwatch/sqltext.h"
#include "tap.h"

#define EVERYONE "a.rule = $1::text AND ($3::text[] IS NULL OR a.child_id = ANY($3::text[]))"

static void test_embedded(void)
{
	char *kids = record_resolve_for_children(sql_record_resolve);

	tap_ok(kids != NULL, "record_resolve.sql holds the line for everyone once");
	tap_ok(kids && !strstr(kids, "IS NULL OR"), "the notified children's form has no branch "
	       "for everyone");
	tap_ok(kids && strstr(kids, "a.child_id = ANY($3::text[]) AND a.rule || '' = $1::text"),
	       "... and reads the children's alerts, the rule only as a filter");
	tap_int((long long)(kids ? strlen(kids) : 0),
		(long long)(strlen(sql_record_resolve) - strlen(EVERYONE) +
			    strlen("a.child_id = ANY($3::text[]) AND a.rule || '' = $1::text")),
		"nothing else of the text changed in length");
	free(kids);
}

static void test_refused(void)
{
	char *s = record_resolve_for_children("UPDATE x SET y = 1 WHERE a.rule = $1::text");

	tap_ok(s == NULL, "a text without the line for everyone is refused");
	free(s);
	s = record_resolve_for_children("WHERE " EVERYONE " UNION WHERE " EVERYONE);
	tap_ok(s == NULL, "and so is one that holds it twice");
	free(s);
}

int main(void)
{
	test_embedded();
	test_refused();
	return tap_status();
}
