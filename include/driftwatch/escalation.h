/* escalation: when an unanswered stage is escalated, and to whom (RESPONSES.md, "Escalation when
 * nobody answers"). */
#ifndef DRIFTWATCH_ESCALATION_H
#define DRIFTWATCH_ESCALATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct calendar;
struct config_escalate;

/* What the policy says for one alert's stage. */
struct escalation_due {
	size_t entry;                /* the index of the policy entry that matched */
	int after_working_days;      /* N */
	int32_t due_day;             /* the Nth working day after the first-recorded day */
	const char *const *to;       /* the escalation roles (NULL-terminated), the policy's */
};

/* The roles responses.escalate's "to" may name: the recipient roles of RULES.md, service_manager
 * (the supervisor's own supervisor, else head_of_service) among them. */
bool escalation_role_valid(const char *role);

/* "allocated_worker, supervisor, ..." for messages. */
const char *escalation_role_names(void);

/* The index of the first entry of policy (n entries) that matches rule and stage (an entry's
 * NULL rules or stages is "*"), or -1 when none does: that stage is never escalated. */
long escalation_match(const struct config_escalate *policy, size_t n, const char *rule,
		      const char *stage);

/*
 * For a stage of rule first recorded by the evaluation of day first_recorded (a day number,
 * calendar.h): the first matching entry's roles and the day on which alert.unanswered becomes
 * due, counting working days from the day after first_recorded by cal (people cannot answer
 * before they are told). The notice goes at the first evaluation on or after that day, when
 * nobody has acknowledged the stage and no snooze is in force; the caller sends it to these
 * roles and to the alert's own recipients.
 * Returns 1 with *out filled, 0 when no entry matches (no escalation), -1 when first_recorded
 * is out of the calendar's range or the due day would be.
 */
int escalation_due(const struct config_escalate *policy, size_t n, const struct calendar *cal,
		   const char *rule, const char *stage, int32_t first_recorded,
		   struct escalation_due *out);

#endif
