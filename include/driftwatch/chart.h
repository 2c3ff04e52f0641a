/* chart: bar and line charts drawn on the server as SVG, for the pages for people. */
#ifndef DRIFTWATCH_CHART_H
#define DRIFTWATCH_CHART_H

#include <stddef.h>

struct strbuf;

/*
 * A chart is a picture of numbers that the page also gives in a table: the SVG is an image
 * (role="img") named by its <title> and described by its <desc> (aria-labelledby both), drawn
 * with presentation attributes only (fill, stroke, font-size: the pages' policy forbids style
 * attributes and script), text in the page's font, and legible printed in black and white: the
 * series of a line chart differ by dash and marker as well as colour.
 */

/* A value a chart has no figure for: a gap in a line, nothing drawn in a bar. */
#define CHART_NONE (-1.0)

struct chart_series {
	const char *name;        /* in the legend */
	const char *colour;      /* "#0b5fa5": at least 3:1 against white (WCAG 1.4.11) */
	const double *values;    /* one per label; >= 0, or CHART_NONE */
};

struct chart {
	const char *id;                  /* unique on the page: the ids of its title and desc */
	const char *title;               /* what it is, in a few words */
	const char *desc;                /* what it shows, and where its numbers are in words */
	const char *const *labels;       /* n categories: bars top to bottom, points left to right */
	size_t n;
	const struct chart_series *series;
	size_t n_series;
};

/* Horizontal bars, one per label, its series stacked left to right, the total at its end.
 * 0, or -1 (nothing written) when c is not a chart: no id or title, no series, a series with
 * no values. No labels draws an empty chart that says so. */
int chart_bars(struct strbuf *out, const struct chart *c);

/* A line per series over the labels in order (a gap where a value is CHART_NONE), a marker at
 * each figure. As chart_bars for what it returns. */
int chart_lines(struct strbuf *out, const struct chart *c);

/* The top of an axis for values up to max: the least of 1, 2 or 5 times a power of ten that is
 * at least max (1 for max <= 1). */
double chart_axis_top(double max);

#endif
