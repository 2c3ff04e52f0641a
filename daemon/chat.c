/* chat: one message for a Microsoft Teams or Slack channel from several notices (issue 15). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/chat.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

static const char *const chat_names[] = { "standard", "teams", "slack" };

int chat_format_parse(const char *s, enum chat_format *f)
{
	for (size_t i = 0; s && i < sizeof(chat_names) / sizeof(chat_names[0]); i++) {
		if (strcmp(s, chat_names[i]) == 0) {
			*f = (enum chat_format)i;
			return 0;
		}
	}
	return -1;
}

const char *chat_format_name(enum chat_format f)
{
	return chat_names[f];
}

/* ---- reading an item ---- */

static const char *chat_str(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* What happened, as a channel's reader says it; the order within a seriousness. */
static const struct {
	const char *type, *words;
	int rank;
} chat_types[] = {
	{ "alert.escalated", "Escalated", 0 }, { "alert.firing", "New", 1 },
	{ "alert.unanswered", "Not answered", 2 }, { "alert.updated", "Updated", 3 },
	{ "alert.acknowledged", "Acknowledged", 4 }, { "alert.snoozed", "Snoozed", 4 },
	{ "alert.unsnoozed", "Snooze ended", 4 }, { "alert.resolved", "Resolved", 5 },
};

static int chat_type_index(const char *type)
{
	for (size_t i = 0; type && i < sizeof(chat_types) / sizeof(chat_types[0]); i++)
		if (strcmp(chat_types[i].type, type) == 0)
			return (int)i;
	return -1;
}

static const char *chat_type_words(const char *type)
{
	int k = chat_type_index(type);

	return k >= 0 ? chat_types[k].words : "Changed";
}

static const struct rule_stage *chat_stage(const json_t *alert)
{
	const struct rule_def *def = rule_registry_find(chat_str(alert, "rule") ? chat_str(alert, "rule")
										: "");
	int k = def ? rule_stage_index(def, chat_str(alert, "stage") ? chat_str(alert, "stage")
								     : "") : -1;

	return k >= 0 ? &def->stages[k] : NULL;
}

/* ---- order ---- */

static int chat_cmp(const void *x, const void *y)
{
	const struct chat_item *a = x, *b = y;
	const struct rule_stage *sa = chat_stage(a->alert), *sb = chat_stage(b->alert);
	int ta = chat_type_index(a->type), tb = chat_type_index(b->type);
	int ra = ta >= 0 ? chat_types[ta].rank : 3, rb = tb >= 0 ? chat_types[tb].rank : 3;
	int qa = sa ? (int)sa->seriousness : 99, qb = sb ? (int)sb->seriousness : 99;
	const char *ca = chat_str(a->alert, "child_id"), *cb = chat_str(b->alert, "child_id");

	/* resolutions are good news: after everything that needs doing */
	if ((ra == 5) != (rb == 5))
		return ra == 5 ? 1 : -1;
	if (qa != qb)
		return qa < qb ? -1 : 1;
	if (ra != rb)
		return ra < rb ? -1 : 1;
	return strcmp(ca ? ca : "", cb ? cb : "");
}

void chat_sort(struct chat_item *items, size_t n)
{
	if (n > 1)
		qsort(items, n, sizeof(*items), chat_cmp);
}

/* ---- words shared by both formats ---- */

/* "Escalated: CP escalation at 15 months, child C-1042" */
static char *chat_heading(const struct chat_item *it)
{
	const struct rule_stage *st = chat_stage(it->alert);
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "%s: ", chat_type_words(it->type));
	if (st)
		strbuf_append(&sb, st->label);
	else
		strbuf_printf(&sb, "%s %s", chat_str(it->alert, "rule") ? chat_str(it->alert, "rule")
									: "an alert",
			      chat_str(it->alert, "stage") ? chat_str(it->alert, "stage") : "");
	strbuf_append(&sb, ", child ");
	strbuf_append(&sb, chat_str(it->alert, "child_id") ? chat_str(it->alert, "child_id") : "?");
	return strbuf_take(&sb);
}

