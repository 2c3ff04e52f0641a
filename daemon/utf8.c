/* utf8: checks and repairs text read from a database that may not check it (SQL_ASCII). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/utf8.h"

/* Length of the well-formed sequence at s (1 to 4), looking at no more than n bytes (n >= 1;
 * NUL-terminated text passes SIZE_MAX: its NUL ends any sequence), or 0 when s starts an
 * ill-formed or cut-short one; *bad then gets how many bytes make up its maximal subpart, each
 * later replaced by one U+FFFD (Unicode 15, section 3.9, table 3-7). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *bad)
{
	unsigned char c = s[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need, i;

	*bad = 1;
	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF)
		need = 2;
	else if (c >= 0xF0 && c <= 0xF4)
		need = 3;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;  /* surrogates */
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;  /* past U+10FFFF */
	for (i = 1; i <= need; i++) {
		unsigned char b = i < n ? s[i] : 0;

		if (b < lo || b > hi) {
			*bad = i;
			return 0;
		}
		lo = 0x80;
		hi = 0xBF;
	}
	return need + 1;
}

/* Bytes from s that are well-formed; s + the result is the NUL or the first ill-formed byte. */
static size_t utf8_valid_prefix(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t bad;

	while (*p) {
		size_t n = utf8_seq(p, SIZE_MAX, &bad);

		if (n == 0)
			break;
		p += n;
	}
	return (size_t)(p - (const unsigned char *)s);
}

size_t utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t bad;

	return n > 0 ? utf8_seq(s, n, &bad) : 0;
}

int utf8_valid(const char *s)
{
	return s[utf8_valid_prefix(s)] == '\0';
}

char *utf8_repair(const char *s, size_t *repaired)
{
	static const char fffd[] = "\xEF\xBF\xBD";
	size_t ok = utf8_valid_prefix(s), len, fixes = 0;
	const unsigned char *p;
	char *out, *o;

	if (repaired)
		*repaired = 0;
	/* Nearly every value is well-formed: one exact copy, not three times its size (facts run
	 * to kilobytes, and an evaluation reads hundreds of thousands of them). */
	if (s[ok] == '\0')
		return strdup(s);
	len = ok + strlen(s + ok);
	/* Each bad byte becomes at most three. */
	out = malloc(len * 3 + 1);
	if (!out)
		return NULL;
	memcpy(out, s, ok);
	o = out + ok;
	p = (const unsigned char *)s + ok;
	while (*p) {
		size_t bad, n = utf8_seq(p, SIZE_MAX, &bad);

		if (n > 0) {
			memcpy(o, p, n);
			o += n;
			p += n;
			continue;
		}
		memcpy(o, fffd, 3);
		o += 3;
		p += bad;
		fixes++;
	}
	*o = '\0';
	if (repaired)
		*repaired = fixes;
	return out;
}
