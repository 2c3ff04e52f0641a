/* web_service: /service, the service at a glance: open alerts by team and rule, the year's trend, the oldest unanswered, the records said to be wrong, how long answers take. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "driftwatch/alert_view.h"
#include "driftwatch/chart.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/html.h"
#include "driftwatch/http.h"
#include "driftwatch/log.h"
#include "driftwatch/page.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/web.h"
#include "driftwatch/web_pages.h"

/* The bar chart of teams shows the largest this many; the table shows every team. */
#define SVC_CHART_TEAMS 25

#define SVC_RED "#b42318"
#define SVC_BLUE "#0b5fa5"
#define SVC_GREY "#6b7280"

/* One row of the teams' table: a team's open alerts by rule and by response. */
struct svc_team {
	const char *id;               /* NULL: no team */
	const char *name;             /* NULL: not in the case data (or it could not be read) */
	long long by_rule[RULE_REGISTRY_MAX];
	long long open, acknowledged, snoozed;
};

/* One row of the table of kinds: a rule's stage. */
struct svc_kind {
	int rule;                     /* registry index, -1 for a rule this build does not know */
	const char *rule_name, *stage;
	long long open, acknowledged, snoozed;
};

struct svc_figures {
	struct svc_team *teams;
	size_t n_teams;
	struct svc_kind *kinds;
	size_t n_kinds;
	long long open, acknowledged, snoozed;
};

static const char *const svc_months[] = { "January", "February", "March", "April", "May",
					  "June", "July", "August", "September", "October",
					  "November", "December" };

static long long svc_int(const json_t *o, const char *key)
{
	return (long long)json_number_value(json_object_get(o, key));
}

static const char *svc_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

static int svc_rule_index(const char *name)
{
	for (size_t i = 0; name && i < rule_registry_count(); i++)
		if (strcmp(rule_registry_get(i)->name, name) == 0)
			return (int)i;
	return -1;
}

/* The rule in a few words; its name when this build does not know it. */
static const char *svc_rule_title(const char *name)
{
	const struct rule_def *d = name ? rule_registry_find(name) : NULL;

	return d && d->title ? d->title : name ? name : "";
}

/* The stage in words ("CP escalations at 15 months"). */
static const char *svc_stage_words(const char *rule, const char *stage)
{
	const struct rule_def *d = rule ? rule_registry_find(rule) : NULL;
	int i = d && stage ? rule_stage_index(d, stage) : -1;

	return i >= 0 ? d->stages[i].label_many : stage ? stage : "";
}

static void svc_team_label(struct strbuf *out, const char *id, const char *name)
{
	if (!id) {
		strbuf_append(out, "No allocated team");
		return;
	}
	html_escape(out, name && *name ? name : id);
	if (name && *name && strcmp(name, id) != 0) {
		strbuf_append(out, " (");
		html_escape(out, id);
		strbuf_append(out, ")");
	}
}

static int svc_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* ---- the figures from web_service_body.sql's cells ---- */

static void svc_figures_free(struct svc_figures *f)
{
	free(f->teams);
	free(f->kinds);
}

static struct svc_team *svc_team_of(struct svc_figures *f, const json_t *cell)
{
	const char *id = svc_str(cell, "team_id");
	struct svc_team *t;

	/* cells come ordered by team: the team is the last one or a new one */
	if (f->n_teams > 0 && svc_same(f->teams[f->n_teams - 1].id, id))
		return &f->teams[f->n_teams - 1];
	t = &f->teams[f->n_teams++];
	memset(t, 0, sizeof(*t));
	t->id = id;
	t->name = svc_str(cell, "team");
	return t;
}

static struct svc_kind *svc_kind_of(struct svc_figures *f, const json_t *cell)
{
	const char *rule = svc_str(cell, "rule"), *stage = svc_str(cell, "stage");
	struct svc_kind *k;

	for (size_t i = 0; i < f->n_kinds; i++)
		if (svc_same(f->kinds[i].rule_name, rule) && svc_same(f->kinds[i].stage, stage))
			return &f->kinds[i];
	k = &f->kinds[f->n_kinds++];
	memset(k, 0, sizeof(*k));
	k->rule = svc_rule_index(rule);
	k->rule_name = rule;
	k->stage = stage;
	return k;
}

