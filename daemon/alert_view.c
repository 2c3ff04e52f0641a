/* alert_view: open alerts for the pages: read, ordered as people answer them, drawn as cards. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/alert_view.h"
#include "driftwatch/calendar.h"
#include "driftwatch/config.h"
#include "driftwatch/formtoken.h"
#include "driftwatch/html.h"
#include "driftwatch/responses.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

/* Columns of web_pages_alerts.sql. */
enum { C_TODAY, C_FP, C_RULE, C_STAGE, C_RANK, C_CHILD, C_SUBJECT, C_FAMILY, C_TEAM, C_SINCE,
       C_AGE, C_STATE, C_ACK_BY, C_ACK_ON, C_ACK_NOTE, C_SN_UNTIL, C_SN_REASON, C_SN_NOTE,
       C_SN_BY, C_SUMMARY, C_COLUMNS };

static char *cell(PGresult *res, int row, int col, int *failed)
{
	char *s;

	if (PQgetisnull(res, row, col))
		return NULL;
	s = strdup(PQgetvalue(res, row, col));
	*failed |= !s;
	return s;
}

static void item_clear(struct alert_view_item *it)
{
	char **all[] = { &it->fingerprint, &it->rule, &it->stage, &it->child_id, &it->subject_id,
			 &it->family_id, &it->team_id, &it->stage_since, &it->state, &it->ack_by,
			 &it->ack_on, &it->ack_note, &it->snoozed_until, &it->snooze_reason,
			 &it->snooze_note, &it->snoozed_by, &it->summary, &it->worker_id,
			 &it->worker_name };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		free(*all[i]);
		*all[i] = NULL;
	}
}

static void view_clear(struct alert_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		item_clear(&v->items[i]);
	free(v->items);
	v->items = NULL;
	v->n = 0;
}

/* Lists this long give their memory back to the system when freed: a viewer's "/" reads every
 * open alert, some twenty strings each, and the heap they leave stayed resident (280 MB after
 * one look at 203,000 alerts) for as long as the daemon ran. */
#define ALERT_VIEW_TRIM_ITEMS 10000

void alert_view_free(void *arg)
{
	struct alert_view *v = arg;
	int trim;

	if (!v)
		return;
	trim = v->n >= ALERT_VIEW_TRIM_ITEMS;
	view_clear(v);
	free(v);
	if (trim)
		malloc_trim(0);
}

static void item_rank(struct alert_view_item *it)
{
	const struct rule_def *def = rule_registry_find(it->rule);

	it->stage_index = def ? rule_stage_index(def, it->stage) : -1;
	it->seriousness = it->stage_index >= 0 ? (int)def->stages[it->stage_index].seriousness :
			  RULE_SERIOUS_DRIFT + 1;
}

static int item_read(PGresult *res, int row, struct alert_view_item *it)
{
	int failed = 0;

	it->fingerprint = cell(res, row, C_FP, &failed);
	it->rule = cell(res, row, C_RULE, &failed);
	it->stage = cell(res, row, C_STAGE, &failed);
	it->child_id = cell(res, row, C_CHILD, &failed);
	it->subject_id = cell(res, row, C_SUBJECT, &failed);
	it->family_id = cell(res, row, C_FAMILY, &failed);
	it->team_id = cell(res, row, C_TEAM, &failed);
	it->stage_since = cell(res, row, C_SINCE, &failed);
	it->state = cell(res, row, C_STATE, &failed);
	it->ack_by = cell(res, row, C_ACK_BY, &failed);
	it->ack_on = cell(res, row, C_ACK_ON, &failed);
	it->ack_note = cell(res, row, C_ACK_NOTE, &failed);
	it->snoozed_until = cell(res, row, C_SN_UNTIL, &failed);
	it->snooze_reason = cell(res, row, C_SN_REASON, &failed);
	it->snooze_note = cell(res, row, C_SN_NOTE, &failed);
	it->snoozed_by = cell(res, row, C_SN_BY, &failed);
	it->summary = cell(res, row, C_SUMMARY, &failed);
	it->age_days = atol(PQgetvalue(res, row, C_AGE));
	it->stage_rank = atoi(PQgetvalue(res, row, C_RANK));
	if (failed || !it->fingerprint || !it->rule || !it->stage || !it->child_id || !it->state)
		return -1;
	item_rank(it);
	return 0;
}

