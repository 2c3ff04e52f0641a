/* mail_send_driver: composes one digest (or takes a raw message) and sends it with mail_send on
 * a curl_loop, for tests/integration/test_mail_delivery.sh.
 *
 *   mail_send_driver --url URL --tls starttls|implicit|none --from ADDR --to ADDR
 *                    [--user NAME --password-file FILE] [--ca-file PEM] [--no-verify]
 *                    [--notices FILE.json | --raw FILE] [--out FILE] [--date UNIX]
 *                    [--timeout SECONDS] [--cancel-after-ms MS]
 *
 * --notices: a JSON array of {"type", "alert", "notice", "key"} (mail_notice's fields; notice is
 * the words the outbox keeps with a notice, notice.h).
 * --raw: send the file's bytes as they are (to test the SMTP path alone).
 * --out: write the composed message there before sending.
 * --cancel-after-ms: free the curl_loop (as a shutdown does) that long after starting.
 * Prints "message-id ID" (composed only) and "outcome NAME: MESSAGE", and exits 0 when
 * delivered, 3 for retry, 4 for permanent, 5 for a mailbox refused for good, 1 when it could
 * not even try, 2 on bad usage. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "driftwatch/config.h"
#include "driftwatch/curl_loop.h"
#include "driftwatch/mail.h"

struct driver_opts {
	const char *url, *tls, *from, *to, *user, *password_file, *ca_file;
	const char *notices, *raw, *out;
	int no_verify;
	long long date;
	long timeout_s;
	long cancel_ms;
};

struct driver_result {
	int done;         /* calls of the callback: exactly one is the contract */
	enum mail_outcome outcome;
	char msg[1024];
};

static int driver_usage(const char *why)
{
	fprintf(stderr, "mail_send_driver: %s\n", why);
	return 2;
}

static int driver_parse(int argc, char **argv, struct driver_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->date = 1795000000;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--no-verify") == 0) {
			o->no_verify = 1;
			continue;
		}
		if (!v)
			return driver_usage("an option is missing its value");
		i++;
		if (strcmp(a, "--url") == 0) o->url = v;
		else if (strcmp(a, "--tls") == 0) o->tls = v;
		else if (strcmp(a, "--from") == 0) o->from = v;
		else if (strcmp(a, "--to") == 0) o->to = v;
		else if (strcmp(a, "--user") == 0) o->user = v;
		else if (strcmp(a, "--password-file") == 0) o->password_file = v;
		else if (strcmp(a, "--ca-file") == 0) o->ca_file = v;
		else if (strcmp(a, "--notices") == 0) o->notices = v;
		else if (strcmp(a, "--raw") == 0) o->raw = v;
		else if (strcmp(a, "--out") == 0) o->out = v;
		else if (strcmp(a, "--date") == 0) o->date = atoll(v);
		else if (strcmp(a, "--timeout") == 0) o->timeout_s = atol(v);
		else if (strcmp(a, "--cancel-after-ms") == 0) o->cancel_ms = atol(v);
		else return driver_usage("unknown option");
	}
	if (!o->url || !o->tls || !o->from || !o->to || (!o->notices == !o->raw))
		return driver_usage("need --url, --tls, --from, --to and one of --notices, --raw");
	return 0;
}