/* The kinds in the registry's order, each rule's stages lowest first; unknown rules last. */
static int svc_kind_cmp(const void *pa, const void *pb)
{
	const struct svc_kind *a = pa, *b = pb;
	unsigned ra = (unsigned)a->rule, rb = (unsigned)b->rule;
	const struct rule_def *d;

	if (ra != rb)
		return ra < rb ? -1 : 1;
	if (a->rule < 0)
		return strcmp(a->rule_name ? a->rule_name : "", b->rule_name ? b->rule_name : "");
	d = rule_registry_get((size_t)a->rule);
	return rule_stage_index(d, a->stage ? a->stage : "") -
	       rule_stage_index(d, b->stage ? b->stage : "");
}

static int svc_figures_read(const json_t *cells, struct svc_figures *f)
{
	size_t n = json_array_size(cells), i;
	json_t *c;

	memset(f, 0, sizeof(*f));
	f->teams = calloc(n ? n : 1, sizeof(*f->teams));
	f->kinds = calloc(n ? n : 1, sizeof(*f->kinds));
	if (!f->teams || !f->kinds) {
		svc_figures_free(f);
		return -1;
	}
	json_array_foreach(cells, i, c) {
		struct svc_team *t = svc_team_of(f, c);
		struct svc_kind *k = svc_kind_of(f, c);
		long long o = svc_int(c, "open"), a = svc_int(c, "acknowledged");
		long long s = svc_int(c, "snoozed");

		if (k->rule >= 0)
			t->by_rule[k->rule] += o + a + s;
		t->open += o;
		t->acknowledged += a;
		t->snoozed += s;
		k->open += o;
		k->acknowledged += a;
		k->snoozed += s;
		f->open += o;
		f->acknowledged += a;
		f->snoozed += s;
	}
	qsort(f->kinds, f->n_kinds, sizeof(*f->kinds), svc_kind_cmp);
	return 0;
}

/* ---- the sections ---- */

static void svc_summary(struct strbuf *p, const struct svc_figures *f, const char *today,
			int sees_all)
{
	strbuf_append(p, "<p>On ");
	html_date(p, today, 1);
	strbuf_printf(p, " there are <strong>%lld open alerts</strong>: %lld unanswered, %lld "
		      "acknowledged and %lld snoozed.", f->open + f->acknowledged + f->snoozed,
		      f->open, f->acknowledged, f->snoozed);
	if (!sees_all)
		strbuf_append(p, " These counts cover the whole service; the lists of the oldest "
			      "unanswered and of those snoozed because the case record is wrong "
			      "show only the alerts that are yours to see.");
	strbuf_append(p, "</p>\n");
}

static int svc_team_chart(struct strbuf *p, const struct svc_figures *f)
{
	size_t n = f->n_teams < SVC_CHART_TEAMS ? f->n_teams : SVC_CHART_TEAMS;
	size_t *order = calloc(f->n_teams ? f->n_teams : 1, sizeof(*order));
	const char **labels = calloc(n ? n : 1, sizeof(*labels));
	double *v = calloc(3 * (n ? n : 1), sizeof(*v));
	struct strbuf names;
	char **owned = calloc(n ? n : 1, sizeof(*owned));
	int rc = -1;

	if (!order || !labels || !v || !owned)
		goto out;
	for (size_t i = 0; i < f->n_teams; i++)
		order[i] = i;
	/* the largest teams first (insertion sort: a few hundred teams at most) */
	for (size_t i = 1; i < f->n_teams; i++) {
		size_t x = order[i], j = i;
		const struct svc_team *t = &f->teams[x];
		long long tot = t->open + t->acknowledged + t->snoozed;

		while (j > 0) {
			const struct svc_team *u = &f->teams[order[j - 1]];

			if (u->open + u->acknowledged + u->snoozed >= tot)
				break;
			order[j] = order[j - 1];
			j--;
		}
		order[j] = x;
	}
	for (size_t i = 0; i < n; i++) {
		const struct svc_team *t = &f->teams[order[i]];

		strbuf_init(&names);
		/* the chart escapes its labels itself: the plain name here */
		strbuf_append(&names, !t->id ? "No allocated team" : t->name && *t->name ? t->name
			      : t->id);
		owned[i] = strbuf_take(&names);
		labels[i] = owned[i] ? owned[i] : "";
		v[i] = (double)t->open;
		v[n + i] = (double)t->acknowledged;
		v[2 * n + i] = (double)t->snoozed;
	}
	{
		struct chart_series s[3] = { { "Unanswered", SVC_RED, v },
					     { "Acknowledged", SVC_BLUE, v + n },
					     { "Snoozed", SVC_GREY, v + 2 * n } };
		char desc[256];
		struct chart c = { "chart-teams", "Open alerts by team", desc, labels, n, s, 3 };

		snprintf(desc, sizeof(desc), "A bar for each of the %zu teams with the most open "
			 "alerts, split into unanswered, acknowledged and snoozed. The table below "
			 "gives every team's figures.", n);
		strbuf_append(p, "<figure>\n");
		rc = chart_bars(p, &c);
		strbuf_append(p, "<figcaption>Open alerts by team, split by response");
		if (f->n_teams > n)
			strbuf_printf(p, " (the %zu teams with the most)", n);
		strbuf_append(p, ".</figcaption>\n</figure>\n");
	}
out:
	for (size_t i = 0; owned && i < n; i++)
		free(owned[i]);
	free(owned);
	free(order);
	free(labels);
	free(v);
	return rc;
}

