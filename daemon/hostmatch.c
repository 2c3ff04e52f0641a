/* hostmatch: team webhook URLs come from the case data, so where they may point is configuration. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "driftwatch/hostmatch.h"

#define HOSTMATCH_MAX 255

static int hostmatch_no(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return 0;
}

static int hostmatch_name_char(int c)
{
	return isalnum(c) || c == '-' || c == '.';
}

int hostmatch_pattern_ok(const char *p)
{
	size_t n;

	/* "http://HOST": plain http allowed for that host, named exactly */
	if (p && strncasecmp(p, "http://", 7) == 0)
		return strncmp(p + 7, "*.", 2) != 0 && hostmatch_pattern_ok(p + 7);
	n = p ? strlen(p) : 0;

	if (n == 0 || n > HOSTMATCH_MAX)
		return 0;
	if (p[0] == '[')
		return p[n - 1] == ']' && n > 2 && strspn(p + 1, "0123456789abcdefABCDEF:.") == n - 2;
	if (strncmp(p, "*.", 2) == 0)
		p += 2;
	if (!*p || *p == '.' || p[strlen(p) - 1] == '.')
		return 0;
	for (; *p; p++)
		if (!hostmatch_name_char((unsigned char)*p))
			return 0;
	return 1;
}

/* The host of an http(s) URL, lower-cased into host, and whether it is plain http; 0, or -1
 * with *why. */
static int hostmatch_host(const char *url, char *host, size_t size, int *plain,
			  const char **why)
{
	const char *h, *end, *at;
	size_t n;

	*plain = strncasecmp(url, "http://", 7) == 0;
	if (!*plain && strncasecmp(url, "https://", 8) != 0)
		return hostmatch_no(why, "is not an https:// URL") - 1;
	h = url + (*plain ? 7 : 8);
	end = h + strcspn(h, "/?#");
	at = memchr(h, '@', (size_t)(end - h));
	if (at)
		return hostmatch_no(why, "carries a user name or password") - 1;
	if (*h == '[') {
		const char *close = memchr(h, ']', (size_t)(end - h));

		if (!close)
			return hostmatch_no(why, "has a malformed IPv6 address") - 1;
		end = close + 1;
	} else {
		const char *colon = memchr(h, ':', (size_t)(end - h));

		if (colon)
			end = colon;
	}
	n = (size_t)(end - h);
	if (n == 0 || n >= size)
		return hostmatch_no(why, "has no host, or one too long") - 1;
	for (size_t i = 0; i < n; i++)
		host[i] = (char)tolower((unsigned char)h[i]);
	host[n] = '\0';
	return 0;
}

/* Loopback, link-local or unspecified: the daemon's own machine or its segment, where a
 * metadata service or an admin port may answer. */
static int hostmatch_local(const char *host)
{
	unsigned a, b;

	if (strcmp(host, "localhost") == 0 ||
	    (strlen(host) > 10 && strcmp(host + strlen(host) - 10, ".localhost") == 0))
		return 1;
	if (sscanf(host, "%u.%u.", &a, &b) == 2 && strspn(host, "0123456789.") == strlen(host))
		return a == 127 || a == 0 || (a == 169 && b == 254);
	if (host[0] == '[')
		return strcmp(host, "[::1]") == 0 || strcmp(host, "[::]") == 0 ||
		       strncmp(host, "[fe8", 4) == 0 || strncmp(host, "[fe9", 4) == 0 ||
		       strncmp(host, "[fea", 4) == 0 || strncmp(host, "[feb", 4) == 0 ||
		       strncmp(host, "[::ffff:127.", 12) == 0 ||
		       strncmp(host, "[::ffff:169.254.", 16) == 0;
	return 0;
}

static int hostmatch_one(const char *host, const char *pattern, int exact_only, int plain)
{
	size_t h = strlen(host), p;

	if (strncasecmp(pattern, "http://", 7) == 0)
		return strcasecmp(host, pattern + 7) == 0;
	if (plain)
		return 0;

	if (strcasecmp(host, pattern) == 0)
		return 1;
	if (exact_only || strncmp(pattern, "*.", 2) != 0)
		return 0;
	p = strlen(pattern) - 1; /* ".domain" */
	return h > p && strcasecmp(host + h - p, pattern + 1) == 0;
}

int hostmatch_url(const char *url, char *const *patterns, const char **why)
{
	char host[HOSTMATCH_MAX + 1];
	int local, plain;

	if (!url || hostmatch_host(url, host, sizeof(host), &plain, why) < 0)
		return url ? 0 : hostmatch_no(why, "is empty");
	local = hostmatch_local(host);
	for (size_t i = 0; patterns && patterns[i]; i++)
		if (hostmatch_one(host, patterns[i], local, plain))
			return 1;
	if (!patterns || !patterns[0])
		return hostmatch_no(why, "cannot be used: team_webhooks.allowed_hosts is empty");
	if (plain)
		return hostmatch_no(why, "is not an https:// URL, and team_webhooks.allowed_hosts "
				    "does not name its host as \"http://HOST\"");
	return hostmatch_no(why, local ? "points at this machine or its link (loopback or "
				  "link-local), which team_webhooks.allowed_hosts does not name"
				: "has a host that team_webhooks.allowed_hosts does not allow");
}

int hostmatch_named_exactly(const char *url, char *const *patterns)
{
	char host[HOSTMATCH_MAX + 1];
	const char *why;
	int plain;

	if (!url || hostmatch_host(url, host, sizeof(host), &plain, &why) < 0)
		return 0;
	for (size_t i = 0; patterns && patterns[i]; i++)
		if (hostmatch_one(host, patterns[i], 1, plain))
			return 1;
	return 0;
}

static int hostmatch_v4_local(const unsigned char *a)
{
	return a[0] == 127 || a[0] == 0 || (a[0] == 169 && a[1] == 254);
}

int hostmatch_addr_local(const struct sockaddr *sa)
{
	static const unsigned char mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const unsigned char *a;

	if (sa->sa_family == AF_INET)
		return hostmatch_v4_local((const unsigned char *)
					  &((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	if (sa->sa_family != AF_INET6)
		return 0;
	a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
	if (IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a) ||
	    IN6_IS_ADDR_UNSPECIFIED((const struct in6_addr *)a) ||
	    IN6_IS_ADDR_LINKLOCAL((const struct in6_addr *)a))
		return 1;
	return memcmp(a, mapped, sizeof(mapped)) == 0 && hostmatch_v4_local(a + 12);
}
