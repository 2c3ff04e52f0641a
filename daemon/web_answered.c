/* web_answered: after an answer on the pages, the redirect back and the note it shows there. */
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "driftwatch/alert.h"
#include "driftwatch/alert_view.h"
#include "driftwatch/html.h"
#include "driftwatch/web_answered.h"

static const char *const kind_names[] = { "acknowledge", "snooze", "unsnooze" };

int web_answered_key(const char *key)
{
	return strcmp(key, "answered") == 0 || strcmp(key, "did") == 0;
}

/* A POST answered with a page leaves Back and reload to show the list as it was before the
 * answer (the alert still "Not answered") and to offer to send the form again; a 303 to the
 * list puts the list as it is now in the history instead of the POST. */
void web_answered_location(struct strbuf *loc, const char *team, enum responses_kind kind,
			   const char *fingerprint)
{
	if (team) {
		strbuf_append(loc, "team/");
		strbuf_url_escape(loc, team);
	} else {
		strbuf_append(loc, "./");
	}
	strbuf_printf(loc, "?answered=%s&did=%s", fingerprint, kind_names[kind]);
}

/* What a page's address says was just answered. */
struct web_answered {
	int present;
	enum responses_kind kind;
	char fingerprint[ALERT_FINGERPRINT_LEN + 1];
};

static int kind_of(const char *s, enum responses_kind *k)
{
	for (size_t i = 0; i < sizeof(kind_names) / sizeof(kind_names[0]); i++)
		if (strcmp(s, kind_names[i]) == 0) {
			*k = (enum responses_kind)i;
			return 0;
		}
	return -1;
}

static void parse(const char *query, struct web_answered *a)
{
	struct evkeyvalq q;
	const char *fp, *did;

	memset(a, 0, sizeof(*a));
	TAILQ_INIT(&q);
	if (!query || evhttp_parse_query_str(query, &q) < 0)
		return;
	fp = evhttp_find_header(&q, "answered");
	did = evhttp_find_header(&q, "did");
	a->present = fp && did && alert_fingerprint_parse(fp, strlen(fp), a->fingerprint) == 0 &&
		     kind_of(did, &a->kind) == 0;
	evhttp_clear_headers(&q);
}

static const struct alert_view_item *find(const struct alert_view *v, const char *fp)
{
	for (size_t i = 0; i < v->n; i++)
		if (strcmp(v->items[i].fingerprint, fp) == 0)
			return &v->items[i];
	return NULL;
}

static int same(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

/* The alert is as the answer left it: acknowledged or snoozed by this person, or open again. */
static int as_answered(const struct alert_view_item *it, enum responses_kind k,
		       const char *person)
{
	if (k == RESPONSES_ACKNOWLEDGE)
		return same(it->state, "acknowledged") && same(it->ack_by, person);
	if (k == RESPONSES_SNOOZE)
		return same(it->state, "snoozed") && same(it->snoozed_by, person);
	return !same(it->state, "snoozed");
}

void web_answered_note(struct strbuf *p, const char *query, const struct alert_view *v,
		       const char *person)
{
	const struct alert_view_item *it;
	struct web_answered a;
	char words[512];

	parse(query, &a);
	if (!a.present)
		return;
	it = find(v, a.fingerprint);
	if (!it) {
		strbuf_append(p, "<div class=\"done\" role=\"status\"><p>The alert you answered is "
			      "no longer on this list (it may have been resolved).</p></div>\n");
		return;
	}
	if (!as_answered(it, a.kind, person))
		return;
	responses_next_words(a.kind, it->stage, it->snoozed_until, it->snooze_reason, words,
			     sizeof(words));
	strbuf_append(p, "<div class=\"done\" role=\"status\"><p><strong>Recorded.</strong> "
		      "Child ");
	html_escape(p, it->child_id);
	strbuf_append(p, ": ");
	html_escape(p, words);
	strbuf_append(p, "</p></div>\n");
}
