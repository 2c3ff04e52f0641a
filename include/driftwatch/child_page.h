/* child_page: the body of /child/{child_id}, a child's chronology on one screen, as HTML. */
#ifndef DRIFTWATCH_CHILD_PAGE_H
#define DRIFTWATCH_CHILD_PAGE_H

#include <stdint.h>

#include <jansson.h>

struct strbuf;

/* Appends the page's body (inside <main>, after its <h1>) for the chronology document doc
 * (timeline.h names its sections; also "child": the children row or null, each alert's
 * "history" of events and "rule_off": true where its rule is turned off, and "unreadable":
 * the relations that could not be read) as of today:
 * a line about the child, a notice for each part that could not be read, the timeline (SVG,
 * timeline.h) with a key in words, every alert with its history and responses, and the same
 * chronology as a table by date (for screen readers and for printing). Everything from the
 * case data is escaped; rules and stages are named in words, not only by their names. */
void child_page_render(struct strbuf *out, const json_t *doc, int32_t today);

#endif
