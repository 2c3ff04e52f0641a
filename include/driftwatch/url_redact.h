/* url_redact: a URL as it may be shown in logs, errors and reports: scheme://host[:port]/path. */
#ifndef DRIFTWATCH_URL_REDACT_H
#define DRIFTWATCH_URL_REDACT_H

#include <stddef.h>

/* Room for a shown URL in messages; a longer one is cut short (never mid-secret: nothing secret
 * is left in it to cut). */
#define URL_SHOWN_MAX 256

/* Writes url as "scheme://host[:port]/path" into out (always NUL-terminated when outsz > 0):
 * the userinfo ("user:password@"), the query ("?token=...", "?sig=...") and the fragment are
 * left out, since a webhook URL's credential lives there (a team's webhook_url from the case
 * data signs with its "sig" parameter). Control characters and non-ASCII bytes become '?'.
 * Anything that cannot be read as a URL is shown by its scheme alone, "scheme://(unreadable
 * address)", because a malformed URL may be a password with a '/' in it; text without a scheme
 * is read as host and path. NULL gives "(none)", "" gives "(empty)". Pure: no I/O, no locale.
 * Returns out. */
char *url_redact(const char *url, char *out, size_t outsz);

/* Rewrites, in place, every "scheme://..." token in text (up to the next blank, quote or angle
 * bracket) as url_redact shows it, and, when source is not NULL, every occurrence of source's
 * userinfo, query or fragment (three characters or more) as "...": libcurl's and the
 * database's messages may echo a URL or a part of it. text stays within textsz. */
void url_scrub(char *text, size_t textsz, const char *source);

#endif
