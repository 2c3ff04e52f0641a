/* mail_mime: RFC 5322 and MIME on the wire: encoded headers, quoted-printable, the parts. */
#ifndef DRIFTWATCH_MAIL_MIME_H
#define DRIFTWATCH_MAIL_MIME_H

#include <stddef.h>
#include <time.h>

struct strbuf;
struct mail_message;

/* Whether s is printable ASCII only. */
int mail_mime_is_ascii(const char *s);

/* "Name: value" with CRLF: folded ASCII, or RFC 2047 encoded-words for UTF-8. */
void mail_mime_header(struct strbuf *out, const char *name, const char *value);

/* RFC 5322 date in UTC, whatever the locale; -1 when t is out of range. */
int mail_mime_date(time_t t, char *buf, size_t sz);

/* "<HEX@driftwatch.HOST>" from the first 32 characters of hex and the host of from (an
 * address with an '@'); NULL when out of memory. */
char *mail_mime_message_id(const char *hex, const char *from);

/* Text with "\n" line ends as quoted-printable with CRLF line ends. */
void mail_mime_qp(struct strbuf *out, const char *text);

/* The message's headers, with a body of type (multipart/alternative or multipart/mixed) and
 * boundary, and the empty line. */
void mail_mime_headers(struct strbuf *m, const char *from, const char *to, const char *date,
		       const struct mail_message *out, const char *type, const char *boundary);

/* A multipart/alternative of inner boundary as a part of outer's multipart/mixed. */
void mail_mime_nested(struct strbuf *m, const char *outer, const char *inner);

/* A file attached: type (an ASCII media type) with charset UTF-8, named filename (printable
 * ASCII, no quote or backslash), its len bytes in base64 lines of 76. */
void mail_mime_attachment(struct strbuf *m, const char *boundary, const char *type,
			  const char *filename, const char *data, size_t len);

/* One UTF-8 part of type, quoted-printable, after its boundary line. */
void mail_mime_part(struct strbuf *m, const char *boundary, const char *type,
		    const char *content);

#endif
