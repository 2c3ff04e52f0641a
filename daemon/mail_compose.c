/* mail_compose: one recipient's digest of notices as a complete multipart RFC 5322 message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "driftwatch/errmsg.h"
#include "driftwatch/mail.h"
#include "driftwatch/mail_csv.h"
#include "driftwatch/mail_digest.h"
#include "driftwatch/mail_html.h"
#include "driftwatch/mail_mime.h"
#include "driftwatch/mail_notice_text.h"
#include "driftwatch/mail_summary.h"
#include "driftwatch/mail_text.h"
#include "driftwatch/mail_words.h"
#include "driftwatch/mailaddr.h"
#include "driftwatch/strbuf.h"

/* Only a plain addr-spec goes into From and To: anything else could smuggle in a header. */
static int mail_address_ok(const char *a)
{
	return mailaddr_usable(a, NULL);
}

static int mail_cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Hex digest of the recipient and the sorted keys: the order notices were claimed in does not
 * change it, so a resend after a crash has the same Message-ID and receivers can spot it. The
 * input is pinned by test_mail: changing it would give a resend across an upgrade a new one. */
static int mail_compose_key(const char *to, const struct mail_notice *notices, size_t n,
			    char hex[65])
{
	const char **keys = calloc(n, sizeof(*keys));
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	struct strbuf in;
	int ok;

	if (!keys)
		return -1;
	for (size_t i = 0; i < n; i++)
		keys[i] = notices[i].key;
	qsort(keys, n, sizeof(*keys), mail_cmp_str);
	strbuf_init(&in);
	strbuf_append(&in, "driftwatch digest v1\n");
	/* NUL-separated: no key or address can run into the next */
	strbuf_appendn(&in, to, strlen(to) + 1);
	for (size_t i = 0; i < n; i++)
		strbuf_appendn(&in, keys[i], strlen(keys[i]) + 1);
	free(keys);
	ok = !in.failed && EVP_Digest(in.buf, in.len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
	     mdlen == 32;
	strbuf_free(&in);
	if (!ok)
		return -1;
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
	return 0;
}

/* The entries shown in full, a titled section (a table in HTML) per seriousness. */
static void mail_sections(struct strbuf *text, struct strbuf *html, const struct mail_digest *d,
			  const struct mail_notice_text *t)
{
	int sec = -1, children = 1;

	for (size_t e = 0; e < d->n_full; e++) {
		const struct mail_digest_entry *en = &d->entries[e];
		int s = d->items[en->first].section;

		if (s != sec) {
			if (sec >= 0)
				mail_html_table_close(html);
			sec = s;
			children = mail_digest_section_children(d, s);
			mail_text_title(text, mail_digest_section_titles[s],
					mail_digest_section_items(d, s));
			mail_html_section(html, s, mail_digest_section_items(d, s), children);
		}
		mail_text_entry(text, e + 1, d, en, &t[en->first]);
		mail_html_entry(html, d, en, &t[en->first], children);
	}
	if (sec >= 0)
		mail_html_table_close(html);
}

static void mail_para(struct strbuf *text, struct strbuf *html, const char *style,
		      const char *words, const char *keep)
{
	mail_html_para(html, style, words, keep);
	mail_text_para(text, words);
}

/* The summary on top, what the digest is, and when capped, what it leaves out. */
static void mail_opening(struct strbuf *text, struct strbuf *html, const struct mail_digest *d)
{
	struct strbuf sb;

	strbuf_init(&sb);
	mail_summary_sentence(&sb, d);
	if (sb.len)
		mail_para(text, html, ";font-size:16px;font-weight:bold", sb.buf, NULL);
	text->failed |= sb.failed;
	strbuf_free(&sb);
	mail_para(text, html, "", mail_summary_intro(d), NULL);
	if (!mail_digest_capped(d))
		return;
	strbuf_init(&sb);
	mail_summary_cap(&sb, d);
	if (sb.len)
		mail_para(text, html, "", sb.buf, d->list_name);
	text->failed |= sb.failed;
	strbuf_free(&sb);
	mail_text_counts(text, d);
	mail_html_counts(html, d);
}

/* Both parts, in one order: the opening, the sections, and where the rest of a capped digest is
 * when the pages do not hold it. */
static void mail_parts(struct strbuf *text, struct strbuf *html, const struct mail_digest *d,
		       const char *subject, const char *to)
{
	size_t shown = mail_digest_shown_items(d);
	struct mail_notice_text *t = mail_notice_text_all(d, shown);

	if (!t) {
		text->failed = 1;
		return;
	}
	mail_html_open(html, subject);
	mail_opening(text, html, d);
	mail_sections(text, html, d, t);
	if (d->list_name) {
		struct strbuf sb;

		strbuf_init(&sb);
		mail_summary_list(&sb, d);
		if (sb.len)
			mail_para(text, html, ";margin-top:18px", sb.buf, d->list_name);
		text->failed |= sb.failed;
		strbuf_free(&sb);
	}
	for (size_t i = 0; i < shown; i++)
		mail_notice_text_free(&t[i]);
	free(t);
	mail_html_close(html, mail_summary_footer, to);
	strbuf_append(text, "-- \n");
	mail_text_wrap(text, "", "", mail_summary_footer);
	strbuf_printf(text, "Sent to %s.\n", to);
}

/* The notices of the entries neither shown in full nor listed: the list has its rows in the
 * entries' order, the first list_rows of them. */
static int mail_compose_untold(const struct mail_digest *d, const struct mail_notice *notices,
			       struct mail_message *out)
{
	size_t pos = 0;

	if (d->list_rows >= d->n)
		return 0;
	out->untold = calloc(d->n - d->list_rows, sizeof(*out->untold));
	if (!out->untold)
		return -1;
	for (size_t e = 0; e < d->n_entries; e++)
		for (size_t i = 0; i < d->entries[e].n; i++, pos++)
			if (e >= d->n_full && pos >= d->list_rows &&
			    out->n_untold < d->n - d->list_rows)
				out->untold[out->n_untold++] =
					(size_t)(d->items[d->entries[e].first + i].n - notices);
	return 0;
}

static int mail_check_input(const char *from, const char *to, const struct mail_notice *notices,
			    size_t n, char *err, size_t errsz)
{
	if (!from || !mail_address_ok(from))
		return errmsg_set(err, errsz, "email.from: not one plain email address");
	if (!to || !mail_address_ok(to))
		return errmsg_set(err, errsz, "recipient address \"%s\" is not one plain email address",
				 to && mail_mime_is_ascii(to) ? to : "(unprintable)");
	if (n == 0)
		return errmsg_set(err, errsz, "digest for %s: no notices", to);
	for (size_t i = 0; i < n; i++) {
		if (mail_digest_kind_of(notices[i].type) < 0)
			return errmsg_set(err, errsz, "digest for %s: notice %zu: unknown type \"%s\"",
					 to, i, notices[i].type ? notices[i].type : "(null)");
		if (!json_is_object(notices[i].alert))
			return errmsg_set(err, errsz, "digest for %s: notice %zu: alert is not an "
					 "object", to, i);
		if (!notices[i].key || !notices[i].key[0])
			return errmsg_set(err, errsz, "digest for %s: notice %zu: no idempotency key",
					 to, i);
	}
	return 0;
}

/* A capped digest whose rest the pages do not hold carries the list of every item:
 * "driftwatch-digest-2026-11-18.csv", after the day the message is dated (UTC). Returns
 * whether it does (d->list_name then set to name). */
static int mail_compose_list_name(struct mail_digest *d, time_t date, char *name, size_t sz)
{
	struct tm tm;

	if (!mail_digest_capped(d) || (d->o->pages_url && mail_words_link_ok(d->o->pages_url)) ||
	    !gmtime_r(&date, &tm))
		return 0;
	snprintf(name, sz, "driftwatch-digest-%04d-%02d-%02d.csv", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday);
	d->list_name = name;
	return 1;
}

/* The 60% of email.max_message_bytes a list may take leaves room for a digest's parts when the
 * limit is megabytes, not always when it is small. 0 when the message of len bytes fits, has no
 * list, or would not fit with no row in it either (nothing a list can do: the server decides),
 * else a smaller budget for the list: base64 writes at least 4 bytes for 3, and 512 bytes spare
 * (the words that say a list was cut are longer: a second cut makes up for them). */
static size_t mail_list_refit(const struct mail_digest *d, const char *csv, size_t len)
{
	size_t max = d->o->max_message_bytes, over, cut, have, head;

	if (!csv || max == 0 || len <= max)
		return 0;
	over = len - max;
	cut = over / 4 * 3 + 3 + 512;
	have = strlen(csv);
	head = strcspn(csv, "\n") + 1;
	return have > cut + head ? have - cut : 0;
}

/* The headers and the body: the text and HTML parts as alternatives, within a multipart/mixed
 * of boundary mixed with the list attached when there is one (csv, mixed not NULL). */
static void mail_compose_body(struct strbuf *m, const char *from, const char *to,
			      const char *date, const struct mail_message *out,
			      const struct strbuf *text, const struct strbuf *html,
			      const char *mixed, const char *boundary, const char *csv,
			      const char *list_name)
{
	mail_mime_headers(m, from, to, date, out, mixed ? "multipart/mixed" :
			  "multipart/alternative", mixed ? mixed : boundary);
	strbuf_append(m, "This is a MIME message with text and HTML versions of one digest");
	strbuf_append(m, mixed ? "\r\nand the list of its items attached.\r\n\r\n" : ".\r\n\r\n");
	if (mixed)
		mail_mime_nested(m, mixed, boundary);
	if (!text->failed && !html->failed) {
		mail_mime_part(m, boundary, "text/plain", text->buf);
		mail_mime_part(m, boundary, "text/html", html->buf);
	}
	strbuf_printf(m, "--%s--\r\n", boundary);
	if (!mixed)
		return;
	mail_mime_attachment(m, mixed, "text/csv; header=present", list_name, csv, strlen(csv));
	strbuf_printf(m, "--%s--\r\n", mixed);
}

int mail_compose(const char *from, const char *to, time_t date, const struct mail_notice *notices,
		 size_t n, struct mail_message *out, char *err, size_t errsz)
{
	return mail_compose_with(from, to, date, NULL, notices, n, out, err, errsz);
}

int mail_compose_links(const char *from, const char *to, time_t date,
		       const struct noticelinks *links, const struct mail_notice *notices,
		       size_t n, struct mail_message *out, char *err, size_t errsz)
{
	struct mail_options o = { links, NULL, 0, 0 };

	return mail_compose_with(from, to, date, &o, notices, n, out, err, errsz);
}

int mail_compose_with(const char *from, const char *to, time_t date,
		      const struct mail_options *o, const struct mail_notice *notices, size_t n,
		      struct mail_message *out, char *err, size_t errsz)
{
	static const struct mail_options none = { NULL, NULL, 0, 0 };
	struct mail_digest d = { .to = to, .o = o ? o : &none };
	struct strbuf text, html, m;
	char hex[65], datebuf[64], boundary[48], mixed[48], list_name[64];
	char *csv = NULL;

	memset(out, 0, sizeof(*out));
	if (mail_check_input(from, to, notices, n, err, errsz) < 0)
		return -1;
	if (mail_mime_date(date, datebuf, sizeof(datebuf)) < 0)
		return errmsg_set(err, errsz, "digest for %s: date %lld out of range", to,
				 (long long)date);
	if (mail_compose_key(to, notices, n, hex) < 0 || mail_digest_build(notices, n, &d, err,
									 errsz) < 0) {
		mail_digest_free(&d);
		return errmsg_set(err, errsz, "digest for %s: out of memory", to);
	}
	/* "=_" never occurs in quoted-printable or base64 output, so no boundary can occur in a
	 * part; neither boundary begins with the other */
	snprintf(boundary, sizeof(boundary), "=_driftwatch_%.24s", hex + 32);
	snprintf(mixed, sizeof(mixed), "=_driftwatch_mixed_%.24s", hex + 32);
	if (mail_compose_list_name(&d, date, list_name, sizeof(list_name)))
		csv = mail_csv_list(&d, d.o->max_message_bytes / 10 * 6, &d.list_rows);
	out->message_id = mail_mime_message_id(hex, from);
	out->subject = mail_summary_subject(&d);
	strbuf_init(&text);
	strbuf_init(&html);
	strbuf_init(&m);
	for (int pass = 0; pass < 3 && out->message_id && out->subject && (csv || !d.list_name);
	     pass++) {
		size_t budget;

		mail_parts(&text, &html, &d, out->subject, to);
		mail_compose_body(&m, from, to, datebuf, out, &text, &html, csv ? mixed : NULL,
				  boundary, csv, list_name);
		budget = mail_list_refit(&d, csv, m.len);
		if (pass == 2 || budget == 0)
			break;
		/* the list was cut to 60% of the limit, and the rest did not fit beside it: cut it
		 * by what is over and write the message again (twice at most) */
		free(csv);
		csv = mail_csv_list(&d, budget, &d.list_rows);
		strbuf_free(&text);
		strbuf_free(&html);
		strbuf_free(&m);
	}
	/* a list that could not be made (out of memory) leaves no message, never an empty one */
	if (d.list_name && !csv)
		m.failed = 1;
	if (d.list_name && csv && mail_compose_untold(&d, notices, out) < 0)
		m.failed = 1;
	mail_digest_free(&d);
	free(csv);
	out->len = m.len;
	out->data = text.failed || html.failed ? NULL : strbuf_take(&m);
	strbuf_free(&text);
	strbuf_free(&html);
	strbuf_free(&m);
	if (!out->message_id || !out->subject || !out->data) {
		mail_message_free(out);
		return errmsg_set(err, errsz, "digest for %s: out of memory", to);
	}
	return 0;
}

void mail_message_free(struct mail_message *m)
{
	if (!m)
		return;
	free(m->message_id);
	free(m->subject);
	free(m->data);
	free(m->untold);
	memset(m, 0, sizeof(*m));
}
