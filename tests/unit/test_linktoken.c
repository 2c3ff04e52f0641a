/* test_linktoken: the signed link tokens: their format checked independently, every way a token
 * can be wrong, and garbage of every shape. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "driftwatch/calendar.h"
#include "driftwatch/linktoken.h"
#include "tap.h"

#define SECRET "0123456789abcdefghijklmnopqrstuvwxyzABCDEF" /* 42 bytes */
#define OTHER_SECRET "a different secret of more than thirty-two bytes"
#define FP "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
#define FP_UPPER "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
#define WHO "Team.Manager@la.example.gov.uk"
#define ALL_PURPOSES                                                                     \
	(LINKTOKEN_ACCEPT(LINKTOKEN_LINK_OPEN) | LINKTOKEN_ACCEPT(LINKTOKEN_LINK_ACKNOWLEDGE) | \
	 LINKTOKEN_ACCEPT(LINKTOKEN_LINK_SNOOZE) |                                         \
	 LINKTOKEN_ACCEPT(LINKTOKEN_FORM_ACKNOWLEDGE) |                                    \
	 LINKTOKEN_ACCEPT(LINKTOKEN_FORM_SNOOZE) | LINKTOKEN_ACCEPT(LINKTOKEN_FORM_UNSNOOZE))

/* A tiny xorshift: the same garbage every run, so a failure can be repeated. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static int32_t day(const char *ymd)
{
	int32_t d = 0;

	if (calendar_day_parse(ymd, &d) != 0) {
		fprintf(stderr, "bad test day %s\n", ymd);
		exit(2);
	}
	return d;
}

static void key_or_die(struct linktoken_key *key, const char *secret)
{
	char err[256];

	if (linktoken_key_init(key, secret, strlen(secret), err, sizeof(err)) != 0) {
		fprintf(stderr, "key: %s\n", err);
		exit(2);
	}
}

static void sign_or_die(const struct linktoken_key *key, enum linktoken_purpose p,
			const char *fp, const char *who, int32_t last, char out[LINKTOKEN_BUF])
{
	char err[256];

	if (linktoken_sign(key, p, fp, who, last, out, err, sizeof(err)) != 0) {
		fprintf(stderr, "sign: %s\n", err);
		exit(2);
	}
}

/* base64url (no padding) to bytes by OpenSSL's standard decoder, not the code under test.
 * Returns the number of bytes, or -1. */
static int decode(const char *tok, unsigned char *out, size_t cap)
{
	size_t n = strlen(tok), m = (n + 3) / 4 * 4;
	char *std = calloc(1, m + 1);
	unsigned char *tmp = calloc(1, m + 1);
	int got, pad = (int)(m - n);

	if (!std || !tmp)
		exit(2);
	for (size_t i = 0; i < m; i++)
		std[i] = i >= n ? '=' : tok[i] == '-' ? '+' : tok[i] == '_' ? '/' : tok[i];
	got = EVP_DecodeBlock(tmp, (unsigned char *)std, (int)m);
	if (got >= 0)
		got -= pad;
	if (got >= 0 && (size_t)got <= cap)
		memcpy(out, tmp, (size_t)got);
	else
		got = -1;
	free(std);
	free(tmp);
	return got;
}

/* bytes to base64url without padding, by OpenSSL's encoder. */
static void encode(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

	while (len > 0 && out[len - 1] == '=')
		out[--len] = '\0';
	for (int i = 0; i < len; i++)
		out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
}

/* A token of the given bytes with a correct MAC under secret appended: for forging versions
 * and shapes the signer never makes. */
static void forge(const char *secret, unsigned char *body, size_t n, char *out)
{
	unsigned int mlen = 0;

	HMAC(EVP_sha256(), secret, (int)strlen(secret), body, n, body + n, &mlen);
	encode(body, n + mlen, out);
}

