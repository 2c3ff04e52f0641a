/* mail_send: one composed message to one recipient over SMTP, a libcurl transfer on a worker of the loop. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "driftwatch/config.h"
#include "driftwatch/curl_loop.h"
#include "driftwatch/errmsg.h"
#include "driftwatch/mail.h"
#include "driftwatch/secret.h"
#include "driftwatch/smallfile.h"
#include "driftwatch/url_redact.h"

/* Debian's whole bundle is about 220 KB. */
#define MAIL_CA_FILE_MAX (4 * 1024 * 1024)

#define MAIL_CONNECT_TIMEOUT_S 15
#define MAIL_TOTAL_TIMEOUT_S 120
#define MAIL_REPLY_MAX 200

struct mail_sender {
	struct curl_loop *loop;
	char *url;
	char *server;          /* "host:port", for messages: the URL may hold credentials */
	char *mail_from;       /* "<address>" */
	char *username;        /* NULL: no AUTH */
	char *password;
	char *ca_file;
	enum config_tls tls;
	int verify;
	long connect_s;
	long total_s;
};

/* One message on its way; owns everything the easy handle points at. */
struct mail_xfer {
	char *data;
	size_t len;
	size_t off;
	struct curl_slist *rcpt;
	char *to;
	char *server;
	mail_sent_cb cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
	/* the server's last refusal (4xx or 5xx), e.g. "550 5.1.1 <a@b>: mailbox unknown": the
	 * last reply of all is usually QUIT's "221" */
	char refusal[MAIL_REPLY_MAX];
	char reply[MAIL_REPLY_MAX];   /* the last reply line of all */
	int about_message;            /* MAIL, RCPT or DATA was sent: a refusal now is about this
				       * message, not about the connection or our credentials */
	char verb;                    /* the last of them sent: 'M', 'R' or 'D'; 0 before */
};

const char *mail_outcome_name(enum mail_outcome o)
{
	switch (o) {
	case MAIL_DELIVERED: return "delivered";
	case MAIL_RETRY: return "retry";
	case MAIL_PERMANENT: return "permanent";
	case MAIL_NO_MAILBOX: return "no mailbox";
	}
	return "unknown";
}

/* ---- the sender ---- */

/* Overwritten before it is freed so the password does not linger in freed memory. */
static void mail_free_secret(char *s)
{
	volatile char *p = s;

	if (!s)
		return;
	while (*p)
		*p++ = '\0';
	free(s);
}

static char *mail_read_password(const char *path, char *err, size_t errsz)
{
	char why[512], *text;

	/* the one reader of secret files (secret.h): never blocks on a FIFO, trims line ends */
	if (secret_read(path, &text, why, sizeof(why)) < 0) {
		errmsg_set(err, errsz, "email.password_file %s", why);
		return NULL;
	}
	return text;
}

/* Checked when the sender is made rather than left to the first email: curl's "error setting
 * certificate file" names no key, and came only once mail was due (audit 16). */
int mail_ca_file_check(const char *path, char *err, size_t errsz)
{
	char why[256], *text;
	size_t len;
	int pem;

	if (!path)
		return 0;
	if (smallfile_read(path, MAIL_CA_FILE_MAX, &text, &len, why, sizeof(why)) < 0) {
		errmsg_set(err, errsz, "email.ca_file: %s: %s", path, why);
		return -1;
	}
	pem = strstr(text, "-----BEGIN CERTIFICATE-----") != NULL;
	free(text);
	if (!pem) {
		errmsg_set(err, errsz, "email.ca_file: %s: holds no PEM certificate (\"-----BEGIN "
			   "CERTIFICATE-----\"): it must be a CA bundle in PEM form", path);
		return -1;
	}
	return 0;
}

/* "host:port" of the URL, with libcurl's default port when none is given. */
static char *mail_server_name(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *port = NULL, *out = NULL;

	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
		size_t len = strlen(host) + strlen(port) + 2;

		out = malloc(len);
		if (out)
			snprintf(out, len, "%s:%s", host, port);
	}
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return out;
}

static int mail_dup(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -1;
}

/* The name driftwatch gives in EHLO. libcurl takes it from the URL's path, and without one
 * sends the machine's bare host name ("EHLO vm"), which a mail server that wants a fully
 * qualified name (Postfix's reject_non_fqdn_helo_hostname) refuses, and the notice is retried
 * until it is too old (audit 19). A URL without a path gets the domain of email.from; one with
 * a path ("smtp://relay:587/dw.la.example") says its own. */
