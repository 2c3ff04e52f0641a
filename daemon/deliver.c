/* deliver: one pass over the outbox: claim due notices, send them, record every result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/curl_loop.h"
#include "driftwatch/db.h"
#include "driftwatch/deliver.h"
#include "driftwatch/log.h"
#include "driftwatch/mail.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/webhook.h"

/* A lease longer than any one transfer may take, so a live deliverer never loses its notice. */
#define DELIVER_LEASE_S 300
#define DELIVER_WEBHOOK_BATCH 500
/* Email is claimed by whole digests (one person's notices of one evaluation), this many at a
 * time: a first evaluation at a large authority queues tens of thousands of notices, and
 * claiming them all at once held every payload in memory together (25 MB in libpq alone). */
#define DELIVER_EMAIL_DIGESTS 20
/* The longest a transfer may take (set on each webhook request and on the mail sender), and the
 * time left at the end of a lease for recording the result. */
#define DELIVER_WEBHOOK_TIMEOUT_S 30
#define DELIVER_MAIL_TIMEOUT_S 120
#define DELIVER_RECORD_MARGIN_S 30

struct deliver_secret {
	const char *url;              /* config's string */
	struct webhook_secret secret;
};

/* One receiver's transfers: a webhook URL, or the SMTP server for every email. */
struct deliver_dest {
	char *name;
	size_t running;               /* handed to the loop and not finished */
	struct deliver_job *head;     /* waiting for a slot, oldest first */
	struct deliver_job *tail;
	struct deliver_dest *next;
};

struct deliver {
	struct dw_ctx *ctx;
	struct db_conn *conn;
	struct curl_loop *loop;
	struct mail_sender *mail;
	struct deliver_secret *secrets;
	size_t n_secrets;
	struct webhook_secret team_secret;
	int have_team_secret;
	char *claim_sql;
	char *result_sql;
	struct webhook_backoff backoff;
	uint64_t rnd;
	/* the pass in progress */
	deliver_done_cb cb;
	void *cb_arg;
	struct deliver_stats stats;
	size_t in_flight;             /* transfers not yet finished, waiting ones included */
	struct deliver_dest *dests;   /* receivers with transfers waiting or running */
	int pumping;                  /* deliver_pump is on the stack */
	size_t start_failures;        /* jobs the loop refused to start in this pass */
	size_t released;              /* notices given back unsent in this pass (lease too short) */
	char ops_digest[64];          /* digest key of this pass's reports to the operators */
	unsigned passes;
	json_t *results;              /* results not yet recorded */
	int flushing;                 /* a result statement is in flight */
	int claiming;
	int more;                     /* the last claim was a full batch: claim again */
	char due_by[64];              /* the pass's first claim's time; "" before it */
	char error[512];
};

struct deliver_job {
	struct deliver *d;
	long long *ids;               /* the notices this transfer carries (a digest: several) */
	int *claims;                  /* each one's attempts when claimed: which claim it is */
	size_t n_ids;
	unsigned attempts;
	struct webhook_request *req;  /* webhook jobs */
	struct mail_message msg;      /* email jobs */
	char *to;                     /* email jobs: the recipient */
	struct deliver_dest *dest;    /* NULL until queued */
	int started;                  /* handed to the loop: counted in dest->running */
	struct deliver_job *next;     /* in dest's queue */
	struct timespec t0;
};

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

static int deliver_load_secrets(struct deliver *d, char *err, size_t errsz)
{
	const struct dw_config *cfg = d->ctx->cfg;

	d->secrets = calloc(cfg->n_webhooks ? cfg->n_webhooks : 1, sizeof(*d->secrets));
	if (!d->secrets) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_webhooks; i++) {
		const struct config_webhook *w = &cfg->webhooks[i];
		struct deliver_secret *s = &d->secrets[d->n_secrets];
		char name[600];
		int rc;

		snprintf(name, sizeof(name), "%s: webhooks[%zu].secret", cfg->path, i);
		rc = w->secret_file ? webhook_secret_load(w->secret_file, &s->secret, err, errsz)
				    : webhook_secret_parse(w->secret, name, &s->secret, err, errsz);
		if (rc < 0)
			return -1;
		s->url = w->url;
		d->n_secrets++;
	}
	if (cfg->team_webhook_secret_file) {
		if (webhook_secret_load(cfg->team_webhook_secret_file, &d->team_secret, err, errsz) < 0)
			return -1;
		d->have_team_secret = 1;
	}
	return 0;
}

