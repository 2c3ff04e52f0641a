/* noticelinks: the Acknowledge, Snooze and Open links an alert carries in a notice. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "driftwatch/calendar.h"
#include "driftwatch/errmsg.h"
#include "driftwatch/mailaddr.h"
#include "driftwatch/noticelinks.h"
#include "driftwatch/strbuf.h"

#define NOTICELINKS_ALL ((1u << NOTICELINKS_KINDS) - 1)

static const char *const noticelinks_names[NOTICELINKS_KINDS] = { "acknowledge", "snooze",
								  "open" };
static const char *const noticelinks_labels[NOTICELINKS_KINDS] = { "Acknowledge", "Snooze",
								   "Open" };
/* A link opens a page (a GET changes nothing): never a form's purpose here. */
static const enum linktoken_purpose noticelinks_purposes[NOTICELINKS_KINDS] = {
	LINKTOKEN_LINK_ACKNOWLEDGE, LINKTOKEN_LINK_SNOOZE, LINKTOKEN_LINK_OPEN
};

const char *noticelinks_kind_name(enum noticelinks_kind k)
{
	return (unsigned)k < NOTICELINKS_KINDS ? noticelinks_names[k] : "?";
}

const char *noticelinks_kind_label(enum noticelinks_kind k)
{
	return (unsigned)k < NOTICELINKS_KINDS ? noticelinks_labels[k] : "?";
}

unsigned noticelinks_wanted(const char *type)
{
	if (!type)
		return 0;
	if (strcmp(type, "alert.firing") == 0 || strcmp(type, "alert.escalated") == 0 ||
	    strcmp(type, "alert.updated") == 0)
		return NOTICELINKS_ALL;
	if (strcmp(type, "alert.resolved") == 0)
		return 1u << NOTICELINKS_OPEN;
	return 0;
}

static int noticelinks_on(const struct noticelinks *nl)
{
	return nl && nl->key && nl->public_url && nl->link_days > 0;
}

void noticelinks_free(char *urls[NOTICELINKS_KINDS])
{
	for (int k = 0; k < NOTICELINKS_KINDS; k++) {
		free(urls[k]);
		urls[k] = NULL;
	}
}

static char *noticelinks_url(const struct noticelinks *nl, const char *token)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_printf(&sb, "%s/r/%s", nl->public_url, token);
	return strbuf_take(&sb);
}

int noticelinks_make(const struct noticelinks *nl, const char *type, const json_t *alert,
		     const char *recipient, char *urls[NOTICELINKS_KINDS], char *err,
		     size_t errsz)
{
	const char *fp = json_string_value(json_object_get(alert, "fingerprint"));
	const char *as_of = json_string_value(json_object_get(alert, "as_of"));
	unsigned wanted = noticelinks_wanted(type);
	int32_t day;
	int made = 0;

	for (int k = 0; k < NOTICELINKS_KINDS; k++)
		urls[k] = NULL;
	if (!noticelinks_on(nl) || !wanted)
		return 0;
	if (!as_of || calendar_day_parse(as_of, &day) < 0)
		return errmsg_set(err, errsz, "the alert has no as_of day to count the links' "
				  "%d days from", nl->link_days);
	for (int k = 0; k < NOTICELINKS_KINDS; k++) {
		char token[LINKTOKEN_BUF];

		if (!(wanted & (1u << k)))
			continue;
		/* linktoken_sign checks the fingerprint and the recipient and says which is wrong */
		if (linktoken_sign(nl->key, noticelinks_purposes[k], fp ? fp : "", recipient,
				   day + nl->link_days, token, err, errsz) < 0) {
			noticelinks_free(urls);
			return -1;
		}
		urls[k] = noticelinks_url(nl, token);
		if (!urls[k]) {
			noticelinks_free(urls);
			return errmsg_set(err, errsz, "out of memory");
		}
		made++;
	}
	return made;
}

/* One recipient's actions appended to actions; 0, or -1 with err. */
static int noticelinks_add_person(const struct noticelinks *nl, const char *type,
				  const json_t *data, const char *email, json_t *actions,
				  char *err, size_t errsz)
{
	char *urls[NOTICELINKS_KINDS];

	if (noticelinks_make(nl, type, data, email, urls, err, errsz) < 0)
		return -1;
	for (int k = 0; k < NOTICELINKS_KINDS; k++) {
		if (!urls[k])
			continue;
		if (json_array_append_new(actions, json_pack("{s:s, s:s, s:s}", "kind",
							    noticelinks_names[k], "recipient", email,
							    "url", urls[k])) < 0) {
			noticelinks_free(urls);
			return errmsg_set(err, errsz, "out of memory");
		}
	}
	noticelinks_free(urls);
	return 0;
}

int noticelinks_webhook_actions(const struct noticelinks *nl, const char *type, json_t *data,
				char *err, size_t errsz)
{
	const json_t *recipients = json_object_get(data, "recipients");
	json_t *actions, *r;
	size_t i;

	if (!noticelinks_on(nl) || !noticelinks_wanted(type) || !json_is_object(data))
		return 0;
	actions = json_array();
	if (!actions)
		return errmsg_set(err, errsz, "out of memory");
	json_array_foreach(recipients, i, r) {
		const char *email = json_string_value(json_object_get(r, "email"));
		int seen = 0;

		/* an address linktoken cannot name is reported by the digest's own checks (it goes
		 * to the fallback address): here it simply has no links */
		if (!email || !mailaddr_usable(email, NULL))
			continue;
		/* one set per person, however many roles they hold on this alert */
		for (size_t j = 0; j < i && !seen; j++) {
			const char *e = json_string_value(json_object_get(
				json_array_get(recipients, j), "email"));

			seen = e && strcasecmp(e, email) == 0;
		}
		if (seen)
			continue;
		if (noticelinks_add_person(nl, type, data, email, actions, err, errsz) < 0) {
			json_decref(actions);
			return -1;
		}
	}
	if (json_object_set_new(data, "actions", actions) < 0)
		return errmsg_set(err, errsz, "out of memory");
	return 0;
}
