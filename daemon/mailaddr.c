/* mailaddr: one check of an email address, shared by routing (what to fall back from) and mail. */
#include <string.h>

#include "driftwatch/mailaddr.h"

static int mailaddr_no(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return 0;
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
	return 1;
}
