/* noticelinks: the Acknowledge, Snooze and Open links an alert carries in a notice. */
#ifndef DRIFTWATCH_NOTICELINKS_H
#define DRIFTWATCH_NOTICELINKS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "driftwatch/linktoken.h"

/*
 * RESPONSES.md, "Links in notices": with web.public_url and web.link_secret_file set, an alert's
 * notice carries {public_url}/r/{token} links, each token (linktoken.h) naming the alert's
 * fingerprint, the person the notice went to, what the link is for, and its last day.
 *
 * The last day is the alert's "as_of" (the evaluation day, in the daemon's time zone, as
 * PostgreSQL computed it) plus web.link_days, not the clock's day: a digest recomposed after a
 * crash then carries the same links, and a run with --as-of signs links that agree with the day
 * it simulates. A digest held until the next morning gets links a day shorter, never longer.
 */

/* What signing needs, borrowed from its owner (deliver.c holds the key). NULL, or a NULL key,
 * means no links: a notice is then exactly what it was before links existed. */
struct noticelinks {
	const char *public_url;          /* without a trailing '/' */
	const struct linktoken_key *key;
	int link_days;                   /* >= 1 */
};

/* The links of one alert for one person, in the order a notice shows them. */
enum noticelinks_kind { NOTICELINKS_ACKNOWLEDGE, NOTICELINKS_SNOOZE, NOTICELINKS_OPEN };
#define NOTICELINKS_KINDS 3

/* "acknowledge", "snooze", "open": the webhook action's "kind" */
const char *noticelinks_kind_name(enum noticelinks_kind k);
/* "Acknowledge", "Snooze", "Open": the words on the button */
const char *noticelinks_kind_label(enum noticelinks_kind k);

/* Which links a notice of this type carries: all three for "alert.firing", "alert.escalated"
 * and "alert.updated"; only Open for "alert.resolved" (nothing is left to answer: no reminder or
 * escalation follows a resolution); none for anything else (a report about driftwatch itself is
 * about no alert). A bit per enum noticelinks_kind. */
unsigned noticelinks_wanted(const char *type);

/* The set of links for alert (the ALERTS.md object: its "fingerprint" and "as_of" are used) to
 * recipient. urls[k] is a malloc'd "{public_url}/r/{token}" for each kind in
 * noticelinks_wanted(type), else NULL. Returns how many were made (0 when links are off, or
 * the type carries none), or -1 with err saying why (no usable fingerprint or as_of, a
 * recipient linktoken cannot name, memory) and every urls[k] NULL. */
int noticelinks_make(const struct noticelinks *nl, const char *type, const json_t *alert,
		     const char *recipient, char *urls[NOTICELINKS_KINDS], char *err,
		     size_t errsz);

void noticelinks_free(char *urls[NOTICELINKS_KINDS]);

/*
 * A webhook is not a person, and RESPONSES.md knows a person only as an email address, acting
 * as "the recipient the link was sent to". A webhook's links therefore name the people the
 * alert is for (its "recipients", each with an email), one set each, and every action says whose
 * it is: "actions": [{"kind": "acknowledge", "recipient": "chair@...", "url": "..."}, ...]. A
 * receiver that posts to a channel can show "Acknowledge as chair@..." (or only the actions of
 * the person looking), so a response is never recorded in the name of someone who did not see
 * whose name it carries. An alert with no usable recipient gets "actions": [] (links are on,
 * but there is nobody to answer as).
 *
 * Sets data's "actions" for a webhook notice of type; nothing is set when links are off or the
 * type carries none. 0, or -1 with err (data is then unchanged).
 */
int noticelinks_webhook_actions(const struct noticelinks *nl, const char *type, json_t *data,
				char *err, size_t errsz);

#endif