int alert_view_read(PGresult *res, struct alert_view *v)
{
	int rows = PQntuples(res);

	memset(v, 0, sizeof(*v));
	if (rows < 1 || PQnfields(res) != C_COLUMNS)
		return -1;
	v->today = (int32_t)atol(PQgetvalue(res, 0, C_TODAY));
	/* no alert: one row of today alone */
	if (PQgetisnull(res, 0, C_FP))
		return 0;
	v->items = calloc((size_t)rows, sizeof(*v->items));
	if (!v->items)
		return -1;
	for (int r = 0; r < rows; r++) {
		v->n++;
		if (item_read(res, r, &v->items[r]) < 0) {
			view_clear(v);
			return -1;
		}
	}
	return 0;
}

static int by_answer_order(const void *pa, const void *pb)
{
	const struct alert_view_item *a = pa, *b = pb;
	int oa = strcmp(a->state, "open") == 0, ob = strcmp(b->state, "open") == 0, c;

	if (oa != ob)
		return ob - oa;
	/* RESPONSES.md: "unanswered, oldest stage first": the stage waiting longest is the
	 * nearest to its no-response escalation. Seriousness breaks a tie. */
	c = strcmp(a->stage_since ? a->stage_since : "", b->stage_since ? b->stage_since : "");
	if (c)
		return c;
	if (a->seriousness != b->seriousness)
		return a->seriousness - b->seriousness;
	if (a->stage_index != b->stage_index)
		return b->stage_index - a->stage_index;
	c = strcmp(a->child_id, b->child_id);
	return c ? c : strcmp(a->fingerprint, b->fingerprint);
}

void alert_view_sort(struct alert_view *v)
{
	if (v->n > 1)
		qsort(v->items, v->n, sizeof(*v->items), by_answer_order);
}

/* ---- words ---- */

const char *alert_view_stage_label(const char *rule, const char *stage)
{
	const struct rule_def *def = rule ? rule_registry_find(rule) : NULL;
	int i = def && stage ? rule_stage_index(def, stage) : -1;

	return i >= 0 ? def->stages[i].label : stage;
}

const char *alert_view_rule_title(const char *rule)
{
	const struct rule_def *def = rule ? rule_registry_find(rule) : NULL;

	return def && def->title ? def->title : rule;
}

const char *alert_view_rule_meaning(const char *rule)
{
	const struct rule_def *def = rule ? rule_registry_find(rule) : NULL;

	return def ? def->doc : rule;
}

static const char *expected(const char *rule, const char *stage)
{
	const struct rule_def *def = rule ? rule_registry_find(rule) : NULL;
	int i = def && stage ? rule_stage_index(def, stage) : -1;

	return i >= 0 ? rule_expected(&def->stages[i], NULL) : NULL;
}

const char *alert_view_state_label(const char *state)
{
	if (!state)
		return "";
	if (strcmp(state, "open") == 0)
		return "Not answered";
	if (strcmp(state, "acknowledged") == 0)
		return "Acknowledged";
	if (strcmp(state, "snoozed") == 0)
		return "Snoozed";
	if (strcmp(state, "resolved") == 0)
		return "Resolved";
	return state;
}

void alert_view_segment(struct strbuf *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '.' || c == '_' || c == '~') {
			strbuf_appendn(p, s, 1);
		} else {
			char e[3] = { '%', hex[c >> 4], hex[c & 15] };

			strbuf_appendn(p, e, 3);
		}
	}
}

/* A sentence starts with a capital: the rules' one-line docs are written to follow a name. */
static void sentence(struct strbuf *p, const char *s)
{
	char first[2] = { 0, 0 };

	if (!s || !*s)
		return;
	first[0] = (char)(s[0] >= 'a' && s[0] <= 'z' ? s[0] - 'a' + 'A' : s[0]);
	html_escape(p, first);
	html_escape(p, s + 1);
	if (s[strlen(s) - 1] != '.')
		strbuf_append(p, ".");
}

/* ---- a card ---- */