static void test_key(void)
{
	struct linktoken_key key;
	char err[256];

	tap_int(linktoken_key_init(&key, "short secret", 12, err, sizeof(err)), -1,
		"key: a secret under 32 bytes is refused");
	tap_contains(err, "12 bytes; it must be 32 to 1024", "key: the message gives the sizes");
	tap_lacks(err, "short secret", "key: the message does not quote the secret");
	tap_int(linktoken_key_init(&key, SECRET, 31, err, sizeof(err)), -1, "key: 31 bytes refused");
	tap_int(linktoken_key_init(&key, SECRET, 32, err, sizeof(err)), 0, "key: 32 bytes taken");
	{
		char big[LINKTOKEN_SECRET_MAX + 2];

		memset(big, 'k', sizeof(big));
		tap_int(linktoken_key_init(&key, big, LINKTOKEN_SECRET_MAX + 1, err, sizeof(err)),
			-1, "key: over 1024 bytes refused");
		tap_int(linktoken_key_init(&key, big, LINKTOKEN_SECRET_MAX, err, sizeof(err)), 0,
			"key: 1024 bytes taken");
	}
	linktoken_key_clear(&key);
	tap_int(key.len, 0, "key: cleared");
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f) != 0)
		exit(2);
}

static void test_key_load(void)
{
	const char *base = getenv("TEST_TMPDIR");
	char dir[256], path[320], err[512], tok[LINKTOKEN_BUF];
	struct linktoken_key key, direct;
	struct linktoken_claims c;

	snprintf(dir, sizeof(dir), "%s/test_linktoken.XXXXXX", base && *base ? base : "/tmp");
	if (!mkdtemp(dir))
		exit(2);
	snprintf(path, sizeof(path), "%s/link-secret", dir);
	write_text(path, SECRET "\n");
	tap_int(linktoken_key_load(&key, path, err, sizeof(err)), 0,
		"load: a secret file with a line end");
	key_or_die(&direct, SECRET);
	sign_or_die(&key, LINKTOKEN_LINK_OPEN, FP, WHO, 100, tok);
	tap_int(linktoken_verify(&direct, tok, 100, ALL_PURPOSES, &c), LINKTOKEN_OK,
		"load: the line end is not part of the key");
	write_text(path, SECRET "\n" SECRET "\n");
	tap_int(linktoken_key_load(&key, path, err, sizeof(err)), -1, "load: two lines refused");
	tap_contains(err, "must hold one line", "load: says why");
	write_text(path, "too short\n");
	tap_int(linktoken_key_load(&key, path, err, sizeof(err)), -1, "load: a short secret");
	tap_contains(err, path, "load: the message names the file");
	tap_lacks(err, "too short", "load: and not the secret");
	remove(path);
	tap_int(linktoken_key_load(&key, path, err, sizeof(err)), -1, "load: a missing file");
	tap_contains(err, path, "load: a missing file is named");
	rmdir(dir);
	linktoken_key_clear(&key);
	linktoken_key_clear(&direct);
}

/* The format of linktoken.h, checked from outside: decoded by OpenSSL, the MAC recomputed. */
static void test_format(void)
{
	struct linktoken_key key;
	char tok[LINKTOKEN_BUF];
	unsigned char b[LINKTOKEN_MAX_BYTES + 8], mac[32];
	unsigned int mlen = 0;
	int32_t last = day("2026-05-01");
	int n;

	key_or_die(&key, SECRET);
	sign_or_die(&key, LINKTOKEN_LINK_SNOOZE, FP, WHO, last, tok);
	tap_ok(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") ==
		       strlen(tok),
	       "format: only base64url characters, no padding");
	n = decode(tok, b, sizeof(b));
	tap_int(n, 43 + (int)strlen(WHO) + 32, "format: header, recipient and MAC");
	if (n < 75)
		return;
	tap_int(b[0], 1, "format: version 1 first");
	tap_int(b[1], LINKTOKEN_LINK_SNOOZE, "format: the purpose");
	tap_int((int32_t)((uint32_t)b[6] << 24 | (uint32_t)b[7] << 16 | (uint32_t)b[8] << 8 | b[9]),
		last, "format: the last day, big-endian");
	tap_ok(b[10] == 0x9f && b[11] == 0x86 && b[41] == 0x08, "format: the fingerprint's bytes");
	tap_int(b[42], strlen(WHO), "format: the recipient's length");
	tap_ok(memcmp(b + 43, WHO, strlen(WHO)) == 0, "format: the recipient");
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), b, (size_t)n - 32, mac, &mlen);
	tap_ok(mlen == 32 && memcmp(mac, b + n - 32, 32) == 0,
	       "format: HMAC-SHA256 with the secret over everything before it");
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)"driftwatch link key id",
	     22, mac, &mlen);
	tap_ok(memcmp(mac, b + 2, 4) == 0, "format: the key id");
	linktoken_key_clear(&key);
}