static int driver_read_file(const char *path, struct mail_message *m)
{
	FILE *f = fopen(path, "rb");
	long n;

	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		fclose(f);
		return -1;
	}
	m->data = malloc((size_t)n + 1);
	m->len = (size_t)n;
	if (!m->data || fread(m->data, 1, m->len, f) != m->len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

static int driver_compose(const struct driver_opts *o, struct mail_message *m)
{
	json_error_t je;
	json_t *arr = json_load_file(o->notices, 0, &je);
	struct mail_notice *n;
	size_t count = json_array_size(arr);
	char err[512];
	int rc;

	if (!json_is_array(arr) || count == 0) {
		fprintf(stderr, "mail_send_driver: %s: not a non-empty JSON array: %s\n",
			o->notices, je.text);
		json_decref(arr);
		return -1;
	}
	n = calloc(count, sizeof(*n));
	if (!n) {
		json_decref(arr);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		json_t *it = json_array_get(arr, i);

		n[i].type = json_string_value(json_object_get(it, "type"));
		n[i].alert = json_object_get(it, "alert");
		/* the words the outbox keeps with a notice (notice.h), or none */
		n[i].notice = json_object_get(it, "notice");
		n[i].key = json_string_value(json_object_get(it, "key"));
	}
	rc = mail_compose(o->from, o->to, (time_t)o->date, n, count, m, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "mail_send_driver: %s\n", err);
	free(n);
	json_decref(arr);
	return rc;
}

static void driver_on_sent(enum mail_outcome outcome, int timed_out, const char *msg,
			   void *arg)
{
	struct driver_result *r = arg;

	(void)timed_out;
	r->done++;
	r->outcome = outcome;
	snprintf(r->msg, sizeof(r->msg), "%s", msg);
}

/* A shutdown in the middle of a send: the loop is freed from a timer, never from a callback. */
struct driver_cancel {
	struct curl_loop **loop;
	struct event_base *base;
};

static void driver_on_cancel(evutil_socket_t fd, short what, void *arg)
{
	struct driver_cancel *c = arg;

	(void)fd;
	(void)what;
	curl_loop_free(*c->loop);
	*c->loop = NULL;
	event_base_loopbreak(c->base);
}

static int driver_write(const char *path, const struct mail_message *m)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (!f)
		return -1;
	ok = fwrite(m->data, 1, m->len, f) == m->len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int driver_send(const struct driver_opts *o, const struct mail_message *m)
{
	struct config_email email = { 0 };
	struct driver_result r = { 0 };
	struct event_base *base = event_base_new();
	struct curl_loop *loop = base ? curl_loop_new(base, 2) : NULL;
	struct mail_sender *s;
	char err[512];

	email.enabled = true;
	email.smtp_url = (char *)o->url;
	email.tls = strcmp(o->tls, "implicit") == 0 ? CONFIG_TLS_IMPLICIT :
		    strcmp(o->tls, "none") == 0 ? CONFIG_TLS_NONE : CONFIG_TLS_STARTTLS;
	email.from = (char *)o->from;
	email.username = (char *)o->user;
	email.password_file = (char *)o->password_file;
	email.ca_file = (char *)o->ca_file;
	email.verify_peer = !o->no_verify;
	if (!loop) {
		fprintf(stderr, "mail_send_driver: no event loop\n");
		if (base)
			event_base_free(base);
		return 1;
	}
	s = mail_sender_new(loop, &email, err, sizeof(err));
	if (s && o->timeout_s)
		mail_sender_set_timeouts(s, o->timeout_s, o->timeout_s);
	if (!s || mail_send(s, o->to, m, driver_on_sent, &r, err, sizeof(err)) < 0) {
		printf("error %s\n", err);
		mail_sender_free(s);
		curl_loop_free(loop);
		event_base_free(base);
		return 1;
	}
	/* the message is the sender's copy now; the sender itself is not needed any more */
	mail_sender_free(s);
	if (o->cancel_ms > 0) {
		struct driver_cancel c = { &loop, base };
		struct timeval tv = { o->cancel_ms / 1000, (o->cancel_ms % 1000) * 1000 };
		struct event *ev = evtimer_new(base, driver_on_cancel, &c);

		if (!ev || evtimer_add(ev, &tv) < 0) {
			printf("error no timer\n");
			return 1;
		}
		event_base_dispatch(base);
		event_free(ev);
	} else {
		event_base_dispatch(base);
	}
	curl_loop_free(loop);
	event_base_free(base);
	if (r.done != 1) {
		printf("error the callback ran %d times, not once\n", r.done);
		return 1;
	}
	printf("outcome %s: %s\n", mail_outcome_name(r.outcome), r.msg);
	return r.outcome == MAIL_DELIVERED ? 0 : r.outcome == MAIL_RETRY ? 3 :
	       r.outcome == MAIL_NO_MAILBOX ? 5 : 4;
}

int main(int argc, char **argv)
{
	struct driver_opts o;
	struct mail_message m = { 0 };
	int rc;

	if (driver_parse(argc, argv, &o) != 0)
		return 2;
	if (o.raw ? driver_read_file(o.raw, &m) < 0 : driver_compose(&o, &m) < 0) {
		mail_message_free(&m);
		return 1;
	}
	if (m.message_id)
		printf("message-id %s\n", m.message_id);
	if (o.out && driver_write(o.out, &m) < 0) {
		fprintf(stderr, "mail_send_driver: cannot write %s\n", o.out);
		mail_message_free(&m);
		return 1;
	}
	fflush(stdout);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = driver_send(&o, &m);
	curl_global_cleanup();
	mail_message_free(&m);
	return rc;
}