static void svc_team_table(struct strbuf *p, const struct svc_figures *f)
{
	size_t nr = rule_registry_count();

	strbuf_append(p, "<table>\n<caption>Open alerts by team and rule</caption>\n<thead><tr>"
		      "<th scope=\"col\">Team</th>");
	for (size_t r = 0; r < nr; r++) {
		strbuf_append(p, "<th scope=\"col\">");
		html_escape(p, rule_registry_get(r)->title);
		strbuf_append(p, "</th>");
	}
	strbuf_append(p, "<th scope=\"col\">Unanswered</th><th scope=\"col\">All open</th>"
		      "</tr></thead>\n<tbody>\n");
	if (f->n_teams == 0)
		strbuf_printf(p, "<tr><td colspan=\"%zu\">No open alerts.</td></tr>\n", nr + 3);
	for (size_t i = 0; i < f->n_teams; i++) {
		const struct svc_team *t = &f->teams[i];

		strbuf_append(p, "<tr><th scope=\"row\">");
		if (t->id) {
			strbuf_append(p, "<a href=\"team/");
			html_escape(p, t->id);
			strbuf_append(p, "\">");
		}
		svc_team_label(p, t->id, t->name);
		strbuf_append(p, t->id ? "</a></th>" : "</th>");
		for (size_t r = 0; r < nr; r++)
			strbuf_printf(p, "<td>%lld</td>", t->by_rule[r]);
		strbuf_printf(p, "<td>%lld</td><td>%lld</td></tr>\n", t->open,
			      t->open + t->acknowledged + t->snoozed);
	}
	strbuf_append(p, "</tbody>\n</table>\n");
}

static int svc_kinds(struct strbuf *p, const struct svc_figures *f)
{
	size_t n = f->n_kinds;
	const char **labels = calloc(n ? n : 1, sizeof(*labels));
	double *v = calloc(3 * (n ? n : 1), sizeof(*v));
	int rc = -1;

	if (!labels || !v)
		goto out;
	for (size_t i = 0; i < n; i++) {
		labels[i] = svc_stage_words(f->kinds[i].rule_name, f->kinds[i].stage);
		v[i] = (double)f->kinds[i].open;
		v[n + i] = (double)f->kinds[i].acknowledged;
		v[2 * n + i] = (double)f->kinds[i].snoozed;
	}
	{
		struct chart_series s[3] = { { "Unanswered", SVC_RED, v },
					     { "Acknowledged", SVC_BLUE, v + n },
					     { "Snoozed", SVC_GREY, v + 2 * n } };
		struct chart c = { "chart-kinds", "Open alerts by kind",
				   "A bar for each kind of alert, split into unanswered, acknowledged "
				   "and snoozed. The table below gives the figures.", labels, n, s,
				   3 };

		strbuf_append(p, "<figure>\n");
		rc = chart_bars(p, &c);
		strbuf_append(p, "<figcaption>Open alerts by kind, split by response."
			      "</figcaption>\n</figure>\n");
	}
	strbuf_append(p, "<table>\n<caption>Open alerts by rule and stage</caption>\n<thead><tr>"
		      "<th scope=\"col\">Rule</th><th scope=\"col\">Stage</th>"
		      "<th scope=\"col\">Unanswered</th><th scope=\"col\">Acknowledged</th>"
		      "<th scope=\"col\">Snoozed</th><th scope=\"col\">All open</th></tr></thead>\n"
		      "<tbody>\n");
	if (n == 0)
		strbuf_append(p, "<tr><td colspan=\"6\">No open alerts.</td></tr>\n");
	for (size_t i = 0; i < n; i++) {
		const struct svc_kind *k = &f->kinds[i];

		strbuf_append(p, "<tr><td>");
		html_escape(p, svc_rule_title(k->rule_name));
		strbuf_append(p, "</td><th scope=\"row\">");
		html_escape(p, labels[i]);
		strbuf_printf(p, "</th><td>%lld</td><td>%lld</td><td>%lld</td><td>%lld</td></tr>\n",
			      k->open, k->acknowledged, k->snoozed,
			      k->open + k->acknowledged + k->snoozed);
	}
	strbuf_append(p, "</tbody>\n</table>\n");
out:
	free(labels);
	free(v);
	return rc;
}

