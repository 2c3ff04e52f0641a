/* registry: the list of rules; adding a rule is one line here plus its .c and .sql files. */
#include <string.h>

#include "driftwatch/alert.h"
#include "driftwatch/rule.h"

extern const struct rule_def rule_cin_neglect_duration;
extern const struct rule_def rule_cp_neglect_duration;
extern const struct rule_def rule_repeat_neglect_plan;
extern const struct rule_def rule_was_not_brought;
extern const struct rule_def rule_worker_change;
extern const struct rule_def rule_worker_churn;
extern const struct rule_def rule_re_referral;

static const struct rule_def *const registry[] = {
	&rule_cin_neglect_duration,
	&rule_cp_neglect_duration,
	&rule_repeat_neglect_plan,
	&rule_was_not_brought,
	&rule_worker_change,
	&rule_worker_churn,
	&rule_re_referral,
};

_Static_assert(sizeof(registry) / sizeof(registry[0]) <= RULE_REGISTRY_MAX,
	       "raise RULE_REGISTRY_MAX");

static const char *const roles[] = {
	"allocated_worker", "supervisor", "cp_chair", "cp_manager", "head_of_service",
};

size_t rule_registry_count(void)
{
	return sizeof(registry) / sizeof(registry[0]);
}

const struct rule_def *rule_registry_get(size_t i)
{
	return i < rule_registry_count() ? registry[i] : NULL;
}

const struct rule_def *rule_registry_find(const char *name)
{
	for (size_t i = 0; i < rule_registry_count(); i++)
		if (strcmp(registry[i]->name, name) == 0)
			return registry[i];
	return NULL;
}

int rule_stage_index(const struct rule_def *def, const char *stage)
{
	for (size_t i = 0; i < def->n_stages; i++)
		if (strcmp(def->stages[i].name, stage) == 0)
			return (int)i;
	return -1;
}

int rule_opt_index(const struct rule_def *def, const char *key)
{
	for (size_t i = 0; i < def->n_opts; i++)
		if (strcmp(def->opts[i].key, key) == 0)
			return (int)i;
	return -1;
}

bool rule_role_valid(const char *role)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(roles[i], role) == 0)
			return true;
	return false;
}

const char *rule_expected(const struct rule_stage *st, const char *role)
{
	size_t i = 0;

	for (; i < RULE_MAX_ROLES && st->expect[i].role; i++)
		if (role && strcmp(st->expect[i].role, role) == 0)
			return st->expect[i].text;
	return st->expect[i].text;
}

bool rule_urgent(const struct alert *a)
{
	if (a->rule->urgent)
		return a->rule->urgent(a);
	return a->rule->stages[a->stage].urgent;
}
