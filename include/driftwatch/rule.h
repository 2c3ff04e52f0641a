/* rule: what a rule is (name, options, stages, SQL, summary) and the registry of all rules. */
#ifndef DRIFTWATCH_RULE_H
#define DRIFTWATCH_RULE_H

#include <stdbool.h>
#include <stddef.h>

#define RULE_MAX_OPTS 8
#define RULE_MAX_STAGES 4
#define RULE_MAX_ROLES 6
#define RULE_REGISTRY_MAX 16

struct alert;
struct strbuf;
struct errlist;
struct config_rule;

/* An integer option under "rules": {"NAME": {KEY: value}}; also passed to the rule's SQL in
 * its params object under the same key. */
struct rule_opt {
	const char *key;
	int def;
	int min;
	int max;
	const char *doc;
};

/* A stage, lowest first. threshold_key names the integer under "stages": {"NAME": {...}}
 * (e.g. "months" or "count"), passed to SQL in the params object under the stage's name;
 * NULL when the stage has no threshold. */
struct rule_stage {
	const char *name;
	const char *threshold_key;
	int def_threshold;
	const char *default_roles[RULE_MAX_ROLES + 1]; /* NULL-terminated */
	const char *expected;   /* what is expected of the reader, e.g. "review in supervision" */
};

struct rule_def {
	const char *name;
	const char *doc;                    /* one line for --help and the README */
	const char *sql;                    /* rules/NAME.sql, embedded at build time */
	const struct rule_opt *opts;        /* n_opts entries */
	size_t n_opts;
	const struct rule_stage *stages;    /* n_stages entries, lowest first */
	size_t n_stages;
	bool uses_neglect_categories;       /* accepts "neglect_categories" */
	/* The fact whose change makes a firing alert news again ("alert.updated"), or NULL when
	 * only a higher stage is news. */
	const char *notify_fact;
	/* Cross-field checks (thresholds in order, windows sensible); adds to errs, may be NULL. */
	void (*check)(const struct config_rule *rc, const char *file, struct errlist *errs);
	/* One plain sentence a supervisor understands, from the alert's facts. */
	void (*summarize)(const struct alert *a, struct strbuf *out);
};

size_t rule_registry_count(void);
const struct rule_def *rule_registry_get(size_t i);
const struct rule_def *rule_registry_find(const char *name);

/* Index of a stage by name in def, or -1. */
int rule_stage_index(const struct rule_def *def, const char *stage);
/* Index of an option by key in def, or -1. */
int rule_opt_index(const struct rule_def *def, const char *key);

/* The roles a recipient list may name. */
bool rule_role_valid(const char *role);

#endif
