/* formtoken: the answer forms' anti-forgery token, an HMAC bound to person, alert, answer, day. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "driftwatch/formtoken.h"
#include "driftwatch/linktoken.h"
#include "driftwatch/strbuf.h"

#define FORMTOKEN_LABEL "driftwatch page form 1"
#define FORMTOKEN_MAC_LEN 32

/* HMAC over the label and the fields, each ended by a NUL (no field holds one), so that no two
 * sets of fields give the same message. */
static int formtoken_mac(const struct linktoken_key *key, const char *person,
			 const char *fingerprint, enum formtoken_purpose purpose, int32_t day,
			 unsigned char mac[FORMTOKEN_MAC_LEN])
{
	struct strbuf msg;
	unsigned int got = 0;
	int ok;

	if (!key || !person || !fingerprint)
		return -1;
	strbuf_init(&msg);
	strbuf_appendn(&msg, FORMTOKEN_LABEL, sizeof(FORMTOKEN_LABEL));
	strbuf_appendn(&msg, person, strlen(person) + 1);
	strbuf_appendn(&msg, fingerprint, strlen(fingerprint) + 1);
	strbuf_printf(&msg, "%d", (int)purpose);
	strbuf_appendn(&msg, "", 1);
	strbuf_printf(&msg, "%ld", (long)day);
	ok = !msg.failed && HMAC(EVP_sha256(), key->secret, (int)key->len,
				 (const unsigned char *)msg.buf, msg.len, mac, &got) &&
	     got == FORMTOKEN_MAC_LEN;
	strbuf_free(&msg);
	return ok ? 0 : -1;
}

int formtoken_make(const struct linktoken_key *key, const char *person, const char *fingerprint,
		   enum formtoken_purpose purpose, int32_t day, char out[FORMTOKEN_BUF])
{
	unsigned char mac[FORMTOKEN_MAC_LEN];
	int n;

	out[0] = '\0';
	if (formtoken_mac(key, person, fingerprint, purpose, day, mac) < 0)
		return -1;
	n = snprintf(out, FORMTOKEN_BUF, "%ld.", (long)day);
	for (size_t i = 0; i < sizeof(mac); i++)
		n += snprintf(out + n, FORMTOKEN_BUF - (size_t)n, "%02x", mac[i]);
	return 0;
}

/* The day a token names, or -1 when its text is not "DAY." followed by 64 lower-case hex. */
static int formtoken_parse(const char *token, int32_t *day, unsigned char mac[FORMTOKEN_MAC_LEN])
{
	char *end;
	long d;

	if (!token || !*token)
		return -1;
	errno = 0;
	d = strtol(token, &end, 10);
	if (errno || end == token || *end != '.' || d < INT32_MIN || d > INT32_MAX ||
	    strlen(end + 1) != 2 * FORMTOKEN_MAC_LEN)
		return -1;
	for (size_t i = 0; i < FORMTOKEN_MAC_LEN; i++) {
		unsigned v;

		if (!strchr("0123456789abcdef", end[1 + 2 * i]) ||
		    !strchr("0123456789abcdef", end[2 + 2 * i]) ||
		    sscanf(end + 1 + 2 * i, "%2x", &v) != 1)
			return -1;
		mac[i] = (unsigned char)v;
	}
	*day = (int32_t)d;
	return 0;
}

int formtoken_check(const struct linktoken_key *key, const char *token, const char *person,
		    const char *fingerprint, enum formtoken_purpose purpose, int32_t today)
{
	unsigned char got[FORMTOKEN_MAC_LEN], want[FORMTOKEN_MAC_LEN];
	int32_t day;

	if (formtoken_parse(token, &day, got) < 0 || (day != today && day != today - 1))
		return -1;
	if (formtoken_mac(key, person, fingerprint, purpose, day, want) < 0)
		return -1;
	return CRYPTO_memcmp(got, want, sizeof(want)) == 0 ? 0 : -1;
}
