/* mailaddr: one check of an email address, shared by routing (what to fall back from) and mail. */
#include <string.h>

#include "driftwatch/mailaddr.h"

static int mailaddr_no(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return 0;
}

/* RFC 5321's dot-string: no dot first, last or twice in a row. A mail server refuses the
 * others ("501 5.1.3 Bad recipient address syntax"), and that refusal is for good, where an
 * address driftwatch cannot use goes to the fallback. */
static int mailaddr_dot_atom(const char *s, const char *end)
{
	if (*s == '.' || end[-1] == '.')
		return 0;
	for (const char *p = s; p + 1 < end; p++)
		if (p[0] == '.' && p[1] == '.')
			return 0;
	return 1;
}

/* Labels of letters, digits and hyphens (not first or last), 1 to 63 each, joined by dots. */
static int mailaddr_domain(const char *d)
{
	size_t len = 0;
	char prev = '.';

	for (const char *p = d;; p++) {
		char c = *p;

		if (c == '.' || c == '\0') {
			if (len == 0 || len > 63 || prev == '-')
				return 0;
			if (c == '\0')
				return 1;
			len = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && len > 0)) {
			len++;
		} else {
			return 0;
		}
		prev = c;
	}
}

int mailaddr_usable(const char *a, const char **why)
{
	const char *at;

	if (!a || !*a)
		return mailaddr_no(why, "is empty");
	if (strlen(a) > 254)
		return mailaddr_no(why, "is longer than 254 bytes");
	for (const unsigned char *p = (const unsigned char *)a; *p; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return mailaddr_no(why, "holds a line break or another control character");
		if (*p >= 0x80)
			return mailaddr_no(why, "holds characters outside ASCII");
		if (*p == ' ' || strchr("<>(),;:\"\\[]", *p))
			return mailaddr_no(why, "holds a space, a quote, a bracket or a separator");
	}
	at = strrchr(a, '@');
	if (!at || at == a || !at[1] || strchr(a, '@') != at)
		return mailaddr_no(why, "is not one name, an @ and a domain");
	if (!mailaddr_dot_atom(a, at))
		return mailaddr_no(why, "has a name with a dot at its start or end, or two in a row");
	if (!mailaddr_domain(at + 1))
		return mailaddr_no(why, "has a domain that is not labels of letters, digits and "
				   "hyphens joined by dots");
	return 1;
}
