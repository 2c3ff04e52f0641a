/* timeline: a child's chronology drawn as SVG, on the server, for the child's page. */
#include <stdio.h>
#include <string.h>

#include "driftwatch/alert_view.h"
#include "driftwatch/calendar.h"
#include "driftwatch/html.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/timeline.h"

/* Geometry in SVG user units; the page scales the drawing to its width. */
#define TL_WIDTH 960
#define TL_LABEL 176        /* the lanes' names */
#define TL_RIGHT 24
#define TL_AXIS 34          /* year labels above the lanes */
#define TL_LANE 34
#define TL_BOTTOM 12
#define TL_LANES 7
#define TL_MAX_WORKERS 64   /* more than that share the palette's colours in turn */

enum { LANE_REFERRALS, LANE_CIN, LANE_CP, LANE_WORKERS, LANE_APPTS, LANE_STRATEGIES, LANE_ALERTS };

static const char *const tl_lane_names[TL_LANES] = {
	"Referrals", "CIN plans", "CP plans", "Allocated worker", "Missed appointments",
	"Strategies", "Alerts",
};

/* Each at least 3:1 against white, and told apart from its neighbours by more than hue. */
static const char *const tl_palette[] = {
	"#0b5fa5", "#c2410c", "#047857", "#7e22ce", "#a16207", "#be185d", "#334155", "#0e7490",
};
#define TL_PALETTE_N (sizeof(tl_palette) / sizeof(tl_palette[0]))

#define TL_INK "#1f2937"
#define TL_MUTED "#6b7280"     /* 4.8:1 on white */
#define TL_CIN "#0b5fa5"
#define TL_CP "#b42318"
#define TL_GRID "#d1d5db"

struct tl {
	struct strbuf *out;
	int32_t from, to, today;
};

const char *timeline_worker_colour(unsigned index)
{
	return tl_palette[index % TL_PALETTE_N];
}

/* ---- reading the document ---- */

static int tl_day(const json_t *row, const char *key, int32_t *day)
{
	const char *s = json_string_value(json_object_get(row, key));

	return s && calendar_day_parse(s, day) == 0 ? 0 : -1;
}

/* The end of a period: its end day, or today (and a little past it, so that an open bar
 * visibly runs on) when it is still open. -1 when the end is there but is not a day. */
static int tl_end(const struct tl *t, const json_t *row, const char *key, int32_t *day)
{
	const json_t *v = json_object_get(row, key);

	if (!v || json_is_null(v)) {
		*day = t->today;
		return 0;
	}
	return tl_day(row, key, day);
}

static const char *tl_str(const json_t *row, const char *key)
{
	return json_string_value(json_object_get(row, key));
}

static void tl_widen(struct tl *t, const json_t *rows, const char *key)
{
	size_t i;
	const json_t *row;
	int32_t d;

	json_array_foreach(rows, i, row)
		if (tl_day(row, key, &d) == 0 && d < t->from && d > t->today - 366 * 30)
			t->from = d;
}

/* From the first of January of the earliest day shown (at least a year back) to a month past
 * today. */
static void tl_range(struct tl *t, const json_t *chron)
{
	static const struct { const char *section, *key; } firsts[] = {
		{ "referrals", "referral_date" }, { "cin_plans", "start_date" },
		{ "cp_plans", "start_date" }, { "allocations", "start_date" },
		{ "appointments", "day" }, { "strategies", "decided_on" },
		{ "alerts", "first_fired_on" },
	};
	int y, m, d;

	t->from = t->today - 365;
	for (size_t i = 0; i < sizeof(firsts) / sizeof(firsts[0]); i++)
		tl_widen(t, json_object_get(chron, firsts[i].section), firsts[i].key);
	calendar_day_to_ymd(t->from, &y, &m, &d);
	if (calendar_day_from_ymd(y, 1, 1, &t->from) < 0)
		t->from = t->today - 365;
	t->to = t->today + 31;
}

/* ---- drawing ---- */

static double tl_x(const struct tl *t, int32_t day)
{
	if (day < t->from)
		day = t->from;
	if (day > t->to)
		day = t->to;
	return TL_LABEL + (double)(day - t->from) * (TL_WIDTH - TL_RIGHT - TL_LABEL) /
			  (double)(t->to - t->from);
}

static int tl_lane_y(int lane)
{
	return TL_AXIS + lane * TL_LANE;
}

/* A mark's own <title>: what a pointer or a screen reader that enters the drawing finds. */
static void tl_title_open(struct tl *t, const char *what, const char *id)
{
	strbuf_append(t->out, "<title>");
	html_escape(t->out, what);
	if (id && *id) {
		strbuf_append(t->out, " ");
		html_escape(t->out, id);
	}
}