static char *chat_title(size_t n)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "driftwatch: %zu %s about children on neglect plans", n,
		      n == 1 ? "change" : "changes");
	return strbuf_take(&sb);
}

static char *chat_page_url(const char *pages_url, const json_t *alert)
{
	struct strbuf sb;

	if (!pages_url || !chat_str(alert, "child_id"))
		return NULL;
	strbuf_init(&sb);
	strbuf_append(&sb, pages_url);
	strbuf_append(&sb, "/child/");
	strbuf_url_escape(&sb, chat_str(alert, "child_id"));
	return strbuf_take(&sb);
}

/* A summary cut to max bytes at a character boundary, with an ellipsis. */
static char *chat_cut(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;
	char *out;

	if (n <= max)
		return strdup(s ? s : "");
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	out = malloc(max + 4);
	if (!out)
		return NULL;
	memcpy(out, s, max);
	memcpy(out + max, "\xe2\x80\xa6", 4);  /* … */
	return out;
}

/* ---- Teams: an Adaptive Card (schema 1.4) in a Workflows message ---- */

/* The item's summary, cut, and for a snoozed alert the snooze (RESPONSES.md: a new stage is
 * still notified, showing the snooze), cut the same: what a channel reads under the heading. */
static char *chat_summary(const struct chat_item *it, size_t cut)
{
	char *summary = chat_cut(chat_str(it->alert, "summary"), cut), *words, *snooze;
	struct strbuf sb;

	strbuf_init(&sb);
	if (!summary || !mail_words_snooze(&sb, it->alert)) {
		strbuf_free(&sb);
		return summary;
	}
	words = strbuf_take(&sb);
	snooze = words ? chat_cut(words, cut) : NULL;
	free(words);
	if (snooze)
		strbuf_printf(&sb, "%s\nSnoozed %s", summary, snooze);
	free(summary);
	if (!snooze)
		return NULL;
	free(snooze);
	return strbuf_take(&sb);
}

static json_t *chat_teams_button(const char *title, const char *url)
{
	return json_pack("{s:s, s:s, s:s}", "type", "Action.OpenUrl", "title", title, "url", url);
}

static json_t *chat_teams_item(const struct chat_item *it, const char *pages_url, size_t cut)
{
	char *heading = chat_heading(it), *page = chat_page_url(pages_url, it->alert);
	char *summary = chat_summary(it, cut);
	const char *link = chat_str(it->alert, "link");
	json_t *actions = json_array(), *c = NULL;

	if (page)
		json_array_append_new(actions, chat_teams_button("Open in driftwatch", page));
	if (link)
		json_array_append_new(actions, chat_teams_button("Case record", link));
	if (heading && summary && actions)
		c = json_pack("{s:s, s:b, s:[{s:s, s:s, s:s, s:b}, {s:s, s:s, s:b}]}",
			      "type", "Container", "separator", 1, "items",
			      "type", "TextBlock", "text", heading, "weight", "Bolder", "wrap", 1,
			      "type", "TextBlock", "text", summary, "wrap", 1);
	if (c && json_array_size(actions) > 0)
		json_array_append_new(json_object_get(c, "items"),
				      json_pack("{s:s, s:O}", "type", "ActionSet", "actions", actions));
	json_decref(actions);
	free(heading);
	free(page);
	free(summary);
	return c;
}

static json_t *chat_teams_message(json_t *body)
{
	return json_pack("{s:s, s:[{s:s, s:n, s:{s:s, s:s, s:s, s:o, s:{s:s}}}]}",
			 "type", "message", "attachments",
			 "contentType", "application/vnd.microsoft.card.adaptive", "contentUrl",
			 "content", "$schema", "http://adaptivecards.io/schemas/adaptive-card.json",
			 "type", "AdaptiveCard", "version", "1.4", "body", body,
			 "msteams", "width", "Full");
}

