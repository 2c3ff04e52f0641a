/* alert: an alert's JSON form, its recipients by role, its link, and the compact form an
 * evaluation holds it in; pure functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

/* ---- the strings an alert owns; its compact form ---- */

#define ALERT_N_STRINGS 18

/* Every string an alert owns, so that compacting can move them all into one block. */
static void alert_strings(struct alert *a, char **f[ALERT_N_STRINGS])
{
	char **all[] = { &a->child_id, &a->subject_id, &a->family_id, &a->fingerprint, &a->as_of,
			 &a->since, &a->link, &a->summary, &a->facts_text, &a->recipients_text,
			 &a->contacts.alloc_worker_id, &a->contacts.alloc_worker_email,
			 &a->contacts.supervisor_id, &a->contacts.supervisor_email,
			 &a->contacts.team_manager_email, &a->contacts.team_webhook_url,
			 &a->contacts.chair_id, &a->contacts.chair_email };

	_Static_assert(sizeof(all) / sizeof(all[0]) == ALERT_N_STRINGS, "every string of an alert");
	memcpy(f, all, sizeof(all));
}

void alert_free(struct alert *a)
{
	char **f[ALERT_N_STRINGS];

	if (!a)
		return;
	json_decref(a->facts);
	json_decref(a->recipients);
	if (a->block) {
		free(a->block);
	} else {
		alert_strings(a, f);
		for (size_t i = 0; i < ALERT_N_STRINGS; i++)
			free(*f[i]);
	}
	memset(a, 0, sizeof(*a));
}

/* Replaces *text by the compact JSON of tree, when there is a tree. */
static int alert_tree_to_text(const json_t *tree, char **text)
{
	char *dumped;

	if (!tree)
		return 0;
	dumped = json_dumps(tree, JSON_COMPACT);
	if (!dumped)
		return -1;
	free(*text);
	*text = dumped;
	return 0;
}

/* Whether a compacted alert can drop its summary: the rule words it again from the facts
 * (alert_to_json), which saves a fifth of what a compacted alert holds. */
static int alert_summary_derived(const struct alert *a)
{
	return a->rule && a->rule->summarize;
}

int alert_compact(struct alert *a)
{
	char **f[ALERT_N_STRINGS];
	size_t len = 0;
	char *block, *p, *summary = NULL;

	if (a->block)
		return 0;
	if (alert_tree_to_text(a->facts, &a->facts_text) < 0 ||
	    alert_tree_to_text(a->recipients, &a->recipients_text) < 0)
		return -1;
	if (alert_summary_derived(a)) {
		summary = a->summary;
		a->summary = NULL;
	}
	alert_strings(a, f);
	for (size_t i = 0; i < ALERT_N_STRINGS; i++)
		len += *f[i] ? strlen(*f[i]) + 1 : 0;
	block = malloc(len ? len : 1);
	if (!block) {
		a->summary = summary;
		return -1;
	}
	free(summary);
	p = block;
	for (size_t i = 0; i < ALERT_N_STRINGS; i++) {
		size_t n;

		if (!*f[i])
			continue;
		n = strlen(*f[i]) + 1;
		memcpy(p, *f[i], n);
		free(*f[i]);
		*f[i] = p;
		p += n;
	}
	json_decref(a->facts);
	json_decref(a->recipients);
	a->facts = a->recipients = NULL;
	a->block = block;
	return 0;
}

int alert_load(struct alert *a)
{
	if (!a->facts && a->facts_text) {
		a->facts = json_loads(a->facts_text, 0, NULL);
		if (!a->facts)
			return -1;
	}
	if (!a->recipients && a->recipients_text) {
		a->recipients = json_loads(a->recipients_text, 0, NULL);
		if (!a->recipients)
			return -1;
	}
	return 0;
}

void alert_unload(struct alert *a)
{
	/* The text is what a compacted alert keeps; an alert never compacted has only its trees. */
	if (!a->block)
		return;
	json_decref(a->facts);
	json_decref(a->recipients);
	a->facts = a->recipients = NULL;
}

/* ---- JSON form ---- */

static json_t *json_string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* A tree of the alert as a new reference: the tree itself, else parsed from its text. */
static json_t *alert_tree(const json_t *tree, const char *text, json_t *(*empty)(void))
{
	if (tree)
		return json_incref((json_t *)tree);
	if (text)
		return json_loads(text, 0, NULL);
	return empty();
}

/* The summary of a compacted alert, worded again from its facts (alert_compact dropped it);
 * *out stays NULL for any other alert. */
static int alert_summarize(const struct alert *a, json_t *facts, char **out)
{
	struct alert tmp;
	struct strbuf sb;

	*out = NULL;
	if (!a->block || a->summary || !alert_summary_derived(a))
		return 0;
	tmp = *a;
	tmp.facts = facts;
	strbuf_init(&sb);
	a->rule->summarize(&tmp, &sb);
	*out = strbuf_take(&sb);
	return *out ? 0 : -1;
}

