/* mail_html: the HTML part of a digest: tables and inline styles that survive mail programs. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/html.h"
#include "driftwatch/mail_digest.h"
#include "driftwatch/mail_html.h"
#include "driftwatch/mail_notice_text.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/noticelinks.h"
#include "driftwatch/strbuf.h"

/* Inline styles only (mail programs drop <style>), tables for layout (Outlook's Word engine
 * knows no other), no background colours and no text colour but the links': a mail program in
 * dark mode then inverts nothing badly. Borders and accents are mid-tones that read on both. */
#define MAIL_CELL_STYLE "padding:6px;border-top:1px solid #8c8c8c;vertical-align:top;" \
	"text-align:left"
#define MAIL_TH_STYLE "padding:4px 6px;border-bottom:2px solid #8c8c8c;text-align:left;" \
	"font-size:13px"
#define MAIL_SMALL_STYLE "font-size:12px"
/* A button's words keep the link colour the reader's mail program gives (no one colour reads at
 * 4.5:1 on both a white and a dark page); its border, a mid-tone, reads at 3:1 on both. */
#define MAIL_BUTTON_STYLE "display:inline-block;padding:3px 5px;margin:0 0 4px 0;" \
	"border:2px solid #3d7bd9;border-radius:4px;font-size:13px;font-weight:bold;" \
	"text-decoration:none;white-space:nowrap"

/* A mark at the left of each section's heading in the HTML part: colour that reads on a light
 * and on a dark background alike, never the only sign (the heading says it in words). */
static const char *const mail_section_colours[MAIL_DIGEST_N_SECTIONS] = {
	[RULE_SERIOUS_ESCALATION] = "#d32f2f", [RULE_SERIOUS_RETURN] = "#e65100",
	[RULE_SERIOUS_MISSED] = "#b8860b", [RULE_SERIOUS_HANDOVER] = "#1e88e5",
	[RULE_SERIOUS_DRIFT] = "#7e57c2", [MAIL_DIGEST_SEC_OTHER] = "#808080",
	[MAIL_DIGEST_SEC_RESOLVED] = "#2e7d32", [MAIL_DIGEST_SEC_STALE] = "#808080",
	[MAIL_DIGEST_SEC_REPORTS] = "#808080",
};

static const char *const mail_button_purpose[NOTICELINKS_KINDS] = {
	"Acknowledge this alert", "Snooze this alert", "Open this alert's page"
};

/* The links as buttons: real links with words, never images; each names what it does to
 * which alert, since a digest holds many with the same three words. */
static void mail_html_actions(struct strbuf *out, const struct mail_notice_text *t,
			      const char *child)
{
	for (int k = 0, first = 1; k < NOTICELINKS_KINDS; k++) {
		if (!t->actions[k])
			continue;
		strbuf_append(out, first ? "" : " ");
		first = 0;
		strbuf_append(out, "<a href=\"");
		html_escape(out, t->actions[k]);
		strbuf_append(out, "\" style=\"" MAIL_BUTTON_STYLE "\" aria-label=\"");
		html_escape(out, mail_button_purpose[k]);
		if (child) {
			strbuf_append(out, " (child ");
			html_escape(out, child);
			strbuf_append(out, ")");
		}
		strbuf_append(out, "\">");
		html_escape(out, noticelinks_kind_label(k));
		strbuf_append(out, "</a>");
	}
}

static void mail_html_link(struct strbuf *out, const char *href, const char *style,
			   const char *text)
{
	strbuf_append(out, "<a href=\"");
	html_escape(out, href);
	strbuf_append(out, style ? "\" style=\"" : "");
	strbuf_append(out, style ? style : "");
	strbuf_append(out, "\">");
	html_escape(out, text);
	strbuf_append(out, "</a>");
}

/* The child's identifier, linked to its page when the pages are there, else to its record. */
static void mail_html_child(struct strbuf *out, const struct mail_notice_text *t,
			    const char *child)
{
	const struct mail_notice_text_line *rec = mail_notice_text_line_of(t, "Record");
	const char *record = rec ? rec->href : NULL;

	if (!child) {
		strbuf_append(out, "&mdash;");
		return;
	}
	/* nowrap: a narrow column would break "C-1042" at its hyphen, and it reads as two */
	if (t->page || record) {
		mail_html_link(out, t->page ? t->page : record,
			       "font-weight:bold;white-space:nowrap", child);
	} else {
		strbuf_append(out, "<span style=\"white-space:nowrap\">");
		html_escape(out, child);
		strbuf_append(out, "</span>");
	}
	if (t->page && record) {
		/* apart from the identifier's link by more than a fingertip (WCAG 2.5.8: 24px) */
		strbuf_append(out, "<br>");
		mail_html_link(out, record, MAIL_SMALL_STYLE ";display:inline-block;margin-top:8px",
			       "case record");
	} else if (!t->page && !record && rec) {
		strbuf_append(out, "<br><span style=\"" MAIL_SMALL_STYLE "\">");
		html_escape(out, rec->text);
		strbuf_append(out, "</span>");
	}
}

