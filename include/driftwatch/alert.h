/* alert: one alert as the rules yield it, and its JSON form (ALERTS.md, "The notice as data"). */
#ifndef DRIFTWATCH_ALERT_H
#define DRIFTWATCH_ALERT_H

#include <jansson.h>

struct rule_def;
struct config_addresses;

/* Everyone a recipient role could resolve to, fetched by SQL joins with the rule's rows. */
struct alert_contacts {
	char *alloc_worker_id;    /* current allocation's worker; NULL = no open allocation */
	char *alloc_worker_email;
	char *supervisor_id;      /* that worker's supervisor_id */
	char *supervisor_email;
	char *team_manager_email; /* that worker's team's manager_email */
	char *team_webhook_url;   /* that worker's team's webhook_url */
	char *chair_id;           /* the plan's chair_id */
	char *chair_email;
};

struct alert {
	const struct rule_def *rule;
	int stage;                /* index into rule->stages */
	char *child_id;
	char *subject_id;         /* NULL for rules with no subject */
	char *family_id;          /* NULL when unknown */
	char *fingerprint;
	char *as_of;              /* YYYY-MM-DD */
	char *since;              /* YYYY-MM-DD */
	json_t *facts;            /* object */
	struct alert_contacts contacts;
	json_t *recipients;       /* array of {role, worker_id, email} */
	char *link;               /* NULL when no link_template */
	char *summary;
	int used_fallback;        /* a role resolved to the fallback address */
	int unroutable;           /* no address at all for some role: fallback not configured */
	/* Set by alert_compact: facts and recipients as JSON text (the trees above are then NULL
	 * until alert_load), and the one allocation every string of the alert lives in. */
	char *facts_text;
	char *recipients_text;
	char *block;
};

void alert_free(struct alert *a);

/* An evaluation holds every alert until it is recorded, and a parsed facts object costs about
 * ten times its text: this keeps facts and recipients as compact JSON text and moves every
 * string into one allocation (a->facts and a->recipients become NULL); the summary is dropped
 * (a->summary NULL), as the rule words it again from the facts. The alert reads the same
 * through alert_to_json. Returns 0, or -1 when memory ran out (a is left usable, not compacted). */
int alert_compact(struct alert *a);

/* Parses a compacted alert's facts and recipients back into a->facts and a->recipients, for
 * code that reads the trees (summaries, routing); a no-op for an alert never compacted.
 * alert_unload drops the trees again. Returns 0, or -1 when the text could not be parsed. */
int alert_load(struct alert *a);
void alert_unload(struct alert *a);

/* The alert as the JSON object of ALERTS.md, with "status" set to status (compacted or not).
 * New reference. */
json_t *alert_to_json(const struct alert *a, const char *status);

/* Resolves roles (NULL-terminated) to recipients by RULES.md "Recipients": fills
 * a->recipients, a->used_fallback and a->unroutable. Returns 0, or -1 on allocation failure.
 * This and alert_build_link are for an alert not yet compacted. */
int alert_resolve_recipients(struct alert *a, const char *const *roles,
			     const struct config_addresses *addr);

/* Fills a->link from template ("{child_id}" replaced, URL-escaped). */
int alert_build_link(struct alert *a, const char *link_template);

#endif
