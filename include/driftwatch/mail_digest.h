/* mail_digest: one recipient's notices in reading order: sections, sibling entries, the cap. */
#ifndef DRIFTWATCH_MAIL_DIGEST_H
#define DRIFTWATCH_MAIL_DIGEST_H

#include <stddef.h>

#include "driftwatch/mail.h"
#include "driftwatch/rule.h"

/* What a notice is, in reading order. A failure report goes to the operators: a notice that
 * could not be delivered and will not be tried again; so does a snooze because a child's case
 * record is wrong (RESPONSES.md lists those for the operators). */
enum mail_digest_kind {
	MAIL_DIGEST_UNANSWERED, MAIL_DIGEST_ESCALATED, MAIL_DIGEST_FIRING, MAIL_DIGEST_UPDATED,
	MAIL_DIGEST_RESOLVED, MAIL_DIGEST_FAILED, MAIL_DIGEST_RULE_FAILING,
	MAIL_DIGEST_RULE_RECOVERED, MAIL_DIGEST_BAD_ADDRESS, MAIL_DIGEST_TEAM_WEBHOOK,
	MAIL_DIGEST_RECORD_WRONG
};
#define MAIL_DIGEST_N_KINDS 11

/* The sections of a digest, in reading order: first the seriousness each notice's rule declared
 * for its stage (rule.h, enum rule_seriousness: 1 to 5), then notices recorded before notices
 * carried it, then resolutions (good news), then notices whose alert has moved on since they
 * were queued (out of date: notice.since), then driftwatch's reports on itself. */
enum mail_digest_section {
	MAIL_DIGEST_SEC_OTHER = RULE_SERIOUS_DRIFT + 1, MAIL_DIGEST_SEC_RESOLVED,
	MAIL_DIGEST_SEC_STALE, MAIL_DIGEST_SEC_REPORTS
};
#define MAIL_DIGEST_N_SECTIONS (MAIL_DIGEST_SEC_REPORTS + 1)

/* Each section's title ("CP escalations"), indexed by section (index 0 unused). */
extern const char *const mail_digest_section_titles[MAIL_DIGEST_N_SECTIONS];

struct mail_digest_item {
	const struct mail_notice *n;
	int kind;
	int section;
	int urgent;          /* the rule declared this stage urgent, and there is something to do */
	char *label;         /* singular label, for the headings and grouping */
};

/* One entry of a digest: items[first .. first + n), siblings of one family (the same rule,
 * stage and kind) when n > 1. */
struct mail_digest_entry {
	size_t first;
	size_t n;
};

struct mail_digest {
	struct mail_digest_item *items; /* in reading order, siblings next to each other */
	size_t n;
	struct mail_digest_entry *entries;
	size_t n_entries;
	size_t n_full;               /* entries shown in full; the rest only counted (the cap) */
	size_t fresh;                /* items that are news about a child, not a resolution */
	size_t counted;              /* items the cap counts: all but resolutions and those out
				      * of date (so reports too) */
	const char *to;              /* the person it goes to */
	const struct mail_options *o;
	/* the file name of the list of every item attached (mail_csv.h) when the digest is capped
	 * and the pages are not there to hold the rest, else NULL */
	const char *list_name;
	size_t list_rows;            /* the items in that list: all of them unless it was cut */
};

/* Items counted under one label: the first of them, and how many. */
struct mail_digest_count {
	size_t first;
	size_t n;
};

/* The kind of a notice's type ("alert.firing"), or -1. */
int mail_digest_kind_of(const char *type);

/* Reports to the operators about driftwatch itself, not news about a child. */
int mail_digest_kind_report(int kind);

/* Orders notices[0..n-1] into d, whose to and o the caller set (o not NULL), and works out the
 * cap from o->max_items. Returns 0, or -1 with err filled; free with mail_digest_free either
 * way. */
int mail_digest_build(const struct mail_notice *notices, size_t n, struct mail_digest *d,
		      char *err, size_t errsz);
void mail_digest_free(struct mail_digest *d);

/* Items of d for which is(kind) holds; the undelivered-notice reports. */
size_t mail_digest_count_kind(const struct mail_digest *d, int (*is)(int kind));
size_t mail_digest_count_failed(const struct mail_digest *d);
/* The notices an undelivered item reports (one report may stand for many), and the notices
 * all of d's undelivered items report. */
size_t mail_digest_item_notices(const struct mail_digest_item *it);
size_t mail_digest_count_undelivered(const struct mail_digest *d);

/* The items of d for which keep() holds, counted by label (a resolution, or a stage nobody
 * answered, is a group of its own), in reading order. *n_out groups; NULL when out of memory. */
struct mail_digest_count *mail_digest_counts(const struct mail_digest *d,
					     int (*keep)(const struct mail_digest_item *it),
					     size_t *n_out);

/* Items keep() holds for; the distinct children among them (an item with no child counts as
 * one). */
size_t mail_digest_count_items(const struct mail_digest *d,
			       int (*keep)(const struct mail_digest_item *));
size_t mail_digest_count_children(const struct mail_digest *d,
				  int (*keep)(const struct mail_digest_item *));

/* keep() predicates: a stage its rule declared urgent that asks for something; a resolution;
 * out of date; anything. */
int mail_digest_keep_action(const struct mail_digest_item *it);
int mail_digest_keep_resolved(const struct mail_digest_item *it);
/* An item whose alert has moved on since it was queued (MAIL_DIGEST_SEC_STALE). */
int mail_digest_keep_stale(const struct mail_digest_item *it);
int mail_digest_keep_any(const struct mail_digest_item *it);

/* Items shown in full (those of the first n_full entries); whether some are not (the cap). */
size_t mail_digest_shown_items(const struct mail_digest *d);
int mail_digest_capped(const struct mail_digest *d);

/* Items of a section shown in full. */
size_t mail_digest_section_items(const struct mail_digest *d, int section);

/* Whether the items of a section shown in full may name a child: every section about alerts,
 * and the reports to the operators when one of them does (a case record said to be wrong). */
int mail_digest_section_children(const struct mail_digest *d, int section);

#endif
