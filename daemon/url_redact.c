/* url_redact: shows a URL as scheme://host[:port]/path, so no credential in it reaches a log. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/url_redact.h"

#define URL_UNREADABLE "(unreadable)"
#define URL_CUT "..."
/* A part of a URL shorter than this is too common to hunt for in a message. */
#define URL_SECRET_MIN 3

/* Where each part of a URL lies in it: [start, start + len). */
struct url_part {
	const char *s;
	size_t n;
};

struct url_parts {
	struct url_part scheme;     /* without "://"; n == 0 when there is none */
	struct url_part userinfo;   /* without the '@' */
	struct url_part host;
	struct url_part port;       /* without the ':' */
	int colon;                  /* a ':' before the port, even an empty one */
	struct url_part path;
	struct url_part query;      /* without the '?' */
	struct url_part fragment;   /* without the '#' */
	int readable;
};

static int url_is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static int url_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int url_is_scheme_char(char c)
{
	return url_is_alpha(c) || url_is_digit(c) || c == '+' || c == '-' || c == '.';
}

/* The length of the scheme when s starts with "scheme://", else 0. */
static size_t url_scheme_len(const char *s, size_t n)
{
	size_t i = 0;

	if (n == 0 || !url_is_alpha(s[0]))
		return 0;
	while (i < n && url_is_scheme_char(s[i]))
		i++;
	return n - i >= 3 && memcmp(s + i, "://", 3) == 0 ? i : 0;
}

/* RFC 3986 reg-name characters (unreserved, percent sign, sub-delims). */
static int url_is_host_char(char c)
{
	return url_is_alpha(c) || url_is_digit(c) || (c && strchr("-._~%!$&'()*+,;=", c));
}

/* An IP literal's inside: hex digits, ':', '.', and a zone ("%25eth0"). */
static int url_is_literal_char(char c)
{
	return url_is_alpha(c) || url_is_digit(c) || (c && strchr(":.%-_~", c));
}

static int url_all(const struct url_part *p, int (*ok)(char))
{
	for (size_t i = 0; i < p->n; i++)
		if (!ok(p->s[i]))
			return 0;
	return 1;
}

static const char *url_memrchr(const char *s, size_t n, char c)
{
	while (n > 0)
		if (s[--n] == c)
			return s + n;
	return NULL;
}

/* host[:port] or [literal][:port] from an authority without its userinfo. */
static int url_split_hostport(const char *s, size_t n, struct url_parts *p)
{
	const char *colon;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);

		if (!close)
			return 0;
		p->host.s = s;
		p->host.n = (size_t)(close - s) + 1;
		if (p->host.n < n && s[p->host.n] != ':')
			return 0;
		colon = p->host.n < n ? s + p->host.n : NULL;
		if (!url_all(&(struct url_part){ s + 1, p->host.n - 2 }, url_is_literal_char))
			return 0;
	} else {
		colon = url_memrchr(s, n, ':');
		p->host.s = s;
		p->host.n = colon ? (size_t)(colon - s) : n;
		if (!url_all(&p->host, url_is_host_char))
			return 0;
	}
	if (colon) {
		p->colon = 1;
		p->port.s = colon + 1;
		p->port.n = n - (size_t)(colon + 1 - s);
	}
	return p->port.n <= 5 && url_all(&p->port, url_is_digit);
}

static void url_split(const char *url, struct url_parts *p)
{
	size_t n = strlen(url), pre = strcspn(url, "?#"), at;
	const char *rest = url, *auth_end, *mark;

	memset(p, 0, sizeof(*p));
	if (pre < n && url[pre] == '?') {
		p->query.s = url + pre + 1;
		p->query.n = strcspn(p->query.s, "#");
	}
	mark = strchr(url + pre, '#');
	if (mark) {
		p->fragment.s = mark + 1;
		p->fragment.n = strlen(mark + 1);
	}
	p->scheme.s = url;
	p->scheme.n = url_scheme_len(url, pre);
	if (p->scheme.n)
		rest = url + p->scheme.n + 3;
	/* a backslash ends the authority too: some parsers take it for a slash */
	auth_end = rest + strcspn(rest, "/\\");
	if (auth_end > url + pre)
		auth_end = url + pre;
	/* the last '@' before the path: a password may hold an '@' of its own */
	mark = url_memrchr(rest, (size_t)(auth_end - rest), '@');
	if (mark) {
		p->userinfo.s = rest;
		p->userinfo.n = (size_t)(mark - rest);
		rest = mark + 1;
	}
	p->path.s = auth_end;
	p->path.n = (size_t)(url + pre - auth_end);
	at = (size_t)(auth_end - rest);
	p->readable = url_split_hostport(rest, at, p);
}

