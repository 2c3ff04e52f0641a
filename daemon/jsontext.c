/* jsontext: JSON values re-written compact, and strings escaped, as jansson would write them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "driftwatch/jsontext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/utf8.h"

struct jt {
	const unsigned char *p, *end;
	struct strbuf *out;     /* NULL: checked only, nothing written */
	int ascii;
	int decode;             /* a string's characters as they are, not as JSON */
};

static void jt_put(struct jt *j, const void *s, size_t n)
{
	if (j->out)
		strbuf_appendn(j->out, s, n);
}

static void jt_ws(struct jt *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* One UTF-8 sequence at p (at most n bytes), as utf8.c checks it: its length and code point,
 * or 0 when it is not a well-formed one. */
static size_t jt_utf8(const unsigned char *p, size_t n, unsigned *cp)
{
	static const unsigned char lead_bits[5] = { 0, 0x7F, 0x1F, 0x0F, 0x07 };
	size_t len = utf8_seq_len(p, n);

	if (len == 0)
		return 0;
	*cp = p[0] & lead_bits[len];
	for (size_t i = 1; i < len; i++)
		*cp = (*cp << 6) | (p[i] & 0x3F);
	return len;
}

/* \uXXXX of a code point below U+10000, in upper-case hex as jansson writes it */
static void jt_u(struct strbuf *out, unsigned cp)
{
	static const char hex[] = "0123456789ABCDEF";
	char seq[6] = { '\\', 'u', hex[(cp >> 12) & 15], hex[(cp >> 8) & 15], hex[(cp >> 4) & 15],
			hex[cp & 15] };

	strbuf_appendn(out, seq, 6);
}

/* One code point as jansson's dump_string writes it, or (raw) as UTF-8 whatever it is. */
static void jt_put_cp(struct strbuf *out, unsigned cp, int ascii, int raw)
{
	static const char *const short_esc[0x20] = {
		['\b'] = "\\b", ['\f'] = "\\f", ['\n'] = "\\n", ['\r'] = "\\r", ['\t'] = "\\t",
	};
	char utf8[4];

	if (raw && cp < 0x80) {
		utf8[0] = (char)cp;
		strbuf_appendn(out, utf8, 1);
	} else if (cp == '"' || cp == '\\') {
		strbuf_appendn(out, cp == '"' ? "\\\"" : "\\\\", 2);
	} else if (cp < 0x20) {
		if (short_esc[cp])
			strbuf_appendn(out, short_esc[cp], 2);
		else
			jt_u(out, cp);
	} else if (cp < 0x80) {
		utf8[0] = (char)cp;
		strbuf_appendn(out, utf8, 1);
	} else if (ascii && !raw) {
		if (cp < 0x10000) {
			jt_u(out, cp);
		} else {
			jt_u(out, 0xD800 + ((cp - 0x10000) >> 10));
			jt_u(out, 0xDC00 + ((cp - 0x10000) & 0x3FF));
		}
	} else if (cp < 0x800) {
		utf8[0] = (char)(0xC0 | (cp >> 6));
		utf8[1] = (char)(0x80 | (cp & 0x3F));
		strbuf_appendn(out, utf8, 2);
	} else if (cp < 0x10000) {
		utf8[0] = (char)(0xE0 | (cp >> 12));
		utf8[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		utf8[2] = (char)(0x80 | (cp & 0x3F));
		strbuf_appendn(out, utf8, 3);
	} else {
		utf8[0] = (char)(0xF0 | (cp >> 18));
		utf8[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		utf8[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		utf8[3] = (char)(0x80 | (cp & 0x3F));
		strbuf_appendn(out, utf8, 4);
	}
}

static int jt_hex4(const unsigned char *p, unsigned *v)
{
	*v = 0;
	for (int i = 0; i < 4; i++) {
		unsigned c = p[i], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if (c >= 'a' && c <= 'f')
			d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			d = c - 'A' + 10;
		else
			return -1;
		*v = (*v << 4) | d;
	}
	return 0;
}

/* After a backslash: the escape's code point (a surrogate pair read whole), p moved past it. */
static int jt_escape(struct jt *j, unsigned *cp)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *k;
	unsigned lo;

	if (j->p >= j->end)
		return -1;
	k = *j->p ? strchr(from, *j->p) : NULL;
	if (k) {
		*cp = (unsigned char)to[k - from];
		j->p++;
		return 0;
	}
	if (*j->p != 'u' || j->end - j->p < 5 || jt_hex4(j->p + 1, cp) < 0)
		return -1;
	j->p += 5;
	if (*cp == 0 || (*cp >= 0xDC00 && *cp <= 0xDFFF))
		return -1;
	if (*cp < 0xD800 || *cp > 0xDBFF)
		return 0;
	if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' ||
	    jt_hex4(j->p + 2, &lo) < 0 || lo < 0xDC00 || lo > 0xDFFF)
		return -1;
	j->p += 6;
	*cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
	return 0;
}

/* A string at p (its opening quote), written again. Runs of plain ASCII are copied whole. */
static int jt_string(struct jt *j)
{
	const unsigned char *run;
	unsigned cp;

	j->p++;
	if (!j->decode)
		jt_put(j, "\"", 1);
	for (;;) {
		size_t n;

		for (run = j->p; j->p < j->end && *j->p >= 0x20 && *j->p < 0x80 &&
				 *j->p != '"' && *j->p != '\\'; j->p++)
			;
		jt_put(j, (const char *)run, (size_t)(j->p - run));
		if (j->p >= j->end)
			return -1;
		if (*j->p == '"')
			break;
		if (*j->p < 0x20)
			return -1;
		if (*j->p == '\\') {
			j->p++;
			if (jt_escape(j, &cp) < 0)
				return -1;
			if (j->out)
				jt_put_cp(j->out, cp, j->ascii, j->decode);
			continue;
		}
		n = jt_utf8(j->p, (size_t)(j->end - j->p), &cp);
		if (n == 0)
			return -1;
		if (j->ascii && !j->decode && j->out)
			jt_put_cp(j->out, cp, 1, 0);
		else
			jt_put(j, (const char *)j->p, n);
		j->p += n;
	}
	j->p++;
	if (!j->decode)
		jt_put(j, "\"", 1);
	return 0;
}

static int jt_digits(struct jt *j)
{
	const unsigned char *start = j->p;

	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
		j->p++;
	return j->p > start ? 0 : -1;
}

/* A number, checked against JSON's grammar and copied as it is. */
static int jt_number(struct jt *j)
{
	const unsigned char *start = j->p;

	if (*j->p == '-')
		j->p++;
	if (j->p < j->end && *j->p == '0')
		j->p++;
	else if (jt_digits(j) < 0)
		return -1;
	if (j->p < j->end && *j->p == '.') {
		j->p++;
		if (jt_digits(j) < 0)
			return -1;
	}
	if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
		j->p++;
		if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
			j->p++;
		if (jt_digits(j) < 0)
			return -1;
	}
	/* jansson reads -0 as the integer 0 and writes it so; every other integer JSON allows is
	 * written as jansson would write it already (reals are not: "as given") */
	if (j->p - start == 2 && start[0] == '-' && start[1] == '0')
		start++;
	jt_put(j, (const char *)start, (size_t)(j->p - start));
	return 0;
}

static int jt_word(struct jt *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return -1;
	j->p += n;
	jt_put(j, word, n);
	return 0;
}

static int jt_value(struct jt *j, int depth);

/* An object or an array at p: its members, each written after a comma but the first. */
static int jt_container(struct jt *j, int depth)
{
	int object = *j->p == '{';
	char close = object ? '}' : ']';

	if (depth >= JSONTEXT_MAX_DEPTH)
		return -1;
	jt_put(j, (const char *)j->p, 1);
	j->p++;
	jt_ws(j);
	if (j->p < j->end && *j->p == close) {
		j->p++;
		jt_put(j, &close, 1);
		return 0;
	}
	for (;;) {
		if (object) {
			jt_ws(j);
			if (j->p >= j->end || *j->p != '"' || jt_string(j) < 0)
				return -1;
			jt_ws(j);
			if (j->p >= j->end || *j->p != ':')
				return -1;
			j->p++;
			jt_put(j, ":", 1);
		}
		if (jt_value(j, depth + 1) < 0)
			return -1;
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			jt_put(j, ",", 1);
			continue;
		}
		if (j->p < j->end && *j->p == close) {
			j->p++;
			jt_put(j, &close, 1);
			return 0;
		}
		return -1;
	}
}

