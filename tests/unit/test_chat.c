/* test_chat: Teams and Slack messages from several notices (chat.c), within the channels' limits. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "driftwatch/chat.h"
#include "tap.h"

static json_t *alert(const char *rule, const char *stage, const char *child, const char *summary)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "rule", rule, "stage", stage, "child_id",
			 child, "summary", summary, "link", "https://lcs.example/person/x");
}

static void test_formats(void)
{
	enum chat_format f;

	tap_ok(chat_format_parse("teams", &f) == 0 && f == CHAT_TEAMS, "\"teams\" parses");
	tap_ok(chat_format_parse("slack", &f) == 0 && f == CHAT_SLACK, "\"slack\" parses");
	tap_ok(chat_format_parse("standard", &f) == 0 && f == CHAT_STANDARD, "\"standard\" parses");
	tap_ok(chat_format_parse("Teams", &f) < 0 && chat_format_parse(NULL, &f) < 0,
	       "anything else does not");
}

static void test_order(void)
{
	json_t *a[4] = {
		alert("cin_neglect_duration", "6m", "C-3", "six months"),
		alert("cp_neglect_duration", "18m", "C-2", "eighteen months"),
		alert("cp_neglect_duration", "9m", "C-1", "nine months"),
		alert("cp_neglect_duration", "15m", "C-4", "fifteen months"),
	};
	struct chat_item it[4] = {
		{ "alert.firing", a[0] }, { "alert.resolved", a[1] }, { "alert.firing", a[2] },
		{ "alert.escalated", a[3] },
	};

	chat_sort(it, 4);
	tap_str(json_string_value(json_object_get(it[0].alert, "child_id")), "C-4",
		"the 15-month escalation comes first");
	tap_str(json_string_value(json_object_get(it[3].alert, "child_id")), "C-2",
		"a resolution comes last, however serious its stage (it is good news)");
	tap_str(json_string_value(json_object_get(it[1].alert, "child_id")), "C-1",
		"then by child among stages of the same seriousness");
	for (int i = 0; i < 4; i++)
		json_decref(a[i]);
}

static json_t *parse(const char *body)
{
	json_error_t err;

	return body ? json_loads(body, 0, &err) : NULL;
}

static void test_teams(void)
{
	json_t *a = alert("cp_neglect_duration", "15m", "C-<1>", "Child C-1 has been on a plan.");
	struct chat_item it = { "alert.escalated", a };
	char *body = NULL;
	size_t shown = chat_message(CHAT_TEAMS, &it, 1, "https://dw.la.example", 0, &body);
	json_t *m = parse(body), *card;
	const char *text;

	tap_int((long long)shown, 1, "one item shown");
	card = json_object_get(json_array_get(json_object_get(m, "attachments"), 0), "content");
	tap_str(json_string_value(json_object_get(m, "type")), "message", "a Workflows message");
	tap_str(json_string_value(json_object_get(card, "type")), "AdaptiveCard",
		"holding an Adaptive Card");
	tap_str(json_string_value(json_object_get(card, "version")), "1.4", "version 1.4");
	text = body ? strstr(body, "Escalated: CP escalation at 15 months, child C-<1>") : NULL;
	tap_ok(text != NULL, "the item says what happened, the stage in words and the child");
	tap_contains(body, "https://dw.la.example/child/C-%3C1%3E",
		     "the child's page in driftwatch, its id escaped in the URL");
	tap_contains(body, "\"Action.OpenUrl\"", "links are buttons");
	json_decref(m);
	free(body);
	json_decref(a);
}

static void test_limits(enum chat_format f, const char *name)
{
	enum { N = 300 };
	json_t *a[N];
	struct chat_item it[N];
	char summary[1200], child[16];
	char *body = NULL;
	size_t shown;
	json_t *m;

	memset(summary, 'x', sizeof(summary) - 1);
	summary[sizeof(summary) - 1] = '\0';
	for (int i = 0; i < N; i++) {
		snprintf(child, sizeof(child), "C-%03d", i);
		a[i] = alert("cin_neglect_duration", "6m", child, summary);
		it[i].type = "alert.firing";
		it[i].alert = a[i];
	}
	shown = chat_message(f, it, N, NULL, 0, &body);
	m = parse(body);
	tap_ok(shown >= 1 && shown <= CHAT_MAX_ITEMS, "%s: 300 notices, %zu shown in full", name,
	       shown);
	tap_ok(body && strlen(body) <= (f == CHAT_TEAMS ? CHAT_TEAMS_MAX_BYTES
							: CHAT_SLACK_MAX_BYTES),
	       "%s: the body is within the channel's size (%zu bytes)", name,
	       body ? strlen(body) : 0);
	tap_contains(body, "300 changes", "%s: the title counts them all", name);
	snprintf(child, sizeof(child), "%zu", N - shown);
	tap_contains(body, "more changes not shown here: ", "%s: a line says how many more", name);
	tap_ok(body && strstr(body, child) && strstr(body, " CIN plans at 6 months (new).\"") &&
	       !strstr(body, "less serious") && !strstr(body, "email"),
	       "%s: counted by stage, nothing said less serious, no email named without email",
	       name);
	if (f == CHAT_SLACK)
		tap_ok(json_array_size(json_object_get(m, "blocks")) <= CHAT_SLACK_MAX_BLOCKS,
		       "slack: at most 50 blocks (%zu)",
		       json_array_size(json_object_get(m, "blocks")));
	json_decref(m);
	free(body);
	/* one item with a summary far over the limit is still sent, cut short */
	{
		char *huge = malloc(100000);
		json_t *big;
		struct chat_item one = { "alert.firing", NULL };

		memset(huge, 'y', 99999);
		huge[99999] = '\0';
		big = alert("cin_neglect_duration", "6m", "C-BIG", huge);
		one.alert = big;
		shown = chat_message(f, &one, 1, NULL, 0, &body);
		tap_ok(shown == 1 && body && strlen(body) <= 24000 && strstr(body, "\xe2\x80\xa6"),
		       "%s: one summary of 100,000 bytes is cut short, with an ellipsis", name);
		free(body);
		json_decref(big);
		free(huge);
	}
	for (int i = 0; i < N; i++)
		json_decref(a[i]);
}