/* Appends n bytes of s to out[*len], printable ASCII only, never past outsz - 1. */
static void url_put(char *out, size_t outsz, size_t *len, const char *s, size_t n)
{
	for (size_t i = 0; i < n && *len + 1 < outsz; i++) {
		unsigned char c = (unsigned char)s[i];

		out[(*len)++] = c < 0x21 || c >= 0x7f ? '?' : (char)c;
	}
	out[*len] = '\0';
}

/* Appends n bytes of s to out[*len] as they are, never past outsz - 1. */
static void url_copy(char *out, size_t outsz, size_t *len, const char *s, size_t n)
{
	if (*len + n >= outsz)
		n = outsz - 1 - *len;
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
}

char *url_redact(const char *url, char *out, size_t outsz)
{
	struct url_parts p;
	size_t len = 0;

	if (outsz == 0)
		return out;
	out[0] = '\0';
	if (!url || !*url) {
		url_put(out, outsz, &len, url ? "(empty)" : "(none)", url ? 7 : 6);
		return out;
	}
	url_split(url, &p);
	if (p.scheme.n) {
		url_put(out, outsz, &len, p.scheme.s, p.scheme.n);
		url_put(out, outsz, &len, "://", 3);
	}
	if (!p.readable) {
		url_put(out, outsz, &len, URL_UNREADABLE, strlen(URL_UNREADABLE));
		return out;
	}
	url_put(out, outsz, &len, p.host.s, p.host.n);
	if (p.colon) {
		url_put(out, outsz, &len, ":", 1);
		url_put(out, outsz, &len, p.port.s, p.port.n);
	}
	url_put(out, outsz, &len, p.path.s, p.path.n);
	return out;
}

/* ---- scrubbing messages ---- */

/* Copies text into out with every occurrence of needle replaced by "...". */
static void url_cut_all(const char *text, const struct url_part *needle, char *out,
			size_t outsz)
{
	size_t len = 0;

	out[0] = '\0';
	while (*text && len + 1 < outsz) {
		if (strncmp(text, needle->s, needle->n) == 0) {
			size_t k = strlen(URL_CUT);

			if (len + k >= outsz)
				break;
			memcpy(out + len, URL_CUT, k);
			len += k;
			text += needle->n;
			continue;
		}
		out[len++] = *text++;
	}
	out[len] = '\0';
}

static int url_token_end(char c)
{
	return c == '\0' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '"' ||
	       c == '\'' || c == '<' || c == '>' || c == '`';
}

/* Copies text into out with every scheme://... token shown as url_redact shows it. */
static void url_redact_tokens(const char *text, char *out, size_t outsz)
{
	size_t len = 0;
	const char *p = text;

	out[0] = '\0';
	while (*p && len + 1 < outsz) {
		const char *sep = strstr(p, "://"), *start, *end;
		char token[1024], shown[URL_SHOWN_MAX];
		size_t k;

		if (!sep) {
			url_copy(out, outsz, &len, p, strlen(p));
			break;
		}
		start = sep;
		while (start > p && url_is_scheme_char(start[-1]))
			start--;
		while (start < sep && !url_is_alpha(*start))
			start++;
		for (end = sep + 3; !url_token_end(*end); end++)
			;
		/* text before the token as it is (blanks included), then the token shown */
		k = (size_t)(start - p);
		if (len + k >= outsz)
			k = outsz - 1 - len;
		memcpy(out + len, p, k);
		len += k;
		out[len] = '\0';
		k = (size_t)(end - start);
		if (k >= sizeof(token))
			k = sizeof(token) - 1;
		memcpy(token, start, k);
		token[k] = '\0';
		url_redact(token, shown, sizeof(shown));
		url_put(out, outsz, &len, shown, strlen(shown));
		p = end;
	}
}

void url_scrub(char *text, size_t textsz, const char *source)
{
	char *tmp;

	if (!text || textsz == 0)
		return;
	tmp = malloc(textsz);
	if (!tmp) {
		/* no room to rewrite it: drop everything from the first URL on */
		char *sep = strstr(text, "://");

		if (sep)
			*sep = '\0';
		return;
	}
	if (source) {
		struct url_parts p;
		const struct url_part *secret[3];

		url_split(source, &p);
		secret[0] = &p.userinfo;
		secret[1] = &p.query;
		secret[2] = &p.fragment;
		for (size_t i = 0; i < 3; i++) {
			if (secret[i]->n < URL_SECRET_MIN)
				continue;
			url_cut_all(text, secret[i], tmp, textsz);
			memcpy(text, tmp, strlen(tmp) + 1);
		}
	}
	if (strstr(text, "://")) {
		url_redact_tokens(text, tmp, textsz);
		memcpy(text, tmp, strlen(tmp) + 1);
	}
	free(tmp);
}
