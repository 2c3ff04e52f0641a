/* urlcheck: a configured URL is read by libcurl's own parser when the configuration is read. */
#include <string.h>

#include <curl/curl.h>

#include "driftwatch/urlcheck.h"

/* --check-config passed smtp://:587, a port of 99999 and an IPv6 address missing its "]"; the
 * daemon then held every email (the operators' reports too) with "not a URL libcurl accepts",
 * and retried webhooks to such URLs for days as if their receivers were down (audit 16). The
 * parser that will send is the one asked. */
static const char *urlcheck_port(CURLU *u)
{
	char *port = NULL;
	const char *why = NULL;

	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && port && strcmp(port, "0") == 0)
		why = "must be a URL whose port is a number from 1 to 65535";
	curl_free(port);
	return why;
}

const char *urlcheck_problem(const char *url)
{
	const char *sep = strstr(url, "://");
	char *host = NULL;
	const char *why = NULL;
	CURLUcode rc;
	CURLU *u;

	/* libcurl reads "https:///x" as host x: a slash too many is no host */
	if (sep && sep[3] == '/')
		return "must be a URL with a host";
	u = curl_url();
	if (!u)
		return NULL;   /* out of memory: the sending says so, with the URL's key */
	rc = curl_url_set(u, CURLUPART_URL, url, 0);
	if (rc == CURLUE_BAD_PORT_NUMBER)
		why = "must be a URL whose port is a number from 1 to 65535";
	else if (rc == CURLUE_NO_HOST)
		why = "must be a URL with a host";
	else if (rc != CURLUE_OK)
		why = "must be a URL libcurl can read (look at an IPv6 address's brackets, the port "
		      "and stray characters)";
	else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !host || !*host)
		why = "must be a URL with a host";
	else
		why = urlcheck_port(u);
	curl_free(host);
	curl_url_cleanup(u);
	return why;
}
