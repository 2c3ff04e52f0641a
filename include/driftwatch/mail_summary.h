/* mail_summary: what a digest says about itself: its subject, the summary on top, the cap. */
#ifndef DRIFTWATCH_MAIL_SUMMARY_H
#define DRIFTWATCH_MAIL_SUMMARY_H

struct strbuf;
struct mail_digest;

/* "3 drift alerts: 1 CP escalation at 15 months, 1 repeat CP plan, 1 was-not-brought", most
 * serious first; NULL when out of memory. */
char *mail_summary_subject(const struct mail_digest *d);

/* "2 children need action now: 1 CP escalation at 18 months, 1 repeat CP plan. Then 11 other
 * changes to review in supervision, and 1 concern resolved, which is good news." Nothing for
 * a digest of driftwatch's reports on itself. */
void mail_summary_sentence(struct strbuf *sb, const struct mail_digest *d);

/* The paragraph under the summary: what each entry says (or that these are failure reports,
 * or reports on driftwatch itself). */
const char *mail_summary_intro(const struct mail_digest *d);

/* What a capped digest is, and where the rest is. */
void mail_summary_cap(struct strbuf *sb, const struct mail_digest *d);

/* Where the rest of a capped digest is, at the end of it: in the attached list d->list_name. */
void mail_summary_list(struct strbuf *sb, const struct mail_digest *d);

/* The closing words of every digest. */
extern const char mail_summary_footer[];

#endif
