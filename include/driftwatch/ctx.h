/* ctx: the one daemon context, passed down; there is no other mutable global state. */
#ifndef DRIFTWATCH_CTX_H
#define DRIFTWATCH_CTX_H

#include <stdint.h>

#include "driftwatch/metrics.h"

struct event_base;
struct dw_config;

struct dw_ctx {
	struct event_base *base;
	struct dw_config *cfg;
	int log_level;          /* highest syslog priority written */
	int exit_code;          /* what main returns when the loop ends */
	struct dw_metrics metrics;
	/* the case columns this role may not read, read as NULL (case_columns.h): asked at start
	 * and by each full evaluation */
	unsigned case_withheld;
	/* the case columns of a type outside the contract (contract_mistyped), asked at start:
	 * named with a rule's error, which names none */
	uint64_t case_mistyped;
};

#endif