static void test_round_trip(void)
{
	struct linktoken_key key;
	struct linktoken_claims c;
	char tok[LINKTOKEN_BUF], who[300];
	int32_t last = day("2026-05-01");

	key_or_die(&key, SECRET);
	for (int p = LINKTOKEN_LINK_OPEN; p <= LINKTOKEN_PURPOSE_MAX; p++) {
		sign_or_die(&key, (enum linktoken_purpose)p, FP, WHO, last, tok);
		tap_int(linktoken_verify(&key, tok, last, LINKTOKEN_ACCEPT(p), &c), LINKTOKEN_OK,
			"round trip: purpose %d", p);
		tap_ok(c.purpose == (enum linktoken_purpose)p && c.last_day == last &&
			       strcmp(c.fingerprint, FP) == 0 && strcmp(c.recipient, WHO) == 0,
		       "round trip: purpose %d's claims", p);
	}
	sign_or_die(&key, LINKTOKEN_LINK_OPEN, FP_UPPER, WHO, last, tok);
	linktoken_verify(&key, tok, last, ALL_PURPOSES, &c);
	tap_str(c.fingerprint, FP, "round trip: an upper-case fingerprint comes back lowercase");

	/* the longest address makes the longest token, and it fits */
	memset(who, 'a', 64);
	who[64] = '@';
	for (int i = 65; i < 254; i++)
		who[i] = (i - 65) % 60 == 59 ? '.' : 'd';
	who[253] = 'k';
	who[254] = '\0';
	sign_or_die(&key, LINKTOKEN_FORM_SNOOZE, FP, who, last, tok);
	tap_int(strlen(tok), LINKTOKEN_MAX_CHARS, "round trip: a 254-byte address: the longest");
	tap_int(linktoken_verify(&key, tok, last, ALL_PURPOSES, &c), LINKTOKEN_OK,
		"round trip: the longest token verifies");
	tap_str(c.recipient, who, "round trip: the longest address comes back");
	sign_or_die(&key, LINKTOKEN_LINK_OPEN, FP, "a@b", last, tok);
	tap_int(linktoken_verify(&key, tok, last, ALL_PURPOSES, &c), LINKTOKEN_OK,
		"round trip: the shortest address");
	linktoken_key_clear(&key);
}

static void test_expiry_and_purpose(void)
{
	struct linktoken_key key;
	struct linktoken_claims c;
	char tok[LINKTOKEN_BUF];
	int32_t last = day("2026-05-01");

	key_or_die(&key, SECRET);
	sign_or_die(&key, LINKTOKEN_LINK_ACKNOWLEDGE, FP, WHO, last, tok);
	tap_int(linktoken_verify(&key, tok, last - 30, ALL_PURPOSES, &c), LINKTOKEN_OK,
		"expiry: good 30 days before");
	tap_int(linktoken_verify(&key, tok, last, ALL_PURPOSES, &c), LINKTOKEN_OK,
		"expiry: good on its last day");
	tap_int(linktoken_verify(&key, tok, last + 1, ALL_PURPOSES, &c), LINKTOKEN_EXPIRED,
		"expiry: expired the day after");
	tap_ok(c.fingerprint[0] == '\0' && c.recipient[0] == '\0',
	       "expiry: an expired token's claims are not given out");
	tap_int(linktoken_verify(&key, tok, last,
				 LINKTOKEN_ACCEPT(LINKTOKEN_FORM_ACKNOWLEDGE) |
					 LINKTOKEN_ACCEPT(LINKTOKEN_FORM_SNOOZE),
				 &c),
		LINKTOKEN_WRONG_PURPOSE, "purpose: a link is not a form's token");
	sign_or_die(&key, LINKTOKEN_FORM_SNOOZE, FP, WHO, last, tok);
	tap_int(linktoken_verify(&key, tok, last, LINKTOKEN_ACCEPT(LINKTOKEN_FORM_ACKNOWLEDGE), &c),
		LINKTOKEN_WRONG_PURPOSE, "purpose: the snooze form's token does not acknowledge");
	tap_int(linktoken_verify(&key, tok, last, 0, &c), LINKTOKEN_WRONG_PURPOSE,
		"purpose: nothing accepted, nothing passes");
	linktoken_key_clear(&key);
}