static void term(struct strbuf *p, const char *t)
{
	strbuf_append(p, "<dt>");
	html_escape(p, t);
	strbuf_append(p, "</dt><dd>");
}

static void note_quote(struct strbuf *p, const char *note)
{
	if (!note || !*note)
		return;
	strbuf_append(p, " <q>");
	html_escape(p, note);
	strbuf_append(p, "</q>");
}

static void response(struct strbuf *p, const struct alert_view_item *it)
{
	term(p, "Response");
	if (strcmp(it->state, "acknowledged") == 0) {
		strbuf_append(p, "Acknowledged for this stage by ");
		html_escape(p, it->ack_by);
		if (it->ack_on) {
			strbuf_append(p, " on ");
			html_date(p, it->ack_on, 1);
		}
		note_quote(p, it->ack_note);
	} else if (strcmp(it->state, "snoozed") == 0) {
		strbuf_append(p, "Snoozed until ");
		html_date(p, it->snoozed_until, 1);
		strbuf_append(p, " by ");
		html_escape(p, it->snoozed_by);
		strbuf_append(p, ": ");
		html_escape(p, responses_reason_label(it->snooze_reason));
		note_quote(p, it->snooze_note);
	} else {
		strbuf_append(p, "<strong>Not answered</strong>");
	}
	strbuf_append(p, "</dd>\n");
}

static void facts(struct strbuf *p, const struct alert_view_item *it)
{
	const char *todo = expected(it->rule, it->stage);

	strbuf_append(p, "<dl class=\"facts\">\n");
	term(p, "What it means");
	sentence(p, alert_view_rule_meaning(it->rule));
	strbuf_append(p, " <span class=\"muted\">(");
	html_escape(p, it->rule);
	strbuf_append(p, ", stage ");
	html_escape(p, it->stage);
	strbuf_append(p, ")</span></dd>\n");
	if (it->summary) {
		term(p, "What driftwatch found");
		html_escape(p, it->summary);
		strbuf_append(p, "</dd>\n");
	}
	if (todo) {
		term(p, "What is expected");
		sentence(p, todo);
		strbuf_append(p, "</dd>\n");
	}
	term(p, "At this stage since");
	html_date(p, it->stage_since, 1);
	strbuf_printf(p, " (%ld day%s)</dd>\n", it->age_days, it->age_days == 1 ? "" : "s");
	if (it->family_id) {
		term(p, "Family");
		html_escape(p, it->family_id);
		strbuf_append(p, "</dd>\n");
	}
	response(p, it);
	strbuf_append(p, "</dl>\n");
}

/* ---- its forms ---- */

static int form_open(struct strbuf *p, const struct alert_view_forms *f,
		     const struct alert_view_item *it, enum formtoken_purpose purpose,
		     const char *action, const char *legend)
{
	char tok[FORMTOKEN_BUF];

	if (formtoken_make(f->key, f->person, it->fingerprint, purpose, f->today, tok) < 0)
		return -1;
	strbuf_append(p, "<form method=\"post\" action=\"");
	html_escape(p, f->root);
	strbuf_append(p, "answer\">\n<fieldset>\n<legend>");
	html_escape(p, legend);
	strbuf_append(p, "</legend>\n<input type=\"hidden\" name=\"alert\" value=\"");
	html_escape(p, it->fingerprint);
	strbuf_printf(p, "\">\n<input type=\"hidden\" name=\"action\" value=\"%s\">\n"
		      "<input type=\"hidden\" name=\"form\" value=\"%s\">\n", action, tok);
	if (f->team_id) {
		strbuf_append(p, "<input type=\"hidden\" name=\"team\" value=\"");
		html_escape(p, f->team_id);
		strbuf_append(p, "\">\n");
	}
	return 0;
}

static void note_field(struct strbuf *p, const char *id, size_t serial, const char *label)
{
	strbuf_printf(p, "<label for=\"%s-%zu\">%s</label>\n<textarea id=\"%s-%zu\" name=\"note\" "
		      "rows=\"3\" cols=\"50\" maxlength=\"%d\"></textarea>\n", id, serial, label, id,
		      serial, RESPONSES_NOTE_MAX);
}