static void tl_title_period(struct tl *t, const json_t *row, const char *skey, const char *ekey)
{
	const char *end = tl_str(row, ekey);

	strbuf_append(t->out, ": ");
	html_date(t->out, tl_str(row, skey), 0);
	strbuf_append(t->out, end ? " to " : ", still open");
	if (end)
		html_date(t->out, end, 0);
}

static void tl_rect(struct tl *t, int32_t a, int32_t b, int y, int h, const char *fill,
		    const char *extra)
{
	double x0 = tl_x(t, a), x1 = tl_x(t, b);

	if (x1 - x0 < 2)
		x1 = x0 + 2;  /* a day-long period is still seen */
	strbuf_printf(t->out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\"%s>",
		      x0, y, x1 - x0, h, fill, extra ? extra : "");
}

static void tl_axis(struct tl *t, int height)
{
	int y0, m, d, y1;

	calendar_day_to_ymd(t->from, &y0, &m, &d);
	calendar_day_to_ymd(t->to, &y1, &m, &d);
	for (int y = y0; y <= y1; y++) {
		int32_t jan1;
		double x;

		if (calendar_day_from_ymd(y, 1, 1, &jan1) < 0 || jan1 < t->from)
			continue;
		x = tl_x(t, jan1);
		strbuf_printf(t->out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
			      "stroke=\"" TL_GRID "\" stroke-width=\"1\"/>", x, TL_AXIS - 6, x,
			      height - TL_BOTTOM);
		if ((y1 - y0 <= 12 || y % 2 == 0) && x < TL_WIDTH - TL_RIGHT - 36)
			strbuf_printf(t->out, "<text x=\"%.1f\" y=\"%d\" font-size=\"13\" "
				      "fill=\"" TL_INK "\">%d</text>", x + 3, TL_AXIS - 12, y);
	}
	for (int lane = 0; lane < TL_LANES; lane++) {
		int y = tl_lane_y(lane);

		strbuf_printf(t->out, "<text x=\"8\" y=\"%d\" font-size=\"13\" fill=\"" TL_INK
			      "\">%s</text><line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\""
			      TL_GRID "\" stroke-width=\"1\"/>", y + 21, tl_lane_names[lane],
			      TL_LABEL, y + TL_LANE, TL_WIDTH - TL_RIGHT, y + TL_LANE);
	}
}

static void tl_today(struct tl *t, int height)
{
	double x = tl_x(t, t->today);

	strbuf_printf(t->out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"" TL_INK
		      "\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"><title>Today, ", x,
		      TL_AXIS - 4, x, height - TL_BOTTOM);
	html_day(t->out, t->today, 0);
	strbuf_append(t->out, "</title></line>");
}

static void tl_referrals(struct tl *t, const json_t *rows)
{
	int y = tl_lane_y(LANE_REFERRALS);
	size_t i;
	const json_t *row;
	int32_t d;

	json_array_foreach(rows, i, row) {
		int neglect = json_is_true(json_object_get(row, "for_neglect"));
		double x;

		if (tl_day(row, "referral_date", &d) < 0)
			continue;
		x = tl_x(t, d);
		strbuf_printf(t->out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\" "
			      "stroke-width=\"%s\">", x, y + (neglect ? 5 : 11), x, y + TL_LANE - 5,
			      neglect ? TL_CP : TL_MUTED, neglect ? "3" : "2");
		tl_title_open(t, "Referral", tl_str(row, "referral_id"));
		strbuf_append(t->out, ", received ");
		html_date(t->out, tl_str(row, "referral_date"), 0);
		strbuf_append(t->out, neglect ? ", for neglect" : "");
		strbuf_append(t->out, "</title></line>");
	}
}

/* One episode's extent among rows: its first start and last end (today when a plan is open). */
static int tl_episode_extent(struct tl *t, const json_t *rows, json_int_t episode, int32_t *a,
			     int32_t *b)
{
	size_t i;
	const json_t *row;
	int found = 0;

	json_array_foreach(rows, i, row) {
		int32_t s, e;

		if (!json_is_true(json_object_get(row, "for_neglect")) ||
		    json_integer_value(json_object_get(row, "episode")) != episode ||
		    tl_day(row, "start_date", &s) < 0 || tl_end(t, row, "end_date", &e) < 0)
			continue;
		if (!found || s < *a)
			*a = s;
		if (!found || e > *b)
			*b = e;
		found = 1;
	}
	return found ? 0 : -1;
}