static void test_foreign_and_altered(void)
{
	struct linktoken_key key, other;
	struct linktoken_claims c;
	char tok[LINKTOKEN_BUF], bad[LINKTOKEN_BUF];
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t len, passed = 0, tries = 0, altered_fp = 0, fp_tries = 0;
	int32_t last = day("2026-05-01");

	key_or_die(&key, SECRET);
	key_or_die(&other, OTHER_SECRET);
	sign_or_die(&other, LINKTOKEN_LINK_OPEN, FP, WHO, last, tok);
	tap_int(linktoken_verify(&key, tok, last, ALL_PURPOSES, &c), LINKTOKEN_FOREIGN,
		"foreign: signed with another secret");
	tap_int(linktoken_verify(NULL, tok, last, ALL_PURPOSES, &c), LINKTOKEN_FOREIGN,
		"foreign: no key loaded, nothing is ours");

	sign_or_die(&key, LINKTOKEN_LINK_OPEN, FP, WHO, last, tok);
	len = strlen(tok);
	/* every character replaced by every other: never accepted */
	for (size_t i = 0; i < len; i++) {
		for (size_t k = 0; k < 64; k++) {
			enum linktoken_status st;

			if (alphabet[k] == tok[i])
				continue;
			memcpy(bad, tok, len + 1);
			bad[i] = alphabet[k];
			st = linktoken_verify(&key, bad, last, ALL_PURPOSES, &c);
			tries++;
			passed += st == LINKTOKEN_OK;
			/* characters 14..54 hold only fingerprint bits (bytes 10..41) */
			if (i >= 14 && i <= 54) {
				fp_tries++;
				altered_fp += st == LINKTOKEN_ALTERED;
			}
		}
	}
	tap_int(passed, 0, "altered: none of %zu one-character changes is accepted", tries);
	tap_int(altered_fp, fp_tries, "altered: a changed fingerprint says \"altered\" (%zu)",
		fp_tries);
	linktoken_key_clear(&key);
	linktoken_key_clear(&other);
}

static void test_truncated_and_version(void)
{
	struct linktoken_key key;
	struct linktoken_claims c;
	char tok[LINKTOKEN_BUF], cut[LINKTOKEN_BUF], forged[LINKTOKEN_BUF + 8];
	unsigned char b[LINKTOKEN_MAX_BYTES + 40];
	size_t len, truncated = 0;
	int32_t last = day("2026-05-01");
	int n;

	key_or_die(&key, SECRET);
	sign_or_die(&key, LINKTOKEN_LINK_ACKNOWLEDGE, FP, WHO, last, tok);
	len = strlen(tok);
	for (size_t k = 1; k < len; k++) {
		memcpy(cut, tok, k);
		cut[k] = '\0';
		truncated += linktoken_verify(&key, cut, last, ALL_PURPOSES, &c) ==
			     LINKTOKEN_TRUNCATED;
	}
	tap_int(truncated, len - 1, "truncated: every shorter prefix says \"truncated\"");

	n = decode(tok, b, sizeof(b));
	tap_ok(n > 40, "version: the token decodes");
	if (n <= 40)
		return;
	b[0] = 2;
	forge(SECRET, b, (size_t)n - 32, forged);
	tap_int(linktoken_verify(&key, forged, last, ALL_PURPOSES, &c), LINKTOKEN_VERSION,
		"version: version 2, even well signed, is not read as version 1");
	b[0] = 0;
	forge(SECRET, b, (size_t)n - 32, forged);
	tap_int(linktoken_verify(&key, forged, last, ALL_PURPOSES, &c), LINKTOKEN_VERSION,
		"version: version 0");
	b[0] = 1;
	b[1] = 9;
	forge(SECRET, b, (size_t)n - 32, forged);
	tap_int(linktoken_verify(&key, forged, last, ALL_PURPOSES, &c), LINKTOKEN_WRONG_PURPOSE,
		"purpose: an unknown purpose, even well signed, is refused");
	b[1] = LINKTOKEN_LINK_OPEN;
	memcpy(b + n - 32, "extra", 5);
	forge(SECRET, b, (size_t)n - 32 + 5, forged);
	tap_int(linktoken_verify(&key, forged, last, ALL_PURPOSES, &c), LINKTOKEN_MALFORMED,
		"shape: bytes after the MAC are refused");
	linktoken_key_clear(&key);
}

