/* web_tokens: reads the API tokens' hashes and finds a caller's token among them in constant time. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "driftwatch/secret.h"
#include "driftwatch/web_tokens.h"

struct web_token {
	char name[WEB_TOKEN_NAME_MAX + 1];
	unsigned char hash[SHA256_DIGEST_LENGTH];
};

struct web_tokens {
	struct web_token *v;
	size_t n;
};

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int name_ok(const char *s, size_t n)
{
	if (n == 0 || n > WEB_TOKEN_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return 0;
	return 1;
}

/* One line, without its end: 1 parsed into *t, 0 blank or a comment, -1 bad (err says why). */
static int parse_line(const char *s, size_t n, struct web_token *t, char *err, size_t errsz)
{
	size_t i = 0, name_end, h;

	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	name_end = i;
	while (name_end < n && s[name_end] != ' ' && s[name_end] != '\t')
		name_end++;
	if (!name_ok(s + i, name_end - i))
		return snprintf(err, errsz, "the name must be 1 to %d of A-Z, a-z, 0-9, '.', '_' "
				"and '-'", WEB_TOKEN_NAME_MAX), -1;
	memcpy(t->name, s + i, name_end - i);
	t->name[name_end - i] = '\0';
	h = name_end;
	while (h < n && (s[h] == ' ' || s[h] == '\t'))
		h++;
	while (n > h && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	if (n - h != 2 * SHA256_DIGEST_LENGTH)
		return snprintf(err, errsz, "expected NAME and the 64 hex digits of the token's "
				"SHA-256"), -1;
	for (size_t k = 0; k < SHA256_DIGEST_LENGTH; k++) {
		int hi = hexval((unsigned char)s[h + 2 * k]), lo = hexval((unsigned char)s[h + 2 * k + 1]);

		if (hi < 0 || lo < 0)
			return snprintf(err, errsz, "the hash is not hexadecimal"), -1;
		t->hash[k] = (unsigned char)(hi << 4 | lo);
	}
	return 1;
}

int web_tokens_parse(const char *text, struct web_tokens **out, char *err, size_t errsz)
{
	struct web_tokens *t = calloc(1, sizeof(*t));
	size_t lines = 1, lineno = 0;
	char why[160];

	*out = NULL;
	for (const char *p = text; *p; p++)
		lines += *p == '\n';
	if (t)
		t->v = calloc(lines, sizeof(*t->v));
	if (!t || !t->v) {
		web_tokens_free(t);
		return snprintf(err, errsz, "out of memory"), -1;
	}
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		int rc = parse_line(p, n, &t->v[t->n], why, sizeof(why));

		lineno++;
		if (rc < 0) {
			web_tokens_free(t);
			return snprintf(err, errsz, "line %zu: %s", lineno, why), -1;
		}
		for (size_t k = 0; rc > 0 && k < t->n; k++)
			if (strcmp(t->v[k].name, t->v[t->n].name) == 0) {
				snprintf(err, errsz, "line %zu: the name \"%s\" is there twice (it is "
					 "the actor of what the token does)", lineno, t->v[k].name);
				web_tokens_free(t);
				return -1;
			}
		t->n += (size_t)rc;
		p += n + (nl ? 1 : 0);
	}
	*out = t;
	return 0;
}

int web_tokens_load(const char *path, struct web_tokens **out, char *err, size_t errsz)
{
	char *text = NULL, why[256];
	int rc;

	*out = NULL;
	if (secret_read(path, &text, why, sizeof(why)) < 0)
		return snprintf(err, errsz, "%s", why), -1;
	rc = web_tokens_parse(text, out, why, sizeof(why));
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	if (rc < 0)
		return snprintf(err, errsz, "%s: %s", path, why), -1;
	return 0;
}

size_t web_tokens_count(const struct web_tokens *t)
{
	return t ? t->n : 0;
}

const char *web_tokens_match(const struct web_tokens *t, const char *token, size_t len)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	const char *found = NULL;

	if (!t || !token || len == 0)
		return NULL;
	SHA256((const unsigned char *)token, len, h);
	for (size_t i = 0; i < t->n; i++)
		if (CRYPTO_memcmp(h, t->v[i].hash, sizeof(h)) == 0)
			found = t->v[i].name;
	return found;
}

void web_tokens_free(struct web_tokens *t)
{
	if (!t)
		return;
	if (t->v)
		OPENSSL_cleanse(t->v, t->n * sizeof(*t->v));
	free(t->v);
	free(t);
}
