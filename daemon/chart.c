/* chart: bar and line charts drawn on the server as SVG, for the pages for people. */
#include <math.h>
#include <string.h>

#include "driftwatch/chart.h"
#include "driftwatch/html.h"
#include "driftwatch/strbuf.h"

#define CHART_WIDTH 720
#define CHART_BAR_LABEL_W 200      /* the bars' labels, right-aligned against the bars */
#define CHART_BAR_ROW 26
#define CHART_BAR_H 18
#define CHART_LABEL_CHARS 30       /* a longer bar label is cut short (the table has it whole) */
#define CHART_TICKS 5
#define CHART_LINE_H 300
#define CHART_LINE_LEFT 56
#define CHART_LINE_RIGHT 16
#define CHART_LINE_TOP 16
#define CHART_LINE_BOTTOM 64
#define CHART_TEXT "#1f2937"       /* the page's text colour */
#define CHART_GRID "#d1d5db"
#define CHART_AXIS "#4b5563"

/* Dashes and markers by series, so that the lines read apart in grey too. */
static const char *const chart_dashes[] = { NULL, "6 4", "2 3", "10 3 2 3" };

double chart_axis_top(double max)
{
	double p;

	if (!(max > 1.0))
		return 1.0;
	p = pow(10.0, floor(log10(max)));
	if (max <= p)
		return p;
	if (max <= 2.0 * p)
		return 2.0 * p;
	if (max <= 5.0 * p)
		return 5.0 * p;
	return 10.0 * p;
}

static int chart_valid(const struct chart *c)
{
	if (!c || !c->id || !*c->id || !c->title || !c->series || c->n_series == 0 ||
	    (c->n > 0 && !c->labels))
		return 0;
	for (size_t s = 0; s < c->n_series; s++)
		if (!c->series[s].values && c->n > 0)
			return 0;
	return 1;
}

static int chart_has(double v)
{
	return v >= 0.0 && isfinite(v);
}

/* A figure as people write it: whole numbers without decimals, others to one place. */
static void chart_number(struct strbuf *out, double v)
{
	if (fabs(v - round(v)) < 0.05)
		strbuf_printf(out, "%.0f", round(v));
	else
		strbuf_printf(out, "%.1f", v);
}

/* label, cut to CHART_LABEL_CHARS characters (never inside one) with an ellipsis. */
static void chart_label(struct strbuf *out, const char *label)
{
	size_t chars = 0, i = 0;
	struct strbuf cut;

	if (!label)
		return;
	for (; label[i]; i++) {
		if (((unsigned char)label[i] & 0xC0) != 0x80 && ++chars > CHART_LABEL_CHARS)
			break;
	}
	if (!label[i]) {
		html_escape(out, label);
		return;
	}
	strbuf_init(&cut);
	strbuf_appendn(&cut, label, i);
	strbuf_append(&cut, "\xe2\x80\xa6");
	html_escape(out, cut.buf);
	strbuf_free(&cut);
}

static void chart_open(struct strbuf *out, const struct chart *c, int height)
{
	strbuf_printf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" "
		      "aria-labelledby=\"");
	html_escape(out, c->id);
	strbuf_append(out, "-title ");
	html_escape(out, c->id);
	strbuf_printf(out, "-desc\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
		      "font-family=\"system-ui, sans-serif\" font-size=\"13\" fill=\"%s\">\n"
		      "<title id=\"", CHART_WIDTH, height, CHART_WIDTH, height, CHART_TEXT);
	html_escape(out, c->id);
	strbuf_append(out, "-title\">");
	html_escape(out, c->title);
	strbuf_append(out, "</title>\n<desc id=\"");
	html_escape(out, c->id);
	strbuf_append(out, "-desc\">");
	html_escape(out, c->desc ? c->desc : c->title);
	strbuf_append(out, "</desc>\n");
}

