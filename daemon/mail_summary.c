/* mail_summary: what a digest says about itself: its subject, the summary on top, the cap. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/mail_digest.h"
#include "driftwatch/mail_summary.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/strbuf.h"

/* "3 drift alerts", "2 drift alerts and 1 undelivered notice", "driftwatch: 2 undelivered
 * notices": an operators' report must not read like news about a child. */
static void mail_subject_head(struct strbuf *sb, const struct mail_digest *d)
{
	size_t failed = mail_digest_count_undelivered(d);
	size_t alerts = d->n - mail_digest_count_kind(d, mail_digest_kind_report);

	if (alerts)
		strbuf_printf(sb, "%zu drift alert%s", alerts, alerts == 1 ? "" : "s");
	if (failed)
		strbuf_printf(sb, "%s%zu undelivered notice%s", alerts ? " and " : "driftwatch: ",
			      failed, failed == 1 ? "" : "s");
	if (!alerts && !failed)
		strbuf_append(sb, "driftwatch");
}

static int mail_keep_subject(const struct mail_digest_item *it)
{
	return it->kind != MAIL_DIGEST_FAILED;
}

/* A first-day digest can hold twenty kinds of change: a subject naming them all is cut off by
 * every mail program, the most serious first and the rest never seen. The subject names this
 * many and counts the others. */
#define MAIL_SUBJECT_KINDS 5

/* "3 drift alerts: 1 CP escalation at 15 months, 1 repeat CP plan, 1 was-not-brought", most
 * serious first; past MAIL_SUBJECT_KINDS kinds, "... and 40 others". */
char *mail_summary_subject(const struct mail_digest *d)
{
	struct strbuf sb;
	size_t n, others = 0;
	struct mail_digest_count *c = mail_digest_counts(d, mail_keep_subject, &n);

	if (!c)
		return NULL;
	strbuf_init(&sb);
	mail_subject_head(&sb, d);
	for (size_t g = 0; g < n; g++) {
		if (g >= MAIL_SUBJECT_KINDS && n > MAIL_SUBJECT_KINDS + 1) {
			others += c[g].n;
			continue;
		}
		strbuf_append(&sb, g ? ", " : ": ");
		mail_words_count(&sb, d, &c[g]);
	}
	if (others)
		strbuf_printf(&sb, " and %zu other%s", others, others == 1 ? "" : "s");
	free(c);
	return strbuf_take(&sb);
}

static const char mail_intro[] =
	"Each entry below says which child it is about, what happened and since when, the facts "
	"it rests on and what is expected of you.";

static const char mail_intro_failed[] =
	"Driftwatch could not deliver the notices below and has stopped trying. Each one says "
	"where it was going and why it failed.";

static const char mail_intro_reports[] =
	"Driftwatch reports on itself below: a rule that has started failing (the other rules go "
	"on, and the alerts it raised before stay as they were) or runs again, an address or a "
	"team's webhook in the case data that cannot be used, or a child's case record that "
	"someone answering an alert said is wrong.";

const char mail_summary_footer[] =
	"This message was generated automatically by driftwatch from the case records. It "
	"names no child or family (only their identifiers): open a child's record through its "
	"identifier or link.";

/* "2 children need action now: 1 CP escalation at 18 months, 1 repeat CP plan. Then 11 other
 * changes to review in supervision, and 1 concern resolved, which is good news." Empty for a
 * digest of driftwatch's reports on itself. */