static int mail_url_with_helo(char **dst, const char *url, const char *from)
{
	const char *host = strstr(url, "://");
	const char *at = from ? strrchr(from, '@') : NULL;
	const char *path = host ? strchr(host + 3, '/') : NULL;

	if ((path && path[1]) || !at || !at[1] || strchr(at + 1, '/'))
		return mail_dup(dst, url);
	*dst = malloc(strlen(url) + strlen(at + 1) + 2);
	if (!*dst)
		return -1;
	sprintf(*dst, "%.*s/%s", (int)(path ? (size_t)(path - url) : strlen(url)), url, at + 1);
	return 0;
}

struct mail_sender *mail_sender_new(struct curl_loop *loop, const struct config_email *email,
				    char *err, size_t errsz)
{
	struct mail_sender *s;
	if (!email->smtp_url || !email->from) {
		errmsg_set(err, errsz, "email: smtp_url and from are required");
		return NULL;
	}
	/* "implicit" over smtp:// would send in clear text until STARTTLS */
	if (!config_email_tls_agrees(email)) {
		errmsg_set(err, errsz, "email.smtp_url: must be smtps:// with tls \"implicit\", "
			   "or smtp:// with \"starttls\" or \"none\"");
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		errmsg_set(err, errsz, "email: out of memory");
		return NULL;
	}
	s->loop = loop;
	s->tls = email->tls;
	s->verify = email->verify_peer;
	s->connect_s = MAIL_CONNECT_TIMEOUT_S;
	s->total_s = MAIL_TOTAL_TIMEOUT_S;
	s->server = mail_server_name(email->smtp_url);
	s->mail_from = malloc(strlen(email->from) + 3);
	if (s->mail_from)
		sprintf(s->mail_from, "<%s>", email->from);
	if (!s->server) {
		errmsg_set(err, errsz, "email.smtp_url: not a URL libcurl accepts");
		mail_sender_free(s);
		return NULL;
	}
	if (!s->mail_from || mail_url_with_helo(&s->url, email->smtp_url, email->from) < 0 ||
	    mail_dup(&s->username, email->username) < 0 ||
	    mail_dup(&s->ca_file, email->ca_file) < 0 ||
	    mail_dup(&s->password, email->password) < 0) {
		errmsg_set(err, errsz, "email: out of memory");
		mail_sender_free(s);
		return NULL;
	}
	if (mail_ca_file_check(email->ca_file, err, errsz) < 0) {
		mail_sender_free(s);
		return NULL;
	}
	if (email->password_file) {
		mail_free_secret(s->password);
		s->password = mail_read_password(email->password_file, err, errsz);
		if (!s->password) {
			mail_sender_free(s);
			return NULL;
		}
	}
	return s;
}

void mail_sender_set_timeouts(struct mail_sender *s, long connect_s, long total_s)
{
	s->connect_s = connect_s > 0 ? connect_s : MAIL_CONNECT_TIMEOUT_S;
	s->total_s = total_s > 0 ? total_s : MAIL_TOTAL_TIMEOUT_S;
}

void mail_sender_free(struct mail_sender *s)
{
	if (!s)
		return;
	free(s->url);
	free(s->server);
	free(s->mail_from);
	free(s->username);
	mail_free_secret(s->password);
	free(s->ca_file);
	free(s);
}

/* ---- one transfer ---- */

static void mail_xfer_free(struct mail_xfer *x)
{
	if (!x)
		return;
	free(x->data);
	curl_slist_free_all(x->rcpt);
	free(x->to);
	free(x->server);
	free(x);
}

static size_t mail_on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct mail_xfer *x = arg;
	size_t n = size * nitems;

	if (n > x->len - x->off)
		n = x->len - x->off;
	memcpy(buf, x->data + x->off, n);
	x->off += n;
	return n;
}

/* Keeps the server's last reply (and last refusal) for the outcome's message, and notes when
 * the session reached MAIL, RCPT or DATA. Of what we send only the verb is read: the AUTH lines
 * carry the credentials. */
