/* child_page: the body of /child/{child_id}, a child's chronology on one screen, as HTML. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/calendar.h"
#include "driftwatch/child_page.h"
#include "driftwatch/html.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/timeline.h"

/* ---- small readers ---- */

static const char *cp_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static void cp_text(struct strbuf *out, const json_t *o, const char *key, const char *none)
{
	const char *s = cp_str(o, key);

	html_escape(out, s && *s ? s : none);
}

/* The rule in words: the stage's label ("CP plan at 15 months") when the rule is known, else
 * its name. */
static void cp_rule_words(struct strbuf *out, const char *rule, const char *stage)
{
	const struct rule_def *def = rule ? rule_registry_find(rule) : NULL;
	int k = def && stage ? rule_stage_index(def, stage) : -1;

	if (k >= 0) {
		const char *label = def->stages[k].label;

		/* a digest's label goes after a count ("3 was-not-brought"); a heading starts it */
		if (*label >= 'a' && *label <= 'z')
			strbuf_printf(out, "%c", *label - 'a' + 'A');
		html_escape(out, label + (*label >= 'a' && *label <= 'z'));
		return;
	}
	html_escape(out, rule ? rule : "an alert");
	if (stage) {
		strbuf_append(out, ", ");
		html_escape(out, stage);
	}
}

/* What the rule looks for, in one line ("Rule: appointments the child was not brought to
 * within the window."), so that no rule is named without its meaning. */
static void cp_rule_meaning(struct strbuf *out, const char *rule)
{
	const struct rule_def *def = rule ? rule_registry_find(rule) : NULL;

	if (!def || !def->doc)
		return;
	strbuf_append(out, "<span class=\"muted\">This alert looks for ");
	html_escape(out, def->doc);
	strbuf_append(out, ".</span><br>");
}

/* ---- the line about the child, and what could not be read ---- */

static void cp_child_line(struct strbuf *out, const json_t *doc)
{
	const json_t *c = json_object_get(doc, "child");

	strbuf_append(out, "<p>");
	if (!json_is_object(c)) {
		strbuf_append(out, "The case data has no record of this child in <code>children"
			      "</code>; what follows comes from its other rows.</p>\n");
		return;
	}
	if (cp_str(c, "date_of_birth")) {
		strbuf_append(out, "Born ");
		html_date(out, cp_str(c, "date_of_birth"), 1);
	} else if (cp_str(c, "expected_dob")) {
		strbuf_append(out, "Unborn, expected ");
		html_date(out, cp_str(c, "expected_dob"), 1);
	} else {
		strbuf_append(out, "Date of birth not recorded");
	}
	strbuf_append(out, ". Family ");
	cp_text(out, c, "family_id", "not recorded");
	strbuf_append(out, json_is_true(json_object_get(c, "disability")) ? ". Disabled."
										: ".");
	strbuf_append(out, "</p>\n");
}

static void cp_unreadable(struct strbuf *out, const json_t *doc)
{
	const json_t *list = json_object_get(doc, "unreadable");
	size_t i;
	const json_t *v;

	if (json_array_size(list) == 0)
		return;
	strbuf_append(out, "<p class=\"note\" role=\"status\">Not shown, because driftwatch could "
		      "not read them from the case data just now: ");
	json_array_foreach(list, i, v) {
		strbuf_append(out, i ? ", " : "");
		html_escape(out, json_string_value(v));
	}
	strbuf_append(out, ". The rest of the page is complete.</p>\n");
}

/* ---- the timeline and its key ---- */

static void cp_timeline(struct strbuf *out, const json_t *doc, int32_t today)
{
	strbuf_append(out, "<h2>Timeline</h2>\n<figure>\n");
	timeline_svg(out, doc, today);
	strbuf_append(out, "<figcaption>Bars: plans and allocations, a pale band joining the plans "
		      "of one episode across short gaps; each worker has a colour, so a new colour "
		      "is a change of worker. Tall red lines: referrals for neglect. Filled circles: "
		      "appointments the child was not brought to; open circles: cancelled by the "
		      "family. Diamonds: strategies, with a line to their review date. Triangles: "
		      "alerts. The dashed line is today. The table below lists the same by date."
		      "</figcaption>\n</figure>\n");
}

/* ---- alerts with their history ---- */

