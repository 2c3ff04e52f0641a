/* html: escaping and British dates for the HTML that driftwatch writes (pages, mail, SVG). */
#include <stdio.h>

#include "driftwatch/calendar.h"
#include "driftwatch/html.h"
#include "driftwatch/strbuf.h"

void html_escape(struct strbuf *out, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': strbuf_append(out, "&amp;"); break;
		case '<': strbuf_append(out, "&lt;"); break;
		case '>': strbuf_append(out, "&gt;"); break;
		case '"': strbuf_append(out, "&quot;"); break;
		case '\'': strbuf_append(out, "&#39;"); break;
		default: strbuf_appendn(out, s, 1);
		}
	}
}

static const char *const html_months[12][2] = {
	{ "Jan", "January" }, { "Feb", "February" }, { "Mar", "March" }, { "Apr", "April" },
	{ "May", "May" }, { "Jun", "June" }, { "Jul", "July" }, { "Aug", "August" },
	{ "Sep", "September" }, { "Oct", "October" }, { "Nov", "November" },
	{ "Dec", "December" },
};

void html_day(struct strbuf *out, int32_t day, int longform)
{
	int y, m, d;

	calendar_day_to_ymd(day, &y, &m, &d);
	strbuf_printf(out, "%d %s %d", d, html_months[m - 1][longform ? 1 : 0], y);
}

int html_date(struct strbuf *out, const char *iso, int longform)
{
	int32_t day;

	if (!iso || calendar_day_parse(iso, &day) < 0) {
		html_escape(out, iso);
		return -1;
	}
	html_day(out, day, longform);
	return 0;
}
