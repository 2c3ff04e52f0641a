/* ctx: the one daemon context, passed down; there is no other mutable global state. */
#ifndef DRIFTWATCH_CTX_H
#define DRIFTWATCH_CTX_H

#include "driftwatch/metrics.h"

struct event_base;
struct dw_config;

struct dw_ctx {
	struct event_base *base;
	struct dw_config *cfg;
	int log_level;          /* highest syslog priority written */
	int exit_code;          /* what main returns when the loop ends */
	struct dw_metrics metrics;
};

#endif