struct deliver *deliver_new(struct dw_ctx *ctx, struct db_conn *conn, struct curl_loop *loop,
			    char *err, size_t errsz)
{
	struct deliver *d = calloc(1, sizeof(*d));
	struct webhook_backoff def = WEBHOOK_BACKOFF_DEFAULT;
	char *ident;

	if (!d) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	d->ctx = ctx;
	d->conn = conn;
	d->loop = loop;
	d->backoff = def;
	d->rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	d->claim_sql = ident ? strbuf_subst(sql_outbox_claim, "@state@", ident) : NULL;
	d->result_sql = ident ? strbuf_subst(sql_outbox_result, "@state@", ident) : NULL;
	free(ident);
	if (!d->claim_sql || !d->result_sql) {
		snprintf(err, errsz, "out of memory");
		deliver_free(d);
		return NULL;
	}
	if (deliver_load_secrets(d, err, errsz) < 0) {
		deliver_free(d);
		return NULL;
	}
	if (ctx->cfg->email.enabled) {
		d->mail = mail_sender_new(loop, &ctx->cfg->email, err, errsz);
		if (!d->mail) {
			deliver_free(d);
			return NULL;
		}
		mail_sender_set_timeouts(d->mail, 0, DELIVER_MAIL_TIMEOUT_S);
	}
	return d;
}

static void deliver_dests_free(struct deliver *d);

void deliver_free(struct deliver *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_secrets; i++)
		webhook_secret_clear(&d->secrets[i].secret);
	webhook_secret_clear(&d->team_secret);
	free(d->secrets);
	deliver_dests_free(d);
	mail_sender_free(d->mail);
	json_decref(d->results);
	free(d->claim_sql);
	free(d->result_sql);
	free(d);
}

/* ---- finishing the pass ---- */

static int deliver_claim(struct deliver *d);

static void deliver_maybe_done(struct deliver *d)
{
	deliver_done_cb cb = d->cb;

	if (!cb || d->claiming || d->in_flight || d->flushing || json_array_size(d->results))
		return;
	/* a backlog bigger than a batch still goes out in this one pass, a batch at a time */
	if (d->more && !d->error[0]) {
		d->more = 0;
		if (deliver_claim(d) == 0)
			return;
		snprintf(d->error, sizeof(d->error), "could not claim the next batch: %s",
			 db_error(d->conn));
		log_err(d->ctx, "outbox: %s", d->error);
	}
	deliver_dests_free(d);
	if (d->start_failures > 1)
		log_err(d->ctx, "outbox: %zu more transfers could not be started either; they will "
			"be retried", d->start_failures - 1);
	if (d->released)
		log_warn(d->ctx, "outbox: %zu notices waited too long for a transfer slot to be sent "
			 "within their lease; they are due again", d->released);
	d->cb = NULL;
	cb(&d->stats, d->error[0] ? d->error : NULL, d->cb_arg);
}

static void deliver_flush(struct deliver *d);

static void deliver_on_recorded(struct db_conn *conn, PGresult *res, void *arg)
{
	struct deliver *d = arg;

	d->flushing = 0;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(d->error, sizeof(d->error), "recording delivery results failed: %s",
			 res ? PQresultErrorMessage(res) : db_error(conn));
		log_err(d->ctx, "outbox: %s", d->error);
	} else {
		for (int r = 0; r < PQntuples(res); r++) {
			if (strcmp(PQgetvalue(res, r, 1), "failed") != 0)
				continue;
			d->stats.failed++;
			log_err(d->ctx, "outbox: notice %s to %s %s failed for good: %s",
				PQgetvalue(res, r, 0), PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
				PQgetvalue(res, r, 4));
		}
	}
	if (json_array_size(d->results))
		deliver_flush(d);
	deliver_maybe_done(d);
}

/* Results are written in batches: each one that arrives while a batch is being written waits
 * for the next, so a burst of deliveries costs a few statements, not one per notice. */
