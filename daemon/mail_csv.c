/* mail_csv: every item of a digest as a CSV list (RFC 4180, UTF-8) to sort in a spreadsheet. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/mail_csv.h"
#include "driftwatch/mail_digest.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/strbuf.h"

static const char *const mail_csv_columns[] = {
	"Entry", "Section", "Action now", "Change", "Child", "Family", "Meaning", "Rule", "Stage",
	"Since", "Summary", "Facts", "Expected of you", "Why you", "Record link",
	"In full in the mail"
};
#define MAIL_CSV_N_COLUMNS (sizeof(mail_csv_columns) / sizeof(mail_csv_columns[0]))

/* What happened, one word or two, to sort or filter by (the headings say it at length). */
static const char *const mail_csv_changes[MAIL_DIGEST_N_KINDS] = {
	[MAIL_DIGEST_UNANSWERED] = "Not answered", [MAIL_DIGEST_ESCALATED] = "Escalated",
	[MAIL_DIGEST_FIRING] = "New", [MAIL_DIGEST_UPDATED] = "Updated",
	[MAIL_DIGEST_RESOLVED] = "Resolved", [MAIL_DIGEST_FAILED] = "Not delivered",
	[MAIL_DIGEST_RULE_FAILING] = "Rule failing",
	[MAIL_DIGEST_RULE_RECOVERED] = "Rule running again",
	[MAIL_DIGEST_BAD_ADDRESS] = "Unusable address",
	[MAIL_DIGEST_TEAM_WEBHOOK] = "Team webhook not used",
	[MAIL_DIGEST_RECORD_WRONG] = "Case record wrong",
};

void mail_csv_cell(struct strbuf *out, const char *s)
{
	struct strbuf clean;
	const char *v;
	size_t lead;

	strbuf_init(&clean);
	mail_words_clean(&clean, s ? s : "");
	if (clean.failed) {
		out->failed = 1;
		strbuf_free(&clean);
		return;
	}
	v = clean.buf ? clean.buf : "";
	lead = strspn(v, " ");
	if (strpbrk(v, ",\"\r\n"))
		strbuf_append(out, "\"");
	/* a spreadsheet runs a cell that starts so as a formula: "=HYPERLINK(...)" in a summary
	 * taken from the case system must stay text (a tab or CR was made a space above, and a
	 * space before the sign does not make it safe everywhere) */
	if (v[lead] && strchr("=+-@", v[lead]))
		strbuf_append(out, "'");
	for (const char *p = v; *p;) {
		size_t run = strcspn(p, "\"");

		strbuf_appendn(out, p, run);
		p += run;
		if (*p == '"') {
			strbuf_append(out, "\"\"");
			p++;
		}
	}
	if (strpbrk(v, ",\"\r\n"))
		strbuf_append(out, "\"");
	strbuf_free(&clean);
}

/* A cell of words built by fill(sb, ...) into a scratch buffer. */
static void mail_csv_built(struct strbuf *out, struct strbuf *tmp)
{
	out->failed |= tmp->failed;
	mail_csv_cell(out, tmp->failed ? "" : tmp->buf);
	strbuf_free(tmp);
	strbuf_init(tmp);
}

static void mail_csv_row(struct strbuf *out, const struct mail_digest *d, size_t entry,
			 const struct mail_digest_item *it)
{
	/* the whole alert: its facts and recipients (a notice may hold only its head) */
	json_t *whole = mail_notice_alert(it->n);
	const json_t *a = whole ? whole : it->n->alert;
	const char *link = mail_words_alert(a, "link");
	const char *since = mail_words_alert(a, "since");
	const char *why = mail_words_why_you(a, d->to);
	struct strbuf tmp;

	strbuf_init(&tmp);
	strbuf_printf(out, "%zu,", entry + 1);
	mail_csv_cell(out, mail_digest_section_titles[it->section]);
	strbuf_append(out, ",");
	mail_csv_cell(out, mail_digest_keep_action(it) ? "yes" : "");
	strbuf_append(out, ",");
	mail_csv_cell(out, mail_words_told(it) == MAIL_WORDS_REMINDER ? "Reminder" :
			   mail_words_told(it) == MAIL_WORDS_AGAIN ? "Firing again" :
			   mail_words_lowered(it) ? "Lowered" :
			   mail_csv_changes[it->kind]);
	strbuf_append(out, ",");
	mail_csv_cell(out, mail_words_alert(a, "child_id"));
	strbuf_append(out, ",");
	mail_csv_cell(out, mail_words_alert(a, "family_id"));
	strbuf_append(out, ",");
	mail_csv_cell(out, it->label);
	strbuf_append(out, ",");
	mail_csv_cell(out, mail_words_alert(a, "rule"));
	strbuf_append(out, ",");
	mail_csv_cell(out, mail_words_alert(a, "stage"));
	strbuf_append(out, ",");
	/* as the alert gives it, YYYY-MM-DD: a spreadsheet takes it as a date and sorts by it */
	mail_csv_cell(out, since);
	strbuf_append(out, ",");
	mail_csv_cell(out, mail_words_alert(a, "summary"));
	strbuf_append(out, ",");
	if (json_object_size(json_object_get(a, "facts")) > 0)
		mail_words_facts(&tmp, json_object_get(a, "facts"));
	mail_csv_built(out, &tmp);
	strbuf_append(out, ",");
	mail_words_expected(&tmp, it);
	mail_csv_built(out, &tmp);
	strbuf_append(out, ",");
	if (why) {
		strbuf_append(&tmp, "sent to you because ");
		mail_words_clean(&tmp, why);
	}
	mail_csv_built(out, &tmp);
	strbuf_append(out, ",");
	/* only a link a reader could follow from the mail: never javascript: or the like */
	mail_csv_cell(out, mail_words_link_ok(link) ? link : "");
	strbuf_append(out, ",");
	mail_csv_cell(out, entry < d->n_full ? "yes" : "no");
	strbuf_append(out, "\r\n");
	strbuf_free(&tmp);
	out->failed |= !whole;
	json_decref(whole);
}

/* A row is written, then taken back when it passes the budget: the rows are in reading order,
 * so what a cut list leaves out is the least serious. */
char *mail_csv_list(const struct mail_digest *d, size_t max_bytes, size_t *rows)
{
	struct strbuf out;
	int full = 0;

	*rows = 0;
	strbuf_init(&out);
	strbuf_append(&out, "\xef\xbb\xbf");
	for (size_t c = 0; c < MAIL_CSV_N_COLUMNS; c++) {
		strbuf_append(&out, c ? "," : "");
		mail_csv_cell(&out, mail_csv_columns[c]);
	}
	strbuf_append(&out, "\r\n");
	for (size_t e = 0; e < d->n_entries && !full; e++) {
		for (size_t i = 0; i < d->entries[e].n && !full; i++) {
			size_t before = out.len;

			mail_csv_row(&out, d, e, &d->items[d->entries[e].first + i]);
			full = max_bytes && out.len > max_bytes && !out.failed;
			if (full)
				strbuf_truncate(&out, before);
			else
				(*rows)++;
		}
	}
	return strbuf_take(&out);
}
