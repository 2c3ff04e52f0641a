/* notice: what a notice needs to be read, beyond the alert itself, fixed when it is recorded. */
#ifndef DRIFTWATCH_NOTICE_H
#define DRIFTWATCH_NOTICE_H

#include <jansson.h>

struct alert;

/* The notice object the outbox keeps with each notice to a reader in role (NULL for a
 * webhook), from the alert's rule and stage as they are now (ARCHITECTURE.md: a notice
 * carries everything needed to send it; nothing at send time asks the rule registry):
 *   label, label_many  "CP escalation at 15 months", "CP escalations at 15 months"
 *   subject            what subject_id names, in words ("allocation A-7"), or null
 *   expected           what is expected of this reader, or null (no role)
 *   update             what changed, in words, should the notice be an update, or null
 *   urgent             ALERTS.md's urgent stages (true/false)
 *   seriousness        1 (most serious) to 5, the order of a digest
 * New reference, or NULL when out of memory. */
json_t *notice_for(const struct alert *a, const char *role);

#endif