static int mail_on_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *arg)
{
	struct mail_xfer *x = arg;
	size_t n = 0;

	(void)easy;
	if (type == CURLINFO_HEADER_OUT && size >= 4 &&
	    (strncasecmp(data, "MAIL", 4) == 0 || strncasecmp(data, "RCPT", 4) == 0 ||
	     strncasecmp(data, "DATA", 4) == 0)) {
		x->about_message = 1;
		x->verb = (char)toupper((unsigned char)data[0]);
	}
	if (type != CURLINFO_HEADER_IN)
		return 0;
	while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
		size--;
	if (size == 0)
		return 0;
	for (size_t i = 0; i < size && n < sizeof(x->reply) - 1; i++) {
		unsigned char c = (unsigned char)data[i];

		x->reply[n++] = c < 0x20 || c >= 0x7f ? '?' : (char)c;
	}
	x->reply[n] = '\0';
	if (x->reply[0] == '4' || x->reply[0] == '5')
		memcpy(x->refusal, x->reply, n + 1);
	return 0;
}

/* The class of a reply's enhanced status code (RFC 3463: "550 5.7.1 ..." is 7), or -1. */
static int mail_status_class(const char *reply)
{
	const char *p = reply;

	if (strlen(p) < 4 || (p[3] != ' ' && p[3] != '-'))
		return -1;
	p += 4;
	if ((p[0] != '4' && p[0] != '5') || p[1] != '.' || !isdigit((unsigned char)p[2]))
		return -1;
	return p[2] - '0';
}

/* Retrying cannot help a 5xx about this recipient or this message: a mailbox unknown (5.1.x),
 * disabled or full (5.2.x), a message too big (5.3.4), content refused (5.6.x). Of those, a
 * refusal of the mailbox (or a bare 5xx to RCPT, which can be about nothing else) is told
 * apart: the notices can still reach someone through the fallback address. A 5xx about
 * the connection or our own set-up is fixed by a person, and the notice must not be failed
 * while they do: a 554 greeting, no TLS, authentication refused or required, our sender
 * refused at MAIL, and a refusal by policy (5.7.x: "relay access denied", a receive connector
 * not yet set up for our host) at any step; a bare 554 to DATA says no more than "refused". */
static enum mail_outcome mail_classify(CURLcode res, long code, int about_message, char verb,
				       const char *refusal)
{
	int cls = mail_status_class(refusal);

	if (res == CURLE_OK)
		return MAIL_DELIVERED;
	switch (res) {
	case CURLE_LOGIN_DENIED:
	case CURLE_USE_SSL_FAILED:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURL_LOOP_CANCELLED:
		return MAIL_RETRY;
	default:
		break;
	}
	if (code == 530 || code == 538 || !about_message || code < 500 || code > 599)
		return MAIL_RETRY;
	if (cls == 7 || verb == 'M' || (verb == 'D' && cls < 0))
		return MAIL_RETRY;
	if (cls == 1 || cls == 2 || (verb == 'R' && cls < 0))
		return MAIL_NO_MAILBOX;
	return MAIL_PERMANENT;
}

static void mail_describe(const struct mail_xfer *x, CURLcode res, long code,
			  enum mail_outcome o, char *msg, size_t msgsz)
{
	const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(res);
	const char *said = o == MAIL_DELIVERED ? x->reply : x->refusal;
	int reply_is_code = code > 0 && strtol(said, NULL, 10) == code;

	if (o == MAIL_DELIVERED)
		snprintf(msg, msgsz, "SMTP %s: to %s: delivered (%s)", x->server, x->to,
			 reply_is_code ? said : "250");
	else if (res == CURL_LOOP_CANCELLED)
		snprintf(msg, msgsz, "SMTP %s: to %s: cancelled before it finished; the server may "
			 "have it, so it is resent with the same Message-ID (retry)", x->server,
			 x->to);
	else if (reply_is_code)
		snprintf(msg, msgsz, "SMTP %s: to %s: %s: server said \"%s\" (%s)", x->server, x->to,
			 why, said, mail_outcome_name(o));
	else
		snprintf(msg, msgsz, "SMTP %s: to %s: %s (%s)", x->server, x->to, why,
			 mail_outcome_name(o));
	/* the message is logged and kept in the outbox: libcurl's part may echo a URL */
	url_scrub(msg, msgsz, NULL);
}

static void mail_on_done(CURL *easy, CURLcode res, long code, void *arg)
{
	struct mail_xfer *x = arg;
	enum mail_outcome o = mail_classify(res, code, x->about_message, x->verb, x->refusal);
	mail_sent_cb cb = x->cb;
	void *cb_arg = x->arg;
	char msg[768];

	mail_describe(x, res, code, o, msg, sizeof(msg));
	curl_easy_cleanup(easy);
	mail_xfer_free(x);
	cb(o, res == CURLE_OPERATION_TIMEDOUT, msg, cb_arg);
}