static const char *cp_event_words(const char *kind)
{
	static const struct { const char *kind, *words; } w[] = {
		{ "firing", "Alert sent" }, { "escalated", "Escalated" },
		{ "lowered", "Lowered" }, { "updated", "Updated" }, { "resolved", "Resolved" },
		{ "reminder", "Reminder sent" }, { "acknowledged", "Acknowledged" },
		{ "snoozed", "Snoozed" }, { "unsnoozed", "Snooze ended" },
		{ "unanswered", "Not answered: escalated" },
	};

	for (size_t i = 0; kind && i < sizeof(w) / sizeof(w[0]); i++)
		if (strcmp(w[i].kind, kind) == 0)
			return w[i].words;
	return kind ? kind : "Event";
}

static const char *cp_via_words(const char *via)
{
	if (!via)
		return "";
	if (strcmp(via, "link") == 0)
		return "a link in a notice";
	if (strcmp(via, "api") == 0)
		return "another system (API)";
	if (strcmp(via, "page") == 0)
		return "these pages";
	return via;
}

static void cp_event_row(struct strbuf *out, const json_t *e)
{
	const char *as_of = cp_str(e, "as_of"), *at = cp_str(e, "at");
	char day[11] = "";

	if (!as_of && at && strlen(at) >= 10)
		memcpy(day, at, 10);
	strbuf_append(out, "<tr><td>");
	html_date(out, as_of ? as_of : day, 0);
	strbuf_append(out, "</td><td>");
	html_escape(out, cp_event_words(cp_str(e, "kind")));
	strbuf_append(out, "</td><td>");
	cp_text(out, e, "stage", "");
	strbuf_append(out, "</td><td>");
	cp_text(out, e, "actor", "");
	if (cp_str(e, "via")) {
		strbuf_append(out, " <span class=\"muted\">through ");
		html_escape(out, cp_via_words(cp_str(e, "via")));
		strbuf_append(out, "</span>");
	}
	strbuf_append(out, "</td><td>");
	cp_text(out, e, "reason", "");
	if (cp_str(e, "note")) {
		strbuf_append(out, cp_str(e, "reason") ? ": " : "");
		cp_text(out, e, "note", "");
	}
	strbuf_append(out, "</td></tr>\n");
}

static void cp_alert(struct strbuf *out, const json_t *a)
{
	const json_t *history = json_object_get(a, "history");
	const char *status = cp_str(a, "status");
	size_t i;
	const json_t *e;

	strbuf_append(out, "<section>\n<h3>");
	cp_rule_words(out, cp_str(a, "rule"), cp_str(a, "stage"));
	strbuf_append(out, status && strcmp(status, "resolved") == 0
			   ? " <span class=\"tag\">resolved</span>" : " <span class=\"tag urgent\">open</span>");
	if (json_is_true(json_object_get(a, "rule_off")))
		strbuf_append(out, " <span class=\"tag\">Rule turned off</span>");
	strbuf_append(out, "</h3>\n");
	if (json_is_true(json_object_get(a, "rule_off")))
		strbuf_append(out, "<p class=\"note\">This rule is turned off in driftwatch's "
			      "configuration: the alert is kept as it was when the rule last ran, "
			      "and nobody is reminded or escalated to about it. It is resolved only "
			      "if the rule is turned on again and no longer holds.</p>\n");
	strbuf_append(out, "<p>");
	cp_rule_meaning(out, cp_str(a, "rule"));
	cp_text(out, a, "summary", "");
	strbuf_append(out, " <span class=\"muted\">First sent ");
	html_date(out, cp_str(a, "first_fired_on"), 0);
	strbuf_append(out, "; this stage since ");
	html_date(out, cp_str(a, "stage_since"), 0);
	strbuf_append(out, ".</span></p>\n<table>\n<caption>History of this alert</caption>\n"
		      "<thead><tr><th scope=\"col\">Date</th><th scope=\"col\">What</th>"
		      "<th scope=\"col\">Stage</th><th scope=\"col\">Who</th>"
		      "<th scope=\"col\">Reason and note</th></tr></thead>\n<tbody>\n");
	json_array_foreach(history, i, e)
		cp_event_row(out, e);
	strbuf_append(out, "</tbody>\n</table>\n</section>\n");
}

