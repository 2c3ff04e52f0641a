/* escalation: finds the policy entry for a rule's stage and the working day its silence is due. */
#include "driftwatch/escalation.h"

#include <string.h>

#include "driftwatch/calendar.h"
#include "driftwatch/config.h"

static const char *const roles[] = {
	"allocated_worker", "supervisor", "cp_chair", "cp_manager", "head_of_service",
	"service_manager",
};

bool escalation_role_valid(const char *role)
{
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (role && strcmp(roles[i], role) == 0)
			return true;
	return false;
}

const char *escalation_role_names(void)
{
	return "allocated_worker, supervisor, cp_chair, cp_manager, head_of_service, "
	       "service_manager";
}

/* NULL is "*": everything. */
static bool listed(char *const *list, const char *name)
{
	if (!list)
		return true;
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

long escalation_match(const struct config_escalate *policy, size_t n, const char *rule,
		      const char *stage)
{
	if (!rule || !stage)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (listed(policy[i].rules, rule) && listed(policy[i].stages, stage))
			return (long)i;
	return -1;
}

int escalation_due(const struct config_escalate *policy, size_t n, const struct calendar *cal,
		   const char *rule, const char *stage, int32_t first_recorded,
		   struct escalation_due *out)
{
	long i = escalation_match(policy, n, rule, stage);
	const struct config_escalate *e;

	memset(out, 0, sizeof(*out));
	if (i < 0)
		return 0;
	e = &policy[i];
	if (calendar_add_working_days(cal, first_recorded, e->after_working_days, &out->due_day) <
	    0)
		return -1;
	out->entry = (size_t)i;
	out->after_working_days = e->after_working_days;
	out->to = (const char *const *)e->to;
	return 1;
}