static void button(struct strbuf *p, const char *verb, const struct alert_view_item *it)
{
	/* the same words on every card: the accessible name says which child */
	strbuf_printf(p, "<button type=\"submit\" aria-label=\"%s the alert for child ", verb);
	html_escape(p, it->child_id);
	strbuf_printf(p, "\">%s</button>\n</fieldset>\n</form>\n", verb);
}

static int snooze_form(struct strbuf *p, const struct alert_view_forms *f,
		       const struct alert_view_item *it, size_t serial)
{
	char min[CALENDAR_DAY_LEN], max[CALENDAR_DAY_LEN];

	if (form_open(p, f, it, FORMTOKEN_SNOOZE, "snooze", "Snooze: a decision has been made") < 0)
		return -1;
	strbuf_append(p, "<p>No reminders or escalation until the date; a new stage is still sent, "
		      "showing the snooze.</p>\n");
	calendar_day_format(f->today + 1, min, sizeof(min));
	calendar_day_format(f->today + f->max_snooze_days, max, sizeof(max));
	strbuf_printf(p, "<label for=\"until-%zu\">Snooze until</label>\n<input type=\"date\" "
		      "id=\"until-%zu\" name=\"until\" required min=\"%s\" max=\"%s\">\n"
		      "<label for=\"reason-%zu\">Reason</label>\n<select id=\"reason-%zu\" "
		      "name=\"reason\" required>\n<option value=\"\">Choose a reason</option>\n",
		      serial, serial, min, max, serial, serial);
	for (size_t i = 0; i < RESPONSES_REASONS; i++)
		strbuf_printf(p, "<option value=\"%s\">%s</option>\n", responses_reason_name(i),
			      responses_reason_label(responses_reason_name(i)));
	strbuf_append(p, "</select>\n");
	note_field(p, "snooze-note", serial, "Note (required when the reason is Other)");
	button(p, "Snooze", it);
	return 0;
}

static int answer_forms(struct strbuf *p, const struct alert_view_forms *f,
			const struct alert_view_item *it, size_t serial)
{
	strbuf_append(p, "<details class=\"answer\">\n<summary>Answer: acknowledge or snooze"
		      "</summary>\n");
	if (strcmp(it->state, "acknowledged") != 0) {
		if (form_open(p, f, it, FORMTOKEN_ACKNOWLEDGE, "acknowledge",
			      "Acknowledge: seen, and being handled in supervision") < 0)
			return -1;
		/* the stage shown: a form sent after the alert moved on records nothing */
		strbuf_append(p, "<input type=\"hidden\" name=\"stage\" value=\"");
		html_escape(p, it->stage ? it->stage : "");
		strbuf_append(p, "\">\n<p>Stops reminders and escalation for this stage; a higher stage "
			      "needs a new acknowledgement.</p>\n");
		note_field(p, "ack-note", serial, "Note (optional)");
		button(p, "Acknowledge", it);
	}
	if (snooze_form(p, f, it, serial) < 0)
		return -1;
	if (strcmp(it->state, "snoozed") == 0) {
		if (form_open(p, f, it, FORMTOKEN_UNSNOOZE, "unsnooze",
			      "Unsnooze: the decision no longer holds") < 0)
			return -1;
		strbuf_append(p, "<p>Reminders and escalation start again from now.</p>\n");
		button(p, "Unsnooze", it);
	}
	strbuf_append(p, "</details>\n");
	return 0;
}

static int rule_off(const struct alert_view_forms *f, const char *rule)
{
	const struct config_rule *rc = f && f->cfg && rule ? config_rule_find(f->cfg, rule) : NULL;

	return rc && !rc->enabled;
}