static void test_garbage(void)
{
	struct linktoken_key key;
	struct linktoken_claims c;
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char tok[LINKTOKEN_BUF], buf[1024], *huge;
	size_t passed = 0;
	size_t huge_len = 1u << 20;
	int32_t last = day("2026-05-01");

	key_or_die(&key, SECRET);
	tap_int(linktoken_verify(&key, NULL, last, ALL_PURPOSES, &c), LINKTOKEN_MALFORMED,
		"garbage: NULL");
	tap_int(linktoken_verify(&key, "", last, ALL_PURPOSES, &c), LINKTOKEN_MALFORMED,
		"garbage: empty");
	sign_or_die(&key, LINKTOKEN_LINK_OPEN, FP, WHO, last, tok);
	snprintf(buf, sizeof(buf), "%s=", tok);
	tap_int(linktoken_verify(&key, buf, last, ALL_PURPOSES, &c), LINKTOKEN_MALFORMED,
		"garbage: padding is not base64url");
	snprintf(buf, sizeof(buf), "%s\n", tok);
	tap_int(linktoken_verify(&key, buf, last, ALL_PURPOSES, &c), LINKTOKEN_MALFORMED,
		"garbage: a trailing line end");
	snprintf(buf, sizeof(buf), "%s", tok);
	buf[10] = '+';
	tap_int(linktoken_verify(&key, buf, last, ALL_PURPOSES, &c), LINKTOKEN_MALFORMED,
		"garbage: standard base64's '+'");
	snprintf(buf, sizeof(buf), "%sA", tok);
	tap_ok(linktoken_verify(&key, buf, last, ALL_PURPOSES, &c) != LINKTOKEN_OK,
	       "garbage: one character more");
	if (!(huge = malloc(huge_len + 1)))
		exit(2);
	memset(huge, 'A', huge_len);
	huge[huge_len] = '\0';
	tap_int(linktoken_verify(&key, huge, last, ALL_PURPOSES, &c), LINKTOKEN_MALFORMED,
		"garbage: a megabyte of 'A'");
	memcpy(huge, tok, strlen(tok));
	tap_int(linktoken_verify(&key, huge, last, ALL_PURPOSES, &c), LINKTOKEN_MALFORMED,
		"garbage: a good token followed by a megabyte");
	free(huge);

	/* random bytes, and random base64url text of every length up to past the longest */
	for (int t = 0; t < 20000; t++) {
		size_t n = (size_t)(rng() % (LINKTOKEN_MAX_CHARS + 20));
		int b64 = t % 2;

		for (size_t i = 0; i < n; i++) {
			uint64_t r = rng();

			buf[i] = b64 ? alphabet[r % 64] : (char)(1 + r % 255);
		}
		buf[n] = '\0';
		passed += linktoken_verify(&key, buf, last, ALL_PURPOSES, &c) == LINKTOKEN_OK;
	}
	tap_int(passed, 0, "garbage: none of 20000 random strings is accepted");
	/* random bytes after a version byte of 1: the shapes that reach the MAC */
	passed = 0;
	for (int t = 0; t < 5000; t++) {
		unsigned char raw[LINKTOKEN_MAX_BYTES];
		size_t n = 1 + (size_t)(rng() % LINKTOKEN_MAX_BYTES);

		for (size_t i = 0; i < n; i++)
			raw[i] = (unsigned char)rng();
		raw[0] = 1;
		if (n > 42)
			raw[42] = (unsigned char)(n > 75 ? n - 75 : 1);
		encode(raw, n, buf);
		passed += linktoken_verify(&key, buf, last, ALL_PURPOSES, &c) == LINKTOKEN_OK;
	}
	tap_int(passed, 0, "garbage: none of 5000 random version-1 shapes is accepted");
	linktoken_key_clear(&key);
}

