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
