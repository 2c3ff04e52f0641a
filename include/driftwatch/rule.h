/* rule: what a rule is (name, options, stages, wording, SQL, summary) and the registry of all rules. */
#ifndef DRIFTWATCH_RULE_H
#define DRIFTWATCH_RULE_H

#include <stdbool.h>
#include <stddef.h>

#define RULE_MAX_OPTS 8
#define RULE_MAX_LIST_OPTS 2
#define RULE_MAX_STAGES 4
#define RULE_MAX_ROLES 6
#define RULE_REGISTRY_MAX 16

struct alert;
struct strbuf;
struct errlist;
struct config_rule;

/* An integer option under "rules": {"NAME": {KEY: value}}; also passed to the rule's SQL in
 * its options object ($5, :options) under the same key. */
struct rule_opt {
	const char *key;
	int def;
	int min;
	int max;
	const char *doc;
};

/* An option that is a list of strings under "rules": {"NAME": {KEY: ["a", "b"]}}. Absent
 * means the rule's default (doc says which); passed to SQL as a JSON array under the same
 * key, or JSON null when absent. */
struct rule_list_opt {
	const char *key;
	const char *doc;
};

/* How serious a stage is, most serious first: the order of a digest (issue 16). */
enum rule_seriousness {
	RULE_SERIOUS_ESCALATION = 1,  /* the 15- and 18-month CP escalations */
	RULE_SERIOUS_RETURN,          /* repeat CP plans, re-referral cycles */
	RULE_SERIOUS_MISSED,          /* a (vulnerable) child not brought */
	RULE_SERIOUS_HANDOVER,        /* a new worker on a neglect case */
	RULE_SERIOUS_DRIFT,           /* durations, churn, a single re-referral */
};

/* What is expected of the reader in one role at one stage. The list ends with role NULL,
 * whose text is for any other role (configuration may add roles to a stage). */
struct rule_expect {
	const char *role;
	const char *text;
};

/* A stage, lowest first. threshold_key names the integer under "stages": {"NAME": {...}}
 * (e.g. "months" or "count"), passed to SQL in the options object under the stage's name;
 * NULL when the stage has no threshold. */
struct rule_stage {
	const char *name;
	const char *threshold_key;
	int def_threshold;
	const char *default_roles[RULE_MAX_ROLES + 1]; /* NULL-terminated */
	/* How one alert at this stage, and several, read after a count in a digest's subject
	 * and headings: "CP escalation at 15 months", "CP escalations at 15 months". */
	const char *label;
	const char *label_many;
	/* ALERTS.md: an urgent stage is emailed within email.urgent_delay_seconds in a digest of
	 * its own instead of waiting for the daily one. */
	bool urgent;
	enum rule_seriousness seriousness;
	/* NULL-role entry last; at most RULE_MAX_ROLES named roles before it. */
	struct rule_expect expect[RULE_MAX_ROLES + 1];
};

/* Declares the three statements rules/embed_sql.sh makes of rules/NAME.sql: a rule's file says
 * RULE_SQL(NAME); and sets .sql = sql_NAME, .sql_incremental = sql_NAME_incremental,
 * .sql_lookup = sql_NAME_lookup. */
#define RULE_SQL(name)                                                                     \
	extern const char sql_##name[], sql_##name##_incremental[], sql_##name##_lookup[]

struct rule_def {
	const char *name;
	const char *doc;                    /* one line for --help and the README */
	/* What the rule finds, in a few plain words: a heading or a table's column on the pages
	 * ("Long CP plan for neglect"); doc says it in full. */
	const char *title;
	/* rules/NAME.sql, embedded at build time as a whole statement: for the whole population
	 * (or any children), and for a few given children (its incremental form; embed_sql.sh) */
	const char *sql;
	const char *sql_incremental;
	/* the full form with its "-- @lookup" semi-joins as index lookups, run while the indexes
	 * that serve them are there (eval.c, EVAL_LOOKUP_SQL) */
	const char *sql_lookup;
	const struct rule_opt *opts;        /* n_opts entries */
	size_t n_opts;
	const struct rule_list_opt *list_opts;  /* n_list_opts entries */
	size_t n_list_opts;
	const struct rule_stage *stages;    /* n_stages entries, lowest first */
	size_t n_stages;
	bool uses_neglect_categories;       /* accepts "neglect_categories" */
	/* This rule's "neglect_categories", when configured, are every other rule's default
	 * (an authority adds MUL once); true for one rule at most. */
	bool shares_neglect_categories;
	/* What the subject_id names, before it in a sentence ("allocation" -> "allocation
	 * A-7"); NULL for a rule with no subject. */
	const char *subject_words;
	/* The fact that holds the subject this rule's alerts had before it named them as it does
	 * now (state schema v2 named a duration or repeat alert by its current plan; now the
	 * episode's first plan is the subject): recording finds an alert stored under that older
	 * identity and renames it, instead of resolving it and announcing it again. NULL: none. */
	const char *former_subject_fact;
	/* The fact whose change makes a firing alert news again ("alert.updated"), or NULL when
	 * only a higher stage is news. */
	const char *notify_fact;
	/* What changed, in words, for an "alert.updated" notice ("a further missed appointment,
	 * 3 in the window now"); NULL: a generic phrase. */
	void (*update_words)(const struct alert *a, struct strbuf *out);
	/* Whether this alert is urgent when its stage's flag alone cannot say (NULL: the stage's
	 * flag). */
	bool (*urgent)(const struct alert *a);
	/* Cross-field checks (thresholds in order, windows sensible); adds to errs, may be NULL. */
	void (*check)(const struct config_rule *rc, const char *file, struct errlist *errs);
	/* One plain sentence a supervisor understands, from the alert's facts. */
	void (*summarize)(const struct alert *a, struct strbuf *out);
	/* The facts holding an object or an array that summarize, urgent or update_words read
	 * (NULL-terminated; NULL: none). An evaluation gives these functions a->facts read only
	 * that deep (jsontext_shallow): every other list stays text, written out as it came. */
	const char *const *nested_facts;
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

/* What is expected of a reader in role (NULL or a role the stage does not name: its text
 * for any other role) at stage st. */
const char *rule_expected(const struct rule_stage *st, const char *role);

/* Whether alert a (of its rule, at its stage) is urgent. */
bool rule_urgent(const struct alert *a);

#endif
