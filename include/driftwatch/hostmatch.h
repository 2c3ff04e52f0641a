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

#endif
