/* mail_notice_text: one notice as labelled lines of words, which the text and HTML parts show. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/mail.h"
#include "driftwatch/mail_digest.h"
#include "driftwatch/mail_notice_text.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/noticelinks.h"
#include "driftwatch/strbuf.h"

void mail_notice_text_free(struct mail_notice_text *t)
{
	free(t->heading);
	for (size_t i = 0; i < t->n; i++)
		free(t->lines[i].text);
	noticelinks_free(t->actions);
	free(t->page);
	json_decref(t->alert);
	memset(t, 0, sizeof(*t));
}

static void mail_notice_add(struct mail_notice_text *t, const char *label, struct strbuf *sb,
			    const char *href)
{
	char *s = strbuf_take(sb);

	if (!s || t->n == MAIL_NOTICE_TEXT_LINES) {
		free(s);
		t->failed = 1;
		return;
	}
	t->lines[t->n].label = label;
	t->lines[t->n].text = s;
	t->lines[t->n].href = href;
	t->n++;
}

/* The links for this notice and reader. A link that cannot be signed (an alert recorded with
 * no fingerprint or day) leaves the notice without links rather than the reader without the
 * notice: the notice is what matters, and the links are a convenience. */
static void mail_notice_links(const struct mail_digest_item *it, const struct noticelinks *links,
			      const char *to, struct mail_notice_text *t)
{
	char why[256];

	if (noticelinks_make(links, it->n->type, t->alert, to, t->actions, why,
			     sizeof(why)) < 0)
		noticelinks_free(t->actions);
}

/* {pages_url}/child/{id}: the child's chronology on the pages (RESPONSES.md) */
static void mail_child_page(struct strbuf *sb, const char *pages_url, const char *child)
{
	strbuf_append(sb, pages_url);
	strbuf_append(sb, "/child/");
	strbuf_url_escape(sb, child);
}

int mail_notice_text_make(const struct mail_digest_item *it, const char *to,
			  const struct mail_options *o, struct mail_notice_text *t)
{
	const struct noticelinks *links = o ? o->links : NULL;
	const char *pages = o ? o->pages_url : NULL;
	/* the whole alert: its facts, recipients and snooze (a notice may hold only its head) */
	json_t *whole = mail_notice_alert(it->n);
	const json_t *a = whole ? whole : it->n->alert;
	const char *since = mail_words_alert(a, "since");
	const char *why = mail_words_why_you(a, to);
	const char *child = mail_words_alert(a, "child_id");
	const char *subject = mail_words_alert(a, "subject_id");
	const char *link = mail_words_alert(a, "link");
	const char *summary = mail_words_alert(a, "summary");
	const json_t *facts = json_object_get(a, "facts");
	struct strbuf sb;

	memset(t, 0, sizeof(*t));
	t->alert = whole;
	strbuf_init(&sb);
	mail_words_heading(&sb, it, 1);
	t->heading = strbuf_take(&sb);

	/* a report about driftwatch itself (a rule, an address) is about no child */
	if (!mail_digest_kind_report(it->kind) || child) {
		mail_words_clean(&sb, child ? child : "(none given)");
		mail_notice_add(t, "Child", &sb, NULL);
		/* a link of another scheme (javascript:) is shown as text, never offered as one */
		mail_words_clean(&sb, link ? link : "no link configured");
		mail_notice_add(t, "Record", &sb, mail_words_link_ok(link) ? link : NULL);
	}
	/* a case record said to be wrong is about a child: the operators may open its page */
	if ((!mail_digest_kind_report(it->kind) || it->kind == MAIL_DIGEST_RECORD_WRONG) &&
	    child && mail_words_link_ok(pages)) {
		mail_child_page(&sb, pages, child);
		t->page = strbuf_take(&sb);
		strbuf_append(&sb, t->page ? t->page : "");
		mail_notice_add(t, "Page", &sb, t->page);
	}
	if (!mail_digest_kind_report(it->kind)) {
		mail_words_clean(&sb, mail_words_alert(a, "rule") ? mail_words_alert(a, "rule") :
				  "unknown");
		strbuf_append(&sb, ", stage ");
		mail_words_clean(&sb, mail_words_alert(a, "stage") ? mail_words_alert(a, "stage") :
				  "none");
		/* "about plan 20", never "about 20", which reads as "roughly 20" */
		if (mail_words_notice(it->n, "subject")) {
			strbuf_append(&sb, ", about ");
			mail_words_clean(&sb, mail_words_notice(it->n, "subject"));
		} else if (subject) {
			strbuf_append(&sb, ", about the subject ");
			mail_words_clean(&sb, subject);
		}
		mail_notice_add(t, "Rule", &sb, NULL);
	}
	if (since && !mail_digest_kind_report(it->kind)) {
		mail_words_fact(&sb, json_object_get(a, "since"), 1);
		mail_notice_add(t, "Since", &sb, NULL);
	}
	if (mail_words_since(&sb, it->n))
		mail_notice_add(t, "Out of date", &sb, NULL);
	if (summary) {
		mail_words_clean(&sb, summary);
		mail_notice_add(t, "In brief", &sb, NULL);
	}
	/* RESPONSES.md: a new stage (or new facts) of a snoozed alert is sent, showing the snooze */
	if (!mail_digest_kind_report(it->kind) && mail_words_snooze(&sb, a))
		mail_notice_add(t, "Snoozed", &sb, NULL);
	if (!mail_digest_kind_report(it->kind) && mail_words_acknowledged(&sb, a))
		mail_notice_add(t, "Acknowledged", &sb, NULL);
	if (mail_words_instead_of(&sb, it->n)) {
		mail_notice_add(t, "Why you", &sb, NULL);
	} else if (why) {
		strbuf_append(&sb, "sent to you because ");
		mail_words_clean(&sb, why);
		mail_notice_add(t, "Why you", &sb, NULL);
	}
	if (json_object_size(facts) > 0) {
		mail_words_facts(&sb, facts);
		mail_notice_add(t, "Facts", &sb, NULL);
	}
	mail_words_expected(&sb, it);
	mail_notice_add(t, "Expected of you", &sb, NULL);
	strbuf_free(&sb);
	/* an out-of-date notice asks nothing: its alert's newer notice carries the links */
	if (it->section != MAIL_DIGEST_SEC_STALE)
		mail_notice_links(it, links, to, t);
	return !t->heading || t->failed || !whole ? -1 : 0;
}

int mail_notice_text_has_actions(const struct mail_notice_text *t)
{
	for (int k = 0; k < NOTICELINKS_KINDS; k++)
		if (t->actions[k])
			return 1;
	return 0;
}

const struct mail_notice_text_line *mail_notice_text_line_of(const struct mail_notice_text *t,
							     const char *label)
{
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->lines[i].label, label) == 0)
			return &t->lines[i];
	return NULL;
}

/* The texts of the first shown items (d->items order), or NULL when out of memory. */
struct mail_notice_text *mail_notice_text_all(const struct mail_digest *d, size_t shown)
{
	struct mail_notice_text *t = calloc(shown ? shown : 1, sizeof(*t));

	for (size_t i = 0; t && i < shown; i++) {
		if (mail_notice_text_make(&d->items[i], d->to, d->o, &t[i]) == 0)
			continue;
		for (size_t j = 0; j <= i; j++)
			mail_notice_text_free(&t[j]);
		free(t);
		return NULL;
	}
	return t;
}
