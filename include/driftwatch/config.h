/* config: the one JSON configuration file, validated into a struct with every default filled. */
#ifndef DRIFTWATCH_CONFIG_H
#define DRIFTWATCH_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driftwatch/calendar.h"
#include "driftwatch/chat.h"
#include "driftwatch/errlist.h"
#include "driftwatch/rule.h"

enum config_tls { CONFIG_TLS_STARTTLS, CONFIG_TLS_IMPLICIT, CONFIG_TLS_NONE };

struct config_webhook {
	char *url;
	char *secret;       /* inline "whsec_..." or NULL */
	char *secret_file;  /* absolute path ("credential:NAME" resolved at load), or NULL */
	char **rules;       /* NULL-terminated rule names; NULL = every rule */
	enum chat_format format; /* "format": standard (default), teams or slack (chat.h) */
};

struct config_addresses {
	char *fallback;        /* front door / duty team; NULL if not configured */
	char *cp_chair;
	char *cp_manager;
	char *head_of_service;
	char *operators;
};

struct config_email {
	bool enabled;          /* true when "email" is present */
	char *smtp_url;
	enum config_tls tls;
	char *from;
	char *username;
	char *password;        /* inline; discouraged */
	char *password_file;   /* absolute paths ("credential:NAME" resolved at load), or NULL */
	char *ca_file;
	bool verify_peer;      /* "verify": default true */
	bool send_resolved;    /* "send_resolved": default true */
	/* "digest_time": "HH:MM" local (cfg->timezone), default "08:00", as minutes after
	 * midnight; CONFIG_DIGEST_EACH (null) sends a digest after every evaluation. */
	int digest_minute;
	int urgent_delay_s;    /* "urgent_delay_seconds": default 300 */
	/* "digest_max_items": more new items than this in one digest, and it is a summary
	 * (issue 16); default 25 */
	int digest_max_items;
	/* "max_message_bytes": the largest message the mail server takes (default that of
	 * Postfix, 10,240,000): a capped digest's attached list is cut to fit */
	int max_message_bytes;
};

#define CONFIG_MAX_MESSAGE_BYTES 10240000

#define CONFIG_DIGEST_EACH (-1)

struct config_rule {
	const struct rule_def *def; /* the registry entry this configures */
	bool enabled;
	/* one int per rule_def option, in the def's order (thresholds, windows, gaps) */
	int opts[RULE_MAX_OPTS];
	/* per stage (def order): the stage's threshold_key value (months, count, ...), or 0 for
	 * a stage without one */
	int thresholds[RULE_MAX_STAGES];
	/* per stage (def order): NULL-terminated list of role names */
	char **roles[RULE_MAX_STAGES];
	/* per list option (def order): NULL-terminated strings, or NULL when not configured (the
	 * rule's default, e.g. "every kind") */
	char **lists[RULE_MAX_LIST_OPTS];
	/* NULL-terminated CP categories that count as neglect. Filled for every rule after a load,
	 * also those that do not accept the key, so each rule query has its $4: the rule's own list,
	 * else the configured list of the rule that shares its categories (rule.h), else
	 * {"NEG"}. */
	char **neglect_categories;
};

/* "web" (RESPONSES.md): links in notices, and the listener of the API and pages. */
struct config_web {
	char *public_url;       /* https URL without a trailing '/', or NULL: no links */
	char *link_secret_file; /* absolute path ("credential:NAME" resolved at load), or NULL;
				 * set exactly when public_url is */
	int link_days;          /* default 30: a link is good for this many days */
	char *listen;           /* "HOST:PORT", default NULL: off */
	char *api_tokens_file;  /* absolute path ("credential:NAME" resolved at load), or NULL:
				 * no bearer token is accepted (web_tokens.h) */
	char *user_header;      /* default "X-Forwarded-Email": the signed-in person's email,
				 * as the authority's single sign-on proxy passes it */
	char **trusted_proxies; /* NULL-terminated IP addresses (as inet_pton reads them) whose
				 * user_header is believed; NULL = nobody's */
	char **viewers;         /* NULL-terminated email addresses who see every alert; NULL =
				 * none beyond the configured addresses (visibility.h) */
};

/* One entry of "responses": {"escalate": [...]}: first match wins (escalation.h). */
struct config_escalate {
	char **rules;           /* NULL-terminated rule names; NULL = "*" */
	char **stages;          /* NULL-terminated stage names; NULL = "*" */
	int after_working_days;
	char **to;              /* NULL-terminated roles (escalation_role_valid) */
};

struct config_responses {
	int max_snooze_days;    /* default 90 */
	struct config_escalate *escalate; /* default: RESPONSES.md's two entries */
	size_t n_escalate;      /* 0 with an empty list: nothing is escalated */
};

/* "calendar", decoded by calendar_config_parse: use config_calendar for a struct calendar. */
struct config_calendar {
	enum calendar_region region; /* default england-and-wales */
	int32_t *closures;      /* ascending, no repeats; NULL when none */
	size_t n_closures;
};

