/* test_chart: the SVG bar and line charts of the pages: accessible, attribute-styled, to scale. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/chart.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

/* The width of the rect that follows the n-th "fill=\"colour\"" rect, or -1. */
static double rect_width(const char *svg, const char *colour, int nth)
{
	char key[64];
	const char *p = svg;

	snprintf(key, sizeof(key), "fill=\"%s\"/>", colour);
	for (int i = 0; i <= nth; i++) {
		p = strstr(p, key);
		if (!p)
			return -1;
		if (i < nth)
			p += strlen(key);
	}
	while (p > svg && strncmp(p, "<rect", 5) != 0)
		p--;
	p = strstr(p, "width=\"");
	return p ? atof(p + 7) : -1;
}

static void test_axis(void)
{
	tap_ok(chart_axis_top(0) == 1.0, "an empty axis goes to 1");
	tap_ok(chart_axis_top(1) == 1.0, "1 to 1");
	tap_ok(chart_axis_top(7) == 10.0, "7 to 10");
	tap_ok(chart_axis_top(10) == 10.0, "10 to 10");
	tap_ok(chart_axis_top(11) == 20.0, "11 to 20");
	tap_ok(chart_axis_top(430) == 500.0, "430 to 500");
	tap_ok(chart_axis_top(2000) == 2000.0, "2000 to 2000");
}

static void test_bars(void)
{
	const char *labels[] = { "Team <A> & co", "Team B",
				 "A team whose name goes on far longer than thirty characters" };
	double open[] = { 5, 0, 20 }, ack[] = { 5, 3, CHART_NONE };
	struct chart_series series[] = { { "Unanswered", "#b42318", open },
					 { "Acknowledged", "#0b5fa5", ack } };
	struct chart c = { "bars", "Open alerts by team", "Bars; the table below has the figures",
			   labels, 3, series, 2 };
	struct strbuf sb;
	char *svg;
	double w10, w5;

	strbuf_init(&sb);
	tap_int(chart_bars(&sb, &c), 0, "a bar chart is drawn");
	svg = strbuf_take(&sb);
	tap_contains(svg, "role=\"img\"", "it is an image to assistive technology");
	tap_contains(svg, "aria-labelledby=\"bars-title bars-desc\"", "named by its title and desc");
	tap_contains(svg, "<title id=\"bars-title\">Open alerts by team</title>", "its title");
	tap_contains(svg, "<desc id=\"bars-desc\">Bars; the table below has the figures</desc>",
		     "its description");
	tap_lacks(svg, "style=", "no style attribute (the pages' policy forbids them)");
	tap_lacks(svg, "<script", "no script");
	tap_contains(svg, "Team &lt;A&gt; &amp; co", "labels are escaped");
	tap_contains(svg, "A team whose name goes on far \xe2\x80\xa6</text>",
		     "a long label is cut short with an ellipsis");
	/* 20 is the largest stack (and 10): the axis goes to 20, the plot is 460 wide */
	w10 = rect_width(svg, "#b42318", 1);
	w5 = rect_width(svg, "#b42318", 0);
	tap_ok(w10 > 459 && w10 < 461, "20 of 20 fills the plot (%.1f)", w10);
	tap_ok(w5 > 114 && w5 < 116, "5 of 20 is a quarter of it (%.1f)", w5);
	tap_int((long long)count(svg, "fill=\"#0b5fa5\"/>"), 3,
		"a zero, and no figure, draw no bar (two bars and the legend's swatch)");
	tap_contains(svg, ">10</text>", "the first bar's total is written at its end");
	tap_contains(svg, ">Acknowledged</text>", "the legend names the series");
	tap_int((long long)count(svg, "<svg"), (long long)count(svg, "</svg>"), "one svg, closed");
	tap_int((long long)count(svg, "<g"), (long long)count(svg, "</g>"), "every group closed");
	tap_int((long long)count(svg, "<text"), (long long)count(svg, "</text>"),
		"every text closed");
	free(svg);
}

static void test_lines(void)
{
	const char *labels[] = { "Jan 2026", "Feb 2026", "Mar 2026", "Apr 2026", "May 2026" };
	double all[] = { 10, CHART_NONE, 30, 40, 50 }, open[] = { 4, CHART_NONE, 8, 2, 1 };
	struct chart_series series[] = { { "Open alerts", "#0b5fa5", all },
					 { "Unanswered", "#b42318", open } };
	struct chart c = { "trend", "Trend", NULL, labels, 5, series, 2 };
	struct strbuf sb;
	char *svg;

	strbuf_init(&sb);
	tap_int(chart_lines(&sb, &c), 0, "a line chart is drawn");
	svg = strbuf_take(&sb);
	tap_int((long long)count(svg, "<polyline"), 4,
		"a gap splits each line in two (two series)");
	tap_int((long long)count(svg, "<circle"), 4, "the first series marks its 4 figures "
		"with circles");
	tap_contains(svg, "stroke-dasharray=\"6 4\"", "the second series is dashed");
	tap_contains(svg, "<desc id=\"trend-desc\">Trend</desc>", "no desc: the title describes");
	tap_contains(svg, "rotate(-40", "the month labels are slanted to fit");
	tap_lacks(svg, "style=", "no style attribute");
	tap_contains(svg, ">50</text>", "the axis goes to 50");
	free(svg);
}

static void test_refused(void)
{
	struct chart_series series[] = { { "x", "#000000", NULL } };
	const char *labels[] = { "a" };
	struct chart c = { "x", "X", NULL, labels, 1, series, 1 };
	struct chart none = { "y", "Y", NULL, NULL, 0, series, 1 };
	struct strbuf sb;
	char *svg;

	strbuf_init(&sb);
	tap_int(chart_bars(&sb, &c), -1, "a series without values is refused");
	c.n_series = 0;
	tap_int(chart_lines(&sb, &c), -1, "a chart without series is refused");
	tap_int((long long)sb.len, 0, "... and nothing is written");
	tap_int(chart_bars(&sb, &none), 0, "no labels: an empty chart");
	svg = strbuf_take(&sb);
	tap_contains(svg, "No figures yet.", "... that says so");
	free(svg);
	strbuf_init(&sb);
	tap_int(chart_lines(&sb, &none), 0, "an empty line chart");
	svg = strbuf_take(&sb);
	tap_contains(svg, "No figures yet.", "... says so too");
	free(svg);
}

int main(void)
{
	test_axis();
	test_bars();
	test_lines();
	test_refused();
	return tap_status();
}
