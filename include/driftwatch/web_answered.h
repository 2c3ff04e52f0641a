/* web_answered: after an answer on the pages, the way back (POST, redirect, GET) and the note
 * at the top of the page it comes back to. */
#ifndef DRIFTWATCH_WEB_ANSWERED_H
#define DRIFTWATCH_WEB_ANSWERED_H

#include "driftwatch/responses.h"
#include "driftwatch/strbuf.h"

struct alert_view;

/* Where a recorded answer sends the browser (relative to /answer): the list it was given on
 * ("./", or "team/ID" when team is set) with what was answered in its query. */
void web_answered_location(struct strbuf *loc, const char *team, enum responses_kind kind,
			   const char *fingerprint);

/* The note at the top of the list whose address (query, NULL: none) says what was just
 * answered (?answered=FINGERPRINT&did=KIND): what was recorded and what happens next, read from
 * the alert as it is now in v, and only when its state is what person's answer made it (the
 * address alone, which anyone can write, never makes a page say an answer was recorded).
 * Nothing when the address says nothing sound; a plain line when the alert is no longer on the
 * list. */
void web_answered_note(struct strbuf *p, const char *query, const struct alert_view *v,
		       const char *person);

/* Whether key is one of the parameters web_answered_note reads (the team page's filters
 * refuse any other). */
int web_answered_key(const char *key);

#endif
