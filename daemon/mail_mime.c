/* mail_mime: RFC 5322 and MIME on the wire: encoded headers, quoted-printable, the parts. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "driftwatch/mail.h"
#include "driftwatch/mail_mime.h"
#include "driftwatch/strbuf.h"

#define MAIL_MIME_LINE_MAX 76  /* RFC 2045 and 2047: encoded lines stay within this */

int mail_mime_is_ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			return 0;
	return 1;
}

/* An ASCII value folded before spaces so no line passes MAIL_MIME_LINE_MAX (a longer word stays
 * whole: RFC 5322 allows up to 998). */
static void mail_header_folded(struct strbuf *out, const char *name, const char *value)
{
	size_t col = strlen(name) + 2;
	const char *p = value;

	strbuf_printf(out, "%s: ", name);
	while (*p) {
		const char *sp = strchr(p + 1, ' ');
		size_t word = sp ? (size_t)(sp - p) : strlen(p);

		if (p != value && *p == ' ' && col + word > MAIL_MIME_LINE_MAX) {
			strbuf_append(out, "\r\n");
			col = 0;
		}
		strbuf_appendn(out, p, word);
		col += word;
		p += word;
	}
	strbuf_append(out, "\r\n");
}

/* Base64 by OpenSSL (linked for signing anyway), in chunks so no length needs a big buffer. */
static void mail_base64(struct strbuf *out, const unsigned char *p, size_t n)
{
	unsigned char q[4 * 16 + 1];

	while (n > 0) {
		size_t take = n < 48 ? n : 48;
		int len = EVP_EncodeBlock(q, p, (int)take);

		strbuf_appendn(out, (const char *)q, (size_t)len);
		p += take;
		n -= take;
	}
}

/* A UTF-8 value as RFC 2047 "B" encoded-words, one per line, each ending on a character
 * boundary (a split character would decode as garbage in every mail reader). */
static void mail_header_encoded(struct strbuf *out, const char *name, const char *value)
{
	static const size_t overhead = sizeof("=?UTF-8?B?" "?=") - 1;
	const unsigned char *p = (const unsigned char *)value;
	size_t left = strlen(value);
	size_t indent = strlen(name) + 2;   /* "Subject: " on the first line, " " after */

	strbuf_printf(out, "%s: ", name);
	for (int first = 1; left > 0; first = 0) {
		size_t room = (MAIL_MIME_LINE_MAX - indent - overhead) / 4 * 3;
		size_t take = left < room ? left : room;

		/* back off from the middle of a multi-byte character (room is far above the 4
		 * bytes one can take, so take never reaches 0) */
		while (take < left && take > 1 && (p[take] & 0xc0) == 0x80)
			take--;
		if (!first)
			strbuf_append(out, "\r\n ");
		strbuf_append(out, "=?UTF-8?B?");
		mail_base64(out, p, take);
		strbuf_append(out, "?=");
		p += take;
		left -= take;
		indent = 1;
	}
	strbuf_append(out, "\r\n");
}

void mail_mime_header(struct strbuf *out, const char *name, const char *value)
{
	if (mail_mime_is_ascii(value))
		mail_header_folded(out, name, value);
	else
		mail_header_encoded(out, name, value);
}

/* The host part of From, kept to the characters a msg-id's right side may hold. */
static void mail_mime_host(struct strbuf *out, const char *from)
{
	size_t before = out->len;

	for (const char *p = strrchr(from, '@') + 1; *p; p++)
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-')
			strbuf_appendn(out, p, 1);
	if (out->len == before)
		strbuf_append(out, "localdomain");
}

/* RFC 5322 date in UTC, spelled without the C locale's help so it never depends on LANG. */
int mail_mime_date(time_t t, char *buf, size_t sz)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return -1;
	snprintf(buf, sz, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday], tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return 0;
}

/* Encodes text whose lines end in "\n" with CRLF line ends, soft breaks keeping every line
 * within MAIL_MIME_LINE_MAX, and spaces before a line end encoded so no transport can strip
 * them. */
