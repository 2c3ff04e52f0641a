/* chat: one message for a Microsoft Teams or Slack channel from several notices (issue 15). */
#ifndef DRIFTWATCH_CHAT_H
#define DRIFTWATCH_CHAT_H

#include <stddef.h>

#include <jansson.h>

/* What a webhook receives (config "format"): Standard Webhooks JSON, one alert a request (the
 * default); or, for a channel people read, one message per evaluation per destination:
 * an Adaptive Card for a Teams Workflows "when a webhook request is received" flow, or Slack
 * Block Kit for an incoming webhook. */
enum chat_format { CHAT_STANDARD = 0, CHAT_TEAMS, CHAT_SLACK };

/* "standard", "teams" or "slack" exactly: 0 and *f, else -1. */
int chat_format_parse(const char *s, enum chat_format *f);
const char *chat_format_name(enum chat_format f);

/* The channels' limits a message is kept within (bytes of the JSON body; Slack's blocks). */
#define CHAT_TEAMS_MAX_BYTES 24000   /* Teams Workflows take up to 28 KB */
#define CHAT_SLACK_MAX_BYTES 32000
#define CHAT_SLACK_MAX_BLOCKS 50
#define CHAT_MAX_ITEMS 20            /* a channel message people read through */

/* One notice: its webhook type ("alert.escalated", ...) and the alert object (ALERTS.md). */
struct chat_item {
	const char *type;
	const json_t *alert;
};

/* Orders items most serious first: by the stage's seriousness its rule declares (rule.h), then
 * escalations and new alerts before updates, unanswered, responses and resolutions, then by
 * child. */
void chat_sort(struct chat_item *items, size_t n);

/* One message for the n items (one evaluation's notices to one destination), in their order
 * (chat_sort first): a title with the count, as many items in full as fit the channel's limits
 * and CHAT_MAX_ITEMS (at least one: a long summary is cut short), and a line for the rest.
 * *body gets the JSON (malloc'd). pages_url is web.public_url (or NULL): each item then links
 * to the child's page there, where a person signed in answers as themselves (a channel has no
 * one person a signed link could name). The line for the rest counts them by change and
 * stage, and sends the reader to the pages, else (email_on) to the email digests. Returns how
 * many items are shown in full, 0 when out of memory. */
size_t chat_message(enum chat_format f, const struct chat_item *items, size_t n,
		    const char *pages_url, int email_on, char **body);

/* The rest's line names at most this many groups of change and stage ("and 7 others"). */
#define CHAT_MORE_GROUPS 6

#endif
