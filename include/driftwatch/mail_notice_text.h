/* mail_notice_text: one notice as labelled lines of words, which the text and HTML parts show. */
#ifndef DRIFTWATCH_MAIL_NOTICE_TEXT_H
#define DRIFTWATCH_MAIL_NOTICE_TEXT_H

#include <stddef.h>

#include <jansson.h>

#include "driftwatch/noticelinks.h"

struct mail_digest;
struct mail_digest_item;
struct mail_options;

/* A line of a notice under its heading: a label ("Child") and its text. */
struct mail_notice_text_line {
	const char *label;
	char *text;
	const char *href;    /* the text is a link to this (already checked to be http or https) */
};

#define MAIL_NOTICE_TEXT_LINES 12

struct mail_notice_text {
	char *heading;
	struct mail_notice_text_line lines[MAIL_NOTICE_TEXT_LINES];
	size_t n;
	/* the Acknowledge, Snooze and Open links (noticelinks.h) for this reader, or NULL each */
	char *actions[NOTICELINKS_KINDS];
	char *page;          /* the child's page on the pages, or NULL */
	/* the whole alert, read for these lines (mail_notice_alert): a line's href points into
	 * it, so it is held until the text is freed */
	json_t *alert;
	int failed;
};

/* The lines of item it for reader `to` (Child, Record, Page, Rule, Since, In brief, Snoozed,
 * Why you, Facts, Expected of you, those that apply) and its links under o. Returns 0, or -1 when out
 * of memory (t freed). */
int mail_notice_text_make(const struct mail_digest_item *it, const char *to,
			  const struct mail_options *o, struct mail_notice_text *t);
void mail_notice_text_free(struct mail_notice_text *t);

/* The texts of d's first shown items (d->items order), or NULL when out of memory. */
struct mail_notice_text *mail_notice_text_all(const struct mail_digest *d, size_t shown);

/* The line labelled label, or NULL. */
const struct mail_notice_text_line *mail_notice_text_line_of(const struct mail_notice_text *t,
							     const char *label);

/* Whether the notice carries any of the Acknowledge, Snooze, Open links. */
int mail_notice_text_has_actions(const struct mail_notice_text *t);

#endif
