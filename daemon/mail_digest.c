/* mail_digest: one recipient's notices in reading order: sections, sibling entries, the cap. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/errmsg.h"
#include "driftwatch/mail_digest.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/strbuf.h"

static const char *const mail_kind_types[MAIL_DIGEST_N_KINDS] = {
	"alert.unanswered", "alert.escalated", "alert.firing", "alert.updated", "alert.resolved",
	"delivery.failed", "rule.failing", "rule.recovered", "data.bad_address", "data.team_webhook",
	"data.record_wrong"
};

/* Reports to the operators about driftwatch itself, not news about a child. */
int mail_digest_kind_report(int kind)
{
	return kind == MAIL_DIGEST_FAILED || kind == MAIL_DIGEST_RULE_FAILING ||
	       kind == MAIL_DIGEST_RULE_RECOVERED || kind == MAIL_DIGEST_BAD_ADDRESS ||
	       kind == MAIL_DIGEST_TEAM_WEBHOOK || kind == MAIL_DIGEST_RECORD_WRONG;
}

int mail_digest_kind_of(const char *type)
{
	for (int k = 0; k < MAIL_DIGEST_N_KINDS; k++)
		if (type && strcmp(type, mail_kind_types[k]) == 0)
			return k;
	return -1;
}

const char *const mail_digest_section_titles[MAIL_DIGEST_N_SECTIONS] = {
	[RULE_SERIOUS_ESCALATION] = "CP escalations",
	[RULE_SERIOUS_RETURN] = "Returns to a plan and re-referral cycles",
	[RULE_SERIOUS_MISSED] = "Children not brought to appointments",
	[RULE_SERIOUS_HANDOVER] = "Handovers to a new worker",
	[RULE_SERIOUS_DRIFT] = "Drift: plan durations and worker churn",
	[MAIL_DIGEST_SEC_OTHER] = "Other changes",
	[MAIL_DIGEST_SEC_RESOLVED] = "Good news: no longer a concern",
	[MAIL_DIGEST_SEC_STALE] = "Out of date: the alert has moved on since",
	[MAIL_DIGEST_SEC_REPORTS] = "About driftwatch itself",
};

void mail_digest_free(struct mail_digest *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->items[i].label);
	free(d->items);
	free(d->entries);
	d->items = NULL;
	d->entries = NULL;
	d->n = d->n_entries = 0;
}

static int mail_section_of(const struct mail_notice *n, int kind)
{
	json_int_t s = json_integer_value(json_object_get(n->notice, "seriousness"));

	if (mail_digest_kind_report(kind))
		return MAIL_DIGEST_SEC_REPORTS;
	if (kind == MAIL_DIGEST_RESOLVED)
		return MAIL_DIGEST_SEC_RESOLVED;
	/* outbox_claim_email.sql: the alert resolved, moved stage or was answered since */
	if (json_is_object(json_object_get(n->notice, "since")))
		return MAIL_DIGEST_SEC_STALE;
	if (s >= RULE_SERIOUS_ESCALATION && s <= RULE_SERIOUS_DRIFT)
		return (int)s;
	return MAIL_DIGEST_SEC_OTHER;
}

static int mail_item_fill(struct mail_digest_item *it, const struct mail_notice *n, int kind)
{
	struct strbuf sb;

	strbuf_init(&sb);
	mail_words_label(&sb, n, 1);
	it->n = n;
	it->kind = kind;
	it->section = mail_section_of(n, kind);
	it->urgent = it->section < MAIL_DIGEST_SEC_RESOLVED &&
		     json_is_true(json_object_get(n->notice, "urgent"));
	it->label = strbuf_take(&sb);
	return it->label ? 0 : -1;
}

/* What makes items siblings in one entry (one family, one rule, one stage, one kind of news),
 * read once per item: a first day's digest for a head of service can hold 50,000 items, and
 * comparing every pair of them held the event loop for many minutes. */
struct mail_sib_key {
	const char *family;
	const char *rule;
	const char *stage;
	int kind;
	int section;
	int groupable;
	size_t at;             /* the item's place in reading order before siblings are pulled up */
};