static void deliver_flush(struct deliver *d)
{
	char horizon[32];
	const char *params[4];
	char *text;

	if (d->flushing || !json_array_size(d->results))
		return;
	text = json_dumps(d->results, JSON_COMPACT);
	if (!text)
		return;
	json_array_clear(d->results);
	snprintf(horizon, sizeof(horizon), "%ld", d->backoff.horizon_s);
	params[0] = text;
	params[1] = horizon;
	params[2] = d->ctx->cfg->addresses.operators;
	params[3] = d->ops_digest;
	d->flushing = 1;
	if (db_query(d->conn, d->result_sql, 4, params, deliver_on_recorded, d) < 0) {
		d->flushing = 0;
		snprintf(d->error, sizeof(d->error), "could not record delivery results: %s",
			 db_error(d->conn));
		log_err(d->ctx, "outbox: %s", d->error);
	}
	free(text);
}

static long deliver_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

static void deliver_job_result(struct deliver_job *job, const char *outcome, const char *detail,
			       long delay_s)
{
	struct deliver *d = job->d;
	long ms = deliver_ms_since(&job->t0);

	for (size_t i = 0; i < job->n_ids; i++) {
		json_t *r = json_pack("{s:I, s:i, s:s, s:s, s:I, s:I}", "notice_id",
				      (json_int_t)job->ids[i], "attempts", job->claims[i], "outcome",
				      outcome, "detail", detail ? detail : "", "delay_s",
				      (json_int_t)delay_s, "duration_ms", (json_int_t)ms);

		if (r)
			json_array_append_new(d->results, r);
	}
	if (strcmp(outcome, "delivered") == 0)
		d->stats.delivered += job->n_ids;
	else if (strcmp(outcome, "retry") == 0 || strcmp(outcome, "released") == 0)
		d->stats.retried += job->n_ids;
	if (strcmp(outcome, "released") == 0)
		d->released += job->n_ids;
}

static void deliver_job_free(struct deliver_job *job)
{
	webhook_request_free(job->req);
	mail_message_free(&job->msg);
	free(job->to);
	free(job->ids);
	free(job->claims);
	free(job);
}

static void deliver_pump(struct deliver *d);
static void deliver_enqueue(struct deliver *d, struct deliver_job *job, const char *dest);

static void deliver_job_end(struct deliver_job *job)
{
	struct deliver *d = job->d;

	if (job->started)
		job->dest->running--;
	deliver_job_free(job);
	d->in_flight--;
	deliver_pump(d);
	deliver_flush(d);
	deliver_maybe_done(d);
}

static long deliver_delay(struct deliver *d, unsigned attempts, long retry_after)
{
	return webhook_backoff_delay(&d->backoff, attempts ? attempts - 1 : 0, retry_after,
				     webhook_rand_splitmix64, &d->rnd);
}

/* ---- webhooks ---- */

static void deliver_on_webhook(CURL *easy, CURLcode result, long code, void *arg)
{
	struct deliver_job *job = arg;
	struct deliver *d = job->d;
	struct webhook_outcome out;

	(void)easy;
	webhook_request_classify(job->req, result, code, time(NULL), &out);
	switch (out.verdict) {
	case WEBHOOK_DELIVERED:
		d->stats.webhooks_delivered++;
		deliver_job_result(job, "delivered", out.reason, 0);
		break;
	case WEBHOOK_CANCELLED:
		deliver_job_result(job, "retry", "cancelled at shutdown", 0);
		break;
	case WEBHOOK_MISCONFIGURED:
		log_err(d->ctx, "webhook %s needs an operator, will retry", out.reason);
		deliver_job_result(job, "retry", out.reason,
				   deliver_delay(d, job->attempts, out.retry_after_s));
		break;
	case WEBHOOK_RETRY:
		log_warn(d->ctx, "webhook %s, will retry", out.reason);
		deliver_job_result(job, "retry", out.reason,
				   deliver_delay(d, job->attempts, out.retry_after_s));
		break;
	case WEBHOOK_GONE:
		log_err(d->ctx, "webhook %s: endpoint disabled until an operator re-enables it",
			out.reason);
		deliver_job_result(job, "gone", out.reason, 0);
		break;
	case WEBHOOK_REJECTED:
		log_err(d->ctx, "webhook %s: the receiver refused the notice", out.reason);
		deliver_job_result(job, "failed", out.reason, 0);
		break;
	}
	deliver_job_end(job);
}