json_t *alert_to_json(const struct alert *a, const char *status)
{
	json_t *facts = alert_tree(a->facts, a->facts_text, json_object);
	json_t *o = facts ? json_object() : NULL;
	char *summary = NULL;

	if (!o || alert_summarize(a, facts, &summary) < 0) {
		json_decref(facts);
		json_decref(o);
		return NULL;
	}
	/* json_object_set_new steals the reference even on failure, so no leaks on the way. */
	json_object_set_new(o, "rule", json_string(a->rule->name));
	json_object_set_new(o, "stage", json_string(a->rule->stages[a->stage].name));
	json_object_set_new(o, "status", json_string(status));
	json_object_set_new(o, "child_id", json_string(a->child_id));
	json_object_set_new(o, "subject_id", json_string_or_null(a->subject_id));
	json_object_set_new(o, "family_id", json_string_or_null(a->family_id));
	json_object_set_new(o, "fingerprint", json_string(a->fingerprint));
	json_object_set_new(o, "as_of", json_string(a->as_of));
	json_object_set_new(o, "since", json_string_or_null(a->since));
	json_object_set_new(o, "facts", facts);
	json_object_set_new(o, "recipients", alert_tree(a->recipients, a->recipients_text,
							 json_array));
	json_object_set_new(o, "link", json_string_or_null(a->link));
	json_object_set_new(o, "summary", json_string_or_null(summary ? summary : a->summary));
	free(summary);
	if (json_object_size(o) != 13) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ---- recipients ---- */

struct recipient_pick {
	const char *role;
	const char *worker_id;
	const char *email;
};

static int recipients_has_email(const json_t *list, const char *email)
{
	size_t i;
	json_t *r;

	json_array_foreach(list, i, r) {
		const char *e = json_string_value(json_object_get(r, "email"));

		if (e && strcmp(e, email) == 0)
			return 1;
	}
	return 0;
}

static struct recipient_pick pick_fallback(struct alert *a, const char *role,
					    const struct config_addresses *addr)
{
	struct recipient_pick p = { role, NULL, addr->fallback };

	if (addr->fallback)
		a->used_fallback = 1;
	else
		a->unroutable = 1;
	return p;
}

/* RULES.md "Recipients": each role has a chain; the configured fallback ends every chain so
 * that nobody is silently dropped. */
static struct recipient_pick pick_role(struct alert *a, const char *role,
				       const struct config_addresses *addr)
{
	const struct alert_contacts *c = &a->contacts;
	struct recipient_pick p = { role, NULL, NULL };

	if (strcmp(role, "allocated_worker") == 0) {
		p.worker_id = c->alloc_worker_id;
		p.email = c->alloc_worker_email;
	} else if (strcmp(role, "supervisor") == 0) {
		if (c->supervisor_email) {
			p.worker_id = c->supervisor_id;
			p.email = c->supervisor_email;
		} else {
			p.email = c->team_manager_email;
		}
	} else if (strcmp(role, "cp_chair") == 0) {
		if (c->chair_email) {
			p.worker_id = c->chair_id;
			p.email = c->chair_email;
		} else {
			p.email = addr->cp_chair;
		}
	} else if (strcmp(role, "cp_manager") == 0) {
		p.email = addr->cp_manager;
	} else if (strcmp(role, "head_of_service") == 0) {
		p.email = addr->head_of_service;
	}
	if (p.email)
		return p;
	return pick_fallback(a, role, addr);
}

static int recipients_add(json_t *list, const struct recipient_pick *p)
{
	json_t *r;

	/* One person in two roles (a supervisor who chairs) gets one notice, under the first. */
	if (p->email && recipients_has_email(list, p->email))
		return 0;
	r = json_pack("{s:s, s:o, s:o}", "role", p->role, "worker_id",
		      json_string_or_null(p->worker_id), "email", json_string_or_null(p->email));
	if (!r)
		return -1;
	return json_array_append_new(list, r);
}

int alert_resolve_recipients(struct alert *a, const char *const *roles,
			     const struct config_addresses *addr)
{
	json_t *list = json_array();
	struct recipient_pick p;

	if (!list)
		return -1;
	a->used_fallback = a->unroutable = 0;
	for (size_t i = 0; roles && roles[i]; i++) {
		p = pick_role(a, roles[i], addr);
		if (recipients_add(list, &p) < 0) {
			json_decref(list);
			return -1;
		}
	}
	if (json_array_size(list) == 0) {
		p = pick_fallback(a, "fallback", addr);
		if (recipients_add(list, &p) < 0) {
			json_decref(list);
			return -1;
		}
	}
	json_decref(a->recipients);
	a->recipients = list;
	return 0;
}

/* ---- link ---- */

static void url_escape(struct strbuf *sb, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
		    ch == '-' || ch == '_' || ch == '.' || ch == '~') {
			strbuf_appendn(sb, (const char *)&ch, 1);
			continue;
		}
		strbuf_printf(sb, "%%%c%c", hex[ch >> 4], hex[ch & 15]);
	}
}

int alert_build_link(struct alert *a, const char *link_template)
{
	static const char placeholder[] = "{child_id}";
	struct strbuf sb;
	const char *p, *hit;

	free(a->link);
	a->link = NULL;
	if (!link_template)
		return 0;
	strbuf_init(&sb);
	for (p = link_template; (hit = strstr(p, placeholder)) != NULL;
	     p = hit + sizeof(placeholder) - 1) {
		strbuf_appendn(&sb, p, (size_t)(hit - p));
		url_escape(&sb, a->child_id);
	}
	strbuf_append(&sb, p);
	a->link = strbuf_take(&sb);
	return a->link ? 0 : -1;
}