/* The legend along the bottom: a swatch (a line in its dash for a line chart) and the name. */
static void chart_legend(struct strbuf *out, const struct chart *c, int y, int lines)
{
	int x = lines ? CHART_LINE_LEFT : CHART_BAR_LABEL_W;

	strbuf_append(out, "<g aria-hidden=\"true\">\n");
	for (size_t s = 0; s < c->n_series; s++) {
		const char *dash = chart_dashes[s % (sizeof(chart_dashes) / sizeof(*chart_dashes))];

		if (lines) {
			strbuf_printf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
				      "stroke-width=\"3\"", x, y - 4, x + 28, y - 4,
				      c->series[s].colour);
			if (dash)
				strbuf_printf(out, " stroke-dasharray=\"%s\"", dash);
			strbuf_append(out, "/>\n");
			x += 34;
		} else {
			strbuf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"14\" "
				      "fill=\"%s\"/>\n", x, y - 12, c->series[s].colour);
			x += 20;
		}
		strbuf_printf(out, "<text x=\"%d\" y=\"%d\">", x, y);
		html_escape(out, c->series[s].name);
		strbuf_append(out, "</text>\n");
		x += 16 + 8 * (int)(c->series[s].name ? strlen(c->series[s].name) : 0);
	}
	strbuf_append(out, "</g>\n");
}

static double chart_stack(const struct chart *c, size_t i)
{
	double t = 0.0;

	for (size_t s = 0; s < c->n_series; s++)
		if (chart_has(c->series[s].values[i]))
			t += c->series[s].values[i];
	return t;
}

static double chart_max(const struct chart *c, int stacked)
{
	double max = 0.0;

	for (size_t i = 0; i < c->n; i++) {
		if (stacked) {
			max = fmax(max, chart_stack(c, i));
			continue;
		}
		for (size_t s = 0; s < c->n_series; s++)
			if (chart_has(c->series[s].values[i]))
				max = fmax(max, c->series[s].values[i]);
	}
	return max;
}

static void chart_empty(struct strbuf *out, int x, int y)
{
	strbuf_printf(out, "<text x=\"%d\" y=\"%d\">No figures yet.</text>\n", x, y);
}

int chart_bars(struct strbuf *out, const struct chart *c)
{
	int plot_w = CHART_WIDTH - CHART_BAR_LABEL_W - 60;
	int rows_h = (int)(c && c->n ? c->n : 1) * CHART_BAR_ROW;
	int axis_y = 8 + rows_h, height = axis_y + 60;
	double top;

	if (!chart_valid(c))
		return -1;
	top = chart_axis_top(chart_max(c, 1));
	chart_open(out, c, height);
	/* the grid and the axis's figures */
	strbuf_append(out, "<g aria-hidden=\"true\">\n");
	for (int k = 0; k <= CHART_TICKS; k++) {
		double x = CHART_BAR_LABEL_W + plot_w * (double)k / CHART_TICKS;

		strbuf_printf(out, "<line x1=\"%.1f\" y1=\"4\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>\n"
			      "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">",
			      x, x, axis_y, k ? CHART_GRID : CHART_AXIS, x, axis_y + 16);
		chart_number(out, top * k / CHART_TICKS);
		strbuf_append(out, "</text>\n");
	}
	strbuf_append(out, "</g>\n");
	if (c->n == 0)
		chart_empty(out, CHART_BAR_LABEL_W + 8, 8 + CHART_BAR_H);
	for (size_t i = 0; i < c->n; i++) {
		int y = 8 + (int)i * CHART_BAR_ROW;
		double x = CHART_BAR_LABEL_W;

		strbuf_printf(out, "<g>\n<text x=\"%d\" y=\"%d\" text-anchor=\"end\">",
			      CHART_BAR_LABEL_W - 8, y + 14);
		chart_label(out, c->labels[i]);
		strbuf_append(out, "</text>\n");
		for (size_t s = 0; s < c->n_series; s++) {
			double v = c->series[s].values[i], w;

			if (!chart_has(v) || v == 0.0)
				continue;
			w = plot_w * v / top;
			strbuf_printf(out, "<rect x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
				      "fill=\"%s\"/>\n", x, y, w, CHART_BAR_H, c->series[s].colour);
			x += w;
		}
		strbuf_printf(out, "<text x=\"%.1f\" y=\"%d\">", x + 6, y + 14);
		chart_number(out, chart_stack(c, i));
		strbuf_append(out, "</text>\n</g>\n");
	}
	chart_legend(out, c, axis_y + 44, 0);
	strbuf_append(out, "</svg>\n");
	return 0;
}