static void mail_sib_key_fill(struct mail_sib_key *k, const struct mail_digest_item *it,
			      size_t at)
{
	k->family = mail_words_alert(it->n->alert, "family_id");
	k->rule = mail_words_alert(it->n->alert, "rule");
	k->stage = mail_words_alert(it->n->alert, "stage");
	/* a reminder and a new alert of one family are not one entry under one heading */
	k->kind = it->kind * 3 + (int)mail_words_told(it);
	k->section = it->section;
	k->at = at;
	/* an update or an unanswered stage says what it is about in its own words, per child */
	k->groupable = k->family && k->rule &&
		       (it->kind == MAIL_DIGEST_FIRING || it->kind == MAIL_DIGEST_ESCALATED ||
			it->kind == MAIL_DIGEST_RESOLVED);
}

static int mail_cmp_size(size_t a, size_t b)
{
	return (a > b) - (a < b);
}

/* The order of two groupable items' keys; 0 when they are siblings. */
static int mail_sib_key_cmp(const struct mail_sib_key *a, const struct mail_sib_key *b)
{
	int c;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->section != b->section)
		return a->section < b->section ? -1 : 1;
	if ((c = strcmp(a->family, b->family)) != 0 || (c = strcmp(a->rule, b->rule)) != 0)
		return c;
	return strcmp(a->stage ? a->stage : "", b->stage ? b->stage : "");
}

/* Siblings next to each other, each group in reading order; an item that groups with nothing
 * after them, alone. */
static int mail_sib_cmp(const void *pa, const void *pb)
{
	const struct mail_sib_key *a = pa, *b = pb;
	int c;

	if (a->groupable != b->groupable)
		return b->groupable - a->groupable;
	if (a->groupable && (c = mail_sib_key_cmp(a, b)) != 0)
		return c;
	return mail_cmp_size(a->at, b->at);
}

static int mail_sib_same(const struct mail_sib_key *a, const struct mail_sib_key *b)
{
	return a->groupable && b->groupable && mail_sib_key_cmp(a, b) == 0;
}

/* Reading order: by section, then by kind (a stage nobody answered, an escalation, new, updated),
 * each in the order given; then siblings pulled up next to the first of their family. */