static const struct webhook_secret *deliver_secret_for(struct deliver *d, const char *url,
						       const char *role)
{
	for (size_t i = 0; i < d->n_secrets; i++)
		if (strcmp(d->secrets[i].url, url) == 0)
			return &d->secrets[i].secret;
	if (role && strcmp(role, "team") == 0 && d->have_team_secret)
		return &d->team_secret;
	return NULL;
}

static char *deliver_webhook_body(const char *type, const char *payload, time_t now)
{
	char stamp[32];
	json_error_t jerr;
	json_t *data = json_loads(payload, 0, &jerr);
	json_t *o;
	char *text;

	if (!data)
		return NULL;
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	o = json_pack("{s:s, s:s, s:o}", "type", type, "timestamp", stamp, "data", data);
	if (!o)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

static struct deliver_job *deliver_job_new(struct deliver *d, size_t n_ids, unsigned attempts)
{
	struct deliver_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->ids = calloc(n_ids, sizeof(*job->ids));
	job->claims = calloc(n_ids, sizeof(*job->claims));
	if (!job->ids || !job->claims) {
		free(job->ids);
		free(job->claims);
		free(job);
		return NULL;
	}
	job->d = d;
	job->n_ids = n_ids;
	job->attempts = attempts;
	clock_gettime(CLOCK_MONOTONIC, &job->t0);
	return job;
}

/* Row columns of outbox_claim.sql. */
enum { CL_ID, CL_KEY, CL_CHANNEL, CL_DEST, CL_ROLE, CL_TYPE, CL_PAYLOAD, CL_DIGEST, CL_ATTEMPTS,
       CL_AGE, CL_CLAIMED_AT };

static void deliver_start_webhook(struct deliver *d, PGresult *res, int r)
{
	const char *url = PQgetvalue(res, r, CL_DEST);
	const struct webhook_secret *secret =
		deliver_secret_for(d, url, PQgetisnull(res, r, CL_ROLE) ? NULL
									  : PQgetvalue(res, r, CL_ROLE));
	struct deliver_job *job = deliver_job_new(d, 1, (unsigned)atoi(PQgetvalue(res, r, CL_ATTEMPTS)));
	struct webhook_http_opts opts = { 10000, DELIVER_WEBHOOK_TIMEOUT_S * 1000L, NULL };
	time_t now = time(NULL);
	char err[512] = "out of memory";
	char *body;

	if (!job)
		return;
	job->ids[0] = atoll(PQgetvalue(res, r, CL_ID));
	job->claims[0] = atoi(PQgetvalue(res, r, CL_ATTEMPTS));
	body = deliver_webhook_body(PQgetvalue(res, r, CL_TYPE), PQgetvalue(res, r, CL_PAYLOAD), now);
	if (!secret)
		snprintf(err, sizeof(err), "%s: no secret is configured for this webhook", url);
	else if (body)
		job->req = webhook_request_new(url, secret, PQgetvalue(res, r, CL_KEY), (long long)now,
					       body, &opts, err, sizeof(err));
	free(body);
	if (job->req) {
		deliver_enqueue(d, job, url);
		return;
	}
	d->in_flight++;
	log_err(d->ctx, "webhook %s", err);
	deliver_job_result(job, "retry", err, deliver_delay(d, job->attempts, -1));
	deliver_job_end(job);
}

/* ---- email digests ---- */

static void deliver_on_mail(enum mail_outcome outcome, const char *msg, void *arg)
{
	struct deliver_job *job = arg;
	struct deliver *d = job->d;

	switch (outcome) {
	case MAIL_DELIVERED:
		d->stats.emails_sent++;
		deliver_job_result(job, "delivered", msg, 0);
		break;
	case MAIL_RETRY:
		log_warn(d->ctx, "email %s, will retry", msg);
		deliver_job_result(job, "retry", msg, deliver_delay(d, job->attempts, -1));
		break;
	case MAIL_PERMANENT:
		log_err(d->ctx, "email %s", msg);
		deliver_job_result(job, "failed", msg, 0);
		break;
	}
	deliver_job_end(job);
}

static const char *deliver_expected(const json_t *alert)
{
	const char *rule = json_string_value(json_object_get(alert, "rule"));
	const struct rule_def *def = rule_registry_find(str_or(rule, ""));
	int s;

	if (!def)
		return NULL;
	s = rule_stage_index(def, str_or(json_string_value(json_object_get(alert, "stage")), ""));
	return s < 0 ? NULL : def->stages[s].expected;
}

/* A report to the operators reads like a notice: what failed, where, and why. */
static json_t *deliver_ops_alert(const json_t *payload)
{
	const json_t *alert = json_object_get(payload, "alert");
	char summary[1024];

	snprintf(summary, sizeof(summary), "A %s notice (%s) to %s could not be delivered: %s",
		 str_or(json_string_value(json_object_get(payload, "channel")), "?"),
		 str_or(json_string_value(json_object_get(payload, "type")), "?"),
		 str_or(json_string_value(json_object_get(payload, "destination")), "?"),
		 str_or(json_string_value(json_object_get(payload, "error")), "unknown error"));
	return json_pack("{s:s, s:s, s:s, s:O?, s:O?, s:s, s:{}}", "rule", "delivery", "stage",
			 "failed", "child_id",
			 str_or(json_string_value(json_object_get(alert, "child_id")), "-"), "link",
			 json_object_get(alert, "link"), "subject_id",
			 json_object_get(alert, "subject_id"), "summary", summary, "facts");
}

static void deliver_start_digest(struct deliver *d, PGresult *res, const int *rows, size_t n)
{
	const char *to = PQgetvalue(res, rows[0], CL_DEST);
	struct deliver_job *job = deliver_job_new(d, n, 0);
	struct mail_notice *notices = calloc(n, sizeof(*notices));
	json_t **alerts = calloc(n, sizeof(*alerts));
	char err[512] = "out of memory composing the digest";
	size_t ok = 0;

	if (!job || !notices || !alerts)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		json_error_t jerr;
		int r = rows[i];
		unsigned att = (unsigned)atoi(PQgetvalue(res, r, CL_ATTEMPTS));
		const char *type = PQgetvalue(res, r, CL_TYPE);

		job->ids[i] = atoll(PQgetvalue(res, r, CL_ID));
		job->claims[i] = (int)att;
		job->attempts = att > job->attempts ? att : job->attempts;
		alerts[i] = json_loads(PQgetvalue(res, r, CL_PAYLOAD), 0, &jerr);
		if (alerts[i] && strcmp(type, "delivery.failed") == 0) {
			json_t *ops = deliver_ops_alert(alerts[i]);

			json_decref(alerts[i]);
			alerts[i] = ops;
		}
		if (!alerts[i])
			continue;
		notices[ok].type = type;
		notices[ok].alert = alerts[i];
		notices[ok].expected = deliver_expected(alerts[i]);
		notices[ok].key = PQgetvalue(res, r, CL_KEY);
		ok++;
	}
	if (ok == n && mail_compose(d->ctx->cfg->email.from, to, time(NULL), notices, n, &job->msg,
				    err, sizeof(err)) == 0 && (job->to = strdup(to)) != NULL) {
		/* every email goes through the one SMTP server: it is one receiver */
		deliver_enqueue(d, job, d->ctx->cfg->email.smtp_url);
		goto out;
	}
	d->in_flight++;
	log_err(d->ctx, "email to %s: %s", to, err);
	deliver_job_result(job, "retry", err, deliver_delay(d, job->attempts, -1));
	deliver_job_end(job);
	goto out;
fail:
	if (job)
		deliver_job_free(job);
out:
	for (size_t i = 0; alerts && i < n; i++)
		json_decref(alerts[i]);
	free(alerts);
	free(notices);
}