/* A line in small print under the cell's main text. Those made of identifiers (a rule's name, a
 * reference, a role: "allocated_worker") may break inside a long word, which unbroken made the
 * table wider than a phone; prose ("recommendation") never does, but the identifiers it names
 * ("team_webhooks.allowed_hosts") may break at their punctuation. */
static void mail_html_small_line(struct strbuf *out, const struct mail_notice_text *t,
				 const char *label)
{
	const struct mail_notice_text_line *l = mail_notice_text_line_of(t, label);

	if (!l)
		return;
	strbuf_append(out, "<br><span style=\"" MAIL_SMALL_STYLE);
	strbuf_append(out, strcmp(label, "Expected of you") == 0 ? "\">" :
		      ";overflow-wrap:anywhere;word-break:break-word\">");
	html_escape(out, label);
	strbuf_append(out, ": ");
	html_escape_wrap(out, l->text);
	strbuf_append(out, "</span>");
}

static void mail_html_cell_open(struct strbuf *out, size_t rowspan)
{
	if (rowspan > 1)
		strbuf_printf(out, "<td rowspan=\"%zu\" style=\"" MAIL_CELL_STYLE "\">", rowspan);
	else
		strbuf_append(out, "<td style=\"" MAIL_CELL_STYLE "\">");
}

/* What the entry is: its heading, what is expected of the reader and why they were told. */
static void mail_html_what(struct strbuf *out, const struct mail_digest *d,
			   const struct mail_digest_entry *e, const struct mail_notice_text *t)
{
	struct strbuf h;

	strbuf_init(&h);
	mail_words_heading(&h, &d->items[e->first], e->n);
	if (e->n > 1)
		mail_words_family(&h, d, e);
	mail_html_cell_open(out, e->n);
	strbuf_append(out, "<strong>");
	html_escape(out, h.failed ? "" : h.buf ? h.buf : "");
	out->failed |= h.failed;
	strbuf_free(&h);
	strbuf_append(out, "</strong>");
	mail_html_small_line(out, t, "Expected of you");
	mail_html_small_line(out, t, "Why you");
	strbuf_append(out, "</td>");
}

/* One row per child; the entry's "what" spans its siblings' rows. */
void mail_html_entry(struct strbuf *out, const struct mail_digest *d,
		     const struct mail_digest_entry *e, const struct mail_notice_text *t,
		     int children)
{
	for (size_t i = 0; i < e->n; i++) {
		const char *child = mail_words_alert(d->items[e->first + i].n->alert, "child_id");
		const struct mail_notice_text_line *since, *brief;

		since = mail_notice_text_line_of(&t[i], "Since");
		brief = mail_notice_text_line_of(&t[i], "In brief");
		strbuf_append(out, "<tr>");
		if (children) {
			mail_html_cell_open(out, 1);
			mail_html_child(out, &t[i], child);
			strbuf_append(out, "</td>");
		}
		if (i == 0)
			mail_html_what(out, d, e, &t[0]);
		if (children) {
			mail_html_cell_open(out, 1);
			html_escape(out, since ? since->text : "");
			strbuf_append(out, "</td>");
		}
		mail_html_cell_open(out, 1);
		html_escape_wrap(out, brief ? brief->text : "");
		mail_html_small_line(out, &t[i], "Snoozed");
		mail_html_small_line(out, &t[i], "Acknowledged");
		mail_html_small_line(out, &t[i], "Facts");
		mail_html_small_line(out, &t[i], "Rule");
		/* under the facts, not a column of their own: a fifth column made every digest
		 * with links wider than a phone */
		if (mail_notice_text_has_actions(&t[i])) {
			strbuf_append(out, "<div style=\"margin-top:8px\">");
			mail_html_actions(out, &t[i], child);
			strbuf_append(out, "</div>");
		}
		strbuf_append(out, "</td></tr>\n");
	}
}

