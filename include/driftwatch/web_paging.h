/* web_paging: a long list of alerts on the pages, shown a page at a time (?page=N). */
#ifndef DRIFTWATCH_WEB_PAGING_H
#define DRIFTWATCH_WEB_PAGING_H

#include <stddef.h>

#include "driftwatch/strbuf.h"

/* Alerts a list shows at once. A head of service sees every open alert: 200,000 of them were
 * a page of 639 MB that held the event loop for seconds, and no person reads past the first
 * few hundred, the longest waiting, which come first. */
#define WEB_PAGING_SIZE 200

/* The page an address asks for (query: its query string, NULL: none): 1 when it names none,
 * or names something other than a whole number from 1 to 1,000,000. */
size_t web_paging_page(const char *query);

/* The part of a list of n alerts that page shows: its first index in *from, its length
 * returned (0 when the list ends before the page). */
size_t web_paging_window(size_t n, size_t page, size_t *from);

/* The number of pages a list of n alerts takes (at least 1). */
size_t web_paging_pages(size_t n);

/* A sentence saying which of a list's n alerts this page shows, when it does not show them
 * all ("Alerts 201 to 400 of 1234, the longest waiting first; ..."). */
void web_paging_says(struct strbuf *p, size_t n, size_t page);

/* Links to the page before and after (href "?page=N" on the list's own address), when there is
 * more than one of pages; page is at most pages. */
void web_paging_nav(struct strbuf *p, size_t page, size_t pages);

#endif
