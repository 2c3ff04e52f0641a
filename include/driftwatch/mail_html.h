/* mail_html: the HTML part of a digest: tables and inline styles that survive mail programs. */
#ifndef DRIFTWATCH_MAIL_HTML_H
#define DRIFTWATCH_MAIL_HTML_H

#include <stddef.h>

struct strbuf;
struct mail_digest;
struct mail_digest_entry;
struct mail_notice_text;

/* The document up to its body's content, titled subject; and from the footer to its end. */
void mail_html_open(struct strbuf *out, const char *subject);
void mail_html_close(struct strbuf *out, const char *footer, const char *to);

/* A paragraph of words with extra inline style (";font-weight:bold", or ""), where keep (a
 * file name, or NULL) is never broken over two lines. */
void mail_html_para(struct strbuf *out, const char *style, const char *words, const char *keep);

/* A section's heading with its mark of colour, and the table its entries go in, closed by
 * mail_html_table_close: four columns, or without "Child" and "Since" when children is 0 (a
 * report about driftwatch itself has neither, and two empty columns narrowed the others on a
 * phone). */
void mail_html_section(struct strbuf *out, int section, size_t count, int children);
void mail_html_table_close(struct strbuf *out);

/* Entry e: a row per child t[0 .. e->n), its "what" spanning them; a child's Acknowledge,
 * Snooze and Open buttons under its facts. children as the section's table was opened. */
void mail_html_entry(struct strbuf *out, const struct mail_digest *d,
		     const struct mail_digest_entry *e, const struct mail_notice_text *t,
		     int children);

/* A capped digest's count of everything by rule and stage. */
void mail_html_counts(struct strbuf *out, const struct mail_digest *d);

#endif
