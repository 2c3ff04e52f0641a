/* test_mail: composing email digests: headers, subject counts, both parts, escaping, UTF-8,
 * the deterministic Message-ID, line lengths and line ends. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "driftwatch/jsontext.h"
#include "driftwatch/linktoken.h"
#include "driftwatch/mail.h"
#include "driftwatch/mail_csv.h"
#include "driftwatch/noticelinks.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

#define FROM "driftwatch@la.example"
#define TO "chair@la.example"
#define DATE 1795000000 /* Wed, 18 Nov 2026 11:06:40 UTC */

/* ---- fixtures: alerts as ALERTS.md shapes them ---- */

static json_t *alert(const char *text)
{
	json_error_t je;
	json_t *a = json_loads(text, 0, &je);

	if (!a) {
		tap_diag("bad fixture JSON: %s", je.text);
		exit(1);
	}
	return a;
}

static json_t *alert_cp15(void)
{
	return alert("{\"rule\": \"cp_neglect_duration\", \"stage\": \"15m\", \"status\": \"firing\","
		     " \"child_id\": \"<C&1>\", \"subject_id\": \"CPP-77\", \"family_id\": \"F-310\","
		     " \"fingerprint\": \"f1\", \"as_of\": \"2026-11-22\", \"since\": \"2025-08-14\","
		     " \"facts\": {\"plan_start\": \"2025-08-14\", \"episode_start\": \"2025-08-14\","
		     " \"months\": 15, \"strategy\": null},"
		     " \"recipients\": [{\"role\": \"cp_chair\", \"worker_id\": \"W-9\","
		     " \"email\": \"chair@la.example\"}, {\"role\": \"supervisor\", \"worker_id\":"
		     " \"W-2\", \"email\": \"other.supervisor@la.example\"}],"
		     " \"link\": \"https://lcs.example.gov.uk/person/C-1042?a=1&b=2\","
		     " \"summary\": \"Child <C&1> has been on a child protection plan for neglect for"
		     " 15 months (since 14 Aug 2025) with no recorded strategy.\"}");
}

static json_t *alert_repeat(void)
{
	return alert("{\"rule\": \"repeat_neglect_plan\", \"stage\": \"any\", \"status\": \"firing\","
		     " \"child_id\": \"C-2001\", \"subject_id\": \"CPP-90\", \"facts\": {"
		     " \"previous_plan_end\": \"2023-01-10\", \"gap_days\": 800, \"plan_number\": 2},"
		     " \"link\": \"https://lcs.example.gov.uk/person/C-2001\","
		     " \"summary\": \"Child C-2001 is on a child protection plan for neglect again.\"}");
}

static json_t *alert_wnb(void)
{
	return alert("{\"rule\": \"was_not_brought\", \"stage\": \"vulnerable\", \"status\":"
		     " \"firing\", \"child_id\": \"C-3001\", \"subject_id\": null, \"facts\": {"
		     " \"count\": 1, \"latest\": \"2026-11-01\", \"under_one\": true},"
		     " \"link\": null, \"summary\": \"Child C-3001 was not brought to 1 appointment"
		     " since 22 May 2026 (latest 1 Nov 2026), as a baby under one.\"}");
}

/* The words a notice keeps from its rule when it is recorded (notice.h), as the outbox holds
 * them: mail_compose reads labels, the subject in words, what is expected and what changed
 * from here, never from the rules. */
static json_t *words(const char *label, const char *many, const char *subject,
		     const char *expected, const char *update)
{
	json_t *w = json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:b, s:i}", "label", label,
			      "label_many", many, "subject", subject, "expected", expected,
			      "update", update, "urgent", 0, "seriousness", 3);

	if (!w) {
		tap_diag("bad notice fixture");
		exit(1);
	}
	return w;
}

/* The urgency and seriousness the rule's stage declares (rule.h), as notice_for copies them. */
static json_t *declared(json_t *w, int urgent, int seriousness)
{
	json_object_set_new(w, "urgent", json_boolean(urgent));
	json_object_set_new(w, "seriousness", json_integer(seriousness));
	return w;
}

struct fixture {
	json_t *cp15, *repeat, *wnb;
	json_t *w_cp15, *w_repeat, *w_wnb;
	struct mail_notice n[3];
};

static void fixture_init(struct fixture *f)
{
	f->cp15 = alert_cp15();
	f->repeat = alert_repeat();
	f->wnb = alert_wnb();
	f->w_repeat = declared(words("repeat CP plan", "repeat CP plans",
				     "the episode of CP plans that began with plan CPP-90",
				     "chair and supervisor to review why the earlier plan ended",
				     NULL), 0, 2);
	f->w_cp15 = declared(words("CP escalation at 15 months", "CP escalations at 15 months",
				   "the episode of CP plans that began with plan CPP-77",
				   "chair to convene a 15-month review with the CP manager", NULL),
			     1, 1);
	f->w_wnb = declared(words("was-not-brought", "was-not-brought", NULL,
				  "follow up the missed appointment with the family and the "
				  "health service", "a further missed appointment, 1 in the window "
				  "now"), 1, 3);
	f->n[0] = (struct mail_notice){ "alert.firing", f->repeat, f->w_repeat, "notice-2", NULL, 0 };
	f->n[1] = (struct mail_notice){ "alert.escalated", f->cp15, f->w_cp15, "notice-1", NULL, 0 };
	f->n[2] = (struct mail_notice){ "alert.firing", f->wnb, f->w_wnb, "notice-3", NULL, 0 };
}

static void fixture_free(struct fixture *f)
{
	json_decref(f->cp15);
	json_decref(f->repeat);
	json_decref(f->wnb);
	json_decref(f->w_cp15);
	json_decref(f->w_repeat);
	json_decref(f->w_wnb);
}

/* ---- a small MIME reader, enough to check what a real one (Python's) checks in
 * tests/integration/test_mail_delivery.sh ---- */

/* The value of header name (unfolded: CRLF + space removed), or NULL. Caller frees. */
static char *header(const char *msg, const char *name)
{
	size_t nl = strlen(name);
	const char *end = strstr(msg, "\r\n\r\n");

	for (const char *p = msg; p && p < end; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL) {
		const char *q;
		char *v;
		size_t n = 0;

		if (strncasecmp(p, name, nl) != 0 || p[nl] != ':')
			continue;
		p += nl + 1;
		while (*p == ' ')
			p++;
		v = malloc(strlen(p) + 1);
		if (!v)
			return NULL;
		for (q = p; *q; q++) {
			if (q[0] == '\r' && q[1] == '\n') {
				if (q[2] != ' ' && q[2] != '\t')
					break;
				q++;    /* unfolding drops the CRLF and keeps the space */
				continue;
			}
			v[n++] = *q;
		}
		v[n] = '\0';
		return v;
	}
	return NULL;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Quoted-printable to text with "\n" line ends; NULL on any malformed escape. */
static char *qp_decode(const char *s, size_t len)
{
	char *out = malloc(len + 1);
	size_t n = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '=' && i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
		} else if (s[i] == '=') {
			if (i + 2 >= len || unhex(s[i + 1]) < 0 || unhex(s[i + 2]) < 0) {
				free(out);
				return NULL;
			}
			out[n++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
			i += 2;
		} else if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n') {
			out[n++] = '\n';
			i++;
		} else {
			out[n++] = s[i];
		}
	}
	out[n] = '\0';
	return out;
}

/* The decoded body of the part whose Content-Type starts with type, or NULL. */
static int b64val(char c)
{
	const char *t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(t, c) : NULL;

	return p ? (int)(p - t) : -1;
}

static char *part_under(const char *msg, const char *type, const char *boundary)
{
	char *b = strdup(boundary), *delim = NULL, *want = NULL, *res = NULL;
	const char *p, *body, *end;

	if (!b || !strchr(b, '"'))
		goto out;
	*strchr(b, '"') = '\0';
	delim = malloc(strlen(b) + 5);
	want = malloc(strlen(type) + 32);
	if (!delim || !want)
		goto out;
	sprintf(delim, "\r\n--%s", b);
	sprintf(want, "Content-Type: %s", type);
	for (p = strstr(msg, delim); p; p = strstr(p + 1, delim)) {
		const char *hdr_end = strstr(p, "\r\n\r\n");

		if (!hdr_end || !strstr(p, want) || strstr(p, want) > hdr_end)
			continue;
		if (!strstr(p, "Content-Transfer-Encoding: quoted-printable") ||
		    strstr(p, "Content-Transfer-Encoding: quoted-printable") > hdr_end)
			break;
		body = hdr_end + 4;
		end = strstr(body - 2, delim);
		if (end)
			res = qp_decode(body, (size_t)(end - body));
		break;
	}
out:
	free(b);
	free(delim);
	free(want);
	return res;
}