/* A row's first cells: the child (its page's link, the id percent-encoded as a path segment),
 * the alert in words and the team; the caller goes on in an open <td>. */
static void svc_alert_cells(struct strbuf *p, const json_t *o)
{
	const char *child = svc_str(o, "child_id");

	/* an identifier broken over two lines reads as two */
	strbuf_append(p, "<tr><th scope=\"row\"><a class=\"id\" href=\"child/");
	alert_view_segment(p, child);
	strbuf_append(p, "\">");
	html_escape(p, child);
	strbuf_append(p, "</a></th><td>");
	html_escape(p, svc_stage_words(svc_str(o, "rule"), svc_str(o, "stage")));
	strbuf_append(p, " <span class=\"muted\">(");
	html_escape(p, svc_rule_title(svc_str(o, "rule")));
	strbuf_append(p, ")</span></td><td>");
	svc_team_label(p, svc_str(o, "team_id"), svc_str(o, "team"));
	strbuf_append(p, "</td><td>");
}

/* "2026-03-01" -> month index and year; -1 when not that shape. */
static int svc_month(const char *iso, int *year, int *month)
{
	if (!iso || sscanf(iso, "%4d-%2d", year, month) != 2 || *month < 1 || *month > 12)
		return -1;
	return 0;
}

static void svc_average(struct strbuf *p, const json_t *v)
{
	if (!json_is_number(v))
		strbuf_append(p, "not counted");
	else
		strbuf_printf(p, "%.1f", json_number_value(v));
}

static int svc_trend(struct strbuf *p, const json_t *trend)
{
	size_t n = json_array_size(trend), i;
	char (*names)[16] = calloc(n ? n : 1, sizeof(*names));
	const char **labels = calloc(n ? n : 1, sizeof(*labels));
	double *v = calloc(2 * (n ? n : 1), sizeof(*v));
	json_t *m;
	int rc = -1;

	if (!names || !labels || !v)
		goto out;
	json_array_foreach(trend, i, m) {
		int y = 0, mo = 0;
		const json_t *a = json_object_get(m, "alerts"), *u = json_object_get(m, "unanswered");

		if (svc_month(svc_str(m, "month"), &y, &mo) == 0)
			snprintf(names[i], sizeof(names[i]), "%.3s %d", svc_months[mo - 1], y);
		labels[i] = names[i];
		v[i] = json_is_number(a) ? json_number_value(a) : CHART_NONE;
		v[n + i] = json_is_number(u) ? json_number_value(u) : CHART_NONE;
	}
	{
		struct chart_series s[2] = { { "Open alerts", SVC_BLUE, v },
					     { "Unanswered", SVC_RED, v + n } };
		struct chart c = { "chart-trend", "Open alerts over the last 12 months",
				   "Two lines by month: the open alerts, and the unanswered among "
				   "them, each the average of the days counted that month; a gap is a "
				   "month with no day counted. The table beside it gives the figures.",
				   labels, n, s, 2 };

		strbuf_append(p, "<figure>\n");
		rc = chart_lines(p, &c);
		strbuf_append(p, "<figcaption>Open and unanswered alerts by month (the average of "
			      "the days counted).</figcaption>\n</figure>\n");
	}
	strbuf_append(p, "<table>\n<caption>Open alerts by month</caption>\n<thead><tr>"
		      "<th scope=\"col\">Month</th><th scope=\"col\">Days counted</th>"
		      "<th scope=\"col\">Open alerts (daily average)</th>"
		      "<th scope=\"col\">Unanswered (daily average)</th></tr></thead>\n<tbody>\n");
	json_array_foreach(trend, i, m) {
		int y = 0, mo = 0;

		strbuf_append(p, "<tr><th scope=\"row\">");
		if (svc_month(svc_str(m, "month"), &y, &mo) == 0)
			strbuf_printf(p, "%s %d", svc_months[mo - 1], y);
		strbuf_printf(p, "</th><td>%lld</td><td>", svc_int(m, "days"));
		svc_average(p, json_object_get(m, "alerts"));
		strbuf_append(p, "</td><td>");
		svc_average(p, json_object_get(m, "unanswered"));
		strbuf_append(p, "</td></tr>\n");
	}
	strbuf_append(p, "</tbody>\n</table>\n");
out:
	free(names);
	free(labels);
	free(v);
	return rc;
}