/* Email notices without a mail server configured stay in the outbox: nothing is lost, and
 * --check-config and the summary say why they wait. */
/* Returns how many digests it found in the claim. */
static size_t deliver_start_digests(struct deliver *d, PGresult *res)
{
	int n = PQntuples(res);
	size_t digests = 0;
	int *rows = calloc((size_t)n + 1, sizeof(*rows));
	char *done = calloc((size_t)n + 1, 1);

	if (!rows || !done)
		goto out;
	for (int i = 0; i < n; i++) {
		size_t k = 0;

		if (done[i] || strcmp(PQgetvalue(res, i, CL_CHANNEL), "email") != 0)
			continue;
		for (int j = i; j < n; j++) {
			if (done[j] || strcmp(PQgetvalue(res, j, CL_CHANNEL), "email") != 0 ||
			    strcmp(PQgetvalue(res, j, CL_DEST), PQgetvalue(res, i, CL_DEST)) != 0 ||
			    strcmp(PQgetvalue(res, j, CL_DIGEST), PQgetvalue(res, i, CL_DIGEST)) != 0)
				continue;
			rows[k++] = j;
			done[j] = 1;
		}
		deliver_start_digest(d, res, rows, k);
		digests++;
	}
out:
	free(rows);
	free(done);
	return digests;
}