/* ---- Slack: Block Kit for an incoming webhook ---- */

/* Slack's mrkdwn takes &, < and > as its own: escaped as its documentation says. */
static void chat_slack_escape(struct strbuf *sb, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': strbuf_append(sb, "&amp;"); break;
		case '<': strbuf_append(sb, "&lt;"); break;
		case '>': strbuf_append(sb, "&gt;"); break;
		default: strbuf_appendn(sb, s, 1);
		}
	}
}

static json_t *chat_slack_button(const char *text, const char *url)
{
	return json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "button", "text", "type",
			 "plain_text", "text", text, "url", url);
}

/* The item's blocks appended to blocks: a section, and its buttons when it has links. */
static int chat_slack_item(json_t *blocks, const struct chat_item *it, const char *pages_url,
			   size_t cut)
{
	char *heading = chat_heading(it), *page = chat_page_url(pages_url, it->alert);
	char *summary = chat_summary(it, cut);
	const char *link = chat_str(it->alert, "link");
	json_t *buttons = json_array();
	struct strbuf sb;
	char *text;
	int rc = -1;

	strbuf_init(&sb);
	strbuf_append(&sb, "*");
	chat_slack_escape(&sb, heading);
	strbuf_append(&sb, "*\n");
	chat_slack_escape(&sb, summary);
	text = strbuf_take(&sb);
	if (page)
		json_array_append_new(buttons, chat_slack_button("Open in driftwatch", page));
	if (link)
		json_array_append_new(buttons, chat_slack_button("Case record", link));
	if (text && heading && summary && buttons &&
	    json_array_append_new(blocks, json_pack("{s:s, s:{s:s, s:s}}", "type", "section",
						    "text", "type", "mrkdwn", "text", text)) == 0)
		rc = 0;
	if (rc == 0 && json_array_size(buttons) > 0)
		rc = json_array_append_new(blocks, json_pack("{s:s, s:O}", "type", "actions",
							     "elements", buttons));
	json_decref(buttons);
	free(text);
	free(heading);
	free(page);
	free(summary);
	return rc;
}

/* ---- one message ---- */

/* How many of the rest have the same change and stage as rest[0]. */
static size_t chat_same(const struct chat_item *rest, size_t n)
{
	const struct rule_stage *st = chat_stage(rest[0].alert);
	size_t k = 1;

	while (k < n && chat_type_index(rest[k].type) == chat_type_index(rest[0].type) &&
	       chat_stage(rest[k].alert) == st && st)
		k++;
	return k;
}

/* "40 CP escalations at 18 months (new)" */
static void chat_count_words(struct strbuf *sb, const struct chat_item *it, size_t k)
{
	const struct rule_stage *st = chat_stage(it->alert);
	const char *words = chat_type_words(it->type);

	strbuf_printf(sb, "%zu ", k);
	if (st)
		strbuf_append(sb, k == 1 ? st->label : st->label_many);
	else
		strbuf_append(sb, k == 1 ? "other alert" : "other alerts");
	strbuf_printf(sb, " (%c%s)", (char)tolower((unsigned char)words[0]), words + 1);
}

/* What the items not shown in full are, counted by change and stage in the order shown (most
 * serious first), and where to read them: the pages, else the emails when there are any. It
 * once said "less serious than those above" of forty 18-month escalations, and "in its
 * recipients' email digest" where no email was configured. */
static char *chat_more(const struct chat_item *rest, size_t n, const char *pages_url,
		       int email_on)
{
	struct strbuf sb;
	size_t i = 0, groups = 0;

	strbuf_init(&sb);
	strbuf_printf(&sb, "And %zu more %s not shown here: ", n, n == 1 ? "change" : "changes");
	while (i < n && groups < CHAT_MORE_GROUPS) {
		size_t k = chat_same(rest + i, n - i);

		strbuf_append(&sb, groups ? ", " : "");
		chat_count_words(&sb, &rest[i], k);
		i += k;
		groups++;
	}
	if (i < n)
		strbuf_printf(&sb, " and %zu others", n - i);
	strbuf_append(&sb, ".");
	if (pages_url) {
		strbuf_append(&sb, " See them in driftwatch, ");
		strbuf_append(&sb, pages_url);
		strbuf_append(&sb, "/");
	} else if (email_on) {
		strbuf_append(&sb, " Each is also in its recipients' email digest.");
	}
	return strbuf_take(&sb);
}