static int mail_configure(CURL *e, const struct mail_sender *s, struct mail_xfer *x)
{
	long use_ssl = s->tls == CONFIG_TLS_NONE ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL;

	/* CURLUSESSL_ALL, never TRY: a server without STARTTLS fails the send, never plaintext */
	if (curl_easy_setopt(e, CURLOPT_URL, s->url) ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") ||
#else
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS)) ||
#endif
	    curl_easy_setopt(e, CURLOPT_USE_SSL, use_ssl) ||
	    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, s->verify ? 1L : 0L) ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, s->verify ? 2L : 0L) ||
	    curl_easy_setopt(e, CURLOPT_MAIL_FROM, s->mail_from) ||
	    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->rcpt) ||
	    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L) ||
	    curl_easy_setopt(e, CURLOPT_READFUNCTION, mail_on_read) ||
	    curl_easy_setopt(e, CURLOPT_READDATA, x) ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) ||
	    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, mail_on_debug) ||
	    curl_easy_setopt(e, CURLOPT_DEBUGDATA, x) ||
	    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L) ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, s->connect_s) ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT, s->total_s))
		return -1;
	if (s->ca_file && curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_file))
		return -1;
	if (s->username && (curl_easy_setopt(e, CURLOPT_USERNAME, s->username) ||
			    curl_easy_setopt(e, CURLOPT_PASSWORD, s->password ? s->password : "")))
		return -1;
	return 0;
}

static struct mail_xfer *mail_xfer_new(const struct mail_sender *s, const char *to,
				       const struct mail_message *m, mail_sent_cb cb, void *arg)
{
	struct mail_xfer *x = calloc(1, sizeof(*x));
	char *rcpt;

	if (!x)
		return NULL;
	x->cb = cb;
	x->arg = arg;
	x->len = m->len;
	x->data = malloc(m->len ? m->len : 1);
	x->to = strdup(to);
	x->server = strdup(s->server);
	rcpt = malloc(strlen(to) + 3);
	if (rcpt) {
		sprintf(rcpt, "<%s>", to);
		x->rcpt = curl_slist_append(NULL, rcpt);
		free(rcpt);
	}
	if (!x->data || !x->to || !x->server || !x->rcpt) {
		mail_xfer_free(x);
		return NULL;
	}
	memcpy(x->data, m->data, m->len);
	return x;
}

/* The envelope address goes into an SMTP command line: nothing may end or extend it. */
static int mail_rcpt_ok(const char *to)
{
	if (!to || !*to || !strchr(to, '@'))
		return 0;
	for (const unsigned char *p = (const unsigned char *)to; *p; p++)
		if (*p <= 0x20 || *p == 0x7f || *p == '<' || *p == '>')
			return 0;
	return 1;
}

int mail_send(struct mail_sender *s, const char *to, const struct mail_message *m,
	      mail_sent_cb cb, void *arg, char *err, size_t errsz)
{
	struct mail_xfer *x;
	CURL *easy;

	if (!mail_rcpt_ok(to))
		return errmsg_set(err, errsz, "SMTP %s: recipient is not one plain address",
				      s->server);
	if (!m || !m->data || !cb)
		return errmsg_set(err, errsz, "SMTP %s: to %s: no message", s->server, to);
	x = mail_xfer_new(s, to, m, cb, arg);
	easy = x ? curl_easy_init() : NULL;
	if (!easy) {
		mail_xfer_free(x);
		return errmsg_set(err, errsz, "SMTP %s: to %s: out of memory", s->server, to);
	}
	if (mail_configure(easy, s, x) < 0) {
		curl_easy_cleanup(easy);
		mail_xfer_free(x);
		return errmsg_set(err, errsz, "SMTP %s: to %s: libcurl refused an option (is "
				      "it built with SMTP and TLS?)", s->server, to);
	}
	/* a few seconds past libcurl's own timeout: the QUIT after a failure is bounded too */
	if (curl_loop_add_blocking(s->loop, easy, s->total_s + 5, mail_on_done, x) < 0) {
		curl_easy_cleanup(easy);
		mail_xfer_free(x);
		return errmsg_set(err, errsz, "SMTP %s: to %s: the transfer loop refused it",
				      s->server, to);
	}
	return 0;
}