/* ---- sharing the loop between receivers ---- */

/* The receiver called name, made on first use. */
static struct deliver_dest *deliver_dest_for(struct deliver *d, const char *name)
{
	struct deliver_dest *dest;

	for (dest = d->dests; dest; dest = dest->next)
		if (strcmp(dest->name, name) == 0)
			return dest;
	dest = calloc(1, sizeof(*dest));
	if (!dest || !(dest->name = strdup(name))) {
		free(dest);
		return NULL;
	}
	dest->next = d->dests;
	d->dests = dest;
	return dest;
}

/* Jobs still waiting are dropped: their notices stay claimed and go out when the lease ends. */
static void deliver_dests_free(struct deliver *d)
{
	struct deliver_dest *dest;
	struct deliver_job *job;

	while ((dest = d->dests) != NULL) {
		d->dests = dest->next;
		while ((job = dest->head) != NULL) {
			dest->head = job->next;
			deliver_job_free(job);
		}
		free(dest->name);
		free(dest);
	}
}

/* Queues a ready job behind its receiver's others; deliver_pump starts it. */
static void deliver_enqueue(struct deliver *d, struct deliver_job *job, const char *dest)
{
	d->in_flight++;
	job->dest = deliver_dest_for(d, dest);
	if (!job->dest) {
		log_err(d->ctx, "outbox: %s: out of memory queueing a transfer", dest);
		deliver_job_result(job, "retry", "out of memory", deliver_delay(d, job->attempts, -1));
		deliver_job_end(job);
		return;
	}
	if (job->dest->tail)
		job->dest->tail->next = job;
	else
		job->dest->head = job;
	job->dest->tail = job;
}

/* Hands one job to the loop: a webhook's signed request, or a digest through mail_send. */
static int deliver_job_start(struct deliver_job *job, char *err, size_t errsz)
{
	struct deliver *d = job->d;

	clock_gettime(CLOCK_MONOTONIC, &job->t0);
	if (job->req) {
		if (curl_loop_add(d->loop, webhook_request_easy(job->req), deliver_on_webhook,
				  job) == 0)
			return 0;
		snprintf(err, errsz, "%s: the transfer loop refused it",
			 webhook_request_url(job->req));
		return -1;
	}
	return mail_send(d->mail, job->to, &job->msg, deliver_on_mail, job, err, errsz);
}

/* A job waits in its receiver's queue from its claim; handed to the loop, it may wait there for
 * a running transfer to end, then take as long as the longest transfer. One not handed over
 * within this many seconds of its claim could still be running when its lease ends and another
 * deliverer takes the notice: it is released instead. */
static long deliver_start_within_s(const struct deliver *d)
{
	long longest = d->mail ? DELIVER_MAIL_TIMEOUT_S : DELIVER_WEBHOOK_TIMEOUT_S;

	return DELIVER_LEASE_S - 2 * longest - DELIVER_RECORD_MARGIN_S;
}

/* Hands waiting jobs to the loop while it has a free slot, each time to the receiver with the
 * fewest transfers running. The loop alone would start them in claim order, and a receiver that
 * holds every request (a stall, a black hole) would soon hold every slot while the others'
 * notices queued behind it; this way it keeps only the slots it has, and each one that frees up
 * goes to a receiver that answers. */
static void deliver_pump(struct deliver *d)
{
	char err[512];

	if (d->pumping)
		return;
	d->pumping = 1;
	/* a job the loop has to queue waits for a slot there: one is enough */
	while (curl_loop_queued(d->loop) == 0) {
		struct deliver_dest *best = NULL, *dest;
		struct deliver_job *job;

		for (dest = d->dests; dest; dest = dest->next)
			if (dest->head && (!best || dest->running < best->running))
				best = dest;
		if (!best)
			break;
		job = best->head;
		best->head = job->next;
		if (!best->head)
			best->tail = NULL;
		job->next = NULL;
		if (deliver_ms_since(&job->t0) > deliver_start_within_s(d) * 1000L) {
			/* it would outlive its lease: back to the outbox unsent, for any deliverer */
			deliver_job_result(job, "released", "not started within its lease", 0);
			deliver_job_end(job);
			continue;
		}
		job->started = 1;
		best->running++;
		if (deliver_job_start(job, err, sizeof(err)) < 0) {
			/* a loop being freed refuses every waiting job: one line says so */
			if (d->start_failures++ == 0)
				log_err(d->ctx, "%s %s", job->req ? "webhook" : "email", err);
			deliver_job_result(job, "retry", err, deliver_delay(d, job->attempts, -1));
			deliver_job_end(job);
		}
	}
	d->pumping = 0;
}

