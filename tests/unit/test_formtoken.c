/* test_formtoken: the answer forms' anti-forgery token: good only for its person, alert, answer
 * and day (or the next), under its key, and any other text is refused. */
#include <string.h>

#include "driftwatch/formtoken.h"
#include "driftwatch/linktoken.h"
#include "tap.h"

#define FP "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FP2 "f123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define DAY 20790

static void key_of(struct linktoken_key *k, const char *secret)
{
	char err[128] = "";

	tap_int(linktoken_key_init(k, secret, strlen(secret), err, sizeof(err)), 0, "the test key (%s)",
		err);
}

int main(void)
{
	struct linktoken_key k, other;
	char tok[FORMTOKEN_BUF], bad[FORMTOKEN_BUF];

	key_of(&k, "a page secret of at least thirty-two bytes, for tests");
	key_of(&other, "another page secret of at least thirty-two bytes, too");
	tap_int(formtoken_make(&k, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY, tok), 0,
		"a token is made");
	tap_ok(strchr(tok, '.') && strlen(strchr(tok, '.') + 1) == 64, "DAY.MAC with 64 hex: %s",
	       tok);
	tap_int(formtoken_check(&k, tok, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY), 0,
		"good on its day");
	tap_int(formtoken_check(&k, tok, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY + 1),
		0, "good the next day (a page left open over midnight)");
	tap_int(formtoken_check(&k, tok, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY + 2),
		-1, "refused two days later");
	tap_int(formtoken_check(&k, tok, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY - 1),
		-1, "refused before its day");
	tap_int(formtoken_check(&k, tok, "supb@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY), -1,
		"refused for another person");
	tap_int(formtoken_check(&k, tok, "supa@la.example", FP2, FORMTOKEN_ACKNOWLEDGE, DAY), -1,
		"refused for another alert");
	tap_int(formtoken_check(&k, tok, "supa@la.example", FP, FORMTOKEN_SNOOZE, DAY), -1,
		"refused for another answer");
	tap_int(formtoken_check(&other, tok, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY),
		-1, "refused under another key");
	memcpy(bad, tok, sizeof(bad));
	bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
	tap_int(formtoken_check(&k, bad, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY), -1,
		"refused with one hex digit changed");
	snprintf(bad, sizeof(bad), "%d%s", DAY + 1, strchr(tok, '.'));
	tap_int(formtoken_check(&k, bad, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY + 1),
		-1, "refused with its day changed");
	tap_int(formtoken_check(&k, NULL, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY), -1,
		"NULL refused");
	tap_int(formtoken_check(&k, "", "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY), -1,
		"empty refused");
	tap_int(formtoken_check(&k, "20790.zz", "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE,
				DAY), -1, "garbage refused");
	for (char *p = strchr(tok, '.') + 1; *p; p++)
		*p = (char)(*p >= 'a' ? *p - 'a' + 'A' : *p);
	tap_int(formtoken_check(&k, tok, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY), -1,
		"upper-case hex refused (one spelling per token)");
	tap_int(formtoken_make(NULL, "supa@la.example", FP, FORMTOKEN_ACKNOWLEDGE, DAY, tok), -1,
		"no key, no token");
	linktoken_key_clear(&k);
	linktoken_key_clear(&other);
	return tap_status();
}
