/* web_tokens: the JSON API's bearer tokens (web.api_tokens_file: "name sha256-hex" lines). */
#ifndef DRIFTWATCH_WEB_TOKENS_H
#define DRIFTWATCH_WEB_TOKENS_H

#include <stddef.h>

#define WEB_TOKEN_NAME_MAX 64

struct web_tokens;

/* Parses text: one "NAME SHA256-HEX" a line (the hex of SHA-256 of the token, any case);
 * blank lines and lines starting with '#' are skipped. NAME is 1..64 of [A-Za-z0-9._-].
 * *out (possibly with no tokens), or -1 with err naming the line at fault. */
int web_tokens_parse(const char *text, struct web_tokens **out, char *err, size_t errsz);

/* web_tokens_parse of the file at path, read as secrets are (secret.h). */
int web_tokens_load(const char *path, struct web_tokens **out, char *err, size_t errsz);

/* How many tokens. */
size_t web_tokens_count(const struct web_tokens *t);

/* The name of the token whose hash matches token (len bytes), or NULL. Every entry is compared,
 * each in constant time, so how long it takes says nothing about which matched. */
const char *web_tokens_match(const struct web_tokens *t, const char *token, size_t len);

/* Wipes and frees; NULL is a no-op. */
void web_tokens_free(struct web_tokens *t);

#endif
