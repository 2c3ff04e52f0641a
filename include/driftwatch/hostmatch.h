/* hostmatch: whether a webhook URL from the case data may be posted to, by the configured hosts. */
#ifndef DRIFTWATCH_HOSTMATCH_H
#define DRIFTWATCH_HOSTMATCH_H

/* A pattern of team_webhooks.allowed_hosts: a host name ("hooks.slack.com"), "*." and a domain
 * ("*.webhook.office.com": any name under it, not the domain itself), an IPv4 address or an
 * IPv6 one in brackets; or "http://" and one exact host, which allows plain http to that host
 * (a receiver in the council's own network without TLS). Letters are compared without case.
 * 1 when well formed, else 0. */
int hostmatch_pattern_ok(const char *pattern);

/* 1 when url may be posted to: https (or http to a host named "http://HOST"), no user name or password in it, and a host that matches
 * one of patterns (NULL-terminated; NULL or empty allows nothing); a loopback or link-local
 * host (127.0.0.0/8, ::1, 169.254.0.0/16, fe80::/10, 0.0.0.0, localhost) only when a pattern
 * names it exactly. Else 0, with *why saying what is wrong. */
int hostmatch_url(const char *url, char *const *patterns, const char **why);

/* 1 when a pattern names url's host exactly (not by "*."): the administrator chose that host,
 * so it may resolve to any address. Else 0: a host allowed by "*." is refused at connect time
 * when its name resolves to a loopback or link-local address (hostmatch_addr_local), so that a
 * name under an allowed domain pointed at 127.0.0.1 cannot reach this machine. */
int hostmatch_named_exactly(const char *url, char *const *patterns);

struct sockaddr;
/* 1 when sa is a loopback, link-local or unspecified address (IPv4, IPv6, IPv4-mapped). */
int hostmatch_addr_local(const struct sockaddr *sa);

#endif
