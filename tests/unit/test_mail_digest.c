/* test_mail_digest: a first day's digest of thousands of items, ordered as pair by pair. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "driftwatch/mail.h"
#include "driftwatch/mail_digest.h"
#include "tap.h"

#define N_NOTICES 3000

static const char *const rules[] = { "cp_neglect_duration", "cin_neglect_duration" };
static const char *const stages[] = { "9m", "12m", NULL };
static const char *const types[] = { "alert.firing", "alert.updated", "alert.escalated",
				     "alert.resolved", "alert.firing" };

struct heap {
	struct mail_notice n[N_NOTICES];
	json_t *alert[N_NOTICES];
	json_t *words[N_NOTICES];
	char keys[N_NOTICES][16];
};

/* Families of 1 to 40 children spread through the list, some children without a family or a
 * stage, each kind of news, two rules and several degrees of seriousness: every way two items
 * may be, or not be, siblings. */
static int heap_fill(struct heap *h)
{
	for (size_t i = 0; i < N_NOTICES; i++) {
		char child[16], family[16];

		snprintf(child, sizeof(child), "C-%zu", i % 2500);
		snprintf(family, sizeof(family), "F-%zu", (i * 7) % 97);
		h->alert[i] = json_pack("{s:s, s:s?, s:s, s:s?, s:s, s:s, s:s, s:{}, s:s}",
					"rule", rules[i % 2], "stage", stages[(i / 2) % 3],
					"child_id", child, "family_id", i % 13 ? family : NULL,
					"fingerprint", child, "as_of", "2026-11-22",
					"since", "2025-03-01", "facts", "summary", "on and on");
		h->words[i] = json_pack("{s:s, s:s, s:b, s:i}", "label", "CP plan at 9 months",
					"label_many", "CP plans at 9 months", "urgent", 0,
					"seriousness", (int)(i % 3) + 3);
		if (!h->alert[i] || !h->words[i])
			return -1;
		snprintf(h->keys[i], sizeof(h->keys[i]), "k-%zu", i);
		h->n[i] = (struct mail_notice){ types[(i / 5) % 5], h->alert[i], h->words[i],
						h->keys[i], NULL, 0 };
	}
	return 0;
}

static void heap_free(struct heap *h)
{
	for (size_t i = 0; i < N_NOTICES; i++) {
		json_decref(h->alert[i]);
		json_decref(h->words[i]);
	}
}

static const char *field(const struct mail_digest_item *it, const char *key)
{
	const char *s = json_string_value(json_object_get(it->n->alert, key));

	return s && *s ? s : NULL;
}

/* The rule the digest states, checked the slow way: b belongs with a. */
static int siblings(const struct mail_digest_item *a, const struct mail_digest_item *b)
{
	const char *fa = field(a, "family_id"), *fb = field(b, "family_id");
	const char *ra = field(a, "rule"), *rb = field(b, "rule");
	const char *sa = field(a, "stage"), *sb = field(b, "stage");

	if (!fa || !fb || !ra || !rb || a->kind != b->kind || a->section != b->section ||
	    (a->kind != MAIL_DIGEST_FIRING && a->kind != MAIL_DIGEST_ESCALATED &&
	     a->kind != MAIL_DIGEST_RESOLVED))
		return 0;
	return strcmp(fa, fb) == 0 && strcmp(ra, rb) == 0 &&
	       strcmp(sa ? sa : "", sb ? sb : "") == 0;
}

/* Each entry's items are all siblings of its first, and no sibling of an entry's first is left
 * for a later entry; entries, and the items within one, keep the order of section and kind. */
static void test_entries(const struct mail_digest *d)
{
	size_t bad_inside = 0, bad_later = 0, bad_order = 0, items = 0;

	for (size_t e = 0; e < d->n_entries; e++) {
		const struct mail_digest_entry *en = &d->entries[e];
		const struct mail_digest_item *first = &d->items[en->first];

		items += en->n;
		for (size_t i = en->first + 1; i < en->first + en->n; i++)
			bad_inside += !siblings(first, &d->items[i]);
		for (size_t i = en->first + en->n; i < d->n; i++)
			bad_later += siblings(first, &d->items[i]);
		if (e > 0) {
			const struct mail_digest_item *prev = &d->items[d->entries[e - 1].first];

			bad_order += prev->section > first->section ||
				     (prev->section == first->section && prev->kind > first->kind);
		}
	}
	tap_int((long)items, (long)d->n, "every item is in one entry");
	tap_int((long)bad_inside, 0, "every item of an entry is a sibling of its first");
	tap_int((long)bad_later, 0, "no sibling of an entry's first waits for a later entry");
	tap_int((long)bad_order, 0, "entries go by section, then by kind of news");
	tap_ok(d->n_entries > 100 && d->n_entries < d->n,
	       "some items were grouped, most were not (%zu entries of %zu items)", d->n_entries,
	       d->n);
}

/* Siblings are pulled up to the first of their family: each entry's items in the order the
 * notices came, within their section and kind. */
static void test_within(const struct mail_digest *d, const struct heap *h)
{
	size_t bad = 0;

	for (size_t e = 0; e < d->n_entries; e++) {
		const struct mail_digest_entry *en = &d->entries[e];

		for (size_t i = en->first + 1; i < en->first + en->n; i++)
			bad += d->items[i - 1].n - h->n > d->items[i].n - h->n;
	}
	tap_int((long)bad, 0, "within an entry, children in the order their notices came");
}

static int keep_all(const struct mail_digest_item *it)
{
	(void)it;
	return 1;
}

static void test_children(const struct mail_digest *d)
{
	/* C-0 .. C-2499: the first 500 of them twice */
	tap_int((long)mail_digest_count_children(d, keep_all), 2500,
		"distinct children counted among 3,000 items");
	/* 600 resolutions: an item 2,500 after another is the same child with the same news */
	tap_int((long)mail_digest_count_children(d, mail_digest_keep_resolved), 500,
		"... and among the resolutions alone");
}

int main(void)
{
	static struct heap h;
	struct mail_options o = { .max_items = 25 };
	struct mail_digest d = { .to = "hos@la.example", .o = &o };
	char err[256];

	if (heap_fill(&h) < 0) {
		tap_ok(0, "build the notices");
		heap_free(&h);
		return tap_status();
	}
	if (!tap_ok(mail_digest_build(h.n, N_NOTICES, &d, err, sizeof(err)) == 0,
		    "a digest of 3,000 notices is built")) {
		tap_diag("mail_digest_build: %s", err);
		mail_digest_free(&d);
		heap_free(&h);
		return tap_status();
	}
	test_entries(&d);
	test_within(&d, &h);
	test_children(&d);
	mail_digest_free(&d);
	heap_free(&h);
	return tap_status();
}