/* ---- claiming ---- */

static void deliver_release_email(struct deliver *d, PGresult *res)
{
	struct deliver_job *job;
	int n = PQntuples(res);

	for (int r = 0; r < n; r++) {
		if (strcmp(PQgetvalue(res, r, CL_CHANNEL), "email") != 0)
			continue;
		job = deliver_job_new(d, 1, 0);
		if (!job)
			continue;
		job->ids[0] = atoll(PQgetvalue(res, r, CL_ID));
		job->claims[0] = atoi(PQgetvalue(res, r, CL_ATTEMPTS));
		d->in_flight++;
		deliver_job_result(job, "retry", "no \"email\" section in the configuration", 3600);
		deliver_job_end(job);
	}
}

static void deliver_on_claim(struct db_conn *conn, PGresult *res, void *arg)
{
	struct deliver *d = arg;
	int n_webhooks;

	d->claiming = 0;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(d->error, sizeof(d->error), "claiming due notices failed: %s",
			 res ? PQresultErrorMessage(res) : db_error(conn));
		log_err(d->ctx, "outbox: %s", d->error);
		deliver_maybe_done(d);
		return;
	}
	d->stats.claimed += (size_t)PQntuples(res);
	if (!d->due_by[0] && PQntuples(res) > 0)
		snprintf(d->due_by, sizeof(d->due_by), "%s", PQgetvalue(res, 0, CL_CLAIMED_AT));
	/* Hold the pass open until every job started below has reported. */
	d->in_flight++;
	n_webhooks = 0;
	for (int r = 0; r < PQntuples(res); r++) {
		if (strcmp(PQgetvalue(res, r, CL_CHANNEL), "webhook") != 0)
			continue;
		n_webhooks++;
		deliver_start_webhook(d, res, r);
	}
	d->more = n_webhooks >= DELIVER_WEBHOOK_BATCH;
	if (d->mail)
		d->more |= deliver_start_digests(d, res) >= DELIVER_EMAIL_DIGESTS;
	else
		deliver_release_email(d, res);
	/* everything is queued: the first slots go round every receiver */
	deliver_pump(d);
	d->in_flight--;
	deliver_flush(d);
	deliver_maybe_done(d);
}

static int deliver_claim(struct deliver *d)
{
	char batch[16], lease[16], digests[16];
	const char *params[4] = { batch, lease, d->due_by[0] ? d->due_by : NULL, digests };

	snprintf(batch, sizeof(batch), "%d", DELIVER_WEBHOOK_BATCH);
	snprintf(digests, sizeof(digests), "%d", DELIVER_EMAIL_DIGESTS);
	snprintf(lease, sizeof(lease), "%d", DELIVER_LEASE_S);
	d->claiming = 1;
	if (db_query(d->conn, d->claim_sql, 4, params, deliver_on_claim, d) < 0) {
		d->claiming = 0;
		return -1;
	}
	return 0;
}

int deliver_pass(struct deliver *d, deliver_done_cb cb, void *arg)
{
	if (d->cb)
		return -1;
	memset(&d->stats, 0, sizeof(d->stats));
	d->start_failures = 0;
	d->released = 0;
	/* unique to this pass of this process: a later pass never adds to its reports' email */
	snprintf(d->ops_digest, sizeof(d->ops_digest), "ops-%lld-%ld-%u", (long long)time(NULL),
		 (long)getpid(), ++d->passes);
	d->error[0] = '\0';
	if (!d->results)
		d->results = json_array();
	if (!d->results)
		return -1;
	d->more = 0;
	d->due_by[0] = '\0';
	d->cb = cb;
	d->cb_arg = arg;
	if (deliver_claim(d) < 0) {
		d->cb = NULL;
		return -1;
	}
	return 0;
}