static void tl_episodes(struct tl *t, const json_t *rows, int lane, const char *colour,
			const char *what)
{
	int y = tl_lane_y(lane);
	json_int_t last = 0;
	size_t i;
	const json_t *row;
	char extra[64];

	/* rows come ordered by start, so each episode's number first appears at its first plan */
	json_array_foreach(rows, i, row) {
		json_int_t ep = json_integer_value(json_object_get(row, "episode"));
		int32_t a = 0, b = 0;

		if (ep <= last || !json_is_true(json_object_get(row, "for_neglect")) ||
		    tl_episode_extent(t, rows, ep, &a, &b) < 0)
			continue;
		last = ep;
		snprintf(extra, sizeof(extra), " fill-opacity=\"0.25\" stroke=\"%s\"", colour);
		tl_rect(t, a, b, y + 8, TL_LANE - 16, colour, extra);
		strbuf_printf(t->out, "<title>%s for neglect, episode %lld: ", what, (long long)ep);
		html_day(t->out, a, 0);
		if (b >= t->today)
			strbuf_append(t->out, ", still open");
		else {
			strbuf_append(t->out, " to ");
			html_day(t->out, b, 0);
		}
		strbuf_append(t->out, "</title></rect>");
	}
}

static void tl_plans(struct tl *t, const json_t *rows, int lane, const char *colour,
		     const char *what)
{
	int y = tl_lane_y(lane);
	size_t i;
	const json_t *row;

	tl_episodes(t, rows, lane, colour, what);
	json_array_foreach(rows, i, row) {
		int neglect = json_is_true(json_object_get(row, "for_neglect"));
		int32_t a, b;

		if (tl_day(row, "start_date", &a) < 0 || tl_end(t, row, "end_date", &b) < 0 || b < a)
			continue;
		tl_rect(t, a, b, y + (neglect ? 14 : 15), neglect ? 6 : 4, neglect ? colour : TL_MUTED,
			NULL);
		tl_title_open(t, what, tl_str(row, "plan_id"));
		tl_title_period(t, row, "start_date", "end_date");
		strbuf_append(t->out, neglect ? ", for neglect" : ", not for neglect");
		strbuf_append(t->out, "</title></rect>");
	}
}

/* Colours by worker, in order of first allocation: a change of colour is a change of worker,
 * and a thin white gap between bars shows where one allocation ends and the next begins. */
static void tl_workers(struct tl *t, const json_t *rows)
{
	const char *seen[TL_MAX_WORKERS];
	unsigned n_seen = 0;
	int y = tl_lane_y(LANE_WORKERS);
	size_t i;
	const json_t *row;

	json_array_foreach(rows, i, row) {
		const char *w = tl_str(row, "worker_id"), *name = tl_str(row, "worker_name");
		unsigned k = 0;
		int32_t a, b;

		if (tl_day(row, "start_date", &a) < 0 || tl_end(t, row, "end_date", &b) < 0 || b < a)
			continue;
		while (k < n_seen && !(w && seen[k] && strcmp(seen[k], w) == 0))
			k++;
		if (k == n_seen && n_seen < TL_MAX_WORKERS)
			seen[n_seen++] = w;
		tl_rect(t, a, b, y + 8, TL_LANE - 16, timeline_worker_colour(k),
			" stroke=\"#ffffff\" stroke-width=\"1\"");
		tl_title_open(t, "Allocated to", name && *name ? name : w ? w : "a worker not named");
		tl_title_period(t, row, "start_date", "end_date");
		strbuf_append(t->out, "</title></rect>");
	}
}

static void tl_appointments(struct tl *t, const json_t *rows)
{
	int y = tl_lane_y(LANE_APPTS) + TL_LANE / 2;
	size_t i;
	const json_t *row;
	int32_t d;

	json_array_foreach(rows, i, row) {
		const char *outcome = tl_str(row, "outcome");
		int wnb = outcome && strcmp(outcome, "was_not_brought") == 0;

		if (tl_day(row, "day", &d) < 0)
			continue;
		strbuf_printf(t->out, "<circle cx=\"%.1f\" cy=\"%d\" r=\"4.5\" fill=\"%s\" stroke=\""
			      TL_CP "\" stroke-width=\"1.5\">", tl_x(t, d), y, wnb ? TL_CP : "#ffffff");
		tl_title_open(t, tl_str(row, "service") ? tl_str(row, "service") : "Appointment",
			      NULL);
		strbuf_append(t->out, " appointment, ");
		html_date(t->out, tl_str(row, "day"), 0);
		strbuf_append(t->out, wnb ? ": was not brought" : ": cancelled by the family");
		strbuf_append(t->out, "</title></circle>");
	}
}

