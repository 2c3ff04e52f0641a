/* alert: an alert's identity, its JSON form, its recipients by role and its link; pure functions. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "driftwatch/alert.h"
#include "driftwatch/config.h"
#include "driftwatch/jsontext.h"
#include "driftwatch/mailaddr.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

void alert_free(struct alert *a)
{
	char *strings[] = { a ? a->child_id : NULL, a ? a->subject_id : NULL,
			    a ? a->family_id : NULL, a ? a->fingerprint : NULL,
			    a ? a->as_of : NULL, a ? a->since : NULL, a ? a->link : NULL,
			    a ? a->summary : NULL };

	if (!a)
		return;
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		free(strings[i]);
	free(a->contacts.alloc_worker_id);
	free(a->contacts.alloc_worker_email);
	free(a->contacts.supervisor_id);
	free(a->contacts.supervisor_email);
	free(a->contacts.team_manager_email);
	free(a->contacts.team_webhook_url);
	free(a->contacts.team_id);
	free(a->contacts.chair_id);
	free(a->contacts.chair_email);
	json_decref(a->facts);
	free(a->facts_text);
	json_decref(a->recipients);
	memset(a, 0, sizeof(*a));
}

/* ---- identity ---- */

int alert_fingerprint_parse(const char *s, size_t n, char out[ALERT_FINGERPRINT_LEN + 1])
{
	if (!s || n != ALERT_FINGERPRINT_LEN)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -1;
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[n] = '\0';
	return 0;
}

/* An id holding a separator of either scheme below (any bytes can be an id: audit 12). */
static int alert_id_has_separator(const char *s)
{
	return strchr(s, 0x1f) != NULL || strchr(s, 0x1e) != NULL;
}

/* The digest's input. Ids as they come are joined with U+001F, as fingerprints have always
 * been made: every stored alert keeps its identity. Two ids holding that byte could join to
 * the same text ("X<US>P1" and "Q", "X" and "P1<US>Q"): one fingerprint for two alerts, and the
 * recording of the rule's whole batch failed for everyone. Such ids are written with their
 * lengths after a U+001E instead, which the first scheme never holds: the two schemes cannot
 * meet, and the second is one-to-one. */
static int alert_fingerprint_input(EVP_MD_CTX *c, const char *rule, const char *child_id,
				   const char *subject)
{
	static const char us = 0x1f, rs = 0x1e;
	char len[48];

	if (!alert_id_has_separator(child_id) && !alert_id_has_separator(subject))
		return EVP_DigestUpdate(c, rule, strlen(rule)) && EVP_DigestUpdate(c, &us, 1) &&
		       EVP_DigestUpdate(c, child_id, strlen(child_id)) &&
		       EVP_DigestUpdate(c, &us, 1) &&
		       EVP_DigestUpdate(c, subject, strlen(subject));
	snprintf(len, sizeof(len), "%zu:%zu:", strlen(child_id), strlen(subject));
	return EVP_DigestUpdate(c, rule, strlen(rule)) && EVP_DigestUpdate(c, &rs, 1) &&
	       EVP_DigestUpdate(c, len, strlen(len)) &&
	       EVP_DigestUpdate(c, child_id, strlen(child_id)) &&
	       EVP_DigestUpdate(c, subject, strlen(subject));
}