/* One value with the whitespace around it. */
static int jt_value(struct jt *j, int depth)
{
	int rc;

	jt_ws(j);
	if (j->p >= j->end)
		return -1;
	switch (*j->p) {
	case '{':
	case '[':
		rc = jt_container(j, depth);
		break;
	case '"':
		rc = jt_string(j);
		break;
	case 't':
		rc = jt_word(j, "true");
		break;
	case 'f':
		rc = jt_word(j, "false");
		break;
	case 'n':
		rc = jt_word(j, "null");
		break;
	default:
		rc = (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) ? jt_number(j) : -1;
	}
	jt_ws(j);
	return rc;
}

int jsontext_compact(struct strbuf *out, const char *in, size_t len, int ascii)
{
	struct jt j = { (const unsigned char *)in, (const unsigned char *)in + len, out, ascii, 0 };

	if (jt_value(&j, 0) < 0)
		return -1;
	return j.p == j.end ? 0 : -1;
}

int jsontext_string(struct strbuf *out, const char *s, int ascii)
{
	size_t len = strlen(s), start = out->len;
	struct jt j = { (const unsigned char *)s, (const unsigned char *)s + len, out, ascii, 0 };
	unsigned cp;

	strbuf_appendn(out, "\"", 1);
	while (j.p < j.end) {
		const unsigned char *run = j.p;
		size_t n;

		while (j.p < j.end && *j.p >= 0x20 && *j.p < 0x80 && *j.p != '"' && *j.p != '\\')
			j.p++;
		strbuf_appendn(out, (const char *)run, (size_t)(j.p - run));
		if (j.p >= j.end)
			break;
		n = jt_utf8(j.p, (size_t)(j.end - j.p), &cp);
		if (n == 0) {
			strbuf_truncate(out, start);
			return -1;
		}
		jt_put_cp(out, cp, ascii, 0);
		j.p += n;
	}
	strbuf_appendn(out, "\"", 1);
	return 0;
}