void mail_mime_qp(struct strbuf *out, const char *text)
{
	size_t col = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		char tok[4];
		size_t len;
		int last = p[1] == '\n' || p[1] == '\0';

		if (*p == '\n') {
			strbuf_append(out, "\r\n");
			col = 0;
			continue;
		}
		if ((*p >= 33 && *p <= 126 && *p != '=') || ((*p == ' ' || *p == '\t') && !last)) {
			tok[0] = (char)*p;
			len = 1;
		} else {
			snprintf(tok, sizeof(tok), "=%02X", *p);
			len = 3;
		}
		/* the last token of a line may use the column a soft break's "=" would take */
		if (col + len > MAIL_MIME_LINE_MAX - (last ? 0 : 1)) {
			strbuf_append(out, "=\r\n");
			col = 0;
		}
		strbuf_appendn(out, tok, len);
		col += len;
	}
	if (col > 0)
		strbuf_append(out, "\r\n");
}

char *mail_mime_message_id(const char *hex, const char *from)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "<%.32s@driftwatch.", hex);
	mail_mime_host(&sb, from);
	strbuf_append(&sb, ">");
	return strbuf_take(&sb);
}

void mail_mime_headers(struct strbuf *m, const char *from, const char *to, const char *date,
		       const struct mail_message *out, const char *type, const char *boundary)
{
	strbuf_printf(m, "From: %s\r\n", from);
	strbuf_printf(m, "To: %s\r\n", to);
	strbuf_printf(m, "Date: %s\r\n", date);
	strbuf_printf(m, "Message-ID: %s\r\n", out->message_id);
	mail_mime_header(m, "Subject", out->subject);
	strbuf_append(m, "MIME-Version: 1.0\r\n");
	strbuf_printf(m, "Content-Type: %s;\r\n boundary=\"%s\"\r\n", type, boundary);
	/* RFC 3834, and Exchange's own switch: no out-of-office replies to a robot */
	strbuf_append(m, "Auto-Submitted: auto-generated\r\n");
	strbuf_append(m, "X-Auto-Response-Suppress: All\r\n");
	strbuf_append(m, "\r\n");
}

void mail_mime_part(struct strbuf *m, const char *boundary, const char *type,
		    const char *content)
{
	strbuf_printf(m, "--%s\r\n", boundary);
	strbuf_printf(m, "Content-Type: %s; charset=UTF-8\r\n", type);
	strbuf_append(m, "Content-Transfer-Encoding: quoted-printable\r\n\r\n");
	mail_mime_qp(m, content);
}

void mail_mime_nested(struct strbuf *m, const char *outer, const char *inner)
{
	strbuf_printf(m, "--%s\r\n", outer);
	strbuf_printf(m, "Content-Type: multipart/alternative;\r\n boundary=\"%s\"\r\n\r\n", inner);
}

void mail_mime_attachment(struct strbuf *m, const char *boundary, const char *type,
			  const char *filename, const char *data, size_t len)
{
	const unsigned char *p = (const unsigned char *)data;
	unsigned char line[MAIL_MIME_LINE_MAX + 1];

	strbuf_printf(m, "--%s\r\n", boundary);
	strbuf_printf(m, "Content-Type: %s; charset=UTF-8;\r\n name=\"%s\"\r\n", type, filename);
	strbuf_printf(m, "Content-Disposition: attachment;\r\n filename=\"%s\"\r\n", filename);
	strbuf_append(m, "Content-Transfer-Encoding: base64\r\n\r\n");
	/* its lines and the closing boundary that follows (mail_compose_body): the list is most
	 * of a large digest, whose buffer doubling took to 16 MB for 10 MB */
	strbuf_reserve(m, (len + 56) / 57 * 78 + strlen(boundary) + 8);
	/* 57 bytes make one line of 76 characters */
	while (len > 0) {
		size_t take = len < 57 ? len : 57;
		int n = EVP_EncodeBlock(line, p, (int)take);

		strbuf_appendn(m, (const char *)line, (size_t)n);
		strbuf_append(m, "\r\n");
		p += take;
		len -= take;
	}
}