static void cp_alerts(struct strbuf *out, const json_t *doc)
{
	const json_t *alerts = json_object_get(doc, "alerts");
	size_t i;
	const json_t *a;

	strbuf_append(out, "<h2>Alerts</h2>\n");
	if (json_array_size(alerts) == 0) {
		strbuf_append(out, "<p>No alert about this child.</p>\n");
		return;
	}
	json_array_foreach(alerts, i, a)
		cp_alert(out, a);
}

/* ---- the chronology as a table ---- */

struct cp_row {
	int32_t day;     /* INT32_MAX: not recorded */
	size_t seq;      /* the order rows were added, for a stable sort */
	char *html;      /* the row's cells after the date, escaped */
};

struct cp_rows {
	struct cp_row *v;
	size_t n, cap;
	int failed;
};

static void cp_add(struct cp_rows *rows, const char *iso, struct strbuf *cells)
{
	struct cp_row *r;
	int32_t day;

	if (rows->n == rows->cap) {
		size_t cap = rows->cap ? rows->cap * 2 : 64;
		struct cp_row *v = realloc(rows->v, cap * sizeof(*v));

		if (!v) {
			rows->failed = 1;
			strbuf_free(cells);
			return;
		}
		rows->v = v;
		rows->cap = cap;
	}
	r = &rows->v[rows->n];
	r->day = iso && calendar_day_parse(iso, &day) == 0 ? day : INT32_MAX;
	r->seq = rows->n;
	r->html = strbuf_take(cells);
	if (!r->html) {
		rows->failed = 1;
		return;
	}
	rows->n++;
}

/* One row: what happened, and its details (both escaped here). */
static void cp_event(struct cp_rows *rows, const char *iso, const char *what, const char *id,
		     const char *detail)
{
	struct strbuf c;

	strbuf_init(&c);
	strbuf_append(&c, "<td>");
	html_escape(&c, what);
	if (id) {
		strbuf_append(&c, " ");
		html_escape(&c, id);
	}
	strbuf_append(&c, "</td><td>");
	html_escape(&c, detail);
	strbuf_append(&c, "</td>");
	cp_add(rows, iso, &c);
}

