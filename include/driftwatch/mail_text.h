/* mail_text: the plain text part of a digest: titles, entries, counts, wrapped for reading. */
#ifndef DRIFTWATCH_MAIL_TEXT_H
#define DRIFTWATCH_MAIL_TEXT_H

#include <stddef.h>

struct strbuf;
struct mail_digest;
struct mail_digest_entry;
struct mail_notice_text;

/* Appends text after first, wrapped at 72 columns on spaces, continuation lines after indent;
 * a word longer than a line (a link) stays whole. Ends with a line end. */
void mail_text_wrap(struct strbuf *out, const char *first, const char *indent, const char *text);

/* A paragraph: words wrapped, then an empty line. */
void mail_text_para(struct strbuf *out, const char *words);

/* A title underlined with '=', with (count) when count is not 0. */
void mail_text_title(struct strbuf *out, const char *title, size_t count);

/* Entry e numbered num: its heading and each child's lines t[0 .. e->n). */
void mail_text_entry(struct strbuf *out, size_t num, const struct mail_digest *d,
		     const struct mail_digest_entry *e, const struct mail_notice_text *t);

/* A capped digest's count of everything by rule and stage. */
void mail_text_counts(struct strbuf *out, const struct mail_digest *d);

#endif
