/* strbuf: a growable string; a failed allocation poisons it instead of being checked per call. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/strbuf.h"

void strbuf_init(struct strbuf *sb)
{
	memset(sb, 0, sizeof(*sb));
}

static int strbuf_grow(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;
	size_t cap;
	char *b;

	if (sb->failed)
		return -1;
	if (need <= sb->cap)
		return 0;
	cap = sb->cap ? sb->cap : 64;
	while (cap < need)
		cap *= 2;
	b = realloc(sb->buf, cap);
	if (!b) {
		sb->failed = 1;
		return -1;
	}
	sb->buf = b;
	sb->cap = cap;
	return 0;
}

void strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;
	char *b;

	if (sb->failed || need <= sb->cap)
		return;
	b = realloc(sb->buf, need);
	if (!b) {
		sb->failed = 1;
		return;
	}
	sb->buf = b;
	sb->cap = need;
}

void strbuf_appendn(struct strbuf *sb, const char *s, size_t n)
{
	if (strbuf_grow(sb, n) < 0)
		return;
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void strbuf_append(struct strbuf *sb, const char *s)
{
	strbuf_appendn(sb, s, strlen(s));
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (len < 0) {
		sb->failed = 1;
		return;
	}
	if (strbuf_grow(sb, (size_t)len) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)len + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)len;
}

void strbuf_truncate(struct strbuf *sb, size_t len)
{
	if (!sb->buf || len >= sb->len)
		return;
	sb->len = len;
	sb->buf[len] = '\0';
}

char *strbuf_take(struct strbuf *sb)
{
	char *s;

	if (sb->failed) {
		strbuf_free(sb);
		return NULL;
	}
	if (!sb->buf) {
		/* nothing was appended: an empty string, not an unterminated buffer */
		if (strbuf_grow(sb, 0) < 0)
			return NULL;
		sb->buf[0] = '\0';
	}
	s = sb->buf;
	/* Doubling leaves up to half a buffer unused, and a digest's message of megabytes is kept
	 * until it is sent: give the slack back (a failed shrink keeps the larger block). */
	if (sb->cap - sb->len > 65536) {
		char *fit = realloc(s, sb->len + 1);

		s = fit ? fit : s;
	}
	strbuf_init(sb);
	return s;
}

void strbuf_free(struct strbuf *sb)
{
	free(sb->buf);
	strbuf_init(sb);
}

/* The earliest token of pairs found at or after text, or NULL; *which says which pair. */
static const char *strbuf_next_token(const char *text, const char *const *pairs, size_t *which)
{
	const char *best = NULL;

	for (size_t i = 0; pairs[i]; i += 2) {
		const char *hit = strstr(text, pairs[i]);

		if (hit && (!best || hit < best)) {
			best = hit;
			*which = i;
		}
	}
	return best;
}

char *strbuf_subst_all(const char *text, const char *const *pairs)
{
	struct strbuf sb;
	const char *hit;
	size_t i = 0;

	strbuf_init(&sb);
	while ((hit = strbuf_next_token(text, pairs, &i)) != NULL) {
		strbuf_appendn(&sb, text, (size_t)(hit - text));
		strbuf_append(&sb, pairs[i + 1]);
		text = hit + strlen(pairs[i]);
	}
	strbuf_append(&sb, text);
	return strbuf_take(&sb);
}

char *strbuf_subst(const char *text, const char *token, const char *value)
{
	const char *pairs[3] = { token, value, NULL };

	return strbuf_subst_all(text, pairs);
}

char *strbuf_text_array(const char *const *items, size_t n)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_append(&sb, "{");
	for (size_t i = 0; i < n; i++) {
		strbuf_append(&sb, i ? ",\"" : "\"");
		for (const char *p = items[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				strbuf_append(&sb, "\\");
			strbuf_appendn(&sb, p, 1);
		}
		strbuf_append(&sb, "\"");
	}
	strbuf_append(&sb, "}");
	return strbuf_take(&sb);
}

void strbuf_url_escape(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; s && *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			strbuf_appendn(sb, (const char *)&ch, 1);
			continue;
		}
		strbuf_printf(sb, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
	}
}