static void svc_oldest(struct strbuf *p, const json_t *oldest, long long total)
{
	size_t i;
	json_t *o;

	strbuf_append(p, "<table>\n<caption>");
	if (total == 0)
		strbuf_append(p, "No unanswered alerts");
	else if ((long long)json_array_size(oldest) < total)
		strbuf_printf(p, "The %zu oldest of %lld unanswered alerts", json_array_size(oldest),
			      total);
	else
		strbuf_printf(p, "%lld unanswered alert%s", total, total == 1 ? "" : "s");
	strbuf_append(p, "</caption>\n<thead><tr><th scope=\"col\">Child</th>"
		      "<th scope=\"col\">Alert</th><th scope=\"col\">Team</th>"
		      "<th scope=\"col\">Stage recorded</th><th scope=\"col\">Days waiting</th>"
		      "</tr></thead>\n<tbody>\n");
	json_array_foreach(oldest, i, o) {
		svc_alert_cells(p, o);
		html_date(p, svc_str(o, "since"), 1);
		strbuf_printf(p, "</td><td>%lld</td></tr>\n", svc_int(o, "days"));
	}
	strbuf_append(p, "</tbody>\n</table>\n");
}

/* The alerts snoozed because the case record is wrong (RESPONSES.md lists them for the
 * operators): whose record, which alert, until when, who said so and their note. */
static void svc_record_wrong(struct strbuf *p, const json_t *wrong, long long total)
{
	size_t i;
	json_t *w;

	strbuf_append(p, "<table>\n<caption>");
	if (total == 0)
		strbuf_append(p, "No alerts snoozed because the case record is wrong");
	else if ((long long)json_array_size(wrong) < total)
		strbuf_printf(p, "%zu of %lld alerts snoozed because the case record is wrong: "
			      "those whose snooze ends first", json_array_size(wrong), total);
	else
		strbuf_printf(p, "%lld alert%s snoozed because the case record is wrong", total,
			      total == 1 ? "" : "s");
	strbuf_append(p, "</caption>\n<thead><tr><th scope=\"col\">Child</th>"
		      "<th scope=\"col\">Alert</th><th scope=\"col\">Team</th>"
		      "<th scope=\"col\">Snoozed until</th><th scope=\"col\">Said by</th>"
		      "<th scope=\"col\">Note</th></tr></thead>\n<tbody>\n");
	json_array_foreach(wrong, i, w) {
		svc_alert_cells(p, w);
		html_date(p, svc_str(w, "until"), 1);
		strbuf_append(p, "</td><td>");
		/* driftwatch.snooze() in SQL records no one */
		html_escape(p, svc_str(w, "by") ? svc_str(w, "by") : "not recorded");
		strbuf_append(p, "</td><td>");
		html_escape(p, svc_str(w, "note") ? svc_str(w, "note") : "none");
		strbuf_append(p, "</td></tr>\n");
	}
	strbuf_append(p, "</tbody>\n</table>\n");
}

/* A median in hours as people say it: hours up to two days, days after. */
static void svc_duration(struct strbuf *p, const json_t *hours)
{
	double h;

	if (!json_is_number(hours)) {
		strbuf_append(p, "none answered");
		return;
	}
	h = json_number_value(hours);
	if (h < 1.0)
		strbuf_append(p, "under an hour");
	else if (h < 48.0)
		strbuf_printf(p, "%.1f hours", h);
	else
		strbuf_printf(p, "%.1f days", h / 24.0);
}

static void svc_answers(struct strbuf *p, const json_t *answers)
{
	size_t i;
	json_t *a;

	strbuf_append(p, "<p>For each stage an alert reached in the last 90 days: whether the first "
		      "thing after it was an acknowledgement or a snooze (rather than nothing, a "
		      "change of stage or the alert ending), and the median time from the stage's "
		      "recording to that answer.</p>\n<table>\n<caption>Time to an answer, last 90 "
		      "days</caption>\n<thead><tr><th scope=\"col\">Rule</th>"
		      "<th scope=\"col\">Stages recorded</th><th scope=\"col\">Answered</th>"
		      "<th scope=\"col\">Median time to an answer</th></tr></thead>\n<tbody>\n");
	if (json_array_size(answers) == 0)
		strbuf_append(p, "<tr><td colspan=\"4\">No stage recorded in the last 90 days."
			      "</td></tr>\n");
	json_array_foreach(answers, i, a) {
		strbuf_append(p, "<tr><th scope=\"row\">");
		html_escape(p, svc_rule_title(svc_str(a, "rule")));
		strbuf_printf(p, "</th><td>%lld</td><td>%lld</td><td>", svc_int(a, "stages"),
			      svc_int(a, "answered"));
		svc_duration(p, json_object_get(a, "median_hours"));
		strbuf_append(p, "</td></tr>\n");
	}
	strbuf_append(p, "</tbody>\n</table>\n");
}