/* The decoded quoted-printable part of type, under any boundary of the message (the text and
 * HTML parts of a digest with a list attached are in a multipart/alternative within a
 * multipart/mixed). */
static char *part(const char *msg, const char *type)
{
	const char *b;
	char *res = NULL;

	for (b = strstr(msg, "boundary=\""); b && !res; b = strstr(b + 1, "boundary=\""))
		res = part_under(msg, type, b + 10);
	return res;
}

/* The base64 attachment of type under boundary="..." of the multipart/mixed, decoded; *len its
 * bytes. NULL when there is none. */
static char *attachment(const char *msg, const char *type, size_t *len)
{
	char want[128];
	const char *p, *body, *end;
	char *out;
	unsigned acc = 0;
	int bits = 0;

	*len = 0;
	snprintf(want, sizeof(want), "\r\nContent-Type: %s", type);
	p = strstr(msg, want);
	if (!p || !(body = strstr(p, "\r\n\r\n")) ||
	    !strstr(p, "Content-Transfer-Encoding: base64") ||
	    strstr(p, "Content-Transfer-Encoding: base64") > body)
		return NULL;
	body += 4;
	end = strstr(body, "\r\n--");
	if (!end || !(out = malloc((size_t)(end - body) + 1)))
		return NULL;
	for (const char *q = body; q < end; q++) {
		int v = b64val(*q);

		if (v < 0)
			continue;
		acc = ((acc << 6) | (unsigned)v) & 0xffffu;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[(*len)++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[*len] = '\0';
	return out;
}

/* Decodes a header value of RFC 2047 "=?UTF-8?B?...?=" words separated by whitespace (the only
 * kind mail_compose writes); sets *split_char when a word ends inside a UTF-8 character. */
static char *rfc2047_decode(const char *v, int *split_char, size_t *longest_word)
{
	char *out = malloc(strlen(v) + 1);
	size_t n = 0;

	*split_char = 0;
	*longest_word = 0;
	if (!out)
		return NULL;
	while (*v) {
		const char *end;
		unsigned bits = 0;
		int nbits = 0;
		size_t start = n;

		while (*v == ' ')
			v++;
		if (strncmp(v, "=?UTF-8?B?", 10) != 0 || !(end = strstr(v + 10, "?="))) {
			free(out);
			return NULL;
		}
		if ((size_t)(end + 2 - v) > *longest_word)
			*longest_word = (size_t)(end + 2 - v);
		for (const char *p = v + 10; p < end; p++) {
			if (*p == '=')
				break;
			bits = bits << 6 | (unsigned)b64val(*p);
			nbits += 6;
			if (nbits >= 8) {
				nbits -= 8;
				out[n++] = (char)(bits >> nbits & 0xff);
			}
		}
		/* a word must start on a character's first byte and end after its last one */
		if (n > start && ((unsigned char)out[start] & 0xc0) == 0x80)
			*split_char = 1;
		for (size_t i = n; i > start; i--) {
			unsigned char c = (unsigned char)out[i - 1];
			size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;

			if ((c & 0xc0) == 0x80)
				continue;
			if (n - (i - 1) < need)
				*split_char = 1;
			break;
		}
		v = end + 2;
	}
	out[n] = '\0';
	return out;
}

static int compose(const struct mail_notice *n, size_t count, const char *to, time_t date,
		   struct mail_message *m)
{
	char err[256];

	if (mail_compose(FROM, to, date, n, count, m, err, sizeof(err)) == 0)
		return 0;
	tap_diag("mail_compose: %s", err);
	return -1;
}

/* ---- tests ---- */

static void test_headers(const struct mail_message *m)
{
	char *v;
	const char *body = strstr(m->data, "\r\n\r\n");
	const char *names[] = { "From", "To", "Date", "Message-ID", "Subject", "MIME-Version",
				"Content-Type", "Auto-Submitted" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		v = header(m->data, names[i]);
		tap_ok(v && *v, "header %s present", names[i]);
		free(v);
	}
	v = header(m->data, "From");
	tap_str(v, FROM, "From is the configured address");
	free(v);
	v = header(m->data, "To");
	tap_str(v, TO, "To is the one recipient");
	free(v);
	v = header(m->data, "Date");
	tap_str(v, "Wed, 18 Nov 2026 11:06:40 +0000", "Date is RFC 5322 from the time passed in");
	free(v);
	v = header(m->data, "Message-ID");
	tap_str(v, m->message_id, "Message-ID header is the one returned");
	tap_ok(v && strlen(v) == 1 + 32 + strlen("@driftwatch.la.example") + 1 && v[0] == '<' &&
	       strspn(v + 1, "0123456789abcdef") == 32 &&
	       strcmp(v + 33, "@driftwatch.la.example>") == 0,
	       "Message-ID is <32 hex digits@driftwatch.HOST-OF-FROM>");
	free(v);
	v = header(m->data, "MIME-Version");
	tap_str(v, "1.0", "MIME-Version 1.0");
	free(v);
	v = header(m->data, "Content-Type");
	tap_ok(v && strncmp(v, "multipart/alternative;", 22) == 0 && strstr(v, "boundary=\""),
	       "Content-Type multipart/alternative with a boundary");
	free(v);
	v = header(m->data, "Auto-Submitted");
	tap_str(v, "auto-generated", "Auto-Submitted: auto-generated");
	free(v);
	tap_ok(body != NULL, "headers end with an empty line");
	tap_ok(m->len == strlen(m->data), "len is the length of data");
}

static void test_subject(const struct fixture *f, const struct mail_message *m)
{
	char *v = header(m->data, "Subject");
	struct mail_notice two[4];
	struct mail_message m2;

	tap_str(m->subject, "3 drift alerts: 1 CP escalation at 15 months, 1 repeat CP plan, "
		"1 was-not-brought", "subject counts what is inside, escalations first");
	tap_str(v, m->subject, "Subject header (unfolded) is the subject");
	free(v);

	/* two of a kind count together; a resolution is counted apart */
	two[0] = f->n[1];
	two[1] = f->n[1];
	two[1].key = "notice-1b";
	two[2] = f->n[1];
	two[2].type = "alert.resolved";
	two[2].key = "notice-1c";
	two[3] = f->n[2];
	if (compose(two, 4, TO, DATE, &m2) == 0) {
		tap_str(m2.subject, "4 drift alerts: 2 CP escalations at 15 months, 1 was-not-brought, "
			"1 CP escalation at 15 months resolved", "subject groups and plurals");
		mail_message_free(&m2);
	}
	if (compose(&f->n[2], 1, TO, DATE, &m2) == 0) {
		tap_str(m2.subject, "1 drift alert: 1 was-not-brought", "subject singular");
		mail_message_free(&m2);
	}
}

static void test_parts(const struct mail_message *m)
{
	char *text = part(m->data, "text/plain; charset=UTF-8");
	char *html = part(m->data, "text/html; charset=UTF-8");
	const char *esc, *first;

	tap_ok(text != NULL, "text/plain part present and quoted-printable decodes");
	tap_ok(html != NULL, "text/html part present and quoted-printable decodes");
	tap_contains(text, "1. Escalated to 15m: CP escalation at 15 months", "text: escalation first");
	tap_contains(text, "2. New: repeat CP plan", "text: new alert");
	tap_contains(text, "Child: <C&1>", "text: child id as it is");
	tap_contains(text, "Record: https://lcs.example.gov.uk/person/C-1042?a=1&b=2", "text: link");
	tap_contains(text, "Record: no link configured", "text: alert without a link says so");
	tap_contains(text, "Rule: cp_neglect_duration, stage 15m, about the episode of CP plans\n"
		     "      that began with plan CPP-77", "text: rule, and the subject in words "
		     "(never \"about 77\", which reads as \"roughly 77\")");
	tap_contains(text, "plan start: 14 Aug 2025", "text: facts in plain words (dates)");
	tap_contains(text, "strategy: none", "text: facts in plain words (null)");
	tap_contains(text, "under one: yes", "text: facts in plain words (booleans)");
	tap_contains(text, "Expected of you: chair to convene a 15-month review with the CP",
		     "text: what is expected of the reader");
	tap_contains(text, "Sent to chair@la.example.", "text: says who it was sent to");
	tap_lacks(text, "other.supervisor@la.example", "text: no other recipient's address");
	tap_lacks(text, "W-2", "text: no other recipient's worker id");

	tap_contains(html, "style=\"font-weight:bold;white-space:nowrap\">&lt;C&amp;1&gt;</a>", "html: child id escaped");
	tap_lacks(html, "<C&1>", "html: never the raw child id");
	tap_contains(html, "<a href=\"https://lcs.example.gov.uk/person/C-1042?a=1&amp;b=2\"",
		     "html: link escaped in its attribute (on the child's identifier)");
	tap_contains(html, "<title>3 drift alerts: ", "html: title is the subject");
	tap_contains(html, "chair to convene a 15-month review with the CP manager",
		     "html: what is expected of the reader");
	tap_lacks(html, "other.supervisor@la.example", "html: no other recipient's address");
	/* the summary is data too */
	esc = html ? strstr(html, "Child &lt;C&amp;1&gt; has been on") : NULL;
	tap_ok(esc != NULL, "html: summary escaped");
	first = text ? strstr(text, "1. ") : NULL;
	tap_ok(first && strstr(first, "2. ") && strstr(strstr(first, "2. "), "3. New: was-not-brought"),
	       "text: notices numbered in reading order");
	free(text);
	free(html);
}

static void test_wire_format(const struct mail_message *m, const char *what)
{
	size_t col = 0, longest = 0;
	int bare = 0, eight_bit = 0;

	for (size_t i = 0; i < m->len; i++) {
		unsigned char c = (unsigned char)m->data[i];

		if (c == '\r' && (i + 1 >= m->len || m->data[i + 1] != '\n'))
			bare = 1;
		if (c == '\n' && (i == 0 || m->data[i - 1] != '\r'))
			bare = 1;
		if (c >= 0x80 || c == 0)
			eight_bit = 1;
		if (c == '\n') {
			col = 0;
		} else if (c != '\r' && ++col > longest) {
			longest = col;
		}
	}
	tap_ok(!bare, "%s: no bare CR or LF", what);
	tap_ok(m->len >= 2 && memcmp(m->data + m->len - 2, "\r\n", 2) == 0, "%s: ends with CRLF", what);
	tap_ok(!eight_bit, "%s: 7-bit on the wire", what);
	tap_ok(longest <= 76, "%s: every line at most 76 characters (longest %zu)", what, longest);
}

static void test_utf8(void)
{
	json_t *a = alert("{\"rule\": \"r\\u00e9vision_tardive_des_dossiers_avec_un_nom_tr\\u00e8s_long\","
			  " \"stage\": \"\\u00e9t\\u00e9\", \"child_id\": \"C-\\u00c9\\u00e9-1\","
			  " \"facts\": {\"note\": \"caf\\u00e9 \\u00a35 \\u2014 \\u2713 \\ud83d\\ude00\"},"
			  " \"link\": \"https://lcs.example.gov.uk/person/C-%C3%891\","
			  " \"summary\": \"R\\u00e9sum\\u00e9 \\u2014 \\u00e0 revoir \\u2713\"}");
	json_t *w = json_pack("{s:s}", "expected", "revoir en supervision \xE2\x9C\x93");
	struct mail_notice n = { "alert.firing", a, w, "k-utf8", NULL, 0 };
	struct mail_message m;
	char *subj_hdr, *subj, *text, *html;
	int split = 0;
	size_t longest = 0;

	if (compose(&n, 1, TO, DATE, &m) < 0) {
		tap_ok(0, "utf8: compose");
		json_decref(a);
		return;
	}
	subj_hdr = header(m.data, "Subject");
	tap_ok(subj_hdr && strncmp(subj_hdr, "=?UTF-8?B?", 10) == 0,
	       "utf8: non-ASCII subject is RFC 2047 encoded");
	subj = subj_hdr ? rfc2047_decode(subj_hdr, &split, &longest) : NULL;
	tap_str(subj, m.subject, "utf8: encoded subject decodes to the subject");
	tap_str(m.subject, "1 drift alert: 1 r\xC3\xA9vision tardive des dossiers avec un nom "
		"tr\xC3\xA8s long \xC3\xA9t\xC3\xA9", "utf8: a notice with no label reads as its "
		"rule's name and stage");
	tap_ok(subj && !split, "utf8: no encoded-word splits a character");
	tap_ok(longest > 0 && longest <= 75, "utf8: encoded-words at most 75 characters (%zu)",
	       longest);
	text = part(m.data, "text/plain");
	html = part(m.data, "text/html");
	tap_contains(text, "R\xC3\xA9sum\xC3\xA9 \xE2\x80\x94 \xC3\xA0 revoir \xE2\x9C\x93",
		     "utf8: text part keeps UTF-8");
	tap_contains(text, "caf\xC3\xA9 \xC2\xA3" "5 \xE2\x80\x94 \xE2\x9C\x93 \xF0\x9F\x98\x80",
		     "utf8: facts keep UTF-8 (4-byte too)");
	tap_contains(text, "Child: C-\xC3\x89\xC3\xA9-1", "utf8: child id kept");
	tap_contains(html, "revoir en supervision \xE2\x9C\x93", "utf8: html part keeps UTF-8");
	test_wire_format(&m, "utf8");
	free(subj_hdr);
	free(subj);
	free(text);
	free(html);
	mail_message_free(&m);
	json_decref(a);
	json_decref(w);
}

static void test_message_id(const struct fixture *f, const struct mail_message *m)
{
	struct mail_notice rev[3] = { f->n[2], f->n[0], f->n[1] };
	struct mail_message m2;

	if (compose(rev, 3, TO, DATE + 86400, &m2) == 0) {
		tap_str(m2.message_id, m->message_id,
			"Message-ID: same keys in another order, another day: same Message-ID");
		mail_message_free(&m2);
	}
	tap_str(m->message_id, "<16be68271cd6366f2750d0a7121e3f78@driftwatch.la.example>",
		"Message-ID: SHA-256 of recipient and sorted keys (pinned: upgrades keep it; "
		"value from Python hashlib)");
	rev[0].key = "notice-4";
	if (compose(rev, 3, TO, DATE, &m2) == 0) {
		tap_ok(strcmp(m2.message_id, m->message_id) != 0,
		       "Message-ID: different keys, different Message-ID");
		mail_message_free(&m2);
	}
	if (compose(f->n, 3, "supervisor@la.example", DATE, &m2) == 0) {
		tap_ok(strcmp(m2.message_id, m->message_id) != 0,
		       "Message-ID: another recipient, another Message-ID");
		mail_message_free(&m2);
	}
}

static void test_long_lines(void)
{
	char summary[1200], link[300], body[1700];
	json_t *a;
	struct mail_notice n;
	struct mail_message m;
	char *text, *html;

	strcpy(summary, "Child C-9 ");
	for (int i = 0; i < 40; i++)
		strcat(summary, "has a very long summary ");
	strcat(summary, "end.");
	strcpy(link, "https://lcs.example.gov.uk/");
	for (int i = 0; i < 20; i++)
		strcat(link, "segment");
	strcat(link, "/C-9");
	snprintf(body, sizeof(body), "{\"rule\": \"worker_churn\", \"stage\": \"churn\", "
		 "\"child_id\": \"C-9\", \"facts\": {\"distinct_workers\": 4}, \"link\": \"%s\", "
		 "\"summary\": \"%s\"}", link, summary);
	a = alert(body);
	n = (struct mail_notice){ "alert.firing", a, NULL, "k-long", NULL, 0 };
	if (compose(&n, 1, TO, DATE, &m) < 0) {
		tap_ok(0, "long lines: compose");
		json_decref(a);
		return;
	}
	test_wire_format(&m, "long lines");
	text = part(m.data, "text/plain");
	html = part(m.data, "text/html");
	tap_contains(text, link, "long lines: a long link survives whole in text");
	tap_contains(html, link, "long lines: a long link survives whole in html");
	tap_contains(text, "has a very long summary\n      has a very long summary",
		     "long lines: text wrapped on words, indented");
	if (text) {
		int over = 0;

		for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
			if (strlen(line) > 72 && !strstr(line, link))
				over++;
		tap_int(over, 0, "long lines: only the unbreakable link passes 72 columns in text");
	}
	free(text);
	free(html);
	mail_message_free(&m);
	json_decref(a);
}

static void test_kinds(const struct fixture *f)
{
	struct mail_notice n[2] = { f->n[2], f->n[1] };
	struct mail_message m;
	char *text;
	json_t *js = alert("{\"rule\": \"worker_churn\", \"stage\": \"churn\", \"child_id\": \"C-5\","
			   " \"facts\": {}, \"link\": \"javascript:alert(1)\", \"summary\": \"s\"}");
	char *html;

	json_t *w2 = words("repeated was-not-brought", "repeated was-not-brought", NULL,
			   "follow up the pattern", "a further missed appointment, 2 in the window "
			   "now");

	n[0].type = "alert.updated";
	n[0].alert = f->wnb;
	n[0].notice = w2;
	json_object_set_new((json_t *)f->wnb, "stage", json_string("repeated"));
	json_object_set_new(json_object_get(f->wnb, "facts"), "count", json_integer(2));
	n[1].type = "alert.resolved";
	if (compose(n, 2, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_contains(text, "1. Updated (a further missed appointment, 2 in the window now): "
			     "repeated", "updated: says a further missed appointment");
		tap_contains(text, "2. Resolved: CP escalation at 15 months", "resolved: heading");
		tap_contains(text, "Expected of you: nothing further", "resolved: nothing expected");
		tap_str(m.subject, "2 drift alerts: 1 repeated was-not-brought, 1 CP escalation at 15 "
			"months resolved", "updated and resolved: subject");
		free(text);
		mail_message_free(&m);
	}
	/* a notice recorded before notices kept their words (state schema v2) */
	n[0] = (struct mail_notice){ "alert.firing", js, NULL, "k-js", NULL, 0 };
	if (compose(n, 1, TO, DATE, &m) == 0) {
		html = part(m.data, "text/html");
		text = part(m.data, "text/plain");
		tap_lacks(html, "href=\"javascript:", "a javascript: link is never a link");
		tap_str(m.subject, "1 drift alert: 1 worker churn churn", "a notice without its "
			"words: the rule's name and stage in plain characters");
		tap_contains(text, "Expected of you: review in supervision", "and a generic line of "
			     "what is expected");
		free(html);
		free(text);
		mail_message_free(&m);
	}
	json_decref(js);
	json_decref(w2);
}

/* record.sql marks a reminder (repeat_after_days) and an alert that was resolved firing again
 * (a plan closed and reopened within its episode): neither is headed "New". */
static void test_told_before(const struct fixture *f)
{
	struct mail_notice n[1] = { f->n[1] };
	struct mail_message m;
	char *text;
	json_t *w = words("was-not-brought", "was-not-brought", NULL, "follow up", NULL);

	n[0].type = "alert.firing";
	n[0].notice = w;
	json_object_set_new(w, "reminder", json_true());
	if (compose(n, 1, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_contains(text, "1. Reminder, still not answered: was-not-brought",
			     "a reminder is headed as one");
		tap_lacks(text, "New:", "and not as new");
		tap_str(m.subject, "1 drift alert: 1 was-not-brought (reminder)",
			"the subject says it is a reminder");
		free(text);
		mail_message_free(&m);
	}
	json_object_del(w, "reminder");
	json_object_set_new(w, "again", json_true());
	if (compose(n, 1, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_contains(text, "1. Firing again: was-not-brought",
			     "an alert resolved before and firing again is headed so");
		tap_str(m.subject, "1 drift alert: 1 was-not-brought (firing again)",
			"and its subject says so");
		free(text);
		mail_message_free(&m);
	}
	json_decref(w);
}

/* A stage nobody answered (unanswered_queue.sql): listed first, its heading says so in the
 * notice's words, and the subject does not read as a new alert. */
/* outbox_claim_email.sql marks a notice whose alert moved on before its digest went
 * (notice.since): listed last, out of date, asking nothing, and not counted as news. */
static void test_since(const struct fixture *f)
{
	struct mail_notice n[1] = { f->n[1] };
	struct mail_message m;
	char *text;
	json_t *w = words("was-not-brought", "was-not-brought", NULL, "follow up", NULL);

	n[0].type = "alert.firing";
	n[0].notice = w;
	json_object_set_new(w, "reminder", json_true());
	json_object_set_new(w, "since", json_pack("{s:s}", "status", "acknowledged"));
	if (compose(n, 1, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_contains(text, "Out of date: the alert has moved on since (1)",
			     "an answered reminder is in the section of those out of date");
		tap_contains(text, "Out of date: the alert was acknowledged after this notice",
			     "and says the alert was acknowledged since");
		tap_contains(text, "Nothing here is news now: 1 notice queued for you is out of date",
			     "the summary does not count it as news");
		tap_lacks(text, "follow up", "nothing is expected of its reader");
		tap_str(m.subject, "1 drift alert: 1 was-not-brought (out of date)",
			"the subject says it is out of date");
		free(text);
		mail_message_free(&m);
	}
	json_object_set_new(w, "since", json_pack("{s:s,s:s}", "status", "resolved",
						  "on", "2026-12-03"));
	if (compose(n, 1, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_contains(text, "the alert was resolved on 3 Dec 2026, after this notice",
			     "a resolution since is dated in words");
		free(text);
		mail_message_free(&m);
	}
	json_decref(w);
}

static void test_unanswered(const struct fixture *f)
{
	struct mail_notice n[2] = { f->n[2], f->n[1] };
	struct mail_message m;
	char *text, *html;
	json_t *w = words("CP escalation at 15 months", "CP escalations at 15 months",
			  "the episode of CP plans that began with plan CPP-77",
			  "chair to convene a 15-month review with the CP manager",
			  "Not answered in 5 working days; now also sent to the head of service.");

	n[1].type = "alert.unanswered";
	n[1].notice = w;
	if (compose(n, 2, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		html = part(m.data, "text/html");
		tap_contains(text, "1. Not answered (Not answered in 5 working days; now also sent to "
			     "the\n   head of service): CP escalation at 15 months",
			     "unanswered: first, with the escalation's words and no full stop inside");
		tap_contains(html, "Not answered (Not answered in 5 working days", "unanswered: html");
		tap_str(m.subject, "2 drift alerts: 1 CP escalation at 15 months not answered, 1 "
			"was-not-brought", "unanswered: the subject says not answered");
		free(text);
		free(html);
		mail_message_free(&m);
	}
	n[1].notice = NULL;
	if (compose(&n[1], 1, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_contains(text, "Not answered (nobody has acknowledged or snoozed this stage)",
			     "unanswered without its words: a plain reason");
		free(text);
		mail_message_free(&m);
	}
	json_decref(w);
}

/* RESPONSES.md: a new stage or new facts of a snoozed alert are still sent, showing the snooze.
 * record.sql puts the API's "response" in such a notice; both parts say it in words, with the
 * reason's label; an alert without a snooze (or acknowledged) gets no such line. */
static void test_snoozed(const struct fixture *f)
{
	struct mail_notice n[2] = { f->n[1], f->n[2] };
	struct mail_message m;
	char *text, *html;
	json_t *cp15 = json_deep_copy(f->cp15), *wnb = json_deep_copy(f->wnb);

	json_object_set_new(cp15, "response", alert(
		"{\"state\": \"snoozed\", \"by\": \"x@la.example\", \"at\":"
		" \"2026-11-21T10:00:00+00:00\", \"until\": \"2027-03-03\", \"reason\":"
		" \"legal_planning\", \"note\": \"PLO <meeting> & letter\"}"));
	json_object_set_new(wnb, "response", alert(
		"{\"state\": \"acknowledged\", \"by\": \"y@la.example\", \"at\":"
		" \"2026-11-21T10:00:00+00:00\", \"until\": null, \"reason\": null, \"note\": null}"));
	n[0].alert = cp15;
	n[1].alert = wnb;
	if (compose(n, 2, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		html = part(m.data, "text/html");
		tap_contains(text, "   Snoozed: until 3 Mar 2027 by x@la.example: Legal planning\n"
			     "      (pre-proceedings or PLO) \xe2\x80\x94 PLO <meeting> & letter\n",
			     "snoozed: the text part says until when, by whom, why, and the note");
		tap_contains(html, "Snoozed: until 3 Mar 2027 by x@la.example: Legal planning "
			     "(pre-proceedings or PLO) \xe2\x80\x94 PLO &lt;meeting&gt; &amp; letter",
			     "snoozed: the HTML part says the same, escaped");
		tap_ok(strstr(text, "Snoozed:") && !strstr(strstr(text, "Snoozed:") + 1, "Snoozed:"),
		       "snoozed: only the snoozed alert's notice has the line (not the acknowledged "
		       "one)");
		free(text);
		free(html);
		mail_message_free(&m);
	}
	/* a snooze made with the SQL function snooze(): nobody's name, a reason of its own */
	json_object_set_new(cp15, "response", alert(
		"{\"state\": \"snoozed\", \"by\": null, \"at\": \"2026-11-21T10:00:00+00:00\","
		" \"until\": \"2026-12-31\", \"reason\": \"PLO booked\", \"note\": null}"));
	if (compose(n, 1, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_contains(text, "   Snoozed: until 31 Dec 2026: PLO booked\n",
			     "snoozed without a name or note: until when and the reason as given");
		free(text);
		mail_message_free(&m);
	}
	if (compose(&f->n[1], 1, TO, DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		html = part(m.data, "text/html");
		tap_lacks(text, "Snoozed", "not snoozed: no snooze line in the text part");
		tap_lacks(html, "Snoozed:", "not snoozed: no snooze line in the HTML part");
		free(text);
		free(html);
		mail_message_free(&m);
	}
	json_decref(cp15);
	json_decref(wnb);
}

/* What deliver.c sends the operators when a notice has failed for good. */
static int csv_lines(const char *s);

/* A refused digest of many notices makes a report of each: past email.digest_max_items the
 * operators' report is a summary with the list attached, as a person's digest is. */
static void test_failed_many(json_t *ops)
{
	struct mail_options o = { NULL, NULL, 25, 0 };
	struct mail_notice n[30];
	struct mail_message m;
	char keys[30][16], err[256], *text, *csv;

	for (int i = 0; i < 30; i++) {
		snprintf(keys[i], sizeof(keys[i]), "ops_%d", i);
		n[i] = (struct mail_notice){ "delivery.failed", ops, NULL, keys[i], NULL, 0 };
	}
	if (mail_compose_with(FROM, "it-ops@la.example", DATE, &o, n, 30, &m, err,
			      sizeof(err)) < 0) {
		tap_ok(0, "failure reports past the cap: compose: %s", err);
		return;
	}
	text = part(m.data, "text/plain");
	tap_str(m.subject, "driftwatch: 30 undelivered notices", "failure reports past the cap: "
		"the subject counts all");
	tap_contains(text, "This digest is a summary: it holds 30 new items, more than the 25",
		     "failure reports past the cap: a summary");
	tap_contains(text, "25. Not delivered", "failure reports past the cap: 25 in full");
	tap_lacks(text, "26. Not delivered", "failure reports past the cap: no 26th");
	csv = attachment(m.data, "text/csv", &(size_t){ 0 });
	tap_ok(csv && csv_lines(csv) == 31, "failure reports past the cap: the list of all 30 "
	       "attached");
	free(csv);
	free(text);
	mail_message_free(&m);
}

static void test_failed(const struct fixture *f)
{
	json_t *ops = alert("{\"rule\": \"delivery\", \"stage\": \"failed\", \"child_id\": \"C-7\","
			    " \"link\": null, \"subject_id\": null, \"facts\": {}, \"summary\":"
			    " \"A webhook notice (alert.firing) to https://hooks.la.example/drift could"
			    " not be delivered: HTTP 404\"}");
	struct mail_notice n[2] = { { "delivery.failed", ops, NULL, "ops_41", NULL, 0 }, f->n[1] };
	struct mail_message m;
	char *text;

	if (compose(n, 1, "it-ops@la.example", DATE, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_str(m.subject, "driftwatch: 1 undelivered notice", "failure report: subject");
		tap_contains(text, "could not deliver the notices below", "failure report: intro");
		tap_contains(text, "1. Not delivered\n", "failure report: heading");
		tap_contains(text, "could not be delivered: HTTP 404", "failure report: why");
		tap_contains(text, "driftwatch has stopped trying", "failure report: what to do");
		tap_lacks(text, "Rule: delivery", "failure report: no rule line");
		free(text);
		mail_message_free(&m);
	}
	if (compose(n, 2, "it-ops@la.example", DATE, &m) == 0) {
		tap_str(m.subject, "1 drift alert and 1 undelivered notice: 1 CP escalation at 15 "
			"months", "failure report with an alert: subject");
		mail_message_free(&m);
	}
	test_failed_many(ops);
	json_decref(ops);
}

/* What responses_record.sql sends the operators when a snooze says a case record is wrong:
 * the child and its record link as in the child's notice, the page with the pages on, no
 * Rule line of its own (the words name the alert), and a subject that is no drift alert. */
static void test_record_wrong(const struct fixture *f)
{
	json_t *ops = alert("{\"rule\": \"driftwatch\", \"stage\": \"record_wrong\", \"child_id\":"
			    " \"C-7\", \"subject_id\": \"CPP-7\", \"fingerprint\": \"f7\", \"link\":"
			    " \"https://lcs.example.gov.uk/person/C-7\", \"summary\": \"sup@la.example"
			    " says the case record of child C-7 is wrong\", \"facts\": {\"note\":"
			    " \"DOB keyed wrong\", \"snoozed_until\": \"2026-12-07\"}}");
	struct mail_notice n[2] = { { "data.record_wrong", ops, NULL, "recwrong_9", NULL, 0 }, f->n[1] };
	struct mail_options o = { NULL, "https://dw.la.example", 0, 0 };
	struct mail_message m;
	char err[256], *text, *html;

	if (mail_compose_with(FROM, "it-ops@la.example", DATE, &o, n, 1, &m, err,
			      sizeof(err)) == 0) {
		text = part(m.data, "text/plain");
		html = part(m.data, "text/html");
		tap_str(m.subject, "driftwatch: 1 case record said to be wrong",
			"record wrong: the subject is a report, not a drift alert");
		tap_contains(text, "1. To correct: case record said to be wrong\n",
			     "record wrong: heading");
		tap_contains(text, "Child: C-7\n", "record wrong: the child");
		tap_contains(text, "Record: https://lcs.example.gov.uk/person/C-7\n",
			     "record wrong: the child's record link");
		tap_contains(text, "Page: https://dw.la.example/child/C-7\n",
			     "record wrong: the child's page");
		tap_contains(text, "note: DOB keyed wrong", "record wrong: the note");
		tap_contains(text, "snoozed until: 7 Dec 2026", "record wrong: until when");
		tap_contains(text, "see that the case record is corrected",
			     "record wrong: what the operators do");
		tap_contains(html, "someone answering an alert said is wrong",
			     "record wrong: the operators' intro names it");
		tap_lacks(text, "Rule: driftwatch", "record wrong: no rule line of the report's own");
		tap_contains(html, "href=\"https://lcs.example.gov.uk/person/C-7\"",
			     "record wrong: html links the record");
		free(text);
		free(html);
		mail_message_free(&m);
	} else {
		tap_ok(0, "record wrong: composed (%s)", err);
	}
	if (compose(n, 2, "it-ops@la.example", DATE, &m) == 0) {
		tap_str(m.subject, "1 drift alert: 1 CP escalation at 15 months, 1 case record said "
			"to be wrong", "record wrong with an alert: counted apart from the alerts");
		mail_message_free(&m);
	}
	json_decref(ops);
}

static void test_refusals(const struct fixture *f)
{
	struct mail_message m;
	struct mail_notice bad = f->n[0];
	char err[256];

	tap_int(mail_compose(FROM, "chair@la.example\r\nBcc: all@la.example", DATE, f->n, 1, &m,
			     err, sizeof(err)), -1, "refuses a recipient with CRLF (header injection)");
	tap_ok(m.data == NULL, "nothing is returned on refusal");
	tap_int(mail_compose(FROM, "Chair <chair@la.example>", DATE, f->n, 1, &m, err,
			     sizeof(err)), -1, "refuses anything but a plain address");
	tap_int(mail_compose("no-at-sign", TO, DATE, f->n, 1, &m, err, sizeof(err)), -1,
		"refuses a From without a domain");
	tap_int(mail_compose(FROM, TO, DATE, f->n, 0, &m, err, sizeof(err)), -1,
		"refuses an empty digest");
	bad.type = "alert.deleted";
	tap_int(mail_compose(FROM, TO, DATE, &bad, 1, &m, err, sizeof(err)), -1,
		"refuses an unknown notice type");
	tap_contains(err, "alert.deleted", "the message names the unknown type");
	bad = f->n[0];
	bad.key = "";
	tap_int(mail_compose(FROM, TO, DATE, &bad, 1, &m, err, sizeof(err)), -1,
		"refuses a notice without an idempotency key");
}


/* ---- reading order, siblings, the cap (issue 16) ---- */

/* An alert of child in family (NULL: none) at rule/stage, on a plan since 2025-03-01. */
static json_t *kid(const char *child, const char *family, const char *rule, const char *stage)
{
	json_t *a = json_pack("{s:s, s:s, s:s, s:s?, s:s, s:s, s:s, s:{s:i}, s:s}", "rule", rule,
			      "stage", stage, "child_id", child, "family_id", family,
			      "fingerprint", child, "as_of", "2026-11-22", "since", "2025-03-01",
			      "facts", "months", 9, "summary", "a plan that has gone on");

	if (!a) {
		tap_diag("bad alert fixture");
		exit(1);
	}
	return a;
}

/* Notices holding their own references, freed together. */
struct pile {
	struct mail_notice n[64];
	json_t *owned[128];
	char keys[64][16];
	size_t len, n_owned;
};

static void pile_add(struct pile *p, const char *type, json_t *alert, json_t *words)
{
	snprintf(p->keys[p->len], sizeof(p->keys[0]), "k-%zu", p->len);
	p->n[p->len] = (struct mail_notice){ type, alert, words, p->keys[p->len], NULL, 0 };
	p->owned[p->n_owned++] = alert;
	p->owned[p->n_owned++] = words;
	p->len++;
}

static void pile_free(struct pile *p)
{
	for (size_t i = 0; i < p->n_owned; i++)
		json_decref(p->owned[i]);
	memset(p, 0, sizeof(*p));
}

static json_t *w9(void)
{
	return declared(words("CP plan at 9 months", "CP plans at 9 months", NULL,
			      "review in supervision", NULL), 0, 5);
}

/* s with every run of white space as one space (the text part wraps at 72 columns), in a new
 * string the caller frees. */
static char *squeeze(const char *s)
{
	char *out = malloc(strlen(s) + 1);
	size_t n = 0;

	if (!out)
		exit(1);
	for (; *s; s++) {
		int sp = *s == ' ' || *s == '\n' || *s == '\t';

		if (sp && n && out[n - 1] == ' ')
			continue;
		out[n++] = sp ? ' ' : *s;
	}
	out[n] = '\0';
	return out;
}

/* Whether needles occur in text in the order given (white space runs counting as one). */
static int in_order(const char *text, const char *const *needles, size_t n)
{
	char *hay = squeeze(text);
	const char *at = hay;
	int ok = 1;

	for (size_t i = 0; ok && i < n; i++) {
		char *needle = squeeze(needles[i]);
		const char *p = strstr(at, needle);

		if (!p) {
			tap_diag("not found after the previous: \"%s\"", needle);
			ok = 0;
		} else {
			at = p + strlen(needle);
		}
		free(needle);
	}
	free(hay);
	return ok;
}

/* Given least serious first, the digest reads most serious first, with a summary on top. */
static void test_order(void)
{
	struct pile p = { 0 };
	struct mail_message m;
	static const char *const text_order[] = {
		"2 children need action now: 1 CP escalation at 18 months, 1 was-not-brought. "
		"Then 3 other changes to review in supervision, and 1 concern resolved, which is "
		"good news.",
		"CP escalations (1)\n==================",
		"1. Escalated to 18m: CP escalation at 18 months\n   Child: C-18",
		"Returns to a plan and re-referral cycles (1)", "2. New: repeat CP plan",
		"Children not brought to appointments (1)", "3. New: was-not-brought",
		"Handovers to a new worker (1)", "4. New: change of worker",
		"Drift: plan durations and worker churn (1)", "5. New: CP plan at 9 months",
		"Good news: no longer a concern (1)", "6. Resolved: CP plan at 12 months",
	};
	static const char *const html_order[] = {
		"2 children need action now", ">CP escalations (1)</h2>", "\">C-18<",
		">Returns to a plan", "\">C-R<", ">Children not brought", "\">C-W<", ">Handovers",
		"\">C-H<", ">Drift: ", "\">C-9<", ">Good news: no longer a concern (1)</h2>",
		"\">C-12<",
	};
	char *text, *html;

	pile_add(&p, "alert.firing", kid("C-9", NULL, "cp_neglect_duration", "9m"), w9());
	pile_add(&p, "alert.resolved", kid("C-12", NULL, "cp_neglect_duration", "12m"),
		 declared(words("CP plan at 12 months", "CP plans at 12 months", NULL, NULL, NULL),
			  0, 5));
	pile_add(&p, "alert.firing", kid("C-H", NULL, "worker_change", "change"),
		 declared(words("change of worker", "changes of worker", NULL, NULL, NULL), 0, 4));
	pile_add(&p, "alert.firing", kid("C-W", NULL, "was_not_brought", "vulnerable"),
		 declared(words("was-not-brought", "was-not-brought", NULL, NULL, NULL), 1, 3));
	pile_add(&p, "alert.firing", kid("C-R", NULL, "repeat_neglect_plan", "any"),
		 declared(words("repeat CP plan", "repeat CP plans", NULL, NULL, NULL), 0, 2));
	pile_add(&p, "alert.escalated", kid("C-18", NULL, "cp_neglect_duration", "18m"),
		 declared(words("CP escalation at 18 months", "CP escalations at 18 months", NULL,
				NULL, NULL), 1, 1));
	if (compose(p.n, p.len, TO, DATE, &m) < 0) {
		tap_ok(0, "order: compose");
		pile_free(&p);
		return;
	}
	text = part(m.data, "text/plain");
	html = part(m.data, "text/html");
	tap_ok(text && in_order(text, text_order, sizeof(text_order) / sizeof(*text_order)),
	       "order: text part has the summary on top, then sections most serious first, "
	       "resolutions last as good news");
	tap_ok(html && in_order(html, html_order, sizeof(html_order) / sizeof(*html_order)),
	       "order: the HTML part says the same in the same order");
	tap_str(m.subject, "6 drift alerts: 1 CP escalation at 18 months, 1 repeat CP plan, 1 "
		"was-not-brought, 1 change of worker, 1 CP plan at 9 months, 1 CP plan at 12 months "
		"resolved", "order: the subject counts most serious first");
	tap_lacks(html, "<img", "order: no images");
	tap_lacks(html, "<style", "order: inline styles only");
	tap_lacks(html, "background", "order: no background colours to invert in dark mode");
	free(text);
	free(html);
	mail_message_free(&m);
	pile_free(&p);
}

/* Siblings of one family on the same rule and stage are one entry naming each child. */
static void test_siblings(void)
{
	struct pile p = { 0 };
	struct mail_message m;
	static const char *const text_order[] = {
		"1. New: CP plans at 9 months (2 siblings in family F-1)\n   Child: C-1\n",
		"   Child: C-2\n", "2. New: CP plan at 9 months\n   Child: C-3\n",
		"3. New: CP plan at 9 months\n   Child: C-4\n",
	};
	char *text, *html;

	pile_add(&p, "alert.firing", kid("C-1", "F-1", "cp_neglect_duration", "9m"), w9());
	pile_add(&p, "alert.firing", kid("C-3", "F-2", "cp_neglect_duration", "9m"), w9());
	pile_add(&p, "alert.firing", kid("C-2", "F-1", "cp_neglect_duration", "9m"), w9());
	/* the same family on another stage stays apart */
	pile_add(&p, "alert.firing", kid("C-4", "F-1", "cp_neglect_duration", "12m"),
		 declared(words("CP plan at 9 months", "CP plans at 9 months", NULL, NULL, NULL),
			  0, 5));
	if (compose(p.n, p.len, TO, DATE, &m) < 0) {
		tap_ok(0, "siblings: compose");
		pile_free(&p);
		return;
	}
	text = part(m.data, "text/plain");
	html = part(m.data, "text/html");
	tap_ok(text && in_order(text, text_order, sizeof(text_order) / sizeof(*text_order)),
	       "siblings: one entry names both children of family F-1, pulled up to the first");
	tap_contains(html, "<td rowspan=\"2\"", "siblings: in HTML the entry spans both rows");
	tap_str(m.subject, "4 drift alerts: 4 CP plans at 9 months", "siblings: the subject "
		"still counts every child");
	free(text);
	free(html);
	mail_message_free(&m);
	pile_free(&p);
}

/* Lines of a CSV text (CRLF ends; a CRLF in quotes is not one), or -1 for a bare LF or CR. */
static int csv_lines(const char *s)
{
	int n = 0, quoted = 0;

	for (const char *p = s; *p; p++) {
		if (*p == '"')
			quoted = !quoted;
		else if (!quoted && *p == '\r' && p[1] == '\n')
			n++, p++;
		else if (!quoted && (*p == '\r' || *p == '\n'))
			return -1;
	}
	return n;
}

/* The list attached to the capped digest of test_cap: every item a row, in reading order. */
static void test_cap_list(const struct mail_message *m)
{
	size_t len;
	char *csv = attachment(m->data, "text/csv", &len);

	tap_contains(m->data, "Content-Type: multipart/mixed;\r\n boundary=\"=_driftwatch_mixed_",
		     "cap list: the message is multipart/mixed");
	tap_contains(m->data, "\r\nContent-Disposition: attachment;\r\n filename=\""
		     "driftwatch-digest-2026-11-18.csv\"\r\n", "cap list: attached by its name");
	if (!tap_ok(csv != NULL, "cap list: a text/csv attachment in base64"))
		return;
	tap_ok(len == strlen(csv) && strncmp(csv, "\xef\xbb\xbf", 3) == 0,
	       "cap list: UTF-8 with a byte order mark (for Excel), no NUL");
	tap_ok(strncmp(csv + 3, "Entry,Section,Action now,Change,Child,Family,Meaning,Rule,Stage,"
		       "Since,Summary,Facts,Expected of you,Why you,Record link,In full in the "
		       "mail\r\n", 141) == 0, "cap list: the header row");
	tap_int(csv_lines(csv), 32, "cap list: a header and 31 rows, CRLF line ends");
	tap_contains(csv, "\r\n1,CP escalations,yes,Escalated,C-ESC,,CP escalation at 15 months,"
		     "cp_neglect_duration,15m,2025-03-01,a plan that has gone on,months: 9,"
		     "review in supervision,,,yes\r\n2,Drift: plan durations and worker churn,,New,"
		     "C-00,", "cap list: the most serious first, shown in full");
	tap_contains(csv, "\r\n31,Drift: plan durations and worker churn,,New,C-29,,CP plan at "
		     "9 months,cp_neglect_duration,9m,2025-03-01,a plan that has gone on,months: 9,"
		     "review in supervision,,,no\r\n", "cap list: the last of the rest, not in the "
		     "mail in full");
	free(csv);
}

/* A cell of the list as a spreadsheet must read it. */
static void cell(const char *in, const char *want, const char *what)
{
	struct strbuf sb;

	strbuf_init(&sb);
	mail_csv_cell(&sb, in);
	tap_str(sb.buf ? sb.buf : "", want, "csv cell: %s", what);
	strbuf_free(&sb);
}

/* RFC 4180 quoting, and no formula run from what the case system holds (CSV injection). */
static void test_csv_cells(void)
{
	struct pile p = { 0 };
	struct mail_message m;
	struct mail_options o = { NULL, NULL, 1, 0 };
	char err[256];
	size_t len;
	char *csv;

	cell("C-1042", "C-1042", "plain text as it is");
	cell(NULL, "", "no value, an empty cell");
	cell("a, b", "\"a, b\"", "a comma quoted");
	cell("say \"hi\"", "\"say \"\"hi\"\"\"", "a quote doubled, quoted");
	cell("one\r\ntwo", "one  two", "a line end a space: one row per item");
	cell("=HYPERLINK(\"http://x.example\",\"y\")",
	     "\"'=HYPERLINK(\"\"http://x.example\"\",\"\"y\"\")\"", "= led by a quote, and quoted");
	cell("+44 20", "'+44 20", "+ led by a quote");
	cell("-2+3", "'-2+3", "- led by a quote");
	cell("@SUM(A1)", "'@SUM(A1)", "@ led by a quote");
	cell("\t=1+1", "' =1+1", "a tab then = led by a quote");
	cell("  =1", "'  =1", "spaces then = led by a quote");
	cell("a=b", "a=b", "= inside left alone");
	cell("Zo\xc3\xab", "Zo\xc3\xab", "UTF-8 as it is");

	pile_add(&p, "alert.firing", kid("=1+2", "@F", "cp_neglect_duration", "9m"), w9());
	json_object_set_new((json_t *)p.n[0].alert, "summary",
			    json_string("=cmd|' /C calc'!A0, then \"more\""));
	json_object_set_new((json_t *)p.n[0].alert, "link", json_string("javascript:alert(1)"));
	pile_add(&p, "alert.firing", kid("C-2", NULL, "cp_neglect_duration", "9m"), w9());
	if (mail_compose_with(FROM, TO, DATE, &o, p.n, p.len, &m, err, sizeof(err)) < 0) {
		tap_ok(0, "csv: compose: %s", err);
		pile_free(&p);
		return;
	}
	csv = attachment(m.data, "text/csv", &len);
	tap_contains(csv, "\r\n1,Drift: plan durations and worker churn,,New,'=1+2,'@F,CP plan at 9 "
		     "months,cp_neglect_duration,9m,2025-03-01,\"'=cmd|' /C calc'!A0, then \"\"more"
		     "\"\"\",months: 9,review in supervision,,,yes\r\n",
		     "csv: a child, family and summary from the case system that read as formulas "
		     "stay text; a javascript: link is left out");
	tap_lacks(csv, "javascript", "csv: no javascript: link");
	free(csv);
	mail_message_free(&m);
	pile_free(&p);
}

static int compose_capped(const struct pile *p, size_t max, const char *pages,
			  struct mail_message *m)
{
	struct mail_options o = { NULL, pages, max, 0 };
	char err[256];

	if (mail_compose_with(FROM, TO, DATE, &o, p->n, p->len, m, err, sizeof(err)) == 0)
		return 0;
	tap_diag("mail_compose_with: %s", err);
	return -1;
}

/* A list that would pass email.max_message_bytes is cut to the most serious rows that fit,
 * and the mail says how many it leaves out. */
static void test_cap_cut(const struct pile *p)
{
	struct mail_options o = { NULL, NULL, 25, 5000 };
	struct mail_message m;
	char err[256], *raw, *text, *csv, want[160];
	size_t len;
	int rows;

	if (mail_compose_with(FROM, TO, DATE, &o, p->n, p->len, &m, err, sizeof(err)) < 0) {
		tap_ok(0, "cap cut: compose: %s", err);
		return;
	}
	raw = part(m.data, "text/plain");
	text = squeeze(raw ? raw : "");
	free(raw);
	csv = attachment(m.data, "text/csv", &len);
	rows = csv ? csv_lines(csv) - 1 : -1;
	tap_ok(csv && len <= 3000 && rows >= 1 && rows < 31,
	       "cap cut: the list takes at most 60%% of a 5,000-byte message: %zu bytes, %d of "
	       "31 rows", len, rows);
	tap_contains(csv, "\r\n1,CP escalations,yes,Escalated,C-ESC,", "cap cut: the most "
		     "serious row is kept");
	snprintf(want, sizeof(want), "has the %d most serious of the 31 items of this digest",
		 rows);
	tap_contains(text, want, "cap cut: the mail says how many rows the list has");
	snprintf(want, sizeof(want), "The last %d did not fit: a message may be at most 5000 "
		 "bytes (email.max_message_bytes), so those not shown above follow in another "
		 "email.", 31 - rows);
	tap_contains(text, want, "cap cut: ... and how many it leaves out, why, and where they go");
	/* those left out of the list but shown in full above are told of */
	tap_ok(m.n_untold > 0 && m.n_untold <= (size_t)(31 - rows) && m.untold &&
	       m.untold[m.n_untold - 1] < 31,
	       "cap cut: the message names the %zu notices it does not tell of (of the %d not in "
	       "its list, some shown in full), for the sender to give back to the outbox",
	       m.n_untold, 31 - rows);
	tap_lacks(text, "one row for each of the 31 items", "cap cut: never that every item is "
		  "in it");
	free(text);
	free(csv);
	mail_message_free(&m);
}

/* A limit the list's 60% would still pass with the digest's own parts beside it: the list is
 * cut again, and the message fits. */
static void test_cap_refit(const struct pile *p)
{
	struct mail_options o = { NULL, NULL, 25, 0 };
	struct mail_message m;
	char err[256], *csv;
	size_t whole, list_len, max;
	int rows;

	if (mail_compose_with(FROM, TO, DATE, &o, p->n, p->len, &m, err, sizeof(err)) < 0) {
		tap_ok(0, "cap refit: compose: %s", err);
		return;
	}
	whole = m.len;
	csv = attachment(m.data, "text/csv", &list_len);
	free(csv);
	mail_message_free(&m);
	/* room for about half the list in base64 beside the parts */
	o.max_message_bytes = max = whole - list_len * 2 / 3;
	if (mail_compose_with(FROM, TO, DATE, &o, p->n, p->len, &m, err, sizeof(err)) < 0) {
		tap_ok(0, "cap refit: compose: %s", err);
		return;
	}
	csv = attachment(m.data, "text/csv", &list_len);
	rows = csv ? csv_lines(csv) - 1 : -1;
	tap_ok(m.len <= max && rows >= 1 && rows < 31, "cap refit: a message of %zu bytes "
	       "(%zu whole) fits a limit of %zu with %d of 31 rows in its list", m.len, whole,
	       max, rows);
	free(csv);
	mail_message_free(&m);
}

/* More new items than email.digest_max_items: a summary, the most serious in full. */
static void test_cap(void)
{
	struct pile p = { 0 };
	struct mail_message m;
	char *text, *html, child[16];

	for (int i = 0; i < 30; i++) {
		snprintf(child, sizeof(child), "C-%02d", i);
		pile_add(&p, "alert.firing", kid(child, NULL, "cp_neglect_duration", "9m"), w9());
	}
	pile_add(&p, "alert.escalated", kid("C-ESC", NULL, "cp_neglect_duration", "15m"),
		 declared(words("CP escalation at 15 months", "CP escalations at 15 months", NULL,
				NULL, NULL), 1, 1));
	if (compose_capped(&p, 31, NULL, &m) == 0) {
		text = part(m.data, "text/plain");
		tap_lacks(text, "This digest is a summary", "cap: 31 items under a cap of 31 are "
			  "all in full");
		tap_contains(text, "31. New: CP plan at 9 months", "cap: ... every one numbered");
		tap_ok(attachment(m.data, "text/csv", &(size_t){ 0 }) == NULL &&
		       strstr(m.data, "multipart/mixed") == NULL, "cap: nothing attached under "
		       "the cap");
		free(text);
		mail_message_free(&m);
	}
	if (compose_capped(&p, 25, NULL, &m) == 0) {
		static const char *const order[] = {
			"1 child needs action now: 1 CP escalation at 15 months.",
			"This digest is a summary: it holds 31 new items, more than the 25 a digest "
			"shows in full (email.digest_max_items).",
			"the other 6 are in the attached list, driftwatch-digest-2026-11-18.csv: one "
			"row for each of the 31 items of this digest",
			"All by rule and stage (31)", "   1 CP escalation at 15 months\n",
			"30 CP plans at 9 months\n", "1. Escalated to 15m: CP escalation at 15 "
			"months\n   Child: C-ESC", "25. New: CP plan at 9 months\n   Child: C-23",
			"The other 6 items are in the attached list, driftwatch-digest-2026-11-18.csv, "
			"with all 31 items of this digest",
		};

		text = part(m.data, "text/plain");
		html = part(m.data, "text/html");
		tap_ok(text && in_order(text, order, sizeof(order) / sizeof(*order)),
		       "cap: the summary, counts by rule and stage, the 25 most serious in full, "
		       "then where the rest are: the attached list");
		tap_lacks(text, "26. ", "cap: no 26th entry in full");
		tap_lacks(text, "C-29", "cap: the rest are not in the text part");
		tap_contains(html, "The other 6 items are in the attached list, <span style=\""
			     "white-space:nowrap\">driftwatch-digest-2026-11-18.csv</span>, with all "
			     "31 items", "cap: the HTML part says the list is attached, its name on "
			     "one line");
		test_cap_list(&m);
		tap_str(m.subject, "31 drift alerts: 1 CP escalation at 15 months, 30 CP plans at 9 "
			"months", "cap: the subject still counts all");
		test_wire_format(&m, "capped digest");
		free(text);
		free(html);
		mail_message_free(&m);
	}
	test_cap_cut(&p);
	test_cap_refit(&p);
	if (compose_capped(&p, 25, "https://dw.la.example", &m) == 0) {
		text = part(m.data, "text/plain");
		html = part(m.data, "text/html");
		static const char *const where[] = {
			"the other 6 are on your driftwatch page, https://dw.la.example/"
		};

		tap_ok(text && in_order(text, where, 1), "cap with the pages: says where the rest "
		       "are");
		tap_lacks(text, "attached list", "cap with the pages: no list");
		tap_ok(attachment(m.data, "text/csv", &(size_t){ 0 }) == NULL &&
		       strstr(m.data, "multipart/mixed") == NULL, "cap with the pages: nothing "
		       "attached");
		tap_contains(text, "Page: https://dw.la.example/child/C-ESC", "pages: the child's "
			     "page in the text part");
		tap_contains(html, "<a href=\"https://dw.la.example/child/C-ESC\" style=\"font-weight:"
			     "bold;white-space:nowrap\">C-ESC</a>", "pages: the child's identifier "
			     "links to its page");
		free(text);
		free(html);
		mail_message_free(&m);
	}
	pile_free(&p);
}

/* ---- a notice holding only its alert's head, the rest in its text (deliver.c's digests) ---- */

struct heads {
	struct mail_notice n[64];
	json_t *head[64];
	char *text[64];
	size_t len;
};

/* Each notice of from[0 .. count) as deliver.c makes a digest's: the alert's head, and its
 * text for mail_notice_alert. */
static void heads_make(struct heads *h, const struct mail_notice *from, size_t count)
{
	memset(h, 0, sizeof(*h));
	for (size_t i = 0; i < count && i < 64; i++) {
		h->text[i] = json_dumps(from[i].alert, JSON_COMPACT);
		h->head[i] = h->text[i] ? jsontext_pick(h->text[i], strlen(h->text[i]),
							mail_notice_head_keys) : NULL;
		h->n[i] = from[i];
		h->n[i].alert = h->head[i];
		h->n[i].alert_text = h->text[i];
		h->n[i].alert_len = h->text[i] ? strlen(h->text[i]) : 0;
		h->len++;
	}
}

static void heads_free(struct heads *h)
{
	for (size_t i = 0; i < h->len; i++) {
		json_decref(h->head[i]);
		free(h->text[i]);
	}
	memset(h, 0, sizeof(*h));
}

/* The digest of the notices whole and of their heads, byte for byte. */
static void same_from_heads(const struct mail_notice *n, size_t count, const char *pages,
			    size_t max, const char *what)
{
	struct linktoken_key key;
	struct noticelinks nl = { "https://dw.la.example", &key, 14 };
	struct mail_options o = { &nl, pages, max, 0 };
	struct mail_message whole = { 0 }, heads = { 0 };
	struct heads h;
	char err[256];
	const char *secret = "a secret of thirty-two bytes or more, for the links";
	int lacks = 1;

	if (linktoken_key_init(&key, secret, strlen(secret), err, sizeof(err)) < 0) {
		tap_ok(0, "%s: link key: %s", what, err);
		return;
	}
	heads_make(&h, n, count);
	for (size_t i = 0; i < h.len; i++)
		lacks &= h.head[i] && !json_object_get(h.head[i], "facts") &&
			 !json_object_get(h.head[i], "recipients") &&
			 !json_object_get(h.head[i], "summary") &&
			 !json_object_get(h.head[i], "fingerprint") &&
			 json_object_get(h.head[i], "rule");
	tap_ok(h.len == count && lacks, "%s: every head has the rule, not the facts, recipients, "
	       "summary or fingerprint", what);
	if (mail_compose_with(FROM, TO, DATE, &o, n, count, &whole, err, sizeof(err)) < 0 ||
	    mail_compose_with(FROM, TO, DATE, &o, h.n, h.len, &heads, err, sizeof(err)) < 0)
		tap_ok(0, "%s: compose: %s", what, err);
	else
		tap_ok(whole.len == heads.len && memcmp(whole.data, heads.data, whole.len) == 0,
		       "%s: the digest of heads is the digest of whole alerts, byte for byte "
		       "(%zu and %zu bytes)", what, whole.len, heads.len);
	mail_message_free(&whole);
	mail_message_free(&heads);
	heads_free(&h);
	linktoken_key_clear(&key);
}

static void test_from_heads(const struct fixture *f)
{
	struct mail_notice n[3] = { f->n[0], f->n[1], f->n[2] };
	json_t *cp15 = json_deep_copy(f->cp15);
	struct pile p = { 0 };
	char child[16];

	/* a snooze (the alert's "response") and who else was told ("recipients") are read from
	 * the text, as the facts are */
	json_object_set_new(cp15, "response", alert(
		"{\"state\": \"snoozed\", \"by\": \"x@la.example\", \"at\":"
		" \"2026-11-21T10:00:00+00:00\", \"until\": \"2027-03-03\", \"reason\":"
		" \"legal_planning\", \"note\": null}"));
	n[1].alert = cp15;
	same_from_heads(n, 3, NULL, 25, "heads, every item in full");
	/* siblings (a family) grouped into one entry, and children counted, from the heads */
	for (int i = 0; i < 30; i++) {
		snprintf(child, sizeof(child), "C-%02d", i);
		pile_add(&p, "alert.firing", kid(child, i % 3 ? NULL : "F-7",
						 "cp_neglect_duration", "9m"), w9());
	}
	pile_add(&p, "alert.escalated", json_incref(cp15), json_incref(f->w_cp15));
	pile_add(&p, "alert.resolved", kid("C-01", NULL, "cp_neglect_duration", "9m"), w9());
	same_from_heads(p.n, p.len, NULL, 10, "heads, capped with the list attached");
	same_from_heads(p.n, p.len, "https://dw.la.example", 10, "heads, capped with the pages");
	pile_free(&p);
	json_decref(cp15);
}

int main(void)
{
	struct fixture f;
	struct mail_message m;

	fixture_init(&f);
	if (compose(f.n, 3, TO, DATE, &m) < 0) {
		tap_ok(0, "compose the three-notice digest");
		fixture_free(&f);
		return tap_status();
	}
	test_headers(&m);
	test_subject(&f, &m);
	test_parts(&m);
	test_wire_format(&m, "digest");
	test_message_id(&f, &m);
	mail_message_free(&m);
	test_utf8();
	test_long_lines();
	test_refusals(&f);
	test_kinds(&f);
	test_told_before(&f);
	test_since(&f);
	test_unanswered(&f);
	test_snoozed(&f);
	test_failed(&f);
	test_record_wrong(&f);
	test_order();
	test_siblings();
	test_cap();
	test_csv_cells();
	test_from_heads(&f);
	fixture_free(&f);
	return tap_status();
}
