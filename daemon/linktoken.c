/* linktoken: signs and checks the tokens of the links in notices (format in linktoken.h). */
#include "driftwatch/linktoken.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "driftwatch/mailaddr.h"
#include "driftwatch/secret.h"

#define KEY_ID_LABEL "driftwatch link key id"
#define OFF_VERSION 0
#define OFF_PURPOSE 1
#define OFF_KEY_ID 2
#define OFF_DAY 6
#define OFF_FINGERPRINT 10
#define OFF_RECIPIENT_LEN 42
#define FINGERPRINT_BYTES (ALERT_FINGERPRINT_LEN / 2)

_Static_assert(OFF_RECIPIENT_LEN + 1 == LINKTOKEN_HEAD_LEN, "the header's layout");
_Static_assert(OFF_FINGERPRINT + FINGERPRINT_BYTES == OFF_RECIPIENT_LEN, "the header's layout");

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- base64url without padding ---- */

static void b64url_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = b64url[v >> 18];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	if (n - i == 1) {
		out[o++] = b64url[in[i] >> 2];
		out[o++] = b64url[(in[i] & 3) << 4];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

		out[o++] = b64url[v >> 10];
		out[o++] = b64url[(v >> 4) & 63];
		out[o++] = b64url[(v & 15) << 2];
	}
	out[o] = '\0';
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Decodes n characters already known to be base64url into out; a last group of one character
 * (6 bits: not a byte) is dropped, so a token cut there reads as short, not as garbage. Returns
 * the number of bytes; *stray is set when that lone character is there or the bits left over
 * after the last byte are not zero, which the encoder never writes: a token with a character
 * added or changed there would otherwise decode to the same bytes and pass. */
static size_t b64url_decode(const char *in, size_t n, unsigned char *out, int *stray)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		acc = (acc << 6) | (uint32_t)b64url_value((unsigned char)in[i]);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*stray = bits == 6 || (bits > 0 && acc != 0);
	return o;
}

