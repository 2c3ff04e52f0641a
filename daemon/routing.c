/* routing: fans an alert out to destinations; pure, so the rules of who hears what are testable. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/hostmatch.h"
#include "driftwatch/routing.h"
#include "driftwatch/rule.h"

static int routing_has(const json_t *list, const char *channel, const char *dest)
{
	size_t i;
	json_t *d;

	json_array_foreach(list, i, d) {
		if (strcmp(json_string_value(json_object_get(d, "channel")), channel) == 0 &&
		    strcmp(json_string_value(json_object_get(d, "destination")), dest) == 0)
			return 1;
	}
	return 0;
}

/* An email address is one person whatever its case (RESPONSES.md): the case data spelling one
 * as w1@la.example and another as W1@LA.Example gave that person two digests, and an alert
 * naming both of them twice. Kept in lower case, they are one destination and one digest. */
static char *routing_dest(const char *channel, const char *dest)
{
	char *d = strdup(dest);

	if (d && strcmp(channel, "email") == 0)
		for (char *p = d; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	return d;
}

static int routing_add(json_t *list, const char *channel, const char *dest, const char *role)
{
	json_t *d;
	char *shown;

	if (!dest)
		return 0;
	if (!(shown = routing_dest(channel, dest)))
		return -1;
	if (routing_has(list, channel, shown)) {
		free(shown);
		return 0;
	}
	d = json_pack("{s:s, s:s, s:o}", "channel", channel, "destination", shown, "role",
		      role ? json_string(role) : json_null());
	free(shown);
	return d ? json_array_append_new(list, d) : -1;
}

static int routing_rule_wanted(char *const *rules, const char *name)
{
	if (!rules)
		return 1;
	for (size_t i = 0; rules[i]; i++)
		if (strcmp(rules[i], name) == 0)
			return 1;
	return 0;
}

json_t *routing_destinations(const struct alert *a, const struct dw_config *cfg)
{
	json_t *list = json_array();
	size_t i;
	json_t *r;
	int rc = 0;

	if (!list)
		return NULL;
	/* With no "email" section nobody is emailed: writing notices no one will send would
	 * only fill the outbox and the logs. */
	json_array_foreach(a->recipients, i, r) {
		if (!cfg->email.enabled)
			break;
		rc |= routing_add(list, "email", json_string_value(json_object_get(r, "email")),
				  json_string_value(json_object_get(r, "role")));
	}
	for (i = 0; i < cfg->n_webhooks; i++)
		if (routing_rule_wanted(cfg->webhooks[i].rules, a->rule->name))
			rc |= routing_add(list, "webhook", cfg->webhooks[i].url, NULL);
	/* ALERTS.md: each team's webhook_url receives its alerts, signed when
	 * team_webhook_secret_file is set; where team_webhooks.allowed_hosts is given, only to a
	 * host it allows (routing_team_refused). */
	if (a->contacts.team_webhook_url && !routing_team_refused(a, cfg))
		rc |= routing_add(list, "webhook", a->contacts.team_webhook_url, "team");
	if (rc) {
		json_decref(list);
		return NULL;
	}
	return list;
}

const char *routing_team_refused(const struct alert *a, const struct dw_config *cfg)
{
	const char *why = NULL;

	if (!a->contacts.team_webhook_url)
		return NULL;
	/* ALERTS.md: each team's webhook_url receives its alerts. An authority may bound where
	 * (team_webhooks.allowed_hosts); a URL refused is not dropped in silence: the operators
	 * hear why, once per URL. */
	if (!cfg->team_hosts_limited)
		return NULL;
	if (hostmatch_url(a->contacts.team_webhook_url, cfg->team_allowed_hosts, &why))
		return NULL;
	return why;
}

char *routing_notify_key(const struct alert *a)
{
	const json_t *v;

	if (!a->rule->notify_fact)
		return strdup("");
	v = json_object_get(a->facts, a->rule->notify_fact);
	if (!v)
		return strdup("");
	return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
}

char *routing_rule_webhooks(const struct dw_config *cfg, const char *rule)
{
	json_t *list = json_array();
	char *text;
	int rc = 0;

	if (!list)
		return NULL;
	for (size_t i = 0; i < cfg->n_webhooks; i++)
		if (routing_rule_wanted(cfg->webhooks[i].rules, rule))
			rc |= routing_add(list, "webhook", cfg->webhooks[i].url, NULL);
	text = rc ? NULL : json_dumps(list, JSON_COMPACT);
	json_decref(list);
	return text;
}