struct dw_config {
	char *path;            /* the file this came from, for messages */
	char *conninfo;
	char *state_conninfo;  /* "state": {"conninfo"}: NULL = conninfo (config_state_conninfo) */
	char *case_schema;     /* default "casework" */
	char *state_schema;    /* default "driftwatch" */
	char *timezone;        /* default "Europe/London" */
	char *link_template;   /* default NULL: alerts carry no link */
	struct config_addresses addresses;
	struct config_email email;
	struct config_webhook *webhooks;
	size_t n_webhooks;
	char *team_webhook_secret_file; /* as secret_file */
	enum chat_format team_webhook_format; /* "team_webhooks": {"format"} (chat.h) */
	char **team_allowed_hosts; /* "team_webhooks": {"allowed_hosts"}: NULL-terminated host
				    * patterns (hostmatch.h); NULL = none */
	int team_hosts_limited;    /* allowed_hosts given (an empty list allows no host); absent:
				    * a team's webhook_url is used wherever it points (ALERTS.md) */
	char *http_listen;     /* default "127.0.0.1:9480"; NULL = off */
	int eval_interval_s;   /* "evaluation": {"interval_seconds"} default 300 */
	int takeover_s;        /* "evaluation": {"takeover_seconds"} default 10: how soon another
				* instance takes over evaluating when the active one dies */
	int query_timeout_s;   /* "database": {"query_timeout_seconds"} default 300 */
	int repeat_after_days; /* default 0 = never */
	int retention_days;    /* "retention": {"days"} default 400: delivered notices and
				* evaluations older than this are pruned */
	int stall_s;           /* "health": {"stall_seconds"} default 120: recording that makes no
				* progress this long makes /healthz say "degraded" */
	int delivery_max_age_h; /* "delivery": {"max_age_hours"} default 72: a notice is retried
				 * this long after it was first due, then failed and reported */
	int delivery_report_wait_s; /* "delivery": {"report_wait_seconds"} default 600: a report
				     * of failed notices waits this long for the rest of its
				     * incident (0: sent at once) */
	int delivery_lease_s;   /* "delivery": {"lease_seconds"} default 60: a claimed notice's
				 * lease, renewed while it is held; how long the notices of an
				 * instance that died wait for another */
	struct config_web web;
	struct config_responses responses;
	struct config_calendar calendar;
	struct config_rule rules[RULE_REGISTRY_MAX];
	size_t n_rules;        /* == rule_registry_count() */
	struct errlist notes;  /* what loading could not check (CONFIG_LOAD_CHECK), for people */
};

/* --check-config run by hand: a "credential:NAME" is checked for its form only when
 * $CREDENTIALS_DIRECTORY is unset (the service's credentials are not there), with a note in
 * cfg->notes, and the key keeps "credential:NAME" instead of a path. */
#define CONFIG_LOAD_CHECK 1u

/* The connection string of the database that keeps the state schema, the outbox and the leader
 * lock: state.conninfo, or database.conninfo when it is not set. */
const char *config_state_conninfo(const struct dw_config *cfg);

/* config_load with CONFIG_LOAD_* flags. */
int config_load_flags(const char *path, struct dw_config *cfg, struct errlist *errs,
		      unsigned flags);

/* Loads and validates path into *cfg (which is overwritten, not freed first). Every fault is
 * added to errs as "FILE: KEY: what is wrong". Returns 0 when nothing was wrong, else -1; either
 * way *cfg is safe to pass to config_free. A "credential:NAME" in a key naming a file is
 * resolved here through $CREDENTIALS_DIRECTORY (credentials.h), and that file must exist. */
int config_load(const char *path, struct dw_config *cfg, struct errlist *errs);

/* The same for a JSON text already in memory (used by tests); name is used in messages. */
int config_load_text(const char *name, const char *text, struct dw_config *cfg,
		     struct errlist *errs);

void config_free(struct dw_config *cfg);

/* The first configured rule whose neglect_categories the others share (rule.h,
 * shares_neglect_categories), or NULL when none is configured. */
const struct config_rule *config_categories_rule(const struct dw_config *cfg);

/* rc's neglect categories, or with rc NULL the shared list (the bad-row count's, and
 * --check-config's), as a text[] literal for a bound parameter: {NEG} when there is none.
 * Malloc'd; NULL when memory ran out. */
char *config_categories_param(const struct dw_config *cfg, const struct config_rule *rc);

/* The one rule for TLS and the SMTP URL: implicit TLS is what smtps:// means to libcurl, and
 * STARTTLS (or none) runs over smtp://. True when e's tls and smtp_url agree (and the URL has
 * one of the two schemes). The loader refuses a configuration where they do not; the sender
 * asks again only because a test may build a config_email by hand. */
bool config_email_tls_agrees(const struct config_email *e);

/* "tls": "none" to a host that is not this machine's loopback: ALERTS.md allows none "only for a
 * relay on the same host", since mail (children's identifiers) and the SMTP password would
 * cross a network in clear text. Said as a warning by --check-config and at start, not refused:
 * a relay on the same host may be reached by a name driftwatch cannot tell is local. */
bool config_email_clear_remote(const struct config_email *e);

/* The working-day calendar the configuration describes; it points into cfg. */
struct calendar config_calendar(const struct dw_config *cfg);

/* The configuration of the named rule, or NULL. */
const struct config_rule *config_rule_find(const struct dw_config *cfg, const char *name);

#endif
