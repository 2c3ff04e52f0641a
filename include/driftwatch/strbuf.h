/* strbuf: a growable string for building SQL text, JSON-free summaries and messages. */
#ifndef DRIFTWATCH_STRBUF_H
#define DRIFTWATCH_STRBUF_H

#include <stddef.h>

struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
	int failed; /* an allocation failed; every later append is a no-op */
};

void strbuf_init(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const char *s);
void strbuf_appendn(struct strbuf *sb, const char *s, size_t n);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Room for extra more bytes in one allocation of just that size: a buffer whose final size is
 * known grows once, not by doubling past it (a 10 MB message sat in a 16 MB buffer). */
void strbuf_reserve(struct strbuf *sb, size_t extra);
/* Returns the string and gives up ownership, or NULL if any append failed. */
char *strbuf_take(struct strbuf *sb);
/* Back to its first len bytes (len <= sb->len): what was appended after them is dropped. */
void strbuf_truncate(struct strbuf *sb, size_t len);
void strbuf_free(struct strbuf *sb);

/* text with every occurrence of token replaced by value, malloc'd; NULL if memory ran out.
 * Used to put an escaped schema identifier into embedded SQL. */
char *strbuf_subst(const char *text, const char *token, const char *value);
/* The same for several tokens at once: pairs is token, value, token, value, ..., NULL. One pass,
 * so a value that happens to contain another token (a schema named "@case@") stays as it is. */
char *strbuf_subst_all(const char *text, const char *const *pairs);

/* A PostgreSQL text[] literal of n items, each quoted so that ids with commas, quotes or braces
 * survive, malloc'd; NULL if memory ran out. Sent as a bound parameter, never spliced in. */
char *strbuf_text_array(const char *const *items, size_t n);

/* s percent-encoded for a URL's path or query: every byte but A-Z a-z 0-9 - _ . ~ as %XX. */
void strbuf_url_escape(struct strbuf *sb, const char *s);

#endif