static void tl_strategies(struct tl *t, const json_t *rows)
{
	int y = tl_lane_y(LANE_STRATEGIES) + TL_LANE / 2;
	size_t i;
	const json_t *row;

	json_array_foreach(rows, i, row) {
		int32_t a, b;
		double x;
		int has_review = tl_day(row, "review_by", &b) == 0;

		if (tl_day(row, "decided_on", &a) < 0)
			continue;
		x = tl_x(t, a);
		strbuf_append(t->out, "<g>");
		if (has_review && b > a)
			strbuf_printf(t->out, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\""
				      TL_INK "\" stroke-width=\"2\"/><line x1=\"%.1f\" y1=\"%d\" "
				      "x2=\"%.1f\" y2=\"%d\" stroke=\"" TL_INK "\" stroke-width=\"2\"/>",
				      x, y, tl_x(t, b), y, tl_x(t, b), y - 6, tl_x(t, b), y + 6);
		strbuf_printf(t->out, "<path d=\"M%.1f %d l6 6 l-6 6 l-6 -6 z\" fill=\"" TL_INK "\"/>",
			      x, y - 6);
		tl_title_open(t, "Strategy", tl_str(row, "kind"));
		strbuf_append(t->out, ", decided ");
		html_date(t->out, tl_str(row, "decided_on"), 0);
		strbuf_append(t->out, has_review ? ", review by " : ", no review date");
		if (has_review)
			html_day(t->out, b, 0);
		strbuf_append(t->out, "</title></g>");
	}
}

static void tl_alerts(struct tl *t, const json_t *rows)
{
	int y = tl_lane_y(LANE_ALERTS) + TL_LANE / 2;
	size_t i;
	const json_t *row;
	int32_t d;

	json_array_foreach(rows, i, row) {
		const char *status = tl_str(row, "status");
		int open = !status || strcmp(status, "resolved") != 0;

		if (tl_day(row, "first_fired_on", &d) < 0)
			continue;
		strbuf_printf(t->out, "<path d=\"M%.1f %d l7 12 l-14 0 z\" fill=\"%s\" stroke=\"" TL_INK
			      "\" stroke-width=\"1\">", tl_x(t, d), y - 7, open ? "#f59e0b" : "#ffffff");
		/* the words the pages use for the alert ("CP escalation at 15 months") */
		tl_title_open(t, "Alert:", alert_view_stage_label(tl_str(row, "rule"),
								  tl_str(row, "stage")));
		strbuf_append(t->out, ", first sent ");
		html_date(t->out, tl_str(row, "first_fired_on"), 0);
		strbuf_append(t->out, open ? ", open" : ", resolved");
		strbuf_append(t->out, "</title></path>");
	}
}

/* The drawing in words, for those who cannot see it; the table below it has every row. */
static void tl_desc(struct tl *t, const json_t *chron)
{
	strbuf_append(t->out, "<desc id=\"tl-desc\">From ");
	html_day(t->out, t->from, 1);
	strbuf_printf(t->out, " to today: %zu referrals, %zu CIN plans, %zu CP plans, "
		      "%zu allocations, %zu missed appointments, %zu strategies and %zu alerts. "
		      "The table below lists each of them by date.</desc>",
		      json_array_size(json_object_get(chron, "referrals")),
		      json_array_size(json_object_get(chron, "cin_plans")),
		      json_array_size(json_object_get(chron, "cp_plans")),
		      json_array_size(json_object_get(chron, "allocations")),
		      json_array_size(json_object_get(chron, "appointments")),
		      json_array_size(json_object_get(chron, "strategies")),
		      json_array_size(json_object_get(chron, "alerts")));
}

void timeline_svg(struct strbuf *out, const json_t *chron, int32_t today)
{
	struct tl t = { .out = out, .today = today };
	int height = TL_AXIS + TL_LANES * TL_LANE + TL_BOTTOM;

	tl_range(&t, chron);
	strbuf_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
		      "width=\"100%%\" role=\"img\" aria-labelledby=\"tl-title tl-desc\" "
		      "font-family=\"sans-serif\"><title id=\"tl-title\">Chronology of child ",
		      TL_WIDTH, height);
	html_escape(out, tl_str(chron, "child_id"));
	strbuf_append(out, "</title>");
	tl_desc(&t, chron);
	tl_axis(&t, height);
	tl_referrals(&t, json_object_get(chron, "referrals"));
	tl_plans(&t, json_object_get(chron, "cin_plans"), LANE_CIN, TL_CIN, "CIN plan");
	tl_plans(&t, json_object_get(chron, "cp_plans"), LANE_CP, TL_CP, "CP plan");
	tl_workers(&t, json_object_get(chron, "allocations"));
	tl_appointments(&t, json_object_get(chron, "appointments"));
	tl_strategies(&t, json_object_get(chron, "strategies"));
	tl_alerts(&t, json_object_get(chron, "alerts"));
	tl_today(&t, height);
	strbuf_append(out, "</svg>");
}