static void test_slack_escaping(void)
{
	json_t *a = alert("worker_churn", "churn", "C-9", "three workers <in> a year & more");
	struct chat_item it = { "alert.firing", a };
	char *body = NULL;

	chat_message(CHAT_SLACK, &it, 1, NULL, 0, &body);
	tap_contains(body, "three workers &lt;in&gt; a year &amp; more",
		     "slack: &, < and > are escaped as its mrkdwn wants");
	tap_lacks(body, "Open in driftwatch", "no pages configured: no page button");
	tap_contains(body, "\"text\":\"driftwatch: 1 change", "a top-level text for notifications");
	free(body);
	json_decref(a);
}

/* A snoozed alert's new stage is still notified, showing the snooze (RESPONSES.md): record.sql
 * puts the API's "response" in the notice, and a channel reads it under the summary. */
static void test_snoozed(void)
{
	json_t *a = alert("cp_neglect_duration", "15m", "C-5", "On a CP plan for 15 months");
	struct chat_item it = { "alert.escalated", a };
	char *body = NULL;

	json_object_set_new(a, "response", json_pack("{s:s, s:s, s:s, s:s, s:s}", "state",
						      "snoozed", "until", "2027-01-15", "by",
						      "sup1@la.example", "reason", "legal_planning",
						      "note", "PLO letter <sent>"));
	chat_message(CHAT_TEAMS, &it, 1, NULL, 0, &body);
	tap_contains(body, "Snoozed until 15 Jan 2027 by sup1@la.example: Legal planning",
		     "teams: a snoozed alert's item shows the snooze, in words");
	free(body);
	body = NULL;
	chat_message(CHAT_SLACK, &it, 1, NULL, 0, &body);
	tap_contains(body, "Snoozed until 15 Jan 2027 by sup1@la.example", "slack: the same");
	tap_contains(body, "PLO letter &lt;sent&gt;", "slack: the note escaped as mrkdwn wants");
	free(body);
	body = NULL;
	json_object_del(a, "response");
	chat_message(CHAT_TEAMS, &it, 1, NULL, 0, &body);
	tap_lacks(body, "Snoozed", "an alert that is not snoozed says nothing of it");
	free(body);
	json_decref(a);
}

/* Audit 7: of 120 changes, 20 CP escalations at 18 months were shown and the line said "100
 * more, less serious than those above", 40 of them the same escalations; and "in its
 * recipients' email digest" with no email configured. */
static void test_rest_counted(void)
{
	enum { N = 120 };
	json_t *a[N];
	struct chat_item it[N];
	char child[16], want[160];
	char *body = NULL;
	size_t shown;

	for (int i = 0; i < N; i++) {
		snprintf(child, sizeof(child), "C-%03d", i);
		a[i] = i < 60 ? alert("cp_neglect_duration", "18m", child, "s")
			      : alert("was_not_brought", "repeated", child, "s");
		it[i].type = "alert.firing";
		it[i].alert = a[i];
	}
	chat_sort(it, N);
	shown = chat_message(CHAT_SLACK, it, N, NULL, 1, &body);
	snprintf(want, sizeof(want), "And %zu more changes not shown here: %zu CP escalations at "
		 "18 months (new), 60 repeated was-not-brought (new). Each is also in its "
		 "recipients' email digest.", N - shown, 60 - shown);
	tap_ok(shown > 0 && shown < 60, "slack: %zu of the 60 escalations shown in full", shown);
	tap_contains(body, want, "the rest counted by stage, the escalations first; with email "
		     "configured, the digests named");
	free(body);
	for (int i = 0; i < N; i++)
		json_decref(a[i]);
}

int main(void)
{
	test_rest_counted();
	test_formats();
	test_order();
	test_teams();
	test_limits(CHAT_TEAMS, "teams");
	test_limits(CHAT_SLACK, "slack");
	test_slack_escaping();
	test_snoozed();
	return tap_status();
}