/* ---- a shallow reading ---- */

static int jt_is_nested(const char *key, const char *const *nested)
{
	for (size_t i = 0; nested && nested[i]; i++)
		if (strcmp(key, nested[i]) == 0)
			return 1;
	return 0;
}

/* A number as jansson makes it: an integer when written as one and it fits, else a real. */
static json_t *jt_number_value(struct jt *j, struct strbuf *scratch)
{
	const unsigned char *start = j->p;
	long long ll;
	char *end;

	if (jt_number(j) < 0)
		return NULL;
	strbuf_truncate(scratch, 0);
	strbuf_appendn(scratch, (const char *)start, (size_t)(j->p - start));
	if (scratch->failed)
		return NULL;
	if (!strpbrk(scratch->buf, ".eE")) {
		errno = 0;
		ll = strtoll(scratch->buf, &end, 10);
		if (errno == 0 && *end == '\0')
			return json_integer(ll);
	}
	return json_real(strtod(scratch->buf, NULL));
}

/* The member value at p, made for key; *skip set when it is a container not asked for. */
static json_t *jt_member(struct jt *j, const char *key, const char *const *nested,
			 struct strbuf *scratch, int *skip)
{
	const unsigned char *start = j->p;

	*skip = 0;
	switch (*j->p) {
	case '"':
		strbuf_truncate(scratch, 0);
		j->out = scratch;
		if (jt_string(j) < 0 || scratch->failed)
			return NULL;
		return json_stringn_nocheck(scratch->buf ? scratch->buf : "", scratch->len);
	case 't':
		return jt_word(j, "true") < 0 ? NULL : json_true();
	case 'f':
		return jt_word(j, "false") < 0 ? NULL : json_false();
	case 'n':
		return jt_word(j, "null") < 0 ? NULL : json_null();
	case '{':
	case '[':
		if (jt_container(j, 1) < 0)
			return NULL;
		if (jt_is_nested(key, nested))
			return json_loadb((const char *)start, (size_t)(j->p - start), 0, NULL);
		*skip = 1;
		return NULL;
	default:
		return jt_number_value(j, scratch);
	}
}

/* The members of the object at p into o. pick NULL: every string, number and literal, and the
 * containers named in nested; else only the members named in pick, whatever they hold. */
static int jt_shallow_members(struct jt *j, json_t *o, const char *const *nested,
			      const char *const *pick, struct strbuf *key, struct strbuf *scratch)
{
	for (;;) {
		json_t *v;
		int skip;

		jt_ws(j);
		strbuf_truncate(key, 0);
		j->out = key;
		if (j->p >= j->end || *j->p != '"' || jt_string(j) < 0 || key->failed)
			return -1;
		j->out = NULL;
		jt_ws(j);
		if (j->p >= j->end || *j->p != ':')
			return -1;
		j->p++;
		jt_ws(j);
		if (j->p >= j->end)
			return -1;
		if (pick && !jt_is_nested(key->buf ? key->buf : "", pick)) {
			v = NULL;
			skip = 1;
			if (jt_value(j, 1) < 0)
				return -1;
		} else {
			v = jt_member(j, key->buf ? key->buf : "", pick ? pick : nested, scratch,
				      &skip);
		}
		j->out = NULL;
		if (!v && !skip)
			return -1;
		if (v && json_object_set_new_nocheck(o, key->buf ? key->buf : "", v) < 0)
			return -1;
		jt_ws(j);
		if (j->p < j->end && *j->p == ',') {
			j->p++;
			continue;
		}
		if (j->p < j->end && *j->p == '}') {
			j->p++;
			return 0;
		}
		return -1;
	}
}

static json_t *jt_object(const char *text, size_t len, const char *const *nested,
			 const char *const *pick)
{
	struct jt j = { (const unsigned char *)text, (const unsigned char *)text + len, NULL, 0, 1 };
	struct strbuf key, scratch;
	json_t *o = json_object();
	int rc = -1;

	strbuf_init(&key);
	strbuf_init(&scratch);
	jt_ws(&j);
	if (o && j.p < j.end && *j.p == '{') {
		j.p++;
		jt_ws(&j);
		if (j.p < j.end && *j.p == '}') {
			j.p++;
			rc = 0;
		} else {
			rc = jt_shallow_members(&j, o, nested, pick, &key, &scratch);
		}
		jt_ws(&j);
	}
	strbuf_free(&key);
	strbuf_free(&scratch);
	if (rc < 0 || j.p != j.end) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *jsontext_shallow(const char *text, size_t len, const char *const *nested)
{
	return jt_object(text, len, nested, NULL);
}

json_t *jsontext_pick(const char *text, size_t len, const char *const *keys)
{
	static const char *const none[] = { NULL };

	return jt_object(text, len, NULL, keys ? keys : none);
}