static int cp_row_cmp(const void *x, const void *y)
{
	const struct cp_row *a = x, *b = y;

	if (a->day != b->day)
		return a->day < b->day ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void cp_plan_rows(struct cp_rows *rows, const json_t *plans, const char *what)
{
	size_t i;
	const json_t *p;
	char detail[160];

	json_array_foreach(plans, i, p) {
		const char *cat = cp_str(p, "category");

		snprintf(detail, sizeof(detail), "%s%s%s%s",
			 json_is_true(json_object_get(p, "for_neglect")) ? "for neglect"
									 : "not for neglect",
			 cat ? ", category " : "", cat ? cat : "",
			 json_is_false(json_object_get(p, "sound"))
			 ? " (its dates cannot be used: left out of the rules)" : "");
		cp_event(rows, cp_str(p, "start_date"), what, cp_str(p, "plan_id"), detail);
		if (cp_str(p, "end_date"))
			cp_event(rows, cp_str(p, "end_date"), strcmp(what, "CIN plan started") == 0
				 ? "CIN plan ended" : "CP plan ended", cp_str(p, "plan_id"), "");
	}
}

static void cp_referral_rows(struct cp_rows *rows, const json_t *refs)
{
	size_t i;
	const json_t *r;
	char detail[160];

	json_array_foreach(refs, i, r) {
		const char *need = cp_str(r, "primary_need");

		snprintf(detail, sizeof(detail), "primary need %s%s", need ? need : "not recorded",
			 json_is_true(json_object_get(r, "for_neglect")) ? "; counts for neglect" : "");
		cp_event(rows, cp_str(r, "referral_date"), "Referral received",
			 cp_str(r, "referral_id"), detail);
		if (cp_str(r, "closure_date"))
			cp_event(rows, cp_str(r, "closure_date"), "Referral closed",
				 cp_str(r, "referral_id"), cp_str(r, "closure_reason")
				 ? cp_str(r, "closure_reason") : "");
	}
}

static void cp_allocation_rows(struct cp_rows *rows, const json_t *allocs)
{
	size_t i;
	const json_t *a;

	json_array_foreach(allocs, i, a) {
		const char *name = cp_str(a, "worker_name");

		cp_event(rows, cp_str(a, "start_date"), "Allocated to",
			 name ? name : cp_str(a, "worker_id"), name ? cp_str(a, "worker_id") : "");
		if (cp_str(a, "end_date"))
			cp_event(rows, cp_str(a, "end_date"), "Allocation ended:",
				 name ? name : cp_str(a, "worker_id"), "");
	}
}

static void cp_appointment_rows(struct cp_rows *rows, const json_t *appts)
{
	size_t i;
	const json_t *v;

	json_array_foreach(appts, i, v) {
		const char *outcome = cp_str(v, "outcome");

		cp_event(rows, cp_str(v, "day"), "Missed appointment:", cp_str(v, "service"),
			 outcome && strcmp(outcome, "was_not_brought") == 0
			 ? "was not brought" : "cancelled by the family");
	}
}

static void cp_strategy_rows(struct cp_rows *rows, const json_t *strategies)
{
	size_t i;
	const json_t *v;

	json_array_foreach(strategies, i, v) {
		struct strbuf c;

		strbuf_init(&c);
		strbuf_append(&c, "<td>Strategy agreed: ");
		cp_text(&c, v, "kind", "kind not recorded");
		strbuf_append(&c, "</td><td>");
		if (cp_str(v, "review_by")) {
			strbuf_append(&c, "review by ");
			html_date(&c, cp_str(v, "review_by"), 0);
		} else {
			strbuf_append(&c, "no review date");
		}
		strbuf_append(&c, "</td>");
		cp_add(rows, cp_str(v, "decided_on"), &c);
	}
}

static void cp_alert_rows(struct cp_rows *rows, const json_t *alerts)
{
	size_t i;
	const json_t *v;

	json_array_foreach(alerts, i, v) {
		struct strbuf c;

		strbuf_init(&c);
		strbuf_append(&c, "<td>Alert: ");
		cp_rule_words(&c, cp_str(v, "rule"), cp_str(v, "stage"));
		strbuf_append(&c, "</td><td>");
		cp_text(&c, v, "summary", "");
		strbuf_append(&c, "</td>");
		cp_add(rows, cp_str(v, "first_fired_on"), &c);
	}
}

static void cp_table(struct strbuf *out, const json_t *doc)
{
	struct cp_rows rows = { 0 };

	cp_referral_rows(&rows, json_object_get(doc, "referrals"));
	cp_plan_rows(&rows, json_object_get(doc, "cin_plans"), "CIN plan started");
	cp_plan_rows(&rows, json_object_get(doc, "cp_plans"), "CP plan started");
	cp_allocation_rows(&rows, json_object_get(doc, "allocations"));
	cp_appointment_rows(&rows, json_object_get(doc, "appointments"));
	cp_strategy_rows(&rows, json_object_get(doc, "strategies"));
	cp_alert_rows(&rows, json_object_get(doc, "alerts"));
	if (rows.n > 1)
		qsort(rows.v, rows.n, sizeof(*rows.v), cp_row_cmp);
	strbuf_append(out, "<h2>Chronology by date</h2>\n<table>\n<caption>Everything above, oldest "
		      "first</caption>\n<thead><tr><th scope=\"col\">Date</th><th scope=\"col\">"
		      "What</th><th scope=\"col\">Details</th></tr></thead>\n<tbody>\n");
	for (size_t i = 0; i < rows.n; i++) {
		strbuf_append(out, "<tr><td>");
		if (rows.v[i].day == INT32_MAX)
			strbuf_append(out, "not recorded");
		else
			html_day(out, rows.v[i].day, 0);
		strbuf_append(out, "</td>");
		strbuf_append(out, rows.v[i].html);
		strbuf_append(out, "</tr>\n");
		free(rows.v[i].html);
	}
	strbuf_append(out, "</tbody>\n</table>\n");
	if (rows.failed)
		out->failed = 1;
	free(rows.v);
}

void child_page_render(struct strbuf *out, const json_t *doc, int32_t today)
{
	cp_child_line(out, doc);
	cp_unreadable(out, doc);
	cp_timeline(out, doc, today);
	cp_alerts(out, doc);
	cp_table(out, doc);
}