static int mail_digest_order(struct mail_digest *d, struct mail_digest_item *sorted, size_t n)
{
	struct mail_sib_key *k = calloc(n ? n : 1, sizeof(*k));
	size_t *start = calloc(n ? n : 1, sizeof(*start)); /* where each item's group begins in k */
	char *used = calloc(n ? n : 1, 1);
	size_t at = 0;

	d->entries = calloc(n ? n : 1, sizeof(*d->entries));
	if (!k || !start || !used || !d->entries) {
		free(k);
		free(start);
		free(used);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		mail_sib_key_fill(&k[i], &sorted[i], i);
	qsort(k, n, sizeof(*k), mail_sib_cmp);
	for (size_t j = 0, g = 0; j < n; j++) {
		if (j > 0 && !mail_sib_same(&k[j - 1], &k[j]))
			g = j;
		start[k[j].at] = g;
	}
	/* the first item not yet placed is the first of its group in reading order */
	for (size_t i = 0; i < n; i++) {
		struct mail_digest_entry *e;
		size_t g = start[i];

		if (used[i])
			continue;
		e = &d->entries[d->n_entries++];
		e->first = at;
		for (size_t j = g; j < n && (j == g || mail_sib_same(&k[g], &k[j])); j++) {
			used[k[j].at] = 1;
			d->items[at++] = sorted[k[j].at];
			e->n++;
		}
	}
	free(k);
	free(start);
	free(used);
	return 0;
}

/* How many entries are shown in full: all, unless the items other than resolutions pass the cap;
 * then the most serious entries up to the cap (always at least one). driftwatch's reports to the
 * operators count: a mail server that refuses a digest of thousands of notices makes a report
 * of each, and in full they would make a message no server takes. */
static size_t mail_digest_full(const struct mail_digest *d)
{
	size_t max = d->o ? d->o->max_items : 0;
	size_t shown = 0, e;

	if (max == 0 || d->counted <= max)
		return d->n_entries;
	for (e = 0; e < d->n_entries; e++) {
		if (e > 0 && shown + d->entries[e].n > max)
			break;
		shown += d->entries[e].n;
	}
	return e;
}

int mail_digest_build(const struct mail_notice *notices, size_t n, struct mail_digest *d,
		      char *err, size_t errsz)
{
	struct mail_digest_item *sorted = calloc(n, sizeof(*sorted));
	int *kinds, *sections;
	size_t at = 0;
	int rc = 0;

	d->n = 0;
	d->items = calloc(n, sizeof(*d->items));
	if (!d->items || !sorted) {
		free(sorted);
		return errmsg_set(err, errsz, "out of memory");
	}
	kinds = calloc(n ? n : 1, sizeof(*kinds));
	sections = calloc(n ? n : 1, sizeof(*sections));
	if (!kinds || !sections) {
		free(kinds);
		free(sections);
		free(sorted);
		return errmsg_set(err, errsz, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		kinds[i] = mail_digest_kind_of(notices[i].type);
		sections[i] = mail_section_of(&notices[i], kinds[i]);
	}
	for (int s = 1; s < MAIL_DIGEST_N_SECTIONS; s++) {
		for (int k = 0; k < MAIL_DIGEST_N_KINDS; k++) {
			for (size_t i = 0; i < n; i++) {
				if (kinds[i] != k || sections[i] != s)
					continue;
				if (mail_item_fill(&sorted[at++], &notices[i], k) < 0)
					rc = -1;
			}
		}
	}
	free(kinds);
	free(sections);
	/* every item is in sorted now (labels freed through d->items once ordered) */
	if (rc == 0 && mail_digest_order(d, sorted, at) < 0)
		rc = -1;
	if (rc < 0) {
		for (size_t i = 0; i < at; i++)
			free(sorted[i].label);
		free(sorted);
		return errmsg_set(err, errsz, "out of memory");
	}
	d->n = at;
	for (size_t i = 0; i < d->n; i++) {
		d->fresh += d->items[i].section < MAIL_DIGEST_SEC_RESOLVED;
		d->counted += d->items[i].section != MAIL_DIGEST_SEC_RESOLVED &&
			      d->items[i].section != MAIL_DIGEST_SEC_STALE;
	}
	d->n_full = mail_digest_full(d);
	free(sorted);
	return 0;
}

size_t mail_digest_count_kind(const struct mail_digest *d, int (*is)(int kind))
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += is(d->items[i].kind);
	return n;
}

static int mail_kind_is_failed(int kind)
{
	return kind == MAIL_DIGEST_FAILED;
}

size_t mail_digest_count_failed(const struct mail_digest *d)
{
	return mail_digest_count_kind(d, mail_kind_is_failed);
}

/* A report stands for every notice that failed to one receiver for one reason: its facts'
 * "notices" (deliver.c), one when it has none. */
size_t mail_digest_item_notices(const struct mail_digest_item *it)
{
	const json_t *facts = json_object_get(it->n->alert, "facts");
	json_int_t k = json_integer_value(json_object_get(facts, "notices"));

	return k > 1 ? (size_t)k : 1;
}

size_t mail_digest_count_undelivered(const struct mail_digest *d)
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		if (d->items[i].kind == MAIL_DIGEST_FAILED)
			n += mail_digest_item_notices(&d->items[i]);
	return n;
}

/* The items of d for which keep() holds, counted by label (a resolution, or a stage nobody
 * answered, is a group of its own), in reading order. *n_out groups; NULL when out of memory. */
