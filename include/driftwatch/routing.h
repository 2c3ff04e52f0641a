/* routing: where an alert's notices go: each recipient's email, and each webhook for its rule. */
#ifndef DRIFTWATCH_ROUTING_H
#define DRIFTWATCH_ROUTING_H

#include <jansson.h>

struct alert;
struct dw_config;

/* [{channel: "email"|"webhook", destination, role}], one entry per distinct destination.
 * Emails come from the resolved recipients; webhooks from the configured list (filtered by
 * rule) and the team's webhook_url (signed with team_webhook_secret_file when it is set, as ALERTS.md
 * has it; unless team_webhooks.allowed_hosts refuses it). New reference, or NULL when memory
 * ran out. */
json_t *routing_destinations(const struct alert *a, const struct dw_config *cfg);

/* The configured webhooks (webhooks[], not a team's) that want rule's alerts, as a JSON array of
 * routing_destinations' entries, to free: what an alert resolved now is told through, whatever
 * webhooks it was recorded with (a URL since rotated would never be signed). NULL when memory
 * ran out. */
char *routing_rule_webhooks(const struct dw_config *cfg, const char *rule);

/* Why the team's webhook_url of a (from the case data) is not used, or NULL when it is used or
 * there is none to use. Only where team_webhooks.allowed_hosts is given: the URL not https, or
 * its host not in it, or loopback or link-local not named there. */
const char *routing_team_refused(const struct alert *a, const struct dw_config *cfg);

/* The text whose change makes a still-firing alert news again ("alert.updated"); "" when
 * only a stage change is news for the rule. Malloc'd. */
char *routing_notify_key(const struct alert *a);

#endif
