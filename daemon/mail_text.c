/* mail_text: the plain text part of a digest: titles, entries, counts, wrapped for reading. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/mail_digest.h"
#include "driftwatch/mail_notice_text.h"
#include "driftwatch/mail_text.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/noticelinks.h"
#include "driftwatch/strbuf.h"

#define MAIL_TEXT_WIDTH 72     /* the plain text part is wrapped here for readers */

/* Appends text wrapped at MAIL_TEXT_WIDTH on spaces, continuation lines indented; a word
 * longer than a line (a link) stays whole and quoted-printable carries it. */
void mail_text_wrap(struct strbuf *out, const char *first, const char *indent, const char *text)
{
	size_t col = strlen(first);
	int empty = 1;      /* nothing on this line yet but its lead-in */
	const char *p = text;

	strbuf_append(out, first);
	for (;;) {
		size_t word;

		while (*p == ' ')
			p++;
		if (!*p)
			break;
		word = strcspn(p, " ");
		if (!empty && col + 1 + word > MAIL_TEXT_WIDTH) {
			strbuf_append(out, "\n");
			strbuf_append(out, indent);
			col = strlen(indent);
			empty = 1;
		}
		if (!empty) {
			strbuf_append(out, " ");
			col++;
		}
		strbuf_appendn(out, p, word);
		col += word;
		p += word;
		empty = 0;
	}
	strbuf_append(out, "\n");
}

void mail_text_para(struct strbuf *out, const char *words)
{
	mail_text_wrap(out, "", "", words);
	strbuf_append(out, "\n");
}

void mail_text_title(struct strbuf *out, const char *title, size_t count)
{
	size_t before = out->len, len;

	if (count)
		strbuf_printf(out, "%s (%zu)", title, count);
	else
		strbuf_append(out, title);
	len = out->len - before;
	strbuf_append(out, "\n");
	for (size_t i = 0; i < len && i < MAIL_TEXT_WIDTH; i++)
		strbuf_append(out, "=");
	strbuf_append(out, "\n\n");
}

/* A notice's lines and its links, under the heading already written. */
static void mail_text_lines(struct strbuf *out, const struct mail_notice_text *t)
{
	for (size_t i = 0; i < t->n; i++) {
		struct strbuf head;
		char *h;

		strbuf_init(&head);
		strbuf_printf(&head, "   %s: ", t->lines[i].label);
		h = strbuf_take(&head);
		if (!h) {
			out->failed = 1;
			return;
		}
		mail_text_wrap(out, h, "      ", t->lines[i].text);
		free(h);
	}
	/* plain URLs, each on its own line, for a reader (or a mail program) without HTML */
	for (int k = 0; k < NOTICELINKS_KINDS; k++) {
		char lead[32];

		if (!t->actions[k])
			continue;
		snprintf(lead, sizeof(lead), "   %s: ", noticelinks_kind_label(k));
		mail_text_wrap(out, lead, "      ", t->actions[k]);
	}
}

/* One entry: "3. New: ..." and each child's lines (siblings: one heading, a block each). */
void mail_text_entry(struct strbuf *out, size_t num, const struct mail_digest *d,
		     const struct mail_digest_entry *e, const struct mail_notice_text *t)
{
	char first[32];
	struct strbuf h;
	char *head;

	snprintf(first, sizeof(first), "%zu. ", num);
	if (e->n == 1) {
		mail_text_wrap(out, first, "   ", t[0].heading);
	} else {
		strbuf_init(&h);
		mail_words_heading(&h, &d->items[e->first], e->n);
		mail_words_family(&h, d, e);
		head = strbuf_take(&h);
		if (!head) {
			out->failed = 1;
			return;
		}
		mail_text_wrap(out, first, "   ", head);
		free(head);
	}
	for (size_t i = 0; i < e->n; i++)
		mail_text_lines(out, &t[i]);
	strbuf_append(out, "\n");
}

void mail_text_counts(struct strbuf *out, const struct mail_digest *d)
{
	size_t groups;
	struct mail_digest_count *c = mail_digest_counts(d, mail_digest_keep_any, &groups);

	if (!c) {
		out->failed = 1;
		return;
	}
	mail_text_title(out, "All by rule and stage", d->n);
	for (size_t g = 0; g < groups; g++) {
		strbuf_append(out, "   ");
		mail_words_count(out, d, &c[g]);
		strbuf_append(out, "\n");
	}
	strbuf_append(out, "\n");
	free(c);
}

