/* metrics: what becomes of the daemon's figures when it stops evaluating. */
#include <string.h>

#include "driftwatch/metrics.h"

void metrics_leader_lost(struct dw_metrics *m)
{
	m->leading = 0;
	memset(m->alerts, 0, sizeof(m->alerts));
	memset(m->rule_failing, 0, sizeof(m->rule_failing));
	memset(m->rule_error, 0, sizeof(m->rule_error));
	memset(m->bad, 0, sizeof(m->bad));
	m->n_bad = 0;
	m->children_evaluated = 0;
}

time_t metrics_blocked_since(const struct dw_metrics *m, enum metrics_blocked_id id)
{
	return id == METRICS_BLOCKED_DELIVER ? m->deliver_waiting_since : m->eval_running_since;
}

const char *metrics_blocked_text(const struct dw_metrics *m, enum metrics_blocked_id id)
{
	time_t since = metrics_blocked_since(m, id);

	return since && m->blocked[id].since == since ? m->blocked[id].text : "";
}
