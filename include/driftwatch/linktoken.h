/* linktoken: the signed, opaque token of a link in a notice (RESPONSES.md, "Links in notices"). */
#ifndef DRIFTWATCH_LINKTOKEN_H
#define DRIFTWATCH_LINKTOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "driftwatch/alert.h"

/*
 * A token names an alert (its fingerprint), the recipient the notice went to, what it is for
 * (a purpose) and the last day it is good for, and is signed with HMAC-SHA256 under the link
 * secret. It is signed, not encrypted: whoever holds the link can decode the fingerprint and the
 * address, which is the address the link was sent to. It travels as base64url without padding,
 * so it fits a URL path segment ({public_url}/r/{token}) without escaping.
 *
 * Version 1, before base64url (integers big-endian):
 *   [0]      version (1): a later format gets another number, and this one is refused as
 *            LINKTOKEN_VERSION rather than misread
 *   [1]      purpose (enum linktoken_purpose)
 *   [2..5]   key id: the first 4 bytes of HMAC-SHA256(secret, "driftwatch link key id"), which
 *            tells a token signed under another secret (another installation's, or the one
 *            before a rotation) from one altered in transit
 *   [6..9]   the last day it is good for, a day number (calendar.h), two's complement
 *   [10..41] the fingerprint's 32 bytes
 *   [42]     n, the recipient's length (1..LINKTOKEN_RECIPIENT_MAX)
 *   [43..]   the recipient's n bytes
 *   then     32 bytes of HMAC-SHA256(secret, everything before)
 *
 * Days are civil day numbers (calendar.h) in the daemon's time zone; the caller says what day
 * it is, so nothing here reads a clock. Nothing here keeps state between calls.
 */

#define LINKTOKEN_VERSION_1 1
/* mailaddr.h's limit for an address driftwatch sends to. */
#define LINKTOKEN_RECIPIENT_MAX 254
#define LINKTOKEN_MAC_LEN 32
#define LINKTOKEN_HEAD_LEN 43
#define LINKTOKEN_MIN_BYTES (LINKTOKEN_HEAD_LEN + 1 + LINKTOKEN_MAC_LEN)
#define LINKTOKEN_MAX_BYTES (LINKTOKEN_HEAD_LEN + LINKTOKEN_RECIPIENT_MAX + LINKTOKEN_MAC_LEN)
/* The longest token text (base64url, no padding) and the buffer that holds it with its NUL. */
#define LINKTOKEN_MAX_CHARS ((LINKTOKEN_MAX_BYTES * 4 + 2) / 3)
#define LINKTOKEN_BUF (LINKTOKEN_MAX_CHARS + 1)

/* A link secret: the text of web.link_secret_file (line ends trimmed, as secret.h reads it). At
 * least 32 bytes, so that it cannot be guessed (`openssl rand -base64 32` makes one); longer
 * than 1024 is a mistake (a wrong file). */
#define LINKTOKEN_SECRET_MIN 32
#define LINKTOKEN_SECRET_MAX 1024

/* What a token is for. A link opens a page (a GET, which never changes anything); a form token
 * is put in the page's form and only the POST of that form acts, so a mail scanner that opens
 * every link acknowledges nothing. Values are the byte in the token: never renumber them. */
enum linktoken_purpose {
	LINKTOKEN_LINK_OPEN = 1,        /* "Open": the child's page */
	LINKTOKEN_LINK_ACKNOWLEDGE = 2, /* "Acknowledge": a page with the acknowledge form */
	LINKTOKEN_LINK_SNOOZE = 3,      /* "Snooze": a page with the snooze form */
	LINKTOKEN_FORM_ACKNOWLEDGE = 4, /* the acknowledge form's POST */
	LINKTOKEN_FORM_SNOOZE = 5,      /* the snooze form's POST */
	LINKTOKEN_FORM_UNSNOOZE = 6,    /* the unsnooze form's POST */
};
#define LINKTOKEN_PURPOSE_MAX LINKTOKEN_FORM_UNSNOOZE
/* For linktoken_verify's accept: the purposes a handler takes, or'ed. */
#define LINKTOKEN_ACCEPT(p) (1u << (unsigned)(p))

/* Why a token was refused; each has its own words (linktoken_status_text). */
enum linktoken_status {
	LINKTOKEN_OK = 0,
	LINKTOKEN_MALFORMED,   /* not a token: empty, too long, or a character outside base64url */
	LINKTOKEN_TRUNCATED,   /* a token cut short (a mail program broke the line, say) */
	LINKTOKEN_VERSION,     /* a version of the format this release does not read */
	LINKTOKEN_FOREIGN,     /* signed with another secret */
	LINKTOKEN_ALTERED,     /* this secret's key id, but the signature does not match */
	LINKTOKEN_EXPIRED,     /* good, but its last day has passed */
	LINKTOKEN_WRONG_PURPOSE, /* good, but for something else (a link where a form is needed) */
};

/* The HMAC key and its id, from the secret. */
struct linktoken_key {
	unsigned char secret[LINKTOKEN_SECRET_MAX];
	size_t len;
	unsigned char id[4];
};

/* What a good token says. */
struct linktoken_claims {
	enum linktoken_purpose purpose;
	int32_t last_day;
	char fingerprint[ALERT_FINGERPRINT_LEN + 1];   /* lowercase hex */
	char recipient[LINKTOKEN_RECIPIENT_MAX + 1];
};

/* The key from len bytes of secret (LINKTOKEN_SECRET_MIN..LINKTOKEN_SECRET_MAX). 0, or -1 with
 * err saying what is wrong (never the secret). */
int linktoken_key_init(struct linktoken_key *key, const void *secret, size_t len, char *err,
		       size_t errsz);

/* linktoken_key_init with the secret in path (read by secret.h's one reader: a regular file,
 * line ends trimmed; one line). 0, or -1 with err starting "PATH: ". */
int linktoken_key_load(struct linktoken_key *key, const char *path, char *err, size_t errsz);

/* Wipes the key from memory. */
void linktoken_key_clear(struct linktoken_key *key);

/* Writes the token into out (NUL-terminated, at most LINKTOKEN_MAX_CHARS characters) for the
 * alert with fingerprint (ALERT_FINGERPRINT_LEN hex digits, either case; kept lowercase), sent
 * to recipient (an address mailaddr.h finds usable), good through last_day. 0, or -1 with err
 * naming the argument at fault. */
int linktoken_sign(const struct linktoken_key *key, enum linktoken_purpose purpose,
		   const char *fingerprint, const char *recipient, int32_t last_day,
		   char out[LINKTOKEN_BUF], char *err, size_t errsz);

/* Checks token (any bytes: NULL, empty, garbage, megabytes) under key on day today, for one of
 * the purposes in accept (LINKTOKEN_ACCEPT(p) | ...). The signature is compared in constant
 * time, and nothing a token says is believed before its signature is. LINKTOKEN_OK fills
 * *claims; any other status leaves it zeroed. A token is good through its last day. */
enum linktoken_status linktoken_verify(const struct linktoken_key *key, const char *token,
				       int32_t today, unsigned accept,
				       struct linktoken_claims *claims);

/* A plain sentence for a person about status, saying nothing about the alert ("This link has
 * expired. ..."). */
const char *linktoken_status_text(enum linktoken_status status);

/* A short name for logs and metrics ("expired"). */
const char *linktoken_status_name(enum linktoken_status status);

#endif