static void card(struct strbuf *p, const struct alert_view_item *it, int level,
		 const struct alert_view_forms *f, size_t serial)
{
	strbuf_printf(p, "<article class=\"alert %s\" aria-labelledby=\"alert-%zu\">\n"
		      "<h%d id=\"alert-%zu\">Child <a href=\"", it->state, serial, level, serial);
	if (f)
		html_escape(p, f->root);
	strbuf_append(p, "child/");
	alert_view_segment(p, it->child_id);
	strbuf_append(p, "\">");
	html_escape(p, it->child_id);
	strbuf_append(p, "</a>: ");
	html_escape(p, alert_view_stage_label(it->rule, it->stage));
	strbuf_printf(p, " <span class=\"tag%s\">", strcmp(it->state, "open") == 0 ? " urgent" : "");
	html_escape(p, alert_view_state_label(it->state));
	strbuf_append(p, "</span>");
	if (rule_off(f, it->rule))
		strbuf_append(p, " <span class=\"tag\">Rule turned off</span>");
	strbuf_printf(p, "</h%d>\n", level);
	if (rule_off(f, it->rule))
		strbuf_append(p, "<p class=\"note\">This rule is turned off in driftwatch's "
			      "configuration: the alert is kept as it was when the rule last ran, "
			      "and nobody is reminded or escalated to about it. It is resolved only "
			      "if the rule is turned on again and no longer holds.</p>\n");
	facts(p, it);
	if (f && answer_forms(p, f, it, serial) < 0)
		p->failed = 1;
	strbuf_append(p, "</article>\n");
}

/* An item's place in the list, sorted by family to find each family's members. */
struct member {
	const char *family;
	size_t at;
};

static int by_family_then_place(const void *pa, const void *pb)
{
	const struct member *a = pa, *b = pb;
	int c = strcmp(a->family, b->family);

	if (c)
		return c;
	return (a->at > b->at) - (a->at < b->at);
}

/* next[i]: the place of the next alert of i's family after i (n: none); size[i]: the family's
 * number of alerts at its first place, 0 at the others. One sort, not a scan of the rest of the
 * list for each alert: a head of service's list of 200,000 alerts took eight minutes of the
 * event loop. An alert without a family is a family of its own. */
static int link_families(const struct alert_view *v, const size_t *idx, size_t n, size_t *next,
			 size_t *size)
{
	struct member *m = malloc((n ? n : 1) * sizeof(*m));
	size_t k = 0;

	if (!m)
		return -1;
	for (size_t i = 0; i < n; i++) {
		next[i] = n;
		size[i] = 1;
		if (v->items[idx[i]].family_id)
			m[k++] = (struct member){ v->items[idx[i]].family_id, i };
	}
	qsort(m, k, sizeof(*m), by_family_then_place);
	for (size_t j = 0; j < k;) {
		size_t end = j + 1;

		while (end < k && strcmp(m[end].family, m[j].family) == 0) {
			next[m[end - 1].at] = m[end].at;
			size[m[end].at] = 0;
			end++;
		}
		size[m[j].at] = end - j;
		j = end;
	}
	free(m);
	return 0;
}

void alert_view_groups_window(struct strbuf *p, const struct alert_view *v, const size_t *idx,
			      size_t n, size_t from, size_t count, int level,
			      const struct alert_view_forms *forms, size_t *serial)
{
	size_t *next = malloc((n ? n : 1) * sizeof(*next));
	size_t *size = malloc((n ? n : 1) * sizeof(*size));

	if (!next || !size || link_families(v, idx, n, next, size) < 0) {
		p->failed = 1;
		goto out;
	}
	for (size_t i = from; i < n && i < from + count; i++) {
		const struct alert_view_item *head = &v->items[idx[i]];

		/* not its family's first place: drawn with the first, on this page or before */
		if (size[i] == 0)
			continue;
		if (size[i] == 1) {
			card(p, head, level, forms, ++*serial);
			continue;
		}
		strbuf_printf(p, "<section class=\"family\">\n<h%d>Family ", level);
		html_escape(p, head->family_id);
		strbuf_printf(p, ": %zu alerts</h%d>\n", size[i], level);
		for (size_t j = i; j < n; j = next[j])
			card(p, &v->items[idx[j]], level + 1, forms, ++*serial);
		strbuf_append(p, "</section>\n");
	}
out:
	free(next);
	free(size);
}

void alert_view_groups(struct strbuf *p, const struct alert_view *v, const size_t *idx, size_t n,
		       int level, const struct alert_view_forms *forms, size_t *serial)
{
	alert_view_groups_window(p, v, idx, n, 0, n, level, forms, serial);
}
