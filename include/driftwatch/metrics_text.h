/* metrics_text: the daemon's figures in the Prometheus text exposition format 0.0.4. */
#ifndef DRIFTWATCH_METRICS_TEXT_H
#define DRIFTWATCH_METRICS_TEXT_H

#include "driftwatch/metrics.h"

struct strbuf;

/* What a /metrics response declares as its Content-Type. */
#define METRICS_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends every driftwatch_* family of m to out: a HELP and a TYPE line each, then its samples
 * (alerts for every registered rule and stage, zeros included). Pure: reads m and the rule
 * registry, nothing else. A failed allocation shows as out->failed. */
void metrics_text_render(const struct dw_metrics *m, struct strbuf *out);

/* The same as one malloc'd string, or NULL when memory ran out. */
char *metrics_text(const struct dw_metrics *m);

#endif