static void svc_glossary(struct strbuf *p)
{
	strbuf_append(p, "<h2 id=\"rules\">What the rules look for</h2>\n<dl>\n");
	for (size_t r = 0; r < rule_registry_count(); r++) {
		const struct rule_def *d = rule_registry_get(r);

		strbuf_append(p, "<dt>");
		html_escape(p, d->title);
		strbuf_append(p, "</dt>\n<dd>");
		/* doc starts in lower case, for --help: a sentence here */
		if (d->doc && *d->doc) {
			char first[2] = { (char)(d->doc[0] >= 'a' && d->doc[0] <= 'z' ?
						 d->doc[0] - 'a' + 'A' : d->doc[0]), '\0' };

			html_escape(p, first);
			html_escape(p, d->doc + 1);
			strbuf_append(p, ".");
		}
		strbuf_append(p, "</dd>\n");
	}
	strbuf_append(p, "</dl>\n");
}

/* ---- the request ---- */

/* The trend and the time to an answer move slowly and are kept up to a quarter of an hour
 * (web_service_answers.sql): say when they were worked out. */
static void svc_slow_note(struct strbuf *p, const char *at)
{
	if (!at)
		return;
	strbuf_append(p, "<p>The last 12 months and the time to an answer were worked out at ");
	html_escape(p, at);
	strbuf_append(p, " and are worked out again every quarter of an hour; the open alerts above "
		      "are as they are now.</p>\n");
}

static int svc_render(struct strbuf *p, const json_t *o, const struct web_job *job)
{
	struct svc_figures f;
	const char *today = svc_str(o, "today");
	int rc = 0;

	if (svc_figures_read(json_object_get(o, "cells"), &f) < 0)
		return -1;
	page_open(p, "", "Service overview", job->person);
	svc_summary(p, &f, today, job->vis.all);
	strbuf_append(p, "<p>Jump to: <a href=\"#teams\">by team</a>, <a href=\"#kinds\">by kind"
		      "</a>, <a href=\"#trend\">the last 12 months</a>, <a href=\"#oldest\">the "
		      "oldest unanswered</a>, <a href=\"#record-wrong\">snoozed because the case "
		      "record is wrong</a>, <a href=\"#answers\">time to an answer</a>, "
		      "<a href=\"#rules\">what the rules look for</a>.</p>\n");
	strbuf_append(p, "<h2 id=\"teams\">Open alerts by team</h2>\n");
	rc |= svc_team_chart(p, &f);
	svc_team_table(p, &f);
	strbuf_append(p, "<h2 id=\"kinds\">Open alerts by kind</h2>\n");
	rc |= svc_kinds(p, &f);
	strbuf_append(p, "<h2 id=\"trend\">The last 12 months</h2>\n<p>Counted once a day, by the "
		      "first evaluation of everyone that day.</p>\n");
	rc |= svc_trend(p, json_object_get(o, "trend"));
	strbuf_append(p, "<h2 id=\"oldest\">The oldest unanswered</h2>\n<p>Alerts whose current "
		      "stage nobody has acknowledged or snoozed, longest waiting first");
	strbuf_append(p, job->vis.all ? ".</p>\n" : "; only those that are yours to see.</p>\n");
	svc_oldest(p, json_object_get(o, "oldest"), svc_int(o, "unanswered"));
	strbuf_append(p, "<h2 id=\"record-wrong\">Snoozed because the case record is wrong</h2>\n"
		      "<p>Alerts snoozed because the child's case record is wrong and is being "
		      "corrected, the snooze that ends first first; the operators are told of each "
		      "by email");
	strbuf_append(p, job->vis.all ? ".</p>\n" : ". Only those that are yours to see.</p>\n");
	svc_record_wrong(p, json_object_get(o, "record_wrong"), svc_int(o, "record_wrong_total"));
	strbuf_append(p, "<h2 id=\"answers\">How long answers take</h2>\n");
	svc_answers(p, json_object_get(o, "answers"));
	svc_slow_note(p, svc_str(o, "at"));
	svc_glossary(p);
	page_close(p);
	svc_figures_free(&f);
	return rc;
}

/* A part of the figures for everyone and the web_service_version.sql text it was computed at. */
struct svc_part {
	char *version;
	json_t *figures;
};

