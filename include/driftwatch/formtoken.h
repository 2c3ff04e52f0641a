/* formtoken: the anti-forgery token of the answer forms on the pages for people. */
#ifndef DRIFTWATCH_FORMTOKEN_H
#define DRIFTWATCH_FORMTOKEN_H

#include <stdint.h>

struct linktoken_key;

/*
 * RESPONSES.md, "Pages for people": forms that change anything are POST with an anti-forgery
 * token. A page's form carries "DAY.MAC": DAY the day number (calendar.h) the page was made on,
 * MAC the hex of HMAC-SHA256 under the link key over a label of its own (so that no link
 * token's signature is ever one of these), the signed-in person, the alert's fingerprint, what
 * the form does and DAY. Another site cannot make one (it has no key and cannot read the page),
 * a form is good only for the person it was shown to, for that alert and that answer, on the
 * day it was made and the next (a page left open over midnight).
 */

/* "DAY." (at most 11 characters and the dot), 64 hex digits, NUL. */
#define FORMTOKEN_BUF 80

enum formtoken_purpose {
	FORMTOKEN_ACKNOWLEDGE = 1,
	FORMTOKEN_SNOOZE = 2,
	FORMTOKEN_UNSNOOZE = 3,
};

/* Writes the token for person's form of purpose on the alert fingerprint, made on day. 0, or
 * -1 (an argument missing, or libcrypto failed). */
int formtoken_make(const struct linktoken_key *key, const char *person, const char *fingerprint,
		   enum formtoken_purpose purpose, int32_t day, char out[FORMTOKEN_BUF]);

/* 0 when token (any text, NULL included) is the one formtoken_make made for these on today or
 * the day before; -1 otherwise. The MAC is compared in constant time. */
int formtoken_check(const struct linktoken_key *key, const char *token, const char *person,
		    const char *fingerprint, enum formtoken_purpose purpose, int32_t today);

#endif