int alert_fingerprint(const char *rule, const char *child_id, const char *subject_id,
		      char out[ALERT_FINGERPRINT_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	const char *subject = subject_id ? subject_id : "";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	int ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
		 alert_fingerprint_input(c, rule, child_id, subject) &&
		 EVP_DigestFinal_ex(c, md, &n);

	EVP_MD_CTX_free(c);
	if (!ok || n * 2 != ALERT_FINGERPRINT_LEN)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[ALERT_FINGERPRINT_LEN] = '\0';
	return 0;
}

/* ---- JSON form ---- */

static json_t *json_string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

json_t *alert_to_json(const struct alert *a, const char *status)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
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
	/* a->facts may be read only as deep as the rule's words need: the text is whole */
	json_object_set_new(o, "facts", a->facts_text ? json_loads(a->facts_text, 0, NULL) :
					 a->facts ? json_incref(a->facts) : json_object());
	json_object_set_new(o, "recipients", a->recipients ? json_incref(a->recipients)
							    : json_array());
	json_object_set_new(o, "link", json_string_or_null(a->link));
	json_object_set_new(o, "summary", json_string_or_null(a->summary));
	if (json_object_size(o) != 13) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* ,"key":value (the first key is written with its brace: no comma before it) */
static void alert_json_key(struct strbuf *sb, const char *key, const char *value, int ascii,
			   int *bad)
{
	strbuf_appendn(sb, ",\"", 2);
	strbuf_append(sb, key);
	strbuf_appendn(sb, "\":", 2);
	if (!value)
		strbuf_appendn(sb, "null", 4);
	else if (jsontext_string(sb, value, ascii) < 0)
		*bad = 1;
}

/* The facts: their text compacted when the rule's text is kept, else jansson's writing. */
static void alert_json_facts(struct strbuf *sb, const struct alert *a, int ascii, int *bad)
{
	char *text;

	strbuf_append(sb, ",\"facts\":");
	if (a->facts_text) {
		if (jsontext_compact(sb, a->facts_text, strlen(a->facts_text), ascii) < 0)
			*bad = 1;
		return;
	}
	if (!a->facts) {
		strbuf_appendn(sb, "{}", 2);
		return;
	}
	text = json_dumps(a->facts, JSON_COMPACT | (ascii ? JSON_ENSURE_ASCII : 0));
	if (!text) {
		*bad = 1;
		return;
	}
	strbuf_append(sb, text);
	free(text);
}

int alert_json_write(struct strbuf *sb, const struct alert *a, const char *status, int ascii)
{
	size_t start = sb->len;
	char *recipients;
	int bad;

	/* alert_to_json cannot make these null: it fails instead */
	if (!a->child_id || !a->fingerprint || !a->as_of || !status)
		return -1;
	recipients = a->recipients
		? json_dumps(a->recipients, JSON_COMPACT | (ascii ? JSON_ENSURE_ASCII : 0))
		: strdup("[]");
	bad = !recipients;

	strbuf_append(sb, "{\"rule\":");
	if (jsontext_string(sb, a->rule->name, ascii) < 0)
		bad = 1;
	alert_json_key(sb, "stage", a->rule->stages[a->stage].name, ascii, &bad);
	alert_json_key(sb, "status", status, ascii, &bad);
	alert_json_key(sb, "child_id", a->child_id, ascii, &bad);
	alert_json_key(sb, "subject_id", a->subject_id, ascii, &bad);
	alert_json_key(sb, "family_id", a->family_id, ascii, &bad);
	alert_json_key(sb, "fingerprint", a->fingerprint, ascii, &bad);
	alert_json_key(sb, "as_of", a->as_of, ascii, &bad);
	alert_json_key(sb, "since", a->since, ascii, &bad);
	alert_json_facts(sb, a, ascii, &bad);
	strbuf_append(sb, ",\"recipients\":");
	strbuf_append(sb, recipients ? recipients : "");
	alert_json_key(sb, "link", a->link, ascii, &bad);
	alert_json_key(sb, "summary", a->summary, ascii, &bad);
	strbuf_appendn(sb, "}", 1);
	free(recipients);
	if (bad) {
		strbuf_truncate(sb, start);
		return -1;
	}
	return 0;
}

/* ---- recipients ---- */

struct recipient_pick {
	const char *role;
	const char *worker_id;   /* who it is for, or who it should have been for */
	const char *email;
	char reason[256];        /* why the fallback got it ("" when it did not) */
	const char *bad_address; /* the worker whose address in the case data cannot be used */
};

static json_t *recipients_find(const json_t *list, const char *email)
{
	size_t i;
	json_t *r;

	json_array_foreach(list, i, r) {
		const char *e = json_string_value(json_object_get(r, "email"));

		/* one person whatever the case of their address (RESPONSES.md) */
		if (e && strcasecmp(e, email) == 0)
			return r;
	}
	return NULL;
}

/* The person's address when it can be used; otherwise NULL, with the reason said of who. */
static const char *pick_usable(struct recipient_pick *p, const char *who, const char *id,
			       const char *email)
{
	const char *why;

	if (!email) {
		snprintf(p->reason, sizeof(p->reason), "%.160s has no email address", who);
		return NULL;
	}
	if (mailaddr_usable(email, &why))
		return email;
	snprintf(p->reason, sizeof(p->reason), "the email address of %.160s cannot be used: it %s",
		 who, why);
	p->bad_address = id;
	return NULL;
}

static void pick_fallback(struct alert *a, struct recipient_pick *p,
			  const struct config_addresses *addr)
{
	p->email = addr->fallback;
	if (addr->fallback)
		a->used_fallback = 1;
	else
		a->unroutable = 1;
	a->bad_addresses += p->bad_address != NULL;
}

static void pick_worker(struct recipient_pick *p, const char *what, const char *id,
			const char *email)
{
	char who[160];

	snprintf(who, sizeof(who), "%s %.120s", what, id);
	p->worker_id = id;
	p->email = pick_usable(p, who, id, email);
}

static void pick_allocated(struct recipient_pick *p, const struct alert_contacts *c)
{
	if (!c->alloc_worker_id) {
		snprintf(p->reason, sizeof(p->reason), "the child has no open allocation to a "
			 "known worker");
		return;
	}
	pick_worker(p, "allocated worker", c->alloc_worker_id, c->alloc_worker_email);
}

/* Adds a clause to the reason ("; " between clauses); cut short rather than lost. */
static void pick_reason_add(struct recipient_pick *p, const char *clause)
{
	size_t n = strlen(p->reason);

	snprintf(p->reason + n, sizeof(p->reason) - n, "%s%s", n ? "; " : "", clause);
}

/* The supervisor named by supervisor_id, else the team's manager_email (RULES.md); both come
 * through the allocated worker. */
static void pick_supervisor(struct recipient_pick *p, const struct alert_contacts *c)
{
	char clause[160];

	if (c->supervisor_id) {
		pick_worker(p, "supervisor", c->supervisor_id, c->supervisor_email);
		if (p->email)
			return;
	}
	if (c->team_manager_email && mailaddr_usable(c->team_manager_email, NULL)) {
		/* a supervisor's unusable address stays said (the team manager reads why the
		 * notice came to them) and reported to the operators (record.sql) */
		p->email = c->team_manager_email;
		if (!p->bad_address)
			p->reason[0] = '\0';
		return;
	}
	if (!c->alloc_worker_id)
		snprintf(clause, sizeof(clause), "the child has no open allocation, so no "
			 "supervisor");
	else
		snprintf(clause, sizeof(clause), "worker %.60s has no supervisor with a usable "
			 "email address, and their team no usable manager_email", c->alloc_worker_id);
	pick_reason_add(p, clause);
}

static void pick_chair(struct recipient_pick *p, const struct alert_contacts *c,
		       const struct config_addresses *addr)
{
	if (c->chair_id) {
		pick_worker(p, "chair", c->chair_id, c->chair_email);
		if (p->email)
			return;
	}
	p->email = addr->cp_chair;
	if (!p->email)
		pick_reason_add(p, "no conference chair with a usable address, and "
				"addresses.cp_chair is not set");
	else if (!p->bad_address)
		p->reason[0] = '\0';
	/* a chair's unusable address keeps its reason: the report to the operators is made of it
	 * (record.sql), and the CP chairs' mailbox reads why the notice came there */
}

static void pick_configured(struct recipient_pick *p, const char *key, const char *address)
{
	p->email = address;
	if (!address)
		snprintf(p->reason, sizeof(p->reason), "addresses.%s is not set", key);
}

/* RULES.md "Recipients": each role has a chain; the configured fallback ends every chain so
 * that nobody is silently dropped, and says why it got the notice. */
static void pick_role(struct alert *a, struct recipient_pick *p, const char *role,
		      const struct config_addresses *addr)
{
	memset(p, 0, sizeof(*p));
	p->role = role;
	if (strcmp(role, "allocated_worker") == 0)
		pick_allocated(p, &a->contacts);
	else if (strcmp(role, "supervisor") == 0)
		pick_supervisor(p, &a->contacts);
	else if (strcmp(role, "cp_chair") == 0)
		pick_chair(p, &a->contacts, addr);
	else if (strcmp(role, "cp_manager") == 0 || strcmp(role, "head_of_service") == 0)
		pick_configured(p, role, strcmp(role, "cp_manager") == 0 ? addr->cp_manager
									  : addr->head_of_service);
	if (!p->email)
		pick_fallback(a, p, addr);
}

static int recipients_merge(json_t *r, const struct recipient_pick *p)
{
	const char *had = json_string_value(json_object_get(r, "reason"));
	struct strbuf sb;
	char *both;

	if (p->bad_address && !json_object_get(r, "bad_address"))
		json_object_set_new(r, "bad_address", json_string(p->bad_address));
	if (!p->reason[0])
		return 0;
	strbuf_init(&sb);
	if (had)
		strbuf_printf(&sb, "%s; ", had);
	strbuf_printf(&sb, "as %s: %s", p->role, p->reason);
	both = strbuf_take(&sb);
	if (!both)
		return -1;
	json_object_set_new(r, "reason", json_string(both));
	free(both);
	return 0;
}

static int recipients_add(json_t *list, const struct recipient_pick *p)
{
	json_t *r;

	/* One person in two roles (a supervisor who chairs, the duty team for several) gets one
	 * notice, under the first role; each reason it got it is kept. */
	if (p->email && (r = recipients_find(list, p->email)) != NULL)
		return recipients_merge(r, p);
	r = json_pack("{s:s, s:o, s:o}", "role", p->role, "worker_id",
		      json_string_or_null(p->worker_id), "email", json_string_or_null(p->email));
	if (r && p->reason[0])
		json_object_set_new(r, "reason", json_string(p->reason));
	if (r && p->bad_address)
		json_object_set_new(r, "bad_address", json_string(p->bad_address));
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
	a->used_fallback = a->unroutable = a->bad_addresses = 0;
	for (size_t i = 0; roles && roles[i]; i++) {
		pick_role(a, &p, roles[i], addr);
		if (recipients_add(list, &p) < 0) {
			json_decref(list);
			return -1;
		}
	}
	if (json_array_size(list) == 0) {
		memset(&p, 0, sizeof(p));
		p.role = "fallback";
		snprintf(p.reason, sizeof(p.reason), "no role is configured for this stage");
		pick_fallback(a, &p, addr);
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
		strbuf_url_escape(&sb, a->child_id);
	}
	strbuf_append(&sb, p);
	a->link = strbuf_take(&sb);
	return a->link ? 0 : -1;
}