static double chart_px(const struct chart *c, size_t i)
{
	double w = CHART_WIDTH - CHART_LINE_LEFT - CHART_LINE_RIGHT;

	return CHART_LINE_LEFT + (c->n > 1 ? w * (double)i / (double)(c->n - 1) : w / 2.0);
}

static double chart_py(double v, double top)
{
	double h = CHART_LINE_H - CHART_LINE_TOP - CHART_LINE_BOTTOM;

	return CHART_LINE_TOP + h - h * v / top;
}

/* One series: a polyline for each run of figures (a gap between them), a marker at each. */
static void chart_series_line(struct strbuf *out, const struct chart *c, size_t s, double top)
{
	const struct chart_series *se = &c->series[s];
	const char *dash = chart_dashes[s % (sizeof(chart_dashes) / sizeof(*chart_dashes))];
	int open = 0;

	strbuf_append(out, "<g>\n");
	for (size_t i = 0; i <= c->n; i++) {
		int has = i < c->n && chart_has(se->values[i]);

		if (has && !open) {
			strbuf_printf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2.5\"",
				      se->colour);
			if (dash)
				strbuf_printf(out, " stroke-dasharray=\"%s\"", dash);
			strbuf_append(out, " points=\"");
			open = 1;
		} else if (!has && open) {
			strbuf_append(out, "\"/>\n");
			open = 0;
		}
		if (has)
			strbuf_printf(out, "%.1f,%.1f ", chart_px(c, i), chart_py(se->values[i], top));
	}
	for (size_t i = 0; i < c->n; i++) {
		double x, y;

		if (!chart_has(se->values[i]))
			continue;
		x = chart_px(c, i);
		y = chart_py(se->values[i], top);
		if (s % 2 == 0)
			strbuf_printf(out, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n",
				      x, y, se->colour);
		else
			strbuf_printf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" "
				      "fill=\"%s\"/>\n", x - 4, y - 4, se->colour);
	}
	strbuf_append(out, "</g>\n");
}

int chart_lines(struct strbuf *out, const struct chart *c)
{
	int base = CHART_LINE_H - CHART_LINE_BOTTOM;
	double top;

	if (!chart_valid(c))
		return -1;
	top = chart_axis_top(chart_max(c, 0));
	chart_open(out, c, CHART_LINE_H + 8);
	strbuf_append(out, "<g aria-hidden=\"true\">\n");
	for (int k = 0; k <= CHART_TICKS; k++) {
		double y = chart_py(top * k / CHART_TICKS, top);

		strbuf_printf(out, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n"
			      "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-size=\"12\">",
			      CHART_LINE_LEFT, y, CHART_WIDTH - CHART_LINE_RIGHT, y,
			      k ? CHART_GRID : CHART_AXIS, CHART_LINE_LEFT - 6, y + 4);
		chart_number(out, top * k / CHART_TICKS);
		strbuf_append(out, "</text>\n");
	}
	for (size_t i = 0; i < c->n; i++) {
		double x = chart_px(c, i);

		strbuf_printf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"end\" font-size=\"12\" "
			      "transform=\"rotate(-40 %.1f %d)\">", x, base + 16, x, base + 16);
		chart_label(out, c->labels[i]);
		strbuf_append(out, "</text>\n");
	}
	strbuf_append(out, "</g>\n");
	if (c->n == 0 || chart_max(c, 0) <= 0.0) {
		int any = 0;

		for (size_t i = 0; i < c->n && !any; i++)
			for (size_t s = 0; s < c->n_series; s++)
				any |= chart_has(c->series[s].values[i]);
		if (!any)
			chart_empty(out, CHART_LINE_LEFT + 8, CHART_LINE_TOP + 20);
	}
	for (size_t s = 0; s < c->n_series; s++)
		chart_series_line(out, c, s, top);
	chart_legend(out, c, CHART_LINE_H, 1);
	strbuf_append(out, "</svg>\n");
	return 0;
}