/* The figures for everyone, the same for every person and 100 ms or more to compute at a million
 * children, so each part is computed again only when its version text changes: the open alerts
 * (web_service_body.sql) and the slow statistics (web_service_answers.sql). */
struct web_service_cache {
	struct svc_part open, slow;
};

/* What a request carries between its statements: the versions the database gave. */
struct svc_req {
	char *open_version, *slow_version;
};

static void svc_part_clear(struct svc_part *part)
{
	free(part->version);
	json_decref(part->figures);
	part->version = NULL;
	part->figures = NULL;
}

void web_service_cache_free(struct web_service_cache *cache)
{
	if (!cache)
		return;
	svc_part_clear(&cache->open);
	svc_part_clear(&cache->slow);
	free(cache);
}

static void svc_req_free(void *data)
{
	struct svc_req *r = data;

	if (!r)
		return;
	free(r->open_version);
	free(r->slow_version);
	free(r);
}

static int svc_part_fresh(const struct svc_part *part, const char *version)
{
	return part->figures && part->version && version && strcmp(part->version, version) == 0;
}

/* Keeps figures (a reference taken over) as the part computed at *version (taken over). */
static void svc_part_set(struct svc_part *part, json_t *figures, char **version)
{
	svc_part_clear(part);
	part->figures = figures;
	part->version = *version;
	*version = NULL;
}

static void svc_send(struct web_job *job, const json_t *o)
{
	struct strbuf p;

	if (svc_render(&p, o, job) < 0) {
		log_err(job->ctx, "web: /service: its figures could not be drawn");
		web_job_error(job, 500, "The service overview could not be drawn.");
		return;
	}
	page_send(job, 200, &p);
}

/* The teams' names of the figures for everyone, given to the narrowed list of the oldest: a team
 * with an open alert (unanswered or snoozed) has a cell. */
static void svc_name_teams(json_t *oldest, const json_t *cells)
{
	size_t i, j;
	json_t *o, *c;

	json_array_foreach(oldest, i, o) {
		const char *id = svc_str(o, "team_id");

		json_array_foreach(cells, j, c) {
			if (id && svc_same(id, svc_str(c, "team_id")) && svc_str(c, "team")) {
				json_object_set(o, "team", json_object_get(c, "team"));
				break;
			}
		}
	}
}

static json_t *svc_parse(PGresult *res)
{
	json_error_t je;
	json_t *o = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), 0, &je) : NULL;

	if (json_is_object(o))
		return o;
	json_decref(o);
	return NULL;
}

