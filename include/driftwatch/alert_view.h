/* alert_view: open alerts as the pages for people list them: read, put in the order a person
 * answers them, grouped by family, and drawn as cards with their answer forms. */
#ifndef DRIFTWATCH_ALERT_VIEW_H
#define DRIFTWATCH_ALERT_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct linktoken_key;
struct strbuf;

/* One row of web_pages_alerts.sql (strings malloc'd; NULL where the column is). */
struct alert_view_item {
	char *fingerprint, *rule, *stage, *child_id, *subject_id, *family_id, *team_id;
	char *stage_since, *state, *ack_by, *ack_on, *ack_note;
	char *snoozed_until, *snooze_reason, *snooze_note, *snoozed_by, *summary;
	char *worker_id, *worker_name;   /* filled by the team's page from the case data */
	long age_days;
	int stage_rank;
	int seriousness;                 /* rule.h's (1 most serious); unknown rules last */
	int stage_index;                 /* in its rule's stages, lowest first; -1 unknown */
};

struct alert_view {
	int32_t today;                   /* the configured zone's day the rows were read on */
	size_t n;
	struct alert_view_item *items;
};

/* What the cards' answer forms need: the key that signs them (formtoken.h) for person, today,
 * the way back to web.listen's root ("" or "../"), where to come back to after answering
 * (NULL: my alerts; else a team_id) and responses.max_snooze_days. */
struct dw_config;

struct alert_view_forms {
	const struct linktoken_key *key;
	const char *person;
	int32_t today;
	const char *root;
	const char *team_id;
	int max_snooze_days;
	/* marks the alerts of rules turned off in it (kept, chased by nobody); NULL: no mark */
	const struct dw_config *cfg;
};

/* Fills v from web_pages_alerts.sql's result: 0, or -1 when it is not that shape or memory ran
 * out (v is then empty). */
int alert_view_read(PGresult *res, struct alert_view *v);

/* Puts v in the order a person answers it: not answered first, then the most serious stage (a
 * CP escalation before a return to a plan, before a child not brought, a handover, drift), the
 * higher stage of a rule, the stage that started first, then by child and fingerprint. */
void alert_view_sort(struct alert_view *v);

/* Frees what v holds and v itself (a job's data_free). */
void alert_view_free(void *v);

/* Plain words: the stage's label ("CP escalation at 15 months"), the rule's meaning ("a child
 * on an open CP plan for neglect ..."), what the response state means ("Not answered"). A rule
 * or stage not known to this build reads as its name. */
const char *alert_view_stage_label(const char *rule, const char *stage);
const char *alert_view_rule_meaning(const char *rule);
/* The rule's few plain words ("Long CP plan for neglect"), or its key when it has none. */
const char *alert_view_rule_title(const char *rule);
const char *alert_view_state_label(const char *state);

/* Draws items (indices idx[0..n-1] of v) grouped by family, in the order given: a family with
 * more than one alert gets a heading at level, its alerts one below; any other alert is a card
 * at level. Each card: the child (a link to its page), the stage in words, what the rule means
 * and what is expected, since when and how many days, the response, and (when forms is not NULL)
 * the forms to acknowledge, snooze or unsnooze. *serial numbers the cards for unique ids. */
void alert_view_groups(struct strbuf *p, const struct alert_view *v, const size_t *idx, size_t n,
		       int level, const struct alert_view_forms *forms, size_t *serial);

/* The same for the alerts at places from to from + count - 1 of idx (a page of a long list,
 * web_paging.h): a family is drawn whole where its first alert is, its later alerts skipped
 * where they fall, so brothers and sisters stay together across pages. */
void alert_view_groups_window(struct strbuf *p, const struct alert_view *v, const size_t *idx,
			      size_t n, size_t from, size_t count, int level,
			      const struct alert_view_forms *forms, size_t *serial);

/* The path segment s percent-encoded (every byte but A-Z a-z 0-9 - . _ ~), then escaped for
 * HTML: for links to /child/{id} and /team/{id}. */
void alert_view_segment(struct strbuf *p, const char *s);

#endif