void mail_summary_sentence(struct strbuf *sb, const struct mail_digest *d)
{
	size_t groups, kids = mail_digest_count_children(d, mail_digest_keep_action);
	size_t other = d->fresh - mail_digest_count_items(d, mail_digest_keep_action);
	size_t resolved = mail_digest_count_items(d, mail_digest_keep_resolved);
	size_t stale = mail_digest_count_items(d, mail_digest_keep_stale);
	struct mail_digest_count *c = mail_digest_counts(d, mail_digest_keep_action, &groups);

	if (!c) {
		sb->failed = 1;
		return;
	}
	if (groups) {
		strbuf_printf(sb, "%zu %s action now:", kids, kids == 1 ? "child needs" :
			      "children need");
		for (size_t g = 0; g < groups; g++) {
			strbuf_append(sb, g ? ", " : " ");
			mail_words_count(sb, d, &c[g]);
		}
		strbuf_append(sb, other || resolved || stale ? ". Then " : ".");
	} else if (other) {
		strbuf_append(sb, "Nothing here is marked urgent: ");
	} else if (resolved) {
		strbuf_append(sb, "Good news: ");
	} else if (stale) {
		strbuf_append(sb, "Nothing here is news now: ");
	}
	free(c);
	if (other)
		strbuf_printf(sb, "%zu %schange%s to review in supervision", other,
			      groups ? "other " : "", other == 1 ? "" : "s");
	if (resolved)
		strbuf_printf(sb, "%s%zu concern%s resolved%s", other ? ", and " : "", resolved,
			      resolved == 1 ? "" : "s", other || groups ? ", which is good news" : "");
	if (stale)
		strbuf_printf(sb, "%s%zu notice%s queued for you %s out of date: %s alert%s moved "
			      "on since (listed last)", other || resolved ? ", and " : "", stale,
			      stale == 1 ? "" : "s", stale == 1 ? "is" : "are",
			      stale == 1 ? "its" : "their", stale == 1 ? " has" : "s have");
	if (other || resolved || stale)
		strbuf_append(sb, ".");
}

/* What a capped digest is, and where the rest is. */
/* A list cut to fit the mail server's limit says so, and how many it leaves out: nobody should
 * take it for every item. */
static void mail_summary_cut(struct strbuf *sb, const struct mail_digest *d)
{
	strbuf_printf(sb, "the attached list, %s, has the %zu most serious of the %zu items of "
		      "this digest, to sort and filter in a spreadsheet (Excel, LibreOffice). The "
		      "last %zu did not fit: a message may be at most %zu bytes "
		      "(email.max_message_bytes), so those not shown above follow in another "
		      "email. With its pages turned on (web.listen, web.public_url) a digest sends "
		      "you there for all of them.", d->list_name ? d->list_name : "", d->list_rows,
		      d->n,
		      d->n - d->list_rows, d->o->max_message_bytes);
}

void mail_summary_cap(struct strbuf *sb, const struct mail_digest *d)
{
	size_t shown = mail_digest_shown_items(d);
	size_t rest = d->n - shown;

	strbuf_printf(sb, "This digest is a summary: it holds %zu new items, more than the %zu a "
		      "digest shows in full (email.digest_max_items). The %zu most serious are in "
		      "full below, after the number of each kind; ", d->counted, d->o->max_items,
		      shown);
	if (d->o->pages_url && mail_words_link_ok(d->o->pages_url))
		strbuf_printf(sb, "the other %zu are on your driftwatch page, %s/ (and every child's "
			      "chronology is on its page there).", rest, d->o->pages_url);
	else if (d->list_rows >= d->n)
		strbuf_printf(sb, "the other %zu are in the attached list, %s: one row for each of "
			      "the %zu items of this digest, to sort and filter in a spreadsheet "
			      "(Excel, LibreOffice).", rest, d->list_name ? d->list_name : "",
			      d->n);
	else
		mail_summary_cut(sb, d);
}

void mail_summary_list(struct strbuf *sb, const struct mail_digest *d)
{
	if (d->list_rows < d->n) {
		strbuf_append(sb, "The rest: ");
		mail_summary_cut(sb, d);
		return;
	}
	strbuf_printf(sb, "The other %zu items are in the attached list, %s, with all %zu items "
		      "of this digest: one row per child, with its section, change, stage, date, "
		      "facts and record link.", d->n - mail_digest_shown_items(d),
		      d->list_name ? d->list_name : "", d->n);
}

const char *mail_summary_intro(const struct mail_digest *d)
{
	if (mail_digest_count_failed(d) == d->n)
		return mail_intro_failed;
	if (mail_digest_count_kind(d, mail_digest_kind_report) == d->n)
		return mail_intro_reports;
	return mail_intro;
}
