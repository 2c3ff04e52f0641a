/* report: the evaluation summary people read on standard error after a one-shot run. */
#ifndef DRIFTWATCH_REPORT_H
#define DRIFTWATCH_REPORT_H

#include <stdio.h>

struct dw_config;
struct eval_result;

/* Alerts by rule and stage, bad rows by relation and kind, and who went to the fallback. */
void report_evaluation(FILE *out, const struct dw_config *cfg, const struct eval_result *res);

#endif