static void test_sign_errors(void)
{
	struct linktoken_key key, none;
	char tok[LINKTOKEN_BUF], err[256], long_who[300];

	key_or_die(&key, SECRET);
	memset(&none, 0, sizeof(none));
	tap_int(linktoken_sign(&none, LINKTOKEN_LINK_OPEN, FP, WHO, 1, tok, err, sizeof(err)), -1,
		"sign: no key");
	tap_int(linktoken_sign(&key, (enum linktoken_purpose)0, FP, WHO, 1, tok, err, sizeof(err)),
		-1, "sign: purpose 0");
	tap_int(linktoken_sign(&key, (enum linktoken_purpose)7, FP, WHO, 1, tok, err, sizeof(err)),
		-1, "sign: purpose 7");
	tap_int(linktoken_sign(&key, LINKTOKEN_LINK_OPEN, "abc", WHO, 1, tok, err, sizeof(err)), -1,
		"sign: a short fingerprint");
	tap_contains(err, "fingerprint", "sign: the message names the fingerprint");
	tap_int(linktoken_sign(&key, LINKTOKEN_LINK_OPEN,
			       "zz86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", WHO,
			       1, tok, err, sizeof(err)),
		-1, "sign: a fingerprint that is not hex");
	tap_int(linktoken_sign(&key, LINKTOKEN_LINK_OPEN, FP, "no at sign", 1, tok, err,
			       sizeof(err)),
		-1, "sign: not an address");
	tap_contains(err, "recipient", "sign: the message names the recipient");
	tap_int(linktoken_sign(&key, LINKTOKEN_LINK_OPEN, FP, NULL, 1, tok, err, sizeof(err)), -1,
		"sign: no recipient");
	memset(long_who, 'a', 255);
	long_who[10] = '@';
	long_who[255] = '\0';
	tap_int(linktoken_sign(&key, LINKTOKEN_LINK_OPEN, FP, long_who, 1, tok, err, sizeof(err)),
		-1, "sign: a 255-byte address");
	tap_str(tok, "", "sign: a refused token is empty");
	linktoken_key_clear(&key);
}

static void test_words(void)
{
	int distinct = 1;

	for (int a = LINKTOKEN_OK; a <= LINKTOKEN_WRONG_PURPOSE; a++)
		for (int b = a + 1; b <= LINKTOKEN_WRONG_PURPOSE; b++)
			distinct &= strcmp(linktoken_status_text((enum linktoken_status)a),
					   linktoken_status_text((enum linktoken_status)b)) != 0 &&
				    strcmp(linktoken_status_name((enum linktoken_status)a),
					   linktoken_status_name((enum linktoken_status)b)) != 0;
	tap_ok(distinct, "words: each status has its own sentence and name");
	tap_contains(linktoken_status_text(LINKTOKEN_EXPIRED), "expired", "words: expired");
	tap_contains(linktoken_status_text(LINKTOKEN_ALTERED), "changed", "words: altered");
	tap_contains(linktoken_status_text(LINKTOKEN_TRUNCATED), "incomplete", "words: truncated");
	tap_str(linktoken_status_name(LINKTOKEN_FOREIGN), "foreign", "words: a name for metrics");
}

int main(void)
{
	test_key();
	test_key_load();
	test_format();
	test_round_trip();
	test_expiry_and_purpose();
	test_foreign_and_altered();
	test_truncated_and_version();
	test_garbage();
	test_sign_errors();
	test_words();
	return tap_status();
}
