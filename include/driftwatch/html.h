/* html: escaping and British dates for the HTML that driftwatch writes (pages, mail, SVG). */
#ifndef DRIFTWATCH_HTML_H
#define DRIFTWATCH_HTML_H

#include <stdint.h>

struct strbuf;

/* s with & < > " ' as entities: safe as element text and as a quoted attribute value, in HTML
 * and in SVG. NULL appends nothing. */
void html_escape(struct strbuf *out, const char *s);

/* As html_escape, and a word longer than HTML_WRAP_WORD bytes (an identifier, an address, a
 * URL: "team_webhooks.allowed_hosts") may break: <wbr> after its punctuation and every
 * HTML_WRAP_RUN bytes of a run without any. Unbroken, one such word in a table cell made a
 * report wider than a phone; shorter words, prose and identifiers such as "C-1042" are
 * written as html_escape writes them. */
#define HTML_WRAP_WORD 16
#define HTML_WRAP_RUN 20
void html_escape_wrap(struct strbuf *out, const char *s);

/* A day as people in England read it: "3 December 2026" (long) or "3 Dec 2026" (short). */
void html_day(struct strbuf *out, int32_t day, int longform);

/* "YYYY-MM-DD" as html_day; any other text (a date the case data could not give) is written
 * escaped, as it is. 0 when it was a day, -1 when not. */
int html_date(struct strbuf *out, const char *iso, int longform);

#endif