/* The page's figures: a shallow copy of the open alerts' with the slow part's keys added. */
static json_t *svc_merged(struct web_job *job)
{
	struct web_service_cache *cache = *web_service_cache_slot(job->srv);
	json_t *o = json_copy(cache->open.figures);

	if (o && json_object_update(o, cache->slow.figures) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void svc_oom(struct web_job *job)
{
	log_err(job->ctx, "web: /service: out of memory");
	web_job_error(job, 500, "The service overview could not be drawn.");
}

/* The person's own oldest unanswered, put into the figures for everyone. */
static void svc_on_mine(struct web_job *job, PGresult *res)
{
	json_t *mine = svc_parse(res);
	json_t *o = mine ? svc_merged(job) : NULL;

	if (!mine || !o || !json_is_array(json_object_get(mine, "oldest")) ||
	    !json_is_array(json_object_get(mine, "record_wrong"))) {
		json_decref(mine);
		json_decref(o);
		log_err(job->ctx, "web: /service: the oldest unanswered of %s could not be read",
			job->person);
		web_job_error(job, 500, "The service overview could not be drawn.");
		return;
	}
	svc_name_teams(json_object_get(mine, "oldest"), json_object_get(o, "cells"));
	json_object_set(o, "oldest", json_object_get(mine, "oldest"));
	json_object_set(o, "unanswered", json_object_get(mine, "unanswered"));
	svc_name_teams(json_object_get(mine, "record_wrong"), json_object_get(o, "cells"));
	json_object_set(o, "record_wrong", json_object_get(mine, "record_wrong"));
	json_object_set(o, "record_wrong_total", json_object_get(mine, "record_wrong_total"));
	svc_send(job, o);
	json_decref(mine);
	json_decref(o);
}

/* Both parts are at hand: a person who sees everything has the page; anyone else gets their own
 * oldest unanswered first. */
static void svc_have_figures(struct web_job *job)
{
	const char *params[2] = { job->ctx->cfg->timezone, visibility_param(&job->vis) };
	json_t *o;

	if (!job->vis.all) {
		web_job_query(job, sql_web_service_mine, 2, params, svc_on_mine);
		return;
	}
	o = svc_merged(job);
	if (!o) {
		svc_oom(job);
		return;
	}
	svc_send(job, o);
	json_decref(o);
}

static void svc_on_answers(struct web_job *job, PGresult *res)
{
	struct web_service_cache *cache = *web_service_cache_slot(job->srv);
	struct svc_req *r = job->data;
	json_t *o = svc_parse(res);

	if (!o) {
		log_err(job->ctx, "web: /service: its trend and time to an answer could not be read");
		web_job_error(job, 500, "The service overview could not be drawn.");
		return;
	}
	svc_part_set(&cache->slow, o, &r->slow_version);
	svc_have_figures(job);
}

/* The open alerts' part is at hand: the slow part next, when its version moved. */
static void svc_have_open(struct web_job *job)
{
	struct web_service_cache *cache = *web_service_cache_slot(job->srv);
	struct svc_req *r = job->data;
	const char *params[1] = { job->ctx->cfg->timezone };

	if (svc_part_fresh(&cache->slow, r->slow_version)) {
		svc_have_figures(job);
		return;
	}
	web_job_query(job, sql_web_service_answers, 1, params, svc_on_answers);
}

static void svc_on_open(struct web_job *job, PGresult *res)
{
	struct web_service_cache *cache = *web_service_cache_slot(job->srv);
	struct svc_req *r = job->data;
	json_t *o = svc_parse(res);

	job->on_error = NULL;
	if (!o) {
		log_err(job->ctx, "web: /service: its figures could not be read");
		web_job_error(job, 500, "The service overview could not be drawn.");
		return;
	}
	svc_part_set(&cache->open, o, &r->open_version);
	svc_have_open(job);
}

/* The figures for everyone from the state, the teams named by team_ids and names (text[]). */
static void svc_figures(struct web_job *job, const char *team_ids, const char *names)
{
	const char *params[3] = { job->ctx->cfg->timezone, team_ids, names };

	web_job_query(job, sql_web_service_state, 3, params, svc_on_open);
}

/* The case data could not be read (the teams' names): the same figures, teams by their ids. */
static void svc_on_case_failed(struct web_job *job, const char *why)
{
	log_warn(job->ctx, "web: /service could not read the teams' names from the case data (%s); "
		 "the page shows the teams by their ids", why);
	svc_figures(job, "{}", "{}");
}

static void svc_on_names(struct web_job *job, PGresult *res)
{
	if (PQntuples(res) != 1 || PQnfields(res) != 2 || PQgetisnull(res, 0, 0) ||
	    PQgetisnull(res, 0, 1)) {
		svc_on_case_failed(job, "the teams' names were not in the shape expected");
		return;
	}
	svc_figures(job, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1));
}

static void svc_on_version(struct web_job *job, PGresult *res)
{
	struct web_service_cache **slot = web_service_cache_slot(job->srv);
	struct svc_req *r = calloc(1, sizeof(*r));

	if (r && PQntuples(res) == 1 && PQnfields(res) == 2) {
		r->open_version = strdup(PQgetvalue(res, 0, 0));
		r->slow_version = strdup(PQgetvalue(res, 0, 1));
	}
	if (!*slot)
		*slot = calloc(1, sizeof(**slot));
	if (!r || !r->open_version || !r->slow_version || !*slot) {
		svc_req_free(r);
		svc_oom(job);
		return;
	}
	job->data = r;
	job->data_free = svc_req_free;
	if (svc_part_fresh(&(*slot)->open, r->open_version)) {
		svc_have_open(job);
		return;
	}
	/* the teams' names from the case data first (it may be another database) */
	job->on_error = svc_on_case_failed;
	web_job_query(job, sql_web_service, 0, NULL, svc_on_names);
}

static void svc_query(struct web_job *job)
{
	const char *params[1] = { job->ctx->cfg->timezone };

	web_job_query(job, sql_web_service_version, 1, params, svc_on_version);
}

void web_service_page(struct web_server *srv, struct evhttp_request *req, const char *person)
{
	char *who = person ? strdup(person) : NULL;
	struct web_job *job;

	/* Without a person the job would see everything (as a bearer token does): never here. */
	if (!who) {
		http_reply(req, 500, web_reason(500), "text/plain; charset=utf-8",
			   "out of memory\n", 14);
		return;
	}
	job = web_job_add(srv, req, 0, web_job_visible);
	if (!job) {
		free(who);
		return;
	}
	job->then = svc_query;
	job->person = who;
	job->page = 1;         /* its refusals and failures are pages for people, not links' */
}
