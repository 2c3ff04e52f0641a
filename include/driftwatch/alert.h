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
	char *team_id;            /* that worker's team_id: the alert's team (the API's team_id) */
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
	char *facts_text;         /* the same as the rule wrote it (UTF-8): what is written out */
	struct alert_contacts contacts;
	json_t *recipients;       /* array of {role, worker_id, email} */
	char *link;               /* NULL when no link_template */
	char *summary;
	int used_fallback;        /* a role resolved to the fallback address */
	int unroutable;           /* no address at all for some role: fallback not configured */
	int bad_addresses;        /* roles whose address in the case data cannot be used */
};

void alert_free(struct alert *a);

/* The stable identity of an alert: the hex SHA-256 of rule, child_id and subject_id ("" when
 * NULL) joined by the unit separator 0x1F, over the bytes as stored, whatever they are. */
#define ALERT_FINGERPRINT_LEN 64
int alert_fingerprint(const char *rule, const char *child_id, const char *subject_id,
		      char out[ALERT_FINGERPRINT_LEN + 1]);

/* A fingerprint as a caller wrote it (the first n bytes of s: a URL's path segment, a form's
 * field): 0 and out (lower case) when it is ALERT_FINGERPRINT_LEN hex digits, else -1. */
int alert_fingerprint_parse(const char *s, size_t n, char out[ALERT_FINGERPRINT_LEN + 1]);

/* The alert as the JSON object of ALERTS.md, with "status" set to status. New reference. */
json_t *alert_to_json(const struct alert *a, const char *status);

/* Appends the alert's JSON object, as json_dumps(alert_to_json(a, status), JSON_COMPACT, plus
 * JSON_ENSURE_ASCII when ascii is set) writes it, to sb; its facts are written from
 * a->facts_text when there is one (jsontext.h: without parsing them again). Returns 0, or -1
 * (sb as it was) when a value cannot be written. */
struct strbuf;
int alert_json_write(struct strbuf *sb, const struct alert *a, const char *status, int ascii);

/* Resolves roles (NULL-terminated) to recipients by RULES.md "Recipients": fills
 * a->recipients ([{role, worker_id, email}], plus "reason" when the fallback got it, saying
 * why, and "bad_address": the worker whose address in the case data cannot be used),
 * a->used_fallback, a->unroutable and a->bad_addresses. Returns 0, or -1 on allocation
 * failure. */
int alert_resolve_recipients(struct alert *a, const char *const *roles,
			     const struct config_addresses *addr);

/* Fills a->link from template ("{child_id}" replaced, URL-escaped). */
int alert_build_link(struct alert *a, const char *link_template);

#endif