static void mail_html_title(struct strbuf *out, const char *title, size_t count,
			    const char *colour)
{
	strbuf_printf(out, "<h2 style=\"font-size:17px;margin:22px 0 6px;padding:2px 0 2px 10px;"
		      "border-left:6px solid %s\">", colour);
	html_escape(out, title);
	if (count)
		strbuf_printf(out, " (%zu)", count);
	strbuf_append(out, "</h2>\n");
}

static void mail_html_table_open(struct strbuf *out, int children)
{
	static const char *const cols[] = { "Child", "What", "Since", "The facts that matter" };

	strbuf_append(out, "<table role=\"table\" cellpadding=\"0\" cellspacing=\"0\" "
		      "style=\"border-collapse:collapse;width:100%;font-size:14px\">\n<thead><tr>");
	for (size_t i = 0; i < sizeof(cols) / sizeof(cols[0]); i++)
		if (children || (i != 0 && i != 2))
			strbuf_printf(out, "<th scope=\"col\" style=\"" MAIL_TH_STYLE "\">%s</th>",
				      cols[i]);
	strbuf_append(out, "</tr></thead>\n<tbody>\n");
}

void mail_html_counts(struct strbuf *out, const struct mail_digest *d)
{
	size_t groups;
	struct mail_digest_count *c = mail_digest_counts(d, mail_digest_keep_any, &groups);

	if (!c) {
		out->failed = 1;
		return;
	}
	mail_html_title(out, "All by rule and stage", d->n, "#808080");
	strbuf_append(out, "<table role=\"table\" style=\"border-collapse:collapse;font-size:14px\">"
		      "\n<tbody>\n");
	for (size_t g = 0; g < groups; g++) {
		const struct mail_digest_item *it = &d->items[c[g].first];
		struct strbuf w;

		strbuf_printf(out, "<tr><td style=\"" MAIL_CELL_STYLE ";text-align:right\">%zu</td>"
			      "<td style=\"" MAIL_CELL_STYLE "\">", c[g].n);
		strbuf_init(&w);
		mail_words_label(&w, it->n, c[g].n);
		strbuf_append(&w, mail_words_suffix(it->kind));
		html_escape(out, w.failed || !w.buf ? "" : w.buf);
		out->failed |= w.failed;
		strbuf_free(&w);
		strbuf_append(out, "</td></tr>\n");
	}
	strbuf_append(out, "</tbody></table>\n");
	free(c);
}

void mail_html_section(struct strbuf *out, int section, size_t count, int children)
{
	mail_html_title(out, mail_digest_section_titles[section], count,
			mail_section_colours[section]);
	mail_html_table_open(out, children);
}

void mail_html_table_close(struct strbuf *out)
{
	strbuf_append(out, "</tbody></table>\n");
}

void mail_html_para(struct strbuf *out, const char *style, const char *words, const char *keep)
{
	const char *at = keep && *keep ? strstr(words, keep) : NULL;

	strbuf_printf(out, "<p style=\"margin:0 0 10px%s\">", style);
	if (!at) {
		html_escape(out, words);
	} else {
		/* "driftwatch-digest-2026-11-21.csv" broke at a hyphen on a phone */
		char *head = strndup(words, (size_t)(at - words));

		if (!head) {
			out->failed = 1;
			return;
		}
		html_escape(out, head);
		free(head);
		strbuf_append(out, "<span style=\"white-space:nowrap\">");
		html_escape(out, keep);
		strbuf_append(out, "</span>");
		html_escape(out, at + strlen(keep));
	}
	strbuf_append(out, "</p>\n");
}

void mail_html_open(struct strbuf *out, const char *subject)
{
	strbuf_append(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
		      "<meta charset=\"utf-8\">\n"
		      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		      "<meta name=\"color-scheme\" content=\"light dark\">\n"
		      "<meta name=\"supported-color-schemes\" content=\"light dark\">\n<title>");
	html_escape(out, subject);
	strbuf_append(out, "</title>\n</head>\n<body style=\"margin:0;padding:12px;"
		      "font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.45\">\n"
		      "<div style=\"max-width:860px\">\n");
}

void mail_html_close(struct strbuf *out, const char *footer, const char *to)
{
	strbuf_append(out, "<p style=\"margin-top:24px\"><small>");
	html_escape(out, footer);
	strbuf_append(out, " Sent to ");
	html_escape(out, to);
	strbuf_append(out, ".</small></p>\n</div>\n</body>\n</html>\n");
}
