/* test_timeline: the child's chronology as SVG (timeline.c), from documents built here. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "driftwatch/calendar.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/timeline.h"
#include "tap.h"

static char *draw(const char *doc_json, const char *today_iso)
{
	json_error_t err;
	json_t *doc = json_loads(doc_json, 0, &err);
	struct strbuf sb;
	int32_t today;

	if (!doc || calendar_day_parse(today_iso, &today) < 0)
		return NULL;
	strbuf_init(&sb);
	timeline_svg(&sb, doc, today);
	json_decref(doc);
	return strbuf_take(&sb);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; p && (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void test_episodes(void)
{
	char *s = draw("{\"child_id\": \"C-1\", \"cin_plans\": ["
		       "{\"plan_id\": \"P1\", \"start_date\": \"2025-01-01\", \"end_date\": \"2025-03-01\","
		       " \"for_neglect\": true, \"episode\": 1},"
		       "{\"plan_id\": \"P2\", \"start_date\": \"2025-03-20\", \"end_date\": null,"
		       " \"for_neglect\": true, \"episode\": 1},"
		       "{\"plan_id\": \"P3\", \"start_date\": \"2024-06-01\", \"end_date\": \"2024-07-01\","
		       " \"for_neglect\": false, \"episode\": null}]}", "2026-12-03");

	tap_ok(s != NULL, "a document draws");
	tap_int((long long)count(s, "CIN plan for neglect, episode 1:"), 1,
		"two plans of one episode are one episode bar");
	tap_contains(s, "CIN plan for neglect, episode 1: 1 Jan 2025, still open",
		     "the bar runs from the episode's first start, still open");
	tap_contains(s, "<title>CIN plan P3: 1 Jun 2024 to 1 Jul 2024, not for neglect</title>",
		     "a plan not for neglect is drawn, and says so");
	tap_contains(s, ">2024</text>", "the axis starts at the year of the earliest row");
	tap_lacks(s, "style=", "no style attribute (the pages' policy forbids inline style "
		  "attributes in SVG no less)");
	tap_lacks(s, "<script", "no script");
	tap_contains(s, "role=\"img\" aria-labelledby=\"tl-title tl-desc\"",
		     "an image with a title and a description");
	free(s);
}

static void test_workers_and_escaping(void)
{
	char *s = draw("{\"child_id\": \"C-<1>\", \"allocations\": ["
		       "{\"worker_id\": \"W1\", \"worker_name\": \"Ann & Bo\", \"start_date\": \"2025-01-01\","
		       " \"end_date\": \"2025-06-01\"},"
		       "{\"worker_id\": \"W2\", \"worker_name\": null, \"start_date\": \"2025-06-01\","
		       " \"end_date\": \"2025-09-01\"},"
		       "{\"worker_id\": \"W1\", \"worker_name\": \"Ann & Bo\", \"start_date\": \"2025-09-01\","
		       " \"end_date\": null},"
		       "{\"worker_id\": \"W3\", \"start_date\": \"not a day\", \"end_date\": null}]}",
		       "2026-12-03");
	char w1[64], w2[64];

	snprintf(w1, sizeof(w1), "fill=\"%s\"", timeline_worker_colour(0));
	snprintf(w2, sizeof(w2), "fill=\"%s\"", timeline_worker_colour(1));
	tap_int((long long)count(s, w1), 2, "a worker keeps their colour when they come back");
	tap_int((long long)count(s, w2), 1, "another worker has another colour");
	tap_contains(s, "Allocated to Ann &amp; Bo", "names are escaped");
	tap_contains(s, "Allocated to W2", "a worker with no name is named by their id");
	tap_lacks(s, "W3", "a row whose date is not a day is left out of the drawing");
	tap_contains(s, "Chronology of child C-&lt;1&gt;", "the child's id is escaped");
	free(s);
}

/* WCAG 1.4.11: a graphical object needs 3:1 against its background (white). */
static double lin(int c)
{
	double v = c / 255.0;

	return v <= 0.03928 ? v / 12.92 : pow((v + 0.055) / 1.055, 2.4);
}

static void test_palette_contrast(void)
{
	for (unsigned i = 0; i < 8; i++) {
		const char *c = timeline_worker_colour(i);
		unsigned r, g, b;
		double l;

		if (sscanf(c, "#%2x%2x%2x", &r, &g, &b) != 3) {
			tap_ok(0, "colour %u is #rrggbb (%s)", i, c);
			continue;
		}
		l = 0.2126 * lin((int)r) + 0.7152 * lin((int)g) + 0.0722 * lin((int)b);
		tap_ok(1.05 / (l + 0.05) >= 3.0, "worker colour %u (%s) has 3:1 on white (%.2f)", i,
		       c, 1.05 / (l + 0.05));
	}
	tap_str(timeline_worker_colour(8), timeline_worker_colour(0),
		"the palette repeats after eight workers");
}

static void test_empty(void)
{
	char *s = draw("{\"child_id\": \"C-2\", \"referrals\": 7}", "2026-12-03");

	tap_ok(s && strstr(s, "</svg>") && strstr(s, "0 referrals"),
	       "a section that is not an array is drawn empty, the document still draws");
	tap_contains(s, "<title>Today, 3 Dec 2026</title>", "today is marked");
	free(s);
}

int main(void)
{
	test_episodes();
	test_workers_and_escaping();
	test_palette_contrast();
	test_empty();
	return tap_status();
}