static char *chat_dump(enum chat_format f, const struct chat_item *items, size_t k,
		       size_t total, const char *pages_url, int email_on, size_t cut,
		       size_t *blocks)
{
	char *title = chat_title(total), *text = NULL;
	char *more = k < total ? chat_more(items + k, total - k, pages_url, email_on) : NULL;
	json_t *body = json_array(), *msg = NULL;
	int ok = title && body;

	if (f == CHAT_TEAMS) {
		ok = ok && json_array_append_new(body, json_pack("{s:s, s:s, s:s, s:s, s:b}", "type",
								 "TextBlock", "text", title, "weight",
								 "Bolder", "size", "Medium", "wrap",
								 1)) == 0;
		for (size_t i = 0; ok && i < k; i++)
			ok = json_array_append_new(body, chat_teams_item(&items[i], pages_url, cut)) == 0;
		if (ok && more)
			ok = json_array_append_new(body, json_pack("{s:s, s:s, s:b, s:b}", "type",
								 "TextBlock", "text", more, "wrap", 1,
								 "separator", 1)) == 0;
		msg = ok ? chat_teams_message(json_incref(body)) : NULL;
	} else {
		ok = ok && json_array_append_new(body, json_pack("{s:s, s:{s:s, s:s}}", "type",
								 "header", "text", "type",
								 "plain_text", "text", title)) == 0;
		for (size_t i = 0; ok && i < k; i++)
			ok = chat_slack_item(body, &items[i], pages_url, cut) == 0;
		if (ok && more)
			ok = json_array_append_new(body, json_pack("{s:s, s:[{s:s, s:s}]}", "type",
								 "context", "elements", "type",
								 "plain_text", "text", more)) == 0;
		/* "text" is what a notification and a screen reader without blocks say */
		msg = ok ? json_pack("{s:s, s:O}", "text", title, "blocks", body) : NULL;
	}
	*blocks = json_array_size(body);
	if (msg)
		text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	json_decref(body);
	free(title);
	free(more);
	return text;
}

static int chat_fits(enum chat_format f, const char *text, size_t blocks)
{
	if (f == CHAT_TEAMS)
		return strlen(text) <= CHAT_TEAMS_MAX_BYTES;
	return strlen(text) <= CHAT_SLACK_MAX_BYTES && blocks <= CHAT_SLACK_MAX_BLOCKS;
}

size_t chat_message(enum chat_format f, const struct chat_item *items, size_t n,
		    const char *pages_url, int email_on, char **body)
{
	/* a summary is a sentence or two; a long one is cut, so that one item always fits */
	static const size_t cuts[] = { 2000, 600, 200 };
	size_t k = 0, blocks, cut = cuts[0];
	char *best = NULL, *text;

	*body = NULL;
	for (size_t c = 0; n && !best && c < sizeof(cuts) / sizeof(cuts[0]); c++) {
		cut = cuts[c];
		text = chat_dump(f, items, 1, n, pages_url, email_on, cut, &blocks);
		if (text && chat_fits(f, text, blocks)) {
			best = text;
			k = 1;
		} else {
			free(text);
		}
	}
	/* then as many more as fit, and a line for the rest */
	while (best && k < n && k < CHAT_MAX_ITEMS) {
		text = chat_dump(f, items, k + 1, n, pages_url, email_on, cut, &blocks);
		if (!text || !chat_fits(f, text, blocks)) {
			free(text);
			break;
		}
		free(best);
		best = text;
		k++;
	}
	*body = best;
	return best ? k : 0;
}
