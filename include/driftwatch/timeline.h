/* timeline: a child's chronology drawn as SVG, on the server, for the child's page. */
#ifndef DRIFTWATCH_TIMELINE_H
#define DRIFTWATCH_TIMELINE_H

#include <stdint.h>

#include <jansson.h>

struct strbuf;

/* The chronology document (web_child.c assembles it from the case data and the state; every
 * date a "YYYY-MM-DD" string, an open end null):
 *   {"child_id": "...",
 *    "referrals":    [{"referral_id", "referral_date", "closure_date", "for_neglect"}],
 *    "cin_plans":    [{"plan_id", "start_date", "end_date", "for_neglect", "episode"}],
 *    "cp_plans":     [{"plan_id", "start_date", "end_date", "for_neglect", "episode",
 *                      "category"}],
 *    "allocations":  [{"allocation_id", "worker_id", "worker_name", "start_date", "end_date"}],
 *    "appointments": [{"appointment_id", "day", "service", "outcome"}],
 *    "strategies":   [{"strategy_id", "kind", "decided_on", "review_by"}],
 *    "alerts":       [{"rule_title", "stage", "first_fired_on", "status"}]}
 * A section that is missing or not an array is drawn empty; a row whose date is missing or not
 * a day is left out of the drawing (the page's table still lists it). Plans with the same
 * "episode" number that count for neglect are drawn as one bar from the episode's first start
 * to its last end (RULES.md, "Episodes"), the plans themselves as thin bars on it; each worker
 * has a colour, so a new colour is a change of worker.
 *
 * Appends to out an <svg> with role="img", a <title> and a <desc> that says what it shows in
 * words, each mark with a <title> of its own, and presentation attributes only (no style
 * attributes, no script: the pages' Content-Security-Policy allows neither). today is the day
 * the page is for: marked, and the end of anything still open. */
void timeline_svg(struct strbuf *out, const json_t *chron, int32_t today);

/* The colour a worker's allocations are drawn in, by order of first appearance (index from 0):
 * a palette whose every colour has at least 3:1 contrast on white (WCAG 1.4.11). */
const char *timeline_worker_colour(unsigned index);

#endif