struct mail_digest_count *mail_digest_counts(const struct mail_digest *d,
					     int (*keep)(const struct mail_digest_item *it),
					     size_t *n_out)
{
	struct mail_digest_count *c = calloc(d->n ? d->n : 1, sizeof(*c));
	char *done = calloc(d->n ? d->n : 1, 1);

	*n_out = 0;
	if (!c || !done) {
		free(c);
		free(done);
		return NULL;
	}
	for (size_t i = 0; i < d->n; i++) {
		const char *suffix = mail_words_item_suffix(&d->items[i]);

		if (done[i] || !keep(&d->items[i]))
			continue;
		c[*n_out].first = i;
		for (size_t j = i; j < d->n; j++) {
			if (done[j] || !keep(&d->items[j]) ||
			    strcmp(d->items[j].label, d->items[i].label) != 0 ||
			    mail_words_item_suffix(&d->items[j]) != suffix)
				continue;
			done[j] = 1;
			c[*n_out].n++;
		}
		(*n_out)++;
	}
	free(done);
	return c;
}

/* A stage its rule declared urgent, and news that asks for something (not a resolution). */
int mail_digest_keep_action(const struct mail_digest_item *it)
{
	return it->urgent && (it->kind == MAIL_DIGEST_UNANSWERED ||
			      it->kind == MAIL_DIGEST_ESCALATED ||
			      it->kind == MAIL_DIGEST_FIRING || it->kind == MAIL_DIGEST_UPDATED);
}

size_t mail_digest_count_items(const struct mail_digest *d,
			       int (*keep)(const struct mail_digest_item *))
{
	size_t n = 0;

	for (size_t i = 0; i < d->n; i++)
		n += keep(&d->items[i]) != 0;
	return n;
}

static int mail_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Distinct children among the items keep() holds for (an item with no child counts as one),
 * by sorting their identifiers: pairs of a first day's 50,000 items would be 1.25 billion. */
size_t mail_digest_count_children(const struct mail_digest *d,
				  int (*keep)(const struct mail_digest_item *))
{
	const char **ids = calloc(d->n ? d->n : 1, sizeof(*ids));
	size_t n_ids = 0, n = 0;

	if (!ids)
		return mail_digest_count_items(d, keep); /* each item as a child: never fewer */
	for (size_t i = 0; i < d->n; i++) {
		const char *c;

		if (!keep(&d->items[i]))
			continue;
		c = mail_words_alert(d->items[i].n->alert, "child_id");
		if (c)
			ids[n_ids++] = c;
		else
			n++;
	}
	qsort(ids, n_ids, sizeof(*ids), mail_cmp_str);
	for (size_t i = 0; i < n_ids; i++)
		n += i == 0 || strcmp(ids[i - 1], ids[i]) != 0;
	free(ids);
	return n;
}

int mail_digest_keep_resolved(const struct mail_digest_item *it)
{
	return it->section == MAIL_DIGEST_SEC_RESOLVED;
}

int mail_digest_keep_stale(const struct mail_digest_item *it)
{
	return it->section == MAIL_DIGEST_SEC_STALE;
}

int mail_digest_keep_any(const struct mail_digest_item *it)
{
	(void)it;
	return 1;
}

/* Items shown in full: those of the first n_full entries. */
size_t mail_digest_shown_items(const struct mail_digest *d)
{
	size_t n = 0;

	for (size_t e = 0; e < d->n_full; e++)
		n += d->entries[e].n;
	return n;
}

int mail_digest_capped(const struct mail_digest *d)
{
	return d->n_full < d->n_entries;
}

size_t mail_digest_section_items(const struct mail_digest *d, int section)
{
	size_t n = 0;

	for (size_t e = 0; e < d->n_full; e++)
		if (d->items[d->entries[e].first].section == section)
			n += d->entries[e].n;
	return n;
}

int mail_digest_section_children(const struct mail_digest *d, int section)
{
	if (section != MAIL_DIGEST_SEC_REPORTS)
		return 1;
	for (size_t e = 0; e < d->n_full; e++) {
		const struct mail_digest_entry *en = &d->entries[e];

		if (d->items[en->first].section != section)
			continue;
		for (size_t i = en->first; i < en->first + en->n; i++)
			if (mail_words_alert(d->items[i].n->alert, "child_id"))
				return 1;
	}
	return 0;
}