/* ---- helpers ---- */

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* 0 and the 32 bytes of a fingerprint, or -1 when it is not ALERT_FINGERPRINT_LEN hex digits. */
static int fingerprint_bytes(const char *fp, unsigned char out[FINGERPRINT_BYTES])
{
	if (strlen(fp) != ALERT_FINGERPRINT_LEN)
		return -1;
	for (size_t i = 0; i < FINGERPRINT_BYTES; i++) {
		int hi = hex_value(fp[2 * i]), lo = hex_value(fp[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static void fingerprint_hex(const unsigned char *in, char out[ALERT_FINGERPRINT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < FINGERPRINT_BYTES; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[ALERT_FINGERPRINT_LEN] = '\0';
}

static int mac(const struct linktoken_key *key, const unsigned char *msg, size_t n,
	       unsigned char out[LINKTOKEN_MAC_LEN])
{
	unsigned int got = 0;

	if (!HMAC(EVP_sha256(), key->secret, (int)key->len, msg, n, out, &got) ||
	    got != LINKTOKEN_MAC_LEN)
		return -1;
	return 0;
}

/* ---- the key ---- */

int linktoken_key_init(struct linktoken_key *key, const void *secret, size_t len, char *err,
		       size_t errsz)
{
	unsigned char full[LINKTOKEN_MAC_LEN];

	memset(key, 0, sizeof(*key));
	if (len < LINKTOKEN_SECRET_MIN || len > LINKTOKEN_SECRET_MAX) {
		snprintf(err, errsz, "the link secret is %zu bytes; it must be %d to %d (make one "
			 "with `openssl rand -base64 32`)", len, LINKTOKEN_SECRET_MIN,
			 LINKTOKEN_SECRET_MAX);
		return -1;
	}
	memcpy(key->secret, secret, len);
	key->len = len;
	if (mac(key, (const unsigned char *)KEY_ID_LABEL, strlen(KEY_ID_LABEL), full) < 0) {
		linktoken_key_clear(key);
		snprintf(err, errsz, "the link secret's key id could not be computed (libcrypto)");
		return -1;
	}
	memcpy(key->id, full, sizeof(key->id));
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

int linktoken_key_load(struct linktoken_key *key, const char *path, char *err, size_t errsz)
{
	char why[256], *text;
	int rc;

	memset(key, 0, sizeof(*key));
	if (secret_read(path, &text, err, errsz) < 0)
		return -1;
	if (strchr(text, '\n')) {
		snprintf(err, errsz, "%s: the link secret file must hold one line", path);
		rc = -1;
	} else if ((rc = linktoken_key_init(key, text, strlen(text), why, sizeof(why))) < 0) {
		snprintf(err, errsz, "%s: %s", path, why);
	}
	OPENSSL_cleanse(text, strlen(text));
	free(text);
	return rc;
}

void linktoken_key_clear(struct linktoken_key *key)
{
	OPENSSL_cleanse(key, sizeof(*key));
}

/* ---- signing ---- */

static int purpose_known(int p)
{
	return p >= LINKTOKEN_LINK_OPEN && p <= LINKTOKEN_PURPOSE_MAX;
}

int linktoken_sign(const struct linktoken_key *key, enum linktoken_purpose purpose,
		   const char *fingerprint, const char *recipient, int32_t last_day,
		   char out[LINKTOKEN_BUF], char *err, size_t errsz)
{
	unsigned char buf[LINKTOKEN_MAX_BYTES];
	const char *why = NULL;
	size_t n;

	out[0] = '\0';
	if (!key || key->len < LINKTOKEN_SECRET_MIN) {
		snprintf(err, errsz, "linktoken_sign: no link secret loaded");
		return -1;
	}
	if (!purpose_known((int)purpose)) {
		snprintf(err, errsz, "linktoken_sign: purpose %d is not one of 1 to %d", (int)purpose,
			 LINKTOKEN_PURPOSE_MAX);
		return -1;
	}
	if (!fingerprint || fingerprint_bytes(fingerprint, buf + OFF_FINGERPRINT) < 0) {
		snprintf(err, errsz, "linktoken_sign: the fingerprint is not %d hex digits",
			 ALERT_FINGERPRINT_LEN);
		return -1;
	}
	if (!recipient || !mailaddr_usable(recipient, &why)) {
		snprintf(err, errsz, "linktoken_sign: the recipient %s",
			 why ? why : "is missing");
		return -1;
	}
	n = strlen(recipient);
	buf[OFF_VERSION] = LINKTOKEN_VERSION_1;
	buf[OFF_PURPOSE] = (unsigned char)purpose;
	memcpy(buf + OFF_KEY_ID, key->id, sizeof(key->id));
	put_be32(buf + OFF_DAY, (uint32_t)last_day);
	buf[OFF_RECIPIENT_LEN] = (unsigned char)n;
	memcpy(buf + LINKTOKEN_HEAD_LEN, recipient, n);
	if (mac(key, buf, LINKTOKEN_HEAD_LEN + n, buf + LINKTOKEN_HEAD_LEN + n) < 0) {
		snprintf(err, errsz, "linktoken_sign: HMAC-SHA256 failed (libcrypto)");
		return -1;
	}
	b64url_encode(buf, LINKTOKEN_HEAD_LEN + n + LINKTOKEN_MAC_LEN, out);
	return 0;
}

/* ---- checking ---- */

/* The token's bytes into buf (LINKTOKEN_MAX_BYTES), or why they cannot be had. Length is
 * checked before the characters so that a megabyte of input is not walked. */
static enum linktoken_status token_bytes(const char *token, unsigned char *buf, size_t *n,
				       int *stray)
{
	size_t len = token ? strnlen(token, LINKTOKEN_MAX_CHARS + 1) : 0;

	if (len == 0 || len > LINKTOKEN_MAX_CHARS)
		return LINKTOKEN_MALFORMED;
	for (size_t i = 0; i < len; i++)
		if (b64url_value((unsigned char)token[i]) < 0)
			return LINKTOKEN_MALFORMED;
	*n = b64url_decode(token, len, buf, stray);
	return LINKTOKEN_OK;
}

/* Whether the bytes have the shape of a version 1 token: a cut one is short of what its
 * recipient length says; one with bytes to spare was not made here. */
static enum linktoken_status token_shape(const unsigned char *buf, size_t n)
{
	size_t want;

	if (n < 1)
		return LINKTOKEN_TRUNCATED;
	if (buf[OFF_VERSION] != LINKTOKEN_VERSION_1)
		return LINKTOKEN_VERSION;
	if (n <= OFF_RECIPIENT_LEN)
		return LINKTOKEN_TRUNCATED;
	want = LINKTOKEN_HEAD_LEN + buf[OFF_RECIPIENT_LEN] + LINKTOKEN_MAC_LEN;
	if (buf[OFF_RECIPIENT_LEN] == 0 || buf[OFF_RECIPIENT_LEN] > LINKTOKEN_RECIPIENT_MAX)
		return LINKTOKEN_ALTERED; /* never signed so: but only the MAC could say whose */
	if (n < want)
		return LINKTOKEN_TRUNCATED;
	return n == want ? LINKTOKEN_OK : LINKTOKEN_MALFORMED;
}

static void claims_fill(const unsigned char *buf, struct linktoken_claims *claims)
{
	size_t n = buf[OFF_RECIPIENT_LEN];

	claims->purpose = (enum linktoken_purpose)buf[OFF_PURPOSE];
	claims->last_day = (int32_t)get_be32(buf + OFF_DAY);
	fingerprint_hex(buf + OFF_FINGERPRINT, claims->fingerprint);
	memcpy(claims->recipient, buf + LINKTOKEN_HEAD_LEN, n);
	claims->recipient[n] = '\0';
}

enum linktoken_status linktoken_verify(const struct linktoken_key *key, const char *token,
				       int32_t today, unsigned accept,
				       struct linktoken_claims *claims)
{
	unsigned char buf[LINKTOKEN_MAX_BYTES + 3], want[LINKTOKEN_MAC_LEN];
	size_t n = 0, body;
	enum linktoken_status st;
	int purpose, stray = 0;

	memset(claims, 0, sizeof(*claims));
	if ((st = token_bytes(token, buf, &n, &stray)) != LINKTOKEN_OK)
		return st;
	if ((st = token_shape(buf, n)) != LINKTOKEN_OK)
		return st;
	if (stray)
		return LINKTOKEN_ALTERED;
	if (!key || key->len < LINKTOKEN_SECRET_MIN)
		return LINKTOKEN_FOREIGN; /* no secret loaded: no token can be ours */
	if (CRYPTO_memcmp(buf + OFF_KEY_ID, key->id, sizeof(key->id)) != 0)
		return LINKTOKEN_FOREIGN;
	body = n - LINKTOKEN_MAC_LEN;
	if (mac(key, buf, body, want) < 0 ||
	    CRYPTO_memcmp(buf + body, want, LINKTOKEN_MAC_LEN) != 0)
		return LINKTOKEN_ALTERED;
	/* From here on the token is ours, as we signed it. */
	purpose = buf[OFF_PURPOSE];
	if (!purpose_known(purpose) || !(accept & LINKTOKEN_ACCEPT(purpose)))
		return LINKTOKEN_WRONG_PURPOSE;
	if ((int32_t)get_be32(buf + OFF_DAY) < today)
		return LINKTOKEN_EXPIRED;
	claims_fill(buf, claims);
	return LINKTOKEN_OK;
}

/* ---- words ---- */

const char *linktoken_status_text(enum linktoken_status status)
{
	switch (status) {
	case LINKTOKEN_OK:
		return "This link is valid.";
	case LINKTOKEN_MALFORMED:
		return "This is not a link driftwatch made: the address does not hold a link code. "
		       "Open the link from the email again, or copy the whole address.";
	case LINKTOKEN_TRUNCATED:
		return "This link is incomplete: its end is missing, which happens when an email "
		       "program breaks a long address. Copy the whole address from the email.";
	case LINKTOKEN_VERSION:
		return "This link was made by a different version of driftwatch and cannot be read "
		       "here. Use the link in a newer email.";
	case LINKTOKEN_FOREIGN:
		return "This link was not made by this driftwatch (or was made before its link "
		       "secret was changed), so it cannot be used here.";
	case LINKTOKEN_ALTERED:
		return "This link has been changed since it was sent, so it cannot be used. Open "
		       "the link from the email again.";
	case LINKTOKEN_EXPIRED:
		return "This link has expired. Use the link in a newer email about the same alert.";
	case LINKTOKEN_WRONG_PURPOSE:
		return "This link cannot be used for this. Open the link from the email again.";
	}
	return "This link cannot be used.";
}

const char *linktoken_status_name(enum linktoken_status status)
{
	switch (status) {
	case LINKTOKEN_OK:
		return "ok";
	case LINKTOKEN_MALFORMED:
		return "malformed";
	case LINKTOKEN_TRUNCATED:
		return "truncated";
	case LINKTOKEN_VERSION:
		return "version";
	case LINKTOKEN_FOREIGN:
		return "foreign";
	case LINKTOKEN_ALTERED:
		return "altered";
	case LINKTOKEN_EXPIRED:
		return "expired";
	case LINKTOKEN_WRONG_PURPOSE:
		return "wrong_purpose";
	}
	return "unknown";
}
