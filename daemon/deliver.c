/* deliver: the outbox's due notices to their receivers, each receiver on a lane of its own. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "driftwatch/chat.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/curl_loop.h"
#include "driftwatch/db.h"
#include "driftwatch/deliver.h"
#include "driftwatch/errmsg.h"
#include "driftwatch/hostmatch.h"
#include "driftwatch/jsontext.h"
#include "driftwatch/linktoken.h"
#include "driftwatch/log.h"
#include "driftwatch/mail.h"
#include "driftwatch/noticelinks.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/url_redact.h"
#include "driftwatch/backoff.h"
#include "driftwatch/webhook.h"

/* A claimed notice waits in its lane at most this long, less its transfer's timeout and the
 * margin for recording its result: a lane slower than that leaves the rest of its backlog to
 * other deliverers. (It was the lease, before leases were renewed.) */
#define DELIVER_HOLD_S 300
/* Leases (delivery.lease_seconds) are renewed this many times a lease, and a waiting job
 * starts only while this share of its lease is left: three renewals in a row may fail. */
#define DELIVER_RENEWALS 4
/* At most this many webhook notices in one claim, whatever the lanes have room for. */
#define DELIVER_CLAIM_MAX 2000
/* Transfers at once to one webhook receiver (at most half the loop's), and to the mail server
 * (fewer, at most a quarter: a mail server limits the connections of one client). */
#define DELIVER_WEBHOOK_SLOTS 16
#define DELIVER_EMAIL_SLOTS 8
/* While a receiver answers, this many of its notices (digests for the mail server) are claimed
 * ahead, so a backlog goes out without a claim per notice; one that stops answering is given
 * only as many as it has free slots, so nothing claimed waits behind a stall for its hold. */
#define DELIVER_WEBHOOK_AHEAD 2000
#define DELIVER_EMAIL_AHEAD 20
/* The longest a transfer may take (set on each webhook request and on the mail sender), and the
 * time left at the end of a hold (DELIVER_HOLD_S) for recording the result. */
#define DELIVER_WEBHOOK_TIMEOUT_S 30
#define DELIVER_MAIL_TIMEOUT_S 120
#define DELIVER_RECORD_MARGIN_S 30
/* A notice's last retry is this long before its age limit, so that it is made at all. */
#define DELIVER_LAST_TRY_S 60
/* A lane with nothing to do for this long is forgotten (teams' URLs come and go). */
#define DELIVER_LANE_IDLE_S 600
#define DELIVER_NO_MAIL_RETRY_S 3600

enum deliver_mode {
	DELIVER_RUN,       /* the daemon: claims when kicked and whenever a lane has room */
	DELIVER_DRAIN,     /* --once: everything due, then the callback */
	DELIVER_IDLE,      /* --once after the callback: nothing more is claimed */
	DELIVER_STOPPING,  /* nothing more is claimed; the callback once the last transfer ends */
	DELIVER_RETIRED    /* freed by its owner: waits for its transfers and queries, records
			    * nothing, then frees itself */
};

struct deliver_secret {
	char *url;
	struct webhook_secret secret;
	int broken;                   /* its secret could not be read: its notices wait unclaimed */
};

struct deliver_job;

/* Each channel claims from the outbox one statement at a time; a wish to claim that arrives
 * while one is in flight is kept and acted on when it is answered. */
enum deliver_channel { DELIVER_WEBHOOK, DELIVER_EMAIL, DELIVER_CHANNELS };

enum deliver_claim {
	DELIVER_CLAIM_IDLE,
	DELIVER_CLAIM_WANTED,       /* claim at the next progress (the connection permitting) */
	DELIVER_CLAIM_SENT,         /* a claim statement is in flight */
	DELIVER_CLAIM_SENT_WANTED,  /* ... and another is wanted once it is answered */
};

/* --once counts, once its claims are done, what was due when it began and is still due
 * (outbox_left.sql): a run must not read as "everything went" when others held notices. */
enum deliver_left {
	DELIVER_LEFT_UNCOUNTED,
	DELIVER_LEFT_COUNTING,      /* outbox_left.sql is in flight */
	DELIVER_LEFT_COUNTED,       /* answered, failed, or not to be asked */
};

struct deliver;
static void deliver_want(struct deliver *d, enum deliver_channel ch);
static void deliver_sent(struct deliver *d);
static void deliver_answered(struct deliver *d);

struct deliver_jobq {
	struct deliver_job *head;
	struct deliver_job *tail;
	size_t n;
};

/* One receiver's notices: a webhook URL, or the mail server for every email. */
struct deliver_lane {
	char *url;                    /* NULL for the mail server's lane */
	char shown[URL_SHOWN_MAX];    /* as logs and reports may name it */
	size_t slots;                 /* transfers at once */
	size_t ahead;                 /* claimed at most, running and waiting, while it answers */
	long timeout_s;               /* one transfer's longest */
	struct deliver_jobq queue;    /* claimed, waiting for a slot, oldest first */
	struct deliver_jobq running;  /* handed to the loop */
	int flowing;                  /* its last transfer was taken: claim ahead of the slots */
	int stalled;                  /* its last transfer timed out: one slot until an answer */
	int spent;                    /* --once: it timed out, so the pass claims no more for it */
	long avg_ms;                  /* a transfer's recent duration (0: none yet) */
	int more;                     /* its last claim was full: more may be due */
	long claim_room;              /* asked of the claim in flight; -1: not asked */
	long claim_got;
	time_t last_used;
	time_t said_unsigned;         /* when "nothing signs it" was last logged at error level */
	struct deliver_lane *next;
};

struct deliver {
	struct dw_ctx *ctx;
	struct db_conn *conn;         /* webhook claims and every result */
	struct db_conn *mail_conn;    /* email claims (may be conn): see deliver_claim_conn */
	struct curl_loop *loop;
	struct mail_sender *mail;
	struct deliver_secret *secrets;
	size_t n_secrets;
	struct webhook_secret team_secret;
	int have_team_secret;
	struct deliver_links *links;  /* NULL: notices go without links */
	char *claim_webhook_sql;
	char *claim_email_sql;
	char *result_sql;
	char *renew_sql;
	struct event *renew_ev;       /* every lease / DELIVER_RENEWALS while anything is held */
	int renewing;                 /* a renewal statement is in flight */
	unsigned renew_seq;           /* which renewal a job was last part of */
	struct timespec renew_sent;
	struct timespec claim_sent[DELIVER_CHANNELS];
	struct timespec lease_base;   /* the jobs being made hold their lease from this time */
	size_t lost_waiting;          /* renewals found taken by another deliverer; not logged yet */
	size_t lost_running;
	size_t released_unrenewed;
	struct backoff backoff;
	uint64_t rnd;
	enum deliver_mode mode;
	deliver_done_cb cb;           /* deliver_pass's or deliver_stop's */
	void *cb_arg;
	struct deliver_stats stats;
	struct deliver_lane *lanes;   /* webhook receivers */
	struct deliver_lane mail_lane;
	size_t webhook_slots;
	size_t reserve;               /* the loop's transfers kept for lanes with none running */
	size_t in_flight;             /* jobs waiting in a lane or running */
	int queries;                  /* statements sent and not answered */
	enum deliver_claim claim[DELIVER_CHANNELS];
	int progressing, progress_again; /* a re-entrancy latch (deliver_progress), not a state */
	json_t *results;              /* results not yet recorded */
	json_t *recording;            /* the results of the statement in flight */
	int flushing;                 /* a result statement is in flight */
	size_t start_failures;        /* not logged yet */
	size_t released_late;         /* not started within their lease; not logged yet */
	char ops_digest[64];          /* digest key of the reports to the operators being made */
	unsigned ops_seq;
	char due_by[64];              /* --once: its first claim's time; "" before it */
	char *left_sql;
	enum deliver_left left_state; /* --once: counting what it leaves due */
	char error[512];              /* --once: what stopped it */
};

struct deliver_job {
	struct deliver *d;
	struct deliver_lane *lane;
	long long *ids;               /* the notices this transfer carries (a digest: several) */
	int *claims;                  /* each one's attempts when claimed: which claim it is */
	size_t n_ids;
	unsigned attempts;
	long age_s;                   /* the longest since a notice's first due time, claimed */
	int webhook;                  /* a webhook job (else a digest) */
	char *key;                    /* webhook jobs: the idempotency key, type, payload and */
	char *type;                   /* role, kept from the claim: the request is made and signed */
	char *payload;                /* when it starts, so the signature's time is the send's */
	char *role;
	char occurred[40];            /* when the change was recorded: the envelope's timestamp */
	enum chat_format format;      /* teams or slack: payload is the message, made at the claim */
	struct webhook_request *req;  /* webhook jobs, once started */
	struct mail_message msg;      /* email jobs */
	char *to;                     /* email jobs: the recipient */
	char *shown;                  /* a job with no lane: its destination as a report names it */
	int started;                  /* in lane->running, not lane->queue */
	struct deliver_job *prev;
	struct deliver_job *next;
	struct timespec claimed;
	struct timespec leased;       /* its lease runs at least lease_s from this time */
	unsigned renew_seq;
	struct timespec t0;           /* started */
	/* A digest's continuation (the notices its message before could not tell of) waits
	 * uncomposed until that message is done: a first day's 48,517 notices to one person were
	 * ten messages of 10 MB composed and held at once. */
	struct deliver_rows *rows_of; /* a continuation: its claim's rows, until composed */
	int *rows;                    /* ... its notices' rows there, in step with ids */
	struct deliver_job *after;    /* the job it waits for; NULL once that one has ended */
	struct deliver_job *then;     /* the continuation waiting for this one */
};

/* An email claim's result, kept (db_keep_result) while continuations are composed from it. */
struct deliver_rows {
	PGresult *res;
	unsigned refs;
};

static void deliver_progress(struct deliver *d);

static const char *str_or(const char *s, const char *dflt)
{
	return s ? s : dflt;
}

static long deliver_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

static size_t deliver_clamp(size_t v, size_t lo, size_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* ---- job queues ---- */

static void deliver_jobq_push(struct deliver_jobq *q, struct deliver_job *job)
{
	job->next = NULL;
	job->prev = q->tail;
	if (q->tail)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
	q->n++;
}

static void deliver_jobq_unlink(struct deliver_jobq *q, struct deliver_job *job)
{
	if (job->prev)
		job->prev->next = job->next;
	else
		q->head = job->next;
	if (job->next)
		job->next->prev = job->prev;
	else
		q->tail = job->prev;
	job->prev = job->next = NULL;
	q->n--;
}

/* ---- secrets ---- */

static void deliver_secrets_free(struct deliver_secret *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		webhook_secret_clear(&s[i].secret);
		free(s[i].url);
	}
	free(s);
}

/* The configured webhooks' secrets (and the team secret) into *out: copies, so that a reload
 * can free the configuration they came from. */
/* A secret that cannot be read stops its own receiver only (the others and email go on): it is
 * said once, here, naming the key, and that receiver's notices wait in the outbox, unclaimed,
 * until a reload with the secret fixed. Fails only when memory runs out. */
static int deliver_load_secrets(struct dw_ctx *ctx, struct deliver_secret **out, size_t *n_out,
				struct webhook_secret *team, int *have_team, char *err,
				size_t errsz)
{
	const struct dw_config *cfg = ctx->cfg;
	struct deliver_secret *s = calloc(cfg->n_webhooks ? cfg->n_webhooks : 1, sizeof(*s));
	char why[512];

	*have_team = 0;
	if (!s) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < cfg->n_webhooks; i++) {
		const struct config_webhook *w = &cfg->webhooks[i];
		char name[600];
		int rc;

		snprintf(name, sizeof(name), "%s: webhooks[%zu].secret", cfg->path, i);
		rc = w->secret_file ? webhook_secret_load(w->secret_file, &s[i].secret, why,
							  sizeof(why))
				    : webhook_secret_parse(w->secret, name, &s[i].secret, why,
							   sizeof(why));
		if (!(s[i].url = strdup(w->url))) {
			deliver_secrets_free(s, i + 1);
			snprintf(err, errsz, "out of memory");
			return -1;
		}
		if (rc < 0) {
			webhook_secret_clear(&s[i].secret);
			s[i].broken = 1;
			log_err(ctx, "delivery: %s: webhooks[%zu].secret_file: %s; notices to this "
				"receiver wait in the outbox until it is fixed (SIGHUP to reload)",
				cfg->path, i, why);
		}
	}
	if (cfg->team_webhook_secret_file) {
		if (webhook_secret_load(cfg->team_webhook_secret_file, team, why, sizeof(why)) < 0)
			log_err(ctx, "delivery: %s: team_webhook_secret_file: %s; team webhooks wait "
				"in the outbox until it is fixed", cfg->path, why);
		else
			*have_team = 1;
	}
	*out = s;
	*n_out = cfg->n_webhooks;
	return 0;
}

/* Links in notices (RESPONSES.md): the key and what it signs for, copied like the secrets so a
 * reload can free the configuration they came from. */
struct deliver_links {
	struct linktoken_key key;
	char *public_url;
	int link_days;
};

static void deliver_links_free(struct deliver_links *l)
{
	if (!l)
		return;
	linktoken_key_clear(&l->key);
	free(l->public_url);
	free(l);
}

/* The link secret, read once here as the webhook secrets are. One that cannot be read stops the
 * links, not delivery: notices go without them, and this says why, once per start or reload.
 * *out is NULL when links are off or broken; fails only when memory runs out. */
static int deliver_load_links(struct dw_ctx *ctx, struct deliver_links **out, char *err,
			      size_t errsz)
{
	const struct config_web *w = &ctx->cfg->web;
	struct deliver_links *l;
	char why[512];

	*out = NULL;
	if (!w->public_url || !w->link_secret_file)
		return 0;
	if (!(l = calloc(1, sizeof(*l))) || !(l->public_url = strdup(w->public_url))) {
		deliver_links_free(l);
		return errmsg_set(err, errsz, "out of memory");
	}
	if (linktoken_key_load(&l->key, w->link_secret_file, why, sizeof(why)) < 0) {
		log_err(ctx, "delivery: %s: web.link_secret_file: %s; notices go without their "
			"Acknowledge, Snooze and Open links until it is fixed (SIGHUP to reload)",
			ctx->cfg->path, why);
		deliver_links_free(l);
		return 0;
	}
	l->link_days = w->link_days;
	*out = l;
	return 0;
}

/* What noticelinks.h needs, borrowed from d; NULL when links are off. */
static const struct noticelinks *deliver_noticelinks(const struct deliver *d,
						     struct noticelinks *nl)
{
	if (!d->links)
		return NULL;
	nl->public_url = d->links->public_url;
	nl->key = &d->links->key;
	nl->link_days = d->links->link_days;
	return nl;
}

static int deliver_team_role(const char *role)
{
	return role && strcmp(role, "team") == 0;
}

static const struct webhook_secret *deliver_secret_for(struct deliver *d, const char *url,
						       const char *role)
{
	for (size_t i = 0; i < d->n_secrets; i++)
		if (!d->secrets[i].broken && strcmp(d->secrets[i].url, url) == 0)
			return &d->secrets[i].secret;
	if (deliver_team_role(role) && d->have_team_secret)
		return &d->team_secret;
	return NULL;
}

static struct mail_sender *deliver_mail_new(struct deliver *d, char *err, size_t errsz,
					    int *failed)
{
	struct mail_sender *m;

	*failed = 0;
	if (!d->ctx->cfg->email.enabled)
		return NULL;
	m = mail_sender_new(d->loop, &d->ctx->cfg->email, err, errsz);
	if (!m) {
		*failed = 1;
		return NULL;
	}
	mail_sender_set_timeouts(m, 0, DELIVER_MAIL_TIMEOUT_S);
	return m;
}

/* ---- lanes ---- */

static void deliver_lane_init(struct deliver_lane *lane, size_t slots, size_t ahead,
			      long timeout_s)
{
	lane->slots = slots;
	lane->ahead = ahead > slots ? ahead : slots;
	lane->timeout_s = timeout_s;
	lane->claim_room = -1;
	lane->last_used = time(NULL);
}

/* The webhook receiver's lane, made on first use; NULL when memory ran out. */
static struct deliver_lane *deliver_lane_for(struct deliver *d, const char *url)
{
	struct deliver_lane *lane;

	for (lane = d->lanes; lane; lane = lane->next)
		if (strcmp(lane->url, url) == 0)
			return lane;
	lane = calloc(1, sizeof(*lane));
	if (!lane || !(lane->url = strdup(url))) {
		free(lane);
		return NULL;
	}
	deliver_lane_init(lane, d->webhook_slots, DELIVER_WEBHOOK_AHEAD, DELIVER_WEBHOOK_TIMEOUT_S);
	/* --once claims a receiver's whole backlog at first, as its one pass always did (the lane
	 * gives back what waits as soon as the receiver stops answering); the daemon claims a new
	 * receiver's slots' worth until it has answered once */
	lane->flowing = d->mode == DELIVER_DRAIN;
	url_redact(url, lane->shown, sizeof(lane->shown));
	lane->next = d->lanes;
	d->lanes = lane;
	return lane;
}

static long deliver_start_within_ms(const struct deliver_lane *lane);

/* Transfers a lane may run at once: its slots, or one from a transfer that timed out until
 * its receiver answers again. The loop's transfers are shared by every lane, so a receiver
 * that holds each request it gets would otherwise keep its whole share for a timeout at a
 * time, again and again, and a few such receivers (a chat service down for every team's
 * channel) would fill the loop; holding one each, they leave the rest to receivers that answer.
 * A receiver that fails fast (refused, 503) holds nothing: its slots are left as they are. */
static size_t deliver_lane_slots(const struct deliver_lane *lane)
{
	return lane->stalled ? 1 : lane->slots;
}

/* What a lane may hold, running and waiting: its slots; while its receiver answers, as many
 * more as its slots get through in half the time a claimed notice may wait (from its recent
 * transfers' duration), up to lane->ahead. A slow receiver is not given more than it can take
 * within its hold. */
static size_t deliver_lane_cap(const struct deliver_lane *lane)
{
	size_t cap;

	if (!lane->flowing)
		return deliver_lane_slots(lane);
	if (lane->avg_ms <= 0)
		return lane->ahead;
	cap = lane->slots * (size_t)(deliver_start_within_ms(lane) / 2 / lane->avg_ms);
	return cap < lane->slots ? lane->slots : cap > lane->ahead ? lane->ahead : cap;
}

/* How many more it may be given. */
static long deliver_lane_room(const struct deliver_lane *lane)
{
	size_t cap = deliver_lane_cap(lane);
	size_t used = lane->queue.n + lane->running.n;

	if (lane->spent)
		return 0;
	return used >= cap ? 0 : (long)(cap - used);
}

/* A lane is claimed for again once half of what it may hold is free. */
static int deliver_lane_hungry(const struct deliver_lane *lane)
{
	size_t cap = deliver_lane_cap(lane);
	long want = (long)(cap / 2 > 0 ? cap / 2 : 1);

	return lane->more && lane->claim_room < 0 && deliver_lane_room(lane) >= want;
}

static int deliver_lane_idle(const struct deliver_lane *lane, time_t now)
{
	return !lane->queue.n && !lane->running.n && !lane->more && lane->claim_room < 0 &&
	       now - lane->last_used > DELIVER_LANE_IDLE_S;
}

/* Lanes of receivers not heard of for a while are forgotten, so many teams' URLs over months
 * cost nothing. */
static void deliver_lanes_prune(struct deliver *d)
{
	struct deliver_lane **p = &d->lanes, *lane;
	time_t now = time(NULL);

	while ((lane = *p) != NULL) {
		if (deliver_lane_idle(lane, now)) {
			*p = lane->next;
			free(lane->url);
			free(lane);
			continue;
		}
		p = &lane->next;
	}
}

/* ---- jobs and their results ---- */

static struct deliver_job *deliver_job_new(struct deliver *d, struct deliver_lane *lane,
					   size_t n_ids)
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
	job->lane = lane;
	job->n_ids = n_ids;
	clock_gettime(CLOCK_MONOTONIC, &job->claimed);
	job->t0 = job->claimed;
	job->leased = d->lease_base.tv_sec ? d->lease_base : job->claimed;
	return job;
}

static void deliver_rows_unref(struct deliver_rows *rows)
{
	if (!rows || --rows->refs > 0)
		return;
	PQclear(rows->res);
	free(rows);
}

static void deliver_job_free(struct deliver_job *job)
{
	/* the continuation's wait for a slot starts now, not at the claim it came from */
	if (job->then) {
		job->then->after = NULL;
		clock_gettime(CLOCK_MONOTONIC, &job->then->claimed);
	}
	if (job->after)
		job->after->then = NULL;
	deliver_rows_unref(job->rows_of);
	free(job->rows);
	webhook_request_free(job->req);
	free(job->key);
	free(job->type);
	free(job->payload);
	free(job->role);
	mail_message_free(&job->msg);
	free(job->to);
	free(job->shown);
	free(job->ids);
	free(job->claims);
	free(job);
}

/* A result waits in d->results for the next statement that records them. Only the claim it came
 * from is changed by it (attempts as claimed). */
static void deliver_job_result(struct deliver_job *job, const char *outcome, const char *detail,
			       long delay_s)
{
	struct deliver *d = job->d;
	long ms = deliver_ms_since(&job->t0);
	const char *shown = job->lane && job->lane->url ? job->lane->shown : job->shown;
	char text[1024];

	if (d->mode == DELIVER_RETIRED || !d->results)
		return;
	/* kept in the outbox and mailed to the operators: no URL's credentials in it */
	snprintf(text, sizeof(text), "%s", detail ? detail : "");
	url_scrub(text, sizeof(text), job->lane ? job->lane->url : NULL);
	for (size_t i = 0; i < job->n_ids; i++) {
		json_t *r = json_pack("{s:I, s:i, s:s, s:s, s:I, s:I}", "notice_id",
				      (json_int_t)job->ids[i], "attempts", job->claims[i], "outcome",
				      outcome, "detail", text, "delay_s", (json_int_t)delay_s,
				      "duration_ms", (json_int_t)ms);

		if (r && shown)
			json_object_set_new(r, "shown", json_string(shown));
		if (r)
			json_array_append_new(d->results, r);
	}
	if (strcmp(outcome, "delivered") == 0)
		d->stats.delivered += job->n_ids;
	else if (strcmp(outcome, "retry") == 0 || strcmp(outcome, "released") == 0)
		d->stats.retried += job->n_ids;
}

/* The job leaves its lane and is freed; what follows (another job, a claim, the results
 * statement) is deliver_progress's. */
static void deliver_job_end(struct deliver_job *job)
{
	struct deliver *d = job->d;
	struct deliver_lane *lane = job->lane;

	if (lane) {
		deliver_jobq_unlink(job->started ? &lane->running : &lane->queue, job);
		lane->last_used = time(NULL);
		if (job->started) {
			long ms = deliver_ms_since(&job->t0);

			lane->avg_ms = lane->avg_ms ? (lane->avg_ms * 7 + ms) / 8 : (ms ? ms : 1);
		}
	}
	deliver_job_free(job);
	d->in_flight--;
	deliver_progress(d);
}

/* Gives a claimed notice back to the outbox unsent: due again at once, the claim not counted. */
static void deliver_job_release(struct deliver_job *job, const char *why)
{
	deliver_job_result(job, "released", why, 0);
	deliver_job_end(job);
}

/* Every notice waiting in the lane goes back to the outbox, to be claimed again as the lane
 * frees up (or under a new configuration). */
static void deliver_lane_release(struct deliver *d, struct deliver_lane *lane, const char *why)
{
	int outer = d->progressing;

	/* one progress after them all, not one per notice: nothing may start meanwhile */
	d->progressing = 1;
	while (lane->queue.head)
		deliver_job_release(lane->queue.head, why);
	d->progressing = outer;
}

static void deliver_release_all(struct deliver *d, const char *why)
{
	for (struct deliver_lane *lane = d->lanes; lane; lane = lane->next)
		deliver_lane_release(d, lane, why);
	deliver_lane_release(d, &d->mail_lane, why);
}

/* A transfer of lane timed out. The daemon goes on with one at a time (deliver_lane_slots);
 * a --once pass gives the receiver nothing more: it would try every digest or notice due,
 * each for a whole timeout (a hung relay and a first day's 3,577 digests: 15 hours), and
 * they wait in the outbox for the next run just as well. */
static void deliver_lane_timed_out(struct deliver *d, struct deliver_lane *lane)
{
	lane->stalled = 1;
	if (d->mode != DELIVER_DRAIN || lane->spent)
		return;
	lane->spent = 1;
	lane->more = 0;
	log_warn(d->ctx, "outbox: %s timed out; this run gives it nothing more, and what is due "
		 "for it waits in the outbox for the next run", lane->shown);
}

/* The delay before the next try of job's notices: exponential backoff with jitter, never sooner
 * than a receiver's Retry-After, but never past the notice's age limit less a minute, so that a
 * last try is made at all (a receiver asking for 999999999 s would otherwise fail it at once).
 * *capped says the delay was shortened to fit; *no_time that none is left (the delay then
 * reaches past the limit, and recording the result fails the notice as usual). */
static long deliver_delay(struct deliver *d, const struct deliver_job *job, long retry_after,
			  int *capped, int *no_time, long *left_s)
{
	long delay = backoff_delay(&d->backoff, job->attempts ? job->attempts - 1 : 0,
					   retry_after, backoff_rand_splitmix64, &d->rnd);
	long left = d->backoff.horizon_s - job->age_s - deliver_ms_since(&job->claimed) / 1000 -
		    DELIVER_LAST_TRY_S;

	*capped = *no_time = 0;
	*left_s = left;
	if (d->backoff.horizon_s <= 0 || delay <= left)
		return delay;
	if (left > 0) {
		*capped = 1;
		return left;
	}
	*no_time = 1;
	return d->backoff.horizon_s;
}

/* Records a retry of job, logging what happens next under prefix ("webhook", "email"). */
static void deliver_job_retry(struct deliver_job *job, int prio, const char *prefix,
			      const char *reason, long retry_after)
{
	struct deliver *d = job->d;
	int capped, no_time;
	long left;
	long delay = deliver_delay(d, job, retry_after, &capped, &no_time, &left);

	if (no_time)
		log_write(d->ctx->log_level, prio, "%s %s; no time is left to retry it within its "
			  "%ld s age limit: it fails", prefix, reason, d->backoff.horizon_s);
	else if (capped && retry_after > delay)
		log_write(d->ctx->log_level, prio, "%s %s; the %ld s asked for are capped at %ld s, "
			  "the notice's remaining age: will retry then", prefix, reason,
			  retry_after, delay);
	else
		log_write(d->ctx->log_level, prio, "%s %s, will retry in %ld s", prefix, reason,
			  delay);
	deliver_job_result(job, "retry", reason, delay);
}

/* ---- webhooks ---- */

static void deliver_on_webhook(CURL *easy, CURLcode result, long code, void *arg)
{
	struct deliver_job *job = arg;
	struct deliver *d = job->d;
	struct deliver_lane *lane = job->lane;
	struct webhook_outcome out;

	(void)easy;
	webhook_request_classify(job->req, result, code, time(NULL), &out);
	if (result == CURLE_OPERATION_TIMEDOUT)
		deliver_lane_timed_out(d, lane);
	else if (out.verdict != WEBHOOK_CANCELLED)
		lane->stalled = 0;
	switch (out.verdict) {
	case WEBHOOK_DELIVERED:
		d->stats.webhooks_delivered++;
		d->ctx->metrics.deliveries_total[1]++;
		lane->flowing = 1;
		deliver_job_result(job, "delivered", out.reason, 0);
		break;
	case WEBHOOK_CANCELLED:
		deliver_job_result(job, "retry", "cancelled at shutdown", 0);
		break;
	case WEBHOOK_MISCONFIGURED:
		lane->flowing = 0;
		deliver_job_retry(job, LOG_PRIO_ERR, "webhook", out.reason, out.retry_after_s);
		break;
	case WEBHOOK_RETRY:
		lane->flowing = 0;
		deliver_job_retry(job, LOG_PRIO_WARNING, "webhook", out.reason, out.retry_after_s);
		break;
	case WEBHOOK_GONE:
		lane->flowing = 0;
		log_err(d->ctx, "webhook %s: endpoint disabled until an operator re-enables it",
			out.reason);
		deliver_job_result(job, "gone", out.reason, 0);
		break;
	case WEBHOOK_REJECTED:
		log_err(d->ctx, "webhook %s", out.reason);
		deliver_job_result(job, "failed", out.reason, 0);
		break;
	}
	/* a receiver that stopped answering keeps only what its slots hold: the rest goes back,
	 * to be claimed as its slots free up, and never waits behind the stall for its lease */
	if (!lane->flowing && d->mode != DELIVER_RETIRED)
		deliver_lane_release(d, lane, "its receiver stopped answering");
	deliver_job_end(job);
}

/* The envelope's "timestamp" is when the event occurred, not when this attempt is made (that is
 * the webhook-timestamp header's): Standard Webhooks says so, and a receiver that orders or
 * deduplicates by the body saw it change between retries of one webhook-id (audit 19, F3). A
 * notice claimed without it (it cannot be: the claim returns it) goes with the attempt's time. */
static char *deliver_webhook_body(struct deliver *d, const char *type, const char *payload,
				  const char *occurred, time_t now)
{
	char stamp[32], why[256];
	json_error_t jerr;
	json_t *data = json_loads(payload, 0, &jerr);
	struct noticelinks nl;
	json_t *o;
	char *text;

	if (!data)
		return NULL;
	/* links are added as the request is made, not recorded with the notice: a notice recorded
	 * before links were configured gets them, and one without them goes as it was */
	if (noticelinks_webhook_actions(deliver_noticelinks(d, &nl), type, data, why,
					sizeof(why)) < 0)
		log_warn(d->ctx, "webhook: %s notice for alert %s goes without links: %s", type,
			 str_or(json_string_value(json_object_get(data, "fingerprint")), "?"),
			 why);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S.000000Z", gmtime(&now));
	o = json_pack("{s:s, s:s, s:o}", "type", type, "timestamp",
		      occurred && *occurred ? occurred : stamp, "data", data);
	if (!o)
		return NULL;
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* Row columns of outbox_claim_webhook.sql and outbox_claim_email.sql; then CL_NOTICE (the
 * notice's words, notice.h) in the email claim, CL_DISABLED in the webhook claim. */
enum { CL_ID, CL_KEY, CL_CHANNEL, CL_DEST, CL_ROLE, CL_TYPE, CL_PAYLOAD, CL_DIGEST, CL_ATTEMPTS,
       CL_AGE, CL_CLAIMED_AT, CL_NOTICE, CL_DISABLED = CL_NOTICE, CL_OCCURRED_AT };

/* A job with no lane of its own (memory ran out, or its receiver is disabled: never sent) still
 * gets its result. */
static struct deliver_job *deliver_job_orphan(struct deliver *d, PGresult *res, int r)
{
	struct deliver_job *job = deliver_job_new(d, NULL, 1);

	if (!job)
		return NULL;
	job->ids[0] = atoll(PQgetvalue(res, r, CL_ID));
	job->claims[0] = atoi(PQgetvalue(res, r, CL_ATTEMPTS));
	job->attempts = (unsigned)job->claims[0];
	job->age_s = atol(PQgetvalue(res, r, CL_AGE));
	d->in_flight++;
	return job;
}

/* Puts a claimed job at the end of its lane's queue (or releases it when stopping). */
static void deliver_enqueue(struct deliver *d, struct deliver_job *job)
{
	d->in_flight++;
	deliver_jobq_push(&job->lane->queue, job);
	if (d->mode == DELIVER_STOPPING)
		deliver_job_release(job, "the daemon is stopping");
}

static char *deliver_dup_value(PGresult *res, int r, int col)
{
	return PQgetisnull(res, r, col) ? NULL : strdup(PQgetvalue(res, r, col));
}

/* Makes and signs a started webhook job's request, now: receivers reject a webhook-timestamp
 * more than five minutes old, and a notice may wait in its lane. */
static int deliver_webhook_request(struct deliver *d, struct deliver_job *job, char *err,
				   size_t errsz)
{
	const struct webhook_secret *secret = deliver_secret_for(d, job->lane->url, job->role);
	struct webhook_http_opts opts = { 10000, DELIVER_WEBHOOK_TIMEOUT_S * 1000L, NULL, 0 };
	time_t now = time(NULL);

	/* a team's URL came from the case data: its name was allowed, now its address is checked */
	opts.refuse_local = deliver_team_role(job->role) &&
			    d->ctx->cfg->team_hosts_limited &&
			    !hostmatch_named_exactly(job->lane->url, d->ctx->cfg->team_allowed_hosts);
	char *body;

	/* a team's URL without team_webhook_secret_file goes unsigned, as ALERTS.md has it */
	if (!secret && !deliver_team_role(job->role)) {
		snprintf(err, errsz, "%s: no secret is configured for this webhook",
			 job->lane->shown);
		return -1;
	}
	body = job->format == CHAT_STANDARD ? deliver_webhook_body(d, job->type, job->payload,
								    job->occurred, now)
					    : strdup(job->payload);
	if (!body) {
		snprintf(err, errsz, "%s: out of memory building the request", job->lane->shown);
		return -1;
	}
	job->req = webhook_request_new(job->lane->url, secret, job->key, (long long)now, body,
				       &opts, err, errsz);
	free(body);
	return job->req ? 0 : -1;
}

/* Why a webhook's notice cannot be signed: a URL the configuration no longer names (a webhook
 * removed or rotated; a notice recorded for it waits in case it comes back) or one with no
 * secret. */
static void deliver_unsigned_why(const struct deliver *d, const struct deliver_lane *lane,
				 const char *role, char *err, size_t errsz)
{
	const struct dw_config *cfg = d->ctx->cfg;
	int named = deliver_team_role(role);

	for (size_t i = 0; !named && i < cfg->n_webhooks; i++)
		named = strcmp(cfg->webhooks[i].url, lane->url) == 0;
	if (named)
		snprintf(err, errsz, "%s: no secret is configured for this webhook", lane->shown);
	else
		snprintf(err, errsz, "%s: this webhook is no longer in the configuration "
			 "(webhooks[]), so nothing signs its notices: they wait for it to come back, "
			 "and fail at delivery.max_age_hours", lane->shown);
}

/* A lane that cannot sign says so at error level once in ten minutes, not once a notice: a
 * removed webhook's backlog wrote a thousand lines in half a minute. */
static int deliver_unsigned_prio(struct deliver_lane *lane)
{
	time_t now = time(NULL);

	if (lane->said_unsigned && now - lane->said_unsigned < 600)
		return LOG_PRIO_DEBUG;
	lane->said_unsigned = now;
	return LOG_PRIO_ERR;
}

static void deliver_queue_webhook(struct deliver *d, PGresult *res, int r,
				  struct deliver_lane *lane)
{
	struct deliver_job *job;
	char err[512] = "out of memory";
	int ok, unsigned_ = 0;

	if (!lane) {
		job = deliver_job_orphan(d, res, r);
		if (job)
			deliver_job_release(job, "out of memory");
		return;
	}
	job = deliver_job_new(d, lane, 1);
	if (!job)
		return;
	job->ids[0] = atoll(PQgetvalue(res, r, CL_ID));
	job->claims[0] = atoi(PQgetvalue(res, r, CL_ATTEMPTS));
	job->attempts = (unsigned)job->claims[0];
	job->age_s = atol(PQgetvalue(res, r, CL_AGE));
	job->webhook = 1;
	job->key = deliver_dup_value(res, r, CL_KEY);
	job->type = deliver_dup_value(res, r, CL_TYPE);
	job->payload = deliver_dup_value(res, r, CL_PAYLOAD);
	if (PQnfields(res) > CL_OCCURRED_AT && !PQgetisnull(res, r, CL_OCCURRED_AT))
		snprintf(job->occurred, sizeof(job->occurred), "%s",
			 PQgetvalue(res, r, CL_OCCURRED_AT));
	job->role = deliver_dup_value(res, r, CL_ROLE);
	ok = job->key && job->type && job->payload;
	/* a webhook no secret signs is known now: it waits for an operator, not for a slot */
	if (ok && !deliver_secret_for(d, lane->url, job->role) && !deliver_team_role(job->role)) {
		deliver_unsigned_why(d, lane, job->role, err, sizeof(err));
		unsigned_ = 1;
		ok = 0;
	}
	deliver_enqueue(d, job);
	/* stopping, the job was released (and freed) at once */
	if (d->mode == DELIVER_STOPPING || ok)
		return;
	/* the job is the queue's last: nothing started can have ended it */
	deliver_job_retry(job, unsigned_ ? deliver_unsigned_prio(lane) : LOG_PRIO_ERR, "webhook",
			  err, -1);
	deliver_job_end(job);
}

/* ---- email digests ---- */

static void deliver_on_mail(enum mail_outcome outcome, int timed_out, const char *msg,
			    void *arg)
{
	struct deliver_job *job = arg;
	struct deliver *d = job->d;
	struct deliver_lane *lane = job->lane;

	/* as a webhook lane's (deliver_lane_slots): a relay that accepts and never answers holds
	 * one connection at a time until it answers, not every mail slot for each timeout */
	if (timed_out)
		deliver_lane_timed_out(d, lane);
	else
		lane->stalled = 0;
	switch (outcome) {
	case MAIL_DELIVERED:
		d->stats.emails_sent++;
		d->ctx->metrics.deliveries_total[0]++;
		lane->flowing = 1;
		deliver_job_result(job, "delivered", msg, 0);
		break;
	case MAIL_RETRY:
		lane->flowing = 0;
		deliver_job_retry(job, LOG_PRIO_WARNING, "email", msg, -1);
		break;
	case MAIL_PERMANENT:
		log_err(d->ctx, "email %s", msg);
		deliver_job_result(job, "failed", msg, 0);
		break;
	case MAIL_NO_MAILBOX:
		/* failed as any refusal; outbox_result.sql also sends an alert's notices on to
		 * the fallback address, which the log line of the failure names */
		log_err(d->ctx, "email %s", msg);
		deliver_job_result(job, "refused", msg, 0);
		break;
	}
	if (!lane->flowing && d->mode != DELIVER_RETIRED)
		deliver_lane_release(d, lane, "the mail server stopped answering");
	deliver_job_end(job);
}

/* What the notices of a report were: their type, or "notices of N types". */
static const char *deliver_ops_types(const json_t *payload, char *buf, size_t len)
{
	const json_t *types = json_object_get(payload, "types");

	if (json_array_size(types) > 1) {
		snprintf(buf, len, "of %zu types", json_array_size(types));
		return buf;
	}
	return str_or(json_string_value(json_object_get(payload, "type")), "?");
}

/* A report to the operators reads like a notice: what failed, where, and why. One report
 * stands for every notice of a result that failed to the same receiver for the same reason
 * ("count", from outbox_result.sql; a report made before had none, and was one notice); it
 * names the first, whose alert it carries. The destination is shown as url_redact shows it,
 * whatever the report holds. */
static json_t *deliver_ops_alert(const json_t *payload)
{
	const json_t *alert = json_object_get(payload, "alert");
	const char *channel = str_or(json_string_value(json_object_get(payload, "channel")), "?");
	const char *dest = str_or(json_string_value(json_object_get(payload, "destination")), "?");
	const char *error = str_or(json_string_value(json_object_get(payload, "error")),
				   "unknown error");
	json_int_t n = json_integer_value(json_object_get(payload, "count"));
	json_int_t first = json_integer_value(json_object_get(payload, "notice_id"));
	const char *child = str_or(json_string_value(json_object_get(alert, "child_id")), "-");
	char summary[1024], shown[URL_SHOWN_MAX], types[64];

	if (strcmp(channel, "webhook") == 0)
		dest = url_redact(dest, shown, sizeof(shown));
	if (n <= 1) {
		/* the rule and stage say what was lost: a 15-month escalation, or a reminder */
		const char *rule = json_string_value(json_object_get(alert, "rule"));
		const char *stage = json_string_value(json_object_get(alert, "stage"));

		snprintf(summary, sizeof(summary), "%s %s notice (%s%s%s%s%s) to %s could not be "
			 "delivered: %s", strcmp(channel, "email") == 0 ? "An" : "A", channel,
			 deliver_ops_types(payload, types, sizeof(types)), rule ? ", " : "",
			 rule ? rule : "", rule && stage ? " " : "", rule && stage ? stage : "", dest,
			 error);
		url_scrub(summary, sizeof(summary), NULL);
		return json_pack("{s:s, s:s, s:s, s:O?, s:O?, s:s, s:{}}", "rule", "delivery",
				 "stage", "failed", "child_id", child, "link",
				 json_object_get(alert, "link"), "subject_id",
				 json_object_get(alert, "subject_id"), "summary", summary, "facts");
	}
	/* many children's notices: the item is about none of them */
	snprintf(summary, sizeof(summary), "%" JSON_INTEGER_FORMAT " %s notices (%s) to %s could "
		 "not be delivered: %s (notice %" JSON_INTEGER_FORMAT ", about child %s, and %"
		 JSON_INTEGER_FORMAT " more)", n, channel,
		 deliver_ops_types(payload, types, sizeof(types)), dest, error, first, child, n - 1);
	url_scrub(summary, sizeof(summary), NULL);
	return json_pack("{s:s, s:s, s:s, s:s, s:{s:I}}", "rule", "delivery", "stage", "failed",
			 "child_id", "-", "summary", summary, "facts", "notices", n);
}

static const char *deliver_pages_url(const struct deliver *d);

/* A digest's notice's alert. Only its head is read (mail_notice_head_keys): a first day's
 * digest for a head of service holds tens of thousands, and every alert parsed whole took
 * the daemon to 700 MB; mail_notice_alert reads the whole one from the claim's row for the
 * few shown in full and the rows of the list attached. An undelivered notice's report is
 * made whole here, from the notice it reports on. */
static int deliver_digest_alert(PGresult *res, int r, const char *type, json_t **alert,
				struct mail_notice *n)
{
	const char *payload = PQgetvalue(res, r, CL_PAYLOAD);
	size_t len = (size_t)PQgetlength(res, r, CL_PAYLOAD);
	json_t *whole;

	n->alert_text = NULL;
	n->alert_len = 0;
	if (strcmp(type, "delivery.failed") != 0) {
		*alert = jsontext_pick(payload, len, mail_notice_head_keys);
		n->alert_text = payload;
		n->alert_len = len;
		return *alert ? 0 : -1;
	}
	whole = json_loadb(payload, len, 0, NULL);
	*alert = whole ? deliver_ops_alert(whole) : NULL;
	json_decref(whole);
	return *alert ? 0 : -1;
}

/* The notices of a digest whose attached list was cut to fit email.max_message_bytes are not
 * all told of: it goes with those it tells of (composed again without the others), and the
 * others make the next digest to the same person, from the same claim (a continuation). They
 * were marked delivered with it: 458 of 600 children were never named to their supervisor.
 * rows, notices and the job's ids are kept in step; the rows left out are added to rest. */
static int deliver_digest_split(struct deliver *d, struct deliver_job *job,
				struct mail_notice *notices, int *rows, const struct mail_options *o,
				int *rest, size_t *n_rest, char *err, size_t errsz)
{
	size_t n = job->n_ids, told = 0;
	unsigned char *untold = calloc(n, 1);

	if (!untold)
		return -1;
	for (size_t i = 0; i < job->msg.n_untold; i++)
		if (job->msg.untold[i] < n)
			untold[job->msg.untold[i]] = 1;
	for (size_t i = 0; i < n; i++) {
		if (untold[i]) {
			rest[(*n_rest)++] = rows[i];
			continue;
		}
		notices[told] = notices[i];
		rows[told] = rows[i];
		job->ids[told] = job->ids[i];
		job->claims[told++] = job->claims[i];
	}
	free(untold);
	job->n_ids = told;
	mail_message_free(&job->msg);
	return mail_compose_with(d->ctx->cfg->email.from, job->to, time(NULL), o, notices, told,
				 &job->msg, err, errsz);
}

/* A digest job for rows[0..n) of an email claim, not composed yet. */
static struct deliver_job *deliver_digest_job(struct deliver *d, PGresult *res, const int *rows,
					      size_t n)
{
	struct deliver_job *job = deliver_job_new(d, &d->mail_lane, n);

	if (!job)
		return NULL;
	if (!(job->to = strdup(PQgetvalue(res, rows[0], CL_DEST)))) {
		deliver_job_free(job);
		return NULL;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned att = (unsigned)atoi(PQgetvalue(res, rows[i], CL_ATTEMPTS));
		long age = atol(PQgetvalue(res, rows[i], CL_AGE));

		job->ids[i] = atoll(PQgetvalue(res, rows[i], CL_ID));
		job->claims[i] = (int)att;
		job->attempts = att > job->attempts ? att : job->attempts;
		job->age_s = age > job->age_s ? age : job->age_s;
	}
	return job;
}

/* Composes job's message from its rows of res (rows: in step with its ids, and rewritten as
 * they are). The notices it cannot tell of (deliver_digest_split) leave the job: their rows are
 * written to rest, *n_rest of them. */
static int deliver_digest_compose(struct deliver *d, struct deliver_job *job, PGresult *res,
				  int *rows, int *rest, size_t *n_rest, char *err, size_t errsz)
{
	size_t n = job->n_ids, ok = 0;
	struct mail_notice *notices = calloc(n, sizeof(*notices));
	json_t **alerts = calloc(n, sizeof(*alerts));
	json_t **words = calloc(n, sizeof(*words));
	struct noticelinks nl;
	struct mail_options opts;
	int rc = -1;

	snprintf(err, errsz, "out of memory composing the digest");
	for (size_t i = 0; notices && alerts && words && i < n; i++) {
		json_error_t jerr;
		int r = rows[i];
		const char *type = PQgetvalue(res, r, CL_TYPE);

		if (deliver_digest_alert(res, r, type, &alerts[i], &notices[ok]) < 0)
			continue;
		/* a notice recorded before notices kept their words has none: mail_compose copes */
		if (!PQgetisnull(res, r, CL_NOTICE))
			words[i] = json_loads(PQgetvalue(res, r, CL_NOTICE), 0, &jerr);
		notices[ok].type = type;
		notices[ok].alert = alerts[i];
		notices[ok].notice = words[i];
		notices[ok].key = PQgetvalue(res, r, CL_KEY);
		ok++;
	}
	opts.links = deliver_noticelinks(d, &nl);
	opts.pages_url = deliver_pages_url(d);
	opts.max_items = (size_t)d->ctx->cfg->email.digest_max_items;
	opts.max_message_bytes = (size_t)d->ctx->cfg->email.max_message_bytes;
	if (ok == n && n > 0)
		rc = mail_compose_with(d->ctx->cfg->email.from, job->to, time(NULL), &opts, notices,
				       n, &job->msg, err, errsz);
	for (int round = 0; rc == 0 && job->msg.n_untold && job->n_ids > 1 && round < 3; round++)
		rc = deliver_digest_split(d, job, notices, rows, &opts, rest, n_rest, err, errsz);
	for (size_t i = 0; alerts && i < n; i++)
		json_decref(alerts[i]);
	for (size_t i = 0; words && i < n; i++)
		json_decref(words[i]);
	free(alerts);
	free(words);
	free(notices);
	return rc;
}

/* The notices rest[0..n) of job's digest wait, uncomposed, for job's message to be done, as a
 * job of their own in the same lane: held and renewed as any, started only after job. rows is
 * NULL when the claim's result could not be kept for them. */
static void deliver_digest_park(struct deliver *d, struct deliver_job *job,
				struct deliver_rows *rows, const int *rest, size_t n)
{
	struct deliver_job *next = rows ? deliver_digest_job(d, rows->res, rest, n) : NULL;

	if (!next || !(next->rows = calloc(n, sizeof(*next->rows)))) {
		/* left 'delivering': they go again once their lease runs out, as after a crash */
		log_err(d->ctx, "email to %s: out of memory keeping %zu notices for the next digest; "
			"they are sent once their lease runs out", job->to, n);
		if (next)
			deliver_job_free(next);
		return;
	}
	memcpy(next->rows, rest, n * sizeof(*rest));
	next->rows_of = rows;
	rows->refs++;
	next->after = job;
	job->then = next;
	log_notice(d->ctx, "email to %s: %zu notices did not fit in its digest "
		   "(email.max_message_bytes): they go in the next one", job->to, n);
	deliver_enqueue(d, next);
}

/* The claim being read: its result is kept only if a continuation needs it. */
struct deliver_claim_read {
	struct db_conn *conn;
	PGresult *res;
	struct deliver_rows *kept;
};

static struct deliver_rows *deliver_claim_keep(struct deliver_claim_read *c)
{
	if (c->kept)
		return c->kept;
	if (!(c->kept = calloc(1, sizeof(*c->kept))))
		return NULL;
	c->kept->res = c->res;
	c->kept->refs = 1; /* the claim's own, let go once it is read */
	db_keep_result(c->conn);
	return c->kept;
}

/* A person's digest of rows[0..n) of the claim; what it cannot tell of waits for it to be
 * sent (deliver_digest_park). A digest not composed is retried whole. */
static void deliver_queue_digest(struct deliver *d, struct deliver_claim_read *c,
				 const int *rows, size_t n)
{
	struct deliver_job *job = deliver_digest_job(d, c->res, rows, n);
	int *mine = calloc(n, sizeof(*mine)), *rest = calloc(n, sizeof(*rest));
	size_t n_rest = 0;
	char err[512] = "out of memory composing the digest";
	int rc;

	if (!job || !mine || !rest) {
		/* left 'delivering': they go again once their lease runs out, as after a crash */
		log_err(d->ctx, "email to %s: out of memory taking %zu notices; they are sent once "
			"their lease runs out", PQgetvalue(c->res, rows[0], CL_DEST), n);
		if (job)
			deliver_job_free(job);
		goto out;
	}
	if (d->mode == DELIVER_STOPPING) {
		deliver_enqueue(d, job); /* released at once, whole */
		goto out;
	}
	memcpy(mine, rows, n * sizeof(*mine));
	rc = deliver_digest_compose(d, job, c->res, mine, rest, &n_rest, err, sizeof(err));
	deliver_enqueue(d, job);
	if (n_rest > 0)
		deliver_digest_park(d, job, deliver_claim_keep(c), rest, n_rest);
	if (rc < 0) {
		char line[700];

		snprintf(line, sizeof(line), "to %s: %s", job->to, err);
		deliver_job_retry(job, LOG_PRIO_ERR, "email", line, -1);
		deliver_job_end(job);
	}
out:
	free(mine);
	free(rest);
}

/* Composes a continuation as it starts: the message before it is done, so one person's
 * notices are one message at a time in memory, whatever their number. */
static int deliver_digest_resume(struct deliver *d, struct deliver_job *job, char *err,
				 size_t errsz)
{
	struct deliver_rows *rows = job->rows_of;
	int *rest = calloc(job->n_ids, sizeof(*rest));
	size_t n_rest = 0;
	char why[400] = "out of memory composing the digest";
	int rc = -1;

	if (rest)
		rc = deliver_digest_compose(d, job, rows->res, job->rows, rest, &n_rest, why,
					    sizeof(why));
	if (n_rest > 0)
		deliver_digest_park(d, job, rows, rest, n_rest);
	free(rest);
	free(job->rows);
	job->rows = NULL;
	job->rows_of = NULL;
	deliver_rows_unref(rows);
	if (rc < 0)
		snprintf(err, errsz, "to %s: %s", job->to, why);
	return rc;
}

struct deliver_row_id {
	long long id;
	int row;
};

static int deliver_row_id_cmp(const void *pa, const void *pb)
{
	const struct deliver_row_id *a = pa, *b = pb;

	return (a->id > b->id) - (a->id < b->id);
}

/* The claim's rows in the order their notices were recorded. A digest lists its notices in
 * the order given (within its sections), and an UPDATE returns its rows in the plan's order,
 * not the same from one claim to the next: sorted, the same notices make the same message. */
static int *deliver_rows_recorded(PGresult *res, int n)
{
	struct deliver_row_id *by = calloc((size_t)n + 1, sizeof(*by));
	int *order = by ? calloc((size_t)n + 1, sizeof(*order)) : NULL;

	for (int r = 0; order && r < n; r++) {
		by[r].id = atoll(PQgetvalue(res, r, CL_ID));
		by[r].row = r;
	}
	if (order)
		qsort(by, (size_t)n, sizeof(*by), deliver_row_id_cmp);
	for (int r = 0; order && r < n; r++)
		order[r] = by[r].row;
	free(by);
	return order;
}

/* One digest per recipient and digest key in the claim; returns how many. The caller lets go
 * of c->kept once it is done with the claim's result. */
static size_t deliver_queue_digests(struct deliver *d, struct deliver_claim_read *c)
{
	PGresult *res = c->res;
	int n = PQntuples(res);
	size_t digests = 0;
	int *rows = calloc((size_t)n + 1, sizeof(*rows));
	char *done = calloc((size_t)n + 1, 1);
	int *order = deliver_rows_recorded(res, n);

	if (!rows || !done || !order)
		goto out;
	for (int i = 0; i < n; i++) {
		int first = order[i];
		size_t k = 0;

		if (done[first])
			continue;
		for (int j = i; j < n; j++) {
			int r = order[j];

			if (done[r] ||
			    strcmp(PQgetvalue(res, r, CL_DEST), PQgetvalue(res, first, CL_DEST)) != 0 ||
			    strcmp(PQgetvalue(res, r, CL_DIGEST), PQgetvalue(res, first, CL_DIGEST)) != 0)
				continue;
			rows[k++] = r;
			done[r] = 1;
		}
		deliver_queue_digest(d, c, rows, k);
		digests++;
	}
out:
	free(rows);
	free(done);
	free(order);
	return digests;
}

/* Email notices without a mail server configured stay in the outbox, tried again hourly:
 * nothing is lost, and --check-config and the summary say why they wait. */
static void deliver_hold_email(struct deliver *d, PGresult *res)
{
	for (int r = 0; r < PQntuples(res); r++) {
		struct deliver_job *job = deliver_job_orphan(d, res, r);

		if (!job)
			continue;
		deliver_job_result(job, "retry", "no \"email\" section in the configuration",
				   DELIVER_NO_MAIL_RETRY_S);
		deliver_job_end(job);
	}
}

/* ---- starting transfers ---- */

/* Hands one job to the loop: a webhook's signed request, or a digest through mail_send. */
static int deliver_job_start(struct deliver_job *job, char *err, size_t errsz)
{
	struct deliver *d = job->d;

	clock_gettime(CLOCK_MONOTONIC, &job->t0);
	if (job->webhook) {
		if (deliver_webhook_request(d, job, err, errsz) < 0)
			return -1;
		if (curl_loop_add(d->loop, webhook_request_easy(job->req), deliver_on_webhook,
				  job) == 0)
			return 0;
		snprintf(err, errsz, "%s: the transfer loop refused it", job->lane->shown);
		return -1;
	}
	if (!d->mail) {
		snprintf(err, errsz, "to %s: no mail server is configured any more", job->to);
		return -1;
	}
	if (job->rows_of && deliver_digest_resume(d, job, err, errsz) < 0)
		return -1;
	if (mail_send(d->mail, job->to, &job->msg, deliver_on_mail, job, err, errsz) < 0)
		return -1;
	/* the transfer holds its own copy: a first day's continuations of one large digest are
	 * several messages of email.max_message_bytes each, not to be held twice */
	free(job->msg.data);
	job->msg.data = NULL;
	return 0;
}

/* A job waits in its lane from its claim, then runs for at most its lane's timeout. One not
 * started within this many milliseconds of its claim is released: its lane is slower than
 * the others can be, and another deliverer may have room for it. */
static long deliver_start_within_ms(const struct deliver_lane *lane)
{
	return (DELIVER_HOLD_S - lane->timeout_s - DELIVER_RECORD_MARGIN_S) * 1000L;
}

static long deliver_lease_ms(const struct deliver *d)
{
	return d->ctx->cfg->delivery_lease_s * 1000L;
}

/* A job starts only while a good part of its lease is left: its renewals go on while it is
 * sent, but one whose lease was not renewed for three turns in a row (the delivery
 * connection down, or its statements held) may already be another deliverer's. */
static int deliver_lease_short(const struct deliver *d, const struct deliver_job *job)
{
	long left = deliver_lease_ms(d) - deliver_ms_since(&job->leased);

	return left < deliver_lease_ms(d) / DELIVER_RENEWALS;
}

/* A lane with waiting jobs and a free slot may start one; the loop's last transfers
 * (d->reserve) are kept for lanes that have none running. Receivers that answered and then hung
 * hold what they had started until their timeouts; without the reserve, enough of them at once
 * would leave nothing for a receiver whose notice comes a moment later. */
/* The first job waiting in lane that may start: not a continuation whose message before it is
 * still being sent. */
static struct deliver_job *deliver_lane_ready(const struct deliver_lane *lane)
{
	struct deliver_job *job = lane->queue.head;

	while (job && job->after)
		job = job->next;
	return job;
}

static int deliver_lane_may_start(const struct deliver *d, const struct deliver_lane *lane,
				  size_t free_now)
{
	if (!deliver_lane_ready(lane) || lane->running.n >= deliver_lane_slots(lane))
		return 0;
	return lane->running.n == 0 || free_now > d->reserve;
}

/* The lane that may start a job and has the fewest running. */
static struct deliver_lane *deliver_next_lane(struct deliver *d, size_t free_now)
{
	struct deliver_lane *best = NULL, *lane;

	for (lane = d->lanes;; lane = lane->next) {
		if (!lane)
			lane = &d->mail_lane;
		if (deliver_lane_may_start(d, lane, free_now) &&
		    (!best || lane->running.n < best->running.n))
			best = lane;
		if (lane == &d->mail_lane)
			break;
	}
	return best;
}

/* Starts waiting jobs while the loop has room, each time on the lane with the fewest running.
 * A lane never runs more than its slots (one after a transfer timed out), so one whose
 * receiver holds every request keeps only those, and every slot that frees up elsewhere goes to
 * a receiver that answers. */
static void deliver_pump(struct deliver *d)
{
	char err[512];

	if (d->mode != DELIVER_RUN && d->mode != DELIVER_DRAIN)
		return;
	for (;;) {
		size_t used = curl_loop_running(d->loop) + curl_loop_queued(d->loop);
		size_t max = curl_loop_max(d->loop);
		struct deliver_lane *lane;
		struct deliver_job *job;

		if (used >= max)
			break;
		lane = deliver_next_lane(d, max - used);
		if (!lane)
			break;
		job = deliver_lane_ready(lane);
		if (deliver_ms_since(&job->claimed) > deliver_start_within_ms(lane)) {
			d->released_late += job->n_ids;
			deliver_job_release(job, "it waited too long for a transfer slot");
			continue;
		}
		if (deliver_lease_short(d, job)) {
			d->released_unrenewed += job->n_ids;
			deliver_job_release(job, "its lease could not be renewed");
			continue;
		}
		deliver_jobq_unlink(&lane->queue, job);
		deliver_jobq_push(&lane->running, job);
		job->started = 1;
		if (deliver_job_start(job, err, sizeof(err)) < 0) {
			/* a loop being freed refuses every waiting job: one line says so */
			int capped, no_time;
			long left;

			if (d->start_failures++ == 0)
				log_err(d->ctx, "%s %s", job->webhook ? "webhook" : "email", err);
			deliver_job_result(job, "retry", err,
					   deliver_delay(d, job, -1, &capped, &no_time, &left));
			deliver_job_end(job);
		}
	}
}

/* ---- leases ---- */

/* Calls fn on every job held: waiting in a lane or running. */
static void deliver_each_job(struct deliver *d, void (*fn)(struct deliver_job *, void *),
			     void *arg)
{
	for (struct deliver_lane *lane = d->lanes;; lane = lane->next) {
		struct deliver_job *job, *next;

		if (!lane)
			lane = &d->mail_lane;
		for (int q = 0; q < 2; q++)
			for (job = q ? lane->running.head : lane->queue.head; job; job = next) {
				next = job->next;
				fn(job, arg);
			}
		if (lane == &d->mail_lane)
			break;
	}
}

struct deliver_renewal {
	struct strbuf ids;
	struct strbuf claims;
	size_t n;
	long long *renewed;           /* the answer's notices, sorted */
	size_t n_renewed;
};

/* Held notices come from jobs (job set) and from results not yet recorded (job NULL). */
typedef void (*deliver_held_fn)(struct deliver_job *job, long long id, long long attempts,
				void *arg);

struct deliver_held_walk {
	deliver_held_fn fn;
	void *arg;
};

static void deliver_held_job(struct deliver_job *job, void *arg)
{
	struct deliver_held_walk *w = arg;

	for (size_t i = 0; i < job->n_ids; i++)
		w->fn(job, job->ids[i], job->claims[i], w->arg);
}

static void deliver_held_results(json_t *results, struct deliver_held_walk *w)
{
	size_t i;
	json_t *res;

	json_array_foreach(results, i, res)
		w->fn(NULL, (long long)json_integer_value(json_object_get(res, "notice_id")),
		      (long long)json_integer_value(json_object_get(res, "attempts")), w->arg);
}

/* Calls fn on every notice this deliverer holds: waiting in a lane, being sent, or sent and
 * waiting for its result to be recorded (d->results, and with `recording` d->recording, whose
 * statement is in flight). Notices waiting for their results are still held: a slow result
 * statement ahead of them must not let their lease run out, or a claim would send them again. */
static void deliver_each_held(struct deliver *d, int recording, deliver_held_fn fn, void *arg)
{
	struct deliver_held_walk w = { fn, arg };

	deliver_each_job(d, deliver_held_job, &w);
	deliver_held_results(d->results, &w);
	if (recording)
		deliver_held_results(d->recording, &w);
}

static void deliver_renewal_add(struct deliver_job *job, long long id, long long attempts,
				void *arg)
{
	struct deliver_renewal *r = arg;

	if (job)
		job->renew_seq = job->d->renew_seq;
	strbuf_printf(&r->ids, "%s%lld", r->n ? "," : "", id);
	strbuf_printf(&r->claims, "%s%lld", r->n ? "," : "", attempts);
	r->n++;
}

static void deliver_on_renewed(struct db_conn *conn, PGresult *res, void *arg);

/* Renews the lease of everything held, in one statement on the delivery connection. While
 * one is in flight, or the connection is down, the turn is skipped: jobs whose lease runs
 * short are not started (deliver_lease_short). */
static void deliver_renew(struct deliver *d)
{
	struct deliver_renewal r = { .n = 0 };
	char lease[16];
	const char *params[3];
	char *ids, *claims;

	if (d->renewing || (!d->in_flight && !json_array_size(d->results)) || !db_is_up(d->conn))
		return;
	if (d->mode != DELIVER_RUN && d->mode != DELIVER_DRAIN && d->mode != DELIVER_STOPPING)
		return;
	strbuf_init(&r.ids);
	strbuf_init(&r.claims);
	d->renew_seq++;
	strbuf_append(&r.ids, "{");
	strbuf_append(&r.claims, "{");
	/* the statement recording d->recording runs before this one on the same connection */
	deliver_each_held(d, 0, deliver_renewal_add, &r);
	strbuf_append(&r.ids, "}");
	strbuf_append(&r.claims, "}");
	ids = strbuf_take(&r.ids);
	claims = strbuf_take(&r.claims);
	snprintf(lease, sizeof(lease), "%d", d->ctx->cfg->delivery_lease_s);
	params[0] = ids;
	params[1] = claims;
	params[2] = lease;
	clock_gettime(CLOCK_MONOTONIC, &d->renew_sent);
	if (!ids || !claims) {
		log_err(d->ctx, "outbox: out of memory renewing the lease of %zu notices", r.n);
	} else if (r.n && db_query(d->conn, d->renew_sql, 3, params, deliver_on_renewed, d) < 0) {
		log_err(d->ctx, "outbox: could not renew the lease of %zu notices: %s", r.n,
			db_error(d->conn));
	} else if (r.n) {
		d->renewing = 1;
		deliver_sent(d);
	}
	free(ids);
	free(claims);
}

static int deliver_id_cmp(const void *pa, const void *pb)
{
	long long a = *(const long long *)pa, b = *(const long long *)pb;

	return (a > b) - (a < b);
}

/* A job that was part of the renewal keeps its lease when every one of its notices came
 * back. One that did not was claimed by another deliverer after its lease ran out: waiting, it
 * is released (a no-op for the notices that are another's now: results count only for their
 * own claim); running, it is only counted, since it may be sent twice. */
static void deliver_renewal_apply(struct deliver_job *job, void *arg)
{
	struct deliver_renewal *r = arg;
	struct deliver *d = job->d;
	size_t kept = 0;

	if (job->renew_seq != d->renew_seq)
		return;
	for (size_t i = 0; i < job->n_ids; i++)
		kept += bsearch(&job->ids[i], r->renewed, r->n_renewed, sizeof(*r->renewed),
				deliver_id_cmp) != NULL;
	if (kept == job->n_ids) {
		job->leased = d->renew_sent;
		return;
	}
	if (job->started) {
		d->lost_running += job->n_ids - kept;
		return;
	}
	d->lost_waiting += job->n_ids - kept;
	deliver_job_release(job, "another deliverer claimed it after its lease ran out");
}

static void deliver_on_renewed(struct db_conn *conn, PGresult *res, void *arg)
{
	struct deliver *d = arg;
	struct deliver_renewal r = { .n = 0 };
	int outer;

	d->renewing = 0;
	deliver_answered(d);
	if (d->mode == DELIVER_RETIRED) {
		deliver_progress(d);
		return;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		log_err(d->ctx, "outbox: renewing the lease of the notices held failed (they are "
			"sent only while their lease lasts): %s",
			res ? PQresultErrorMessage(res) : db_error(conn));
		deliver_progress(d);
		return;
	}
	r.n_renewed = (size_t)PQntuples(res);
	r.renewed = calloc(r.n_renewed ? r.n_renewed : 1, sizeof(*r.renewed));
	if (!r.renewed) {
		log_err(d->ctx, "outbox: out of memory reading a renewal of leases");
		deliver_progress(d);
		return;
	}
	for (size_t i = 0; i < r.n_renewed; i++)
		r.renewed[i] = atoll(PQgetvalue(res, (int)i, 0));
	qsort(r.renewed, r.n_renewed, sizeof(*r.renewed), deliver_id_cmp);
	/* one progress after them all, as deliver_lane_release does */
	outer = d->progressing;
	d->progressing = 1;
	deliver_each_job(d, deliver_renewal_apply, &r);
	d->progressing = outer;
	free(r.renewed);
	deliver_progress(d);
}

static void deliver_on_renew_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver_renew(arg);
}

/* Renewals every lease / DELIVER_RENEWALS, from now (a reload may change the lease). */
static int deliver_renew_schedule(struct deliver *d)
{
	long ms = deliver_lease_ms(d) / DELIVER_RENEWALS;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	return evtimer_add(d->renew_ev, &tv);
}

/* ---- recording results ---- */

static void deliver_flush(struct deliver *d);

/* How long the reports being made wait for the rest of their incident: under --once they wait
 * for the next run anyway, and a wait would only hold them past it. */
static int deliver_report_wait_s(const struct deliver *d)
{
	return d->mode == DELIVER_RUN ? d->ctx->cfg->delivery_report_wait_s : 0;
}

/* A failed notice of the result statement's rows (notice_id, status, channel, destination,
 * last_error). */
struct deliver_failure {
	const char *channel;
	const char *dest;
	const char *error;
	long long id;
};

/* By receiver and reason: the failures one line of the log says together. */
static int deliver_failure_key_cmp(const struct deliver_failure *a, const struct deliver_failure *b)
{
	int c = strcmp(a->channel, b->channel);

	if (!c)
		c = strcmp(a->dest, b->dest);
	return c ? c : strcmp(a->error, b->error);
}

static int deliver_failure_cmp(const void *pa, const void *pb)
{
	const struct deliver_failure *a = pa, *b = pb;
	int c = deliver_failure_key_cmp(a, b);

	return c ? c : (a->id > b->id) - (a->id < b->id);
}

static void deliver_log_failure_run(struct deliver *d, const struct deliver_failure *f,
				    size_t n)
{
	char shown[URL_SHOWN_MAX];
	const char *dest = f->dest;

	if (strcmp(f->channel, "webhook") == 0)
		dest = url_redact(dest, shown, sizeof(shown));
	if (n == 1)
		log_err(d->ctx, "outbox: notice %lld to %s %s failed for good: %s", f->id,
			f->channel, dest, f->error);
	else
		log_err(d->ctx, "outbox: %zu notices to %s %s failed for good (notice %lld and %zu "
			"more): %s", n, f->channel, dest, f->id, n - 1, f->error);
}

/* The notices that failed for good, logged one line per receiver and reason: a refused digest
 * fails all its notices at once, and a line each made 48,517 lines of one 552 on the dense
 * million's first day. Returns how many failed. */
static size_t deliver_log_failures(struct deliver *d, PGresult *res)
{
	int n = PQntuples(res);
	struct deliver_failure *f = calloc((size_t)n + 1, sizeof(*f));
	size_t k = 0, i, j;

	for (int r = 0; r < n; r++) {
		if (strcmp(PQgetvalue(res, r, 1), "failed") != 0)
			continue;
		if (f)
			f[k] = (struct deliver_failure){ PQgetvalue(res, r, 2), PQgetvalue(res, r, 3),
							 PQgetvalue(res, r, 4),
							 atoll(PQgetvalue(res, r, 0)) };
		k++;
	}
	if (!f) {
		if (k)
			log_err(d->ctx, "outbox: %zu notices failed for good (out of memory listing "
				"them: the outbox has each, with its error)", k);
		return k;
	}
	qsort(f, k, sizeof(*f), deliver_failure_cmp);
	for (i = 0; i < k; i = j) {
		for (j = i + 1; j < k && deliver_failure_key_cmp(&f[i], &f[j]) == 0; j++)
			;
		deliver_log_failure_run(d, &f[i], j - i);
	}
	free(f);
	return k;
}

static void deliver_on_recorded(struct db_conn *conn, PGresult *res, void *arg)
{
	struct deliver *d = arg;
	int reports = 0;

	d->flushing = 0;
	json_array_clear(d->recording);
	deliver_answered(d);
	if (d->mode == DELIVER_RETIRED) {
		deliver_progress(d);
		return;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		snprintf(d->error, sizeof(d->error), "recording delivery results failed (their "
			 "notices go out again when their lease ends): %s",
			 res ? PQresultErrorMessage(res) : db_error(conn));
		log_err(d->ctx, "outbox: %s", d->error);
	} else {
		size_t failed = deliver_log_failures(d, res);

		d->stats.failed += failed;
		d->ctx->metrics.deliveries_failed_total += failed;
		reports = failed > 0;
		/* notices sent on to the fallback are due already, under --once too */
		if (PQntuples(res) > 0 && atoll(PQgetvalue(res, 0, 5)) > 0 && d->mail)
			deliver_want(d, DELIVER_EMAIL);
	}
	/* reports due now go at once; waiting ones are claimed by the poll when they are due */
	if (reports && d->ctx->cfg->addresses.operators && d->mail && d->mode == DELIVER_RUN &&
	    deliver_report_wait_s(d) == 0)
		deliver_want(d, DELIVER_EMAIL);
	deliver_progress(d);
}

/* Results are written in batches: each one that arrives while a batch is being written waits
 * for the next, so a burst of deliveries costs a few statements, not one per notice. While the
 * connection is down they wait for it (their leases outlast a short outage). */
static void deliver_flush(struct deliver *d)
{
	char horizon[32], wait[16];
	const char *params[6];
	char *text;

	if (d->mode == DELIVER_RETIRED || d->flushing || !json_array_size(d->results) ||
	    !db_is_up(d->conn))
		return;
	text = json_dumps(d->results, JSON_COMPACT);
	if (!text)
		return;
	snprintf(horizon, sizeof(horizon), "%ld", d->backoff.horizon_s);
	params[0] = text;
	params[1] = horizon;
	/* reports go by email: without an email section there is nobody to send them */
	params[2] = d->ctx->cfg->email.enabled ? d->ctx->cfg->addresses.operators : NULL;
	params[3] = d->ops_digest;
	snprintf(wait, sizeof(wait), "%d", deliver_report_wait_s(d));
	params[4] = wait;
	params[5] = d->ctx->cfg->addresses.fallback;
	if (db_query(d->conn, d->result_sql, 6, params, deliver_on_recorded, d) < 0) {
		snprintf(d->error, sizeof(d->error), "could not record delivery results (their "
			 "notices go out again when their lease ends): %s", db_error(d->conn));
		log_err(d->ctx, "outbox: %s", d->error);
	} else {
		d->flushing = 1;
		deliver_sent(d);
		/* held until recorded: a claim must not take them back (deliver_held_ids) */
		json_array_extend(d->recording, d->results);
	}
	json_array_clear(d->results);
	free(text);
}

/* ---- statements in flight ---- */

/* /healthz says "degraded" when a statement on the outbox has waited too long (a lock held on
 * it, a server that stopped answering): notices would wait with nothing else to show for it.
 * The clock restarts at every answer, so a steady stream of statements is progress. A retired
 * deliverer's statements are not the running daemon's health. */
static void deliver_sent(struct deliver *d)
{
	if (d->queries++ == 0 && d->mode != DELIVER_RETIRED)
		d->ctx->metrics.deliver_waiting_since = time(NULL);
}

static void deliver_answered(struct deliver *d)
{
	d->queries--;
	if (d->mode != DELIVER_RETIRED)
		d->ctx->metrics.deliver_waiting_since = d->queries ? time(NULL) : 0;
}

/* ---- claiming ---- */

static const char *const deliver_channel_names[] = { "webhook", "email" };
static const char *const deliver_claim_names[] = { "idle", "wanted", "sent", "sent+wanted" };

/* Every change of a channel's claim state passes here: an illegal one is a bug, logged and
 * refused rather than acted on. */
static void deliver_claim_set(struct deliver *d, enum deliver_channel ch, enum deliver_claim to)
{
	static const unsigned char legal[4][4] = {
		/* to:          idle wanted sent sent+wanted */
		/* idle */       { 1, 1, 0, 0 },
		/* wanted */     { 1, 1, 1, 0 },
		/* sent */       { 1, 0, 1, 1 },
		/* sent+wanted */{ 0, 1, 1, 1 },
	};
	enum deliver_claim from = d->claim[ch];

	if (from == to)
		return;
	if (!legal[from][to]) {
		log_err(d->ctx, "outbox: %s claim: refusing the change %s -> %s (a bug; please "
			"report it)", deliver_channel_names[ch], deliver_claim_names[from],
			deliver_claim_names[to]);
		return;
	}
	log_debug(d->ctx, "outbox: %s claim: %s -> %s", deliver_channel_names[ch],
		  deliver_claim_names[from], deliver_claim_names[to]);
	d->claim[ch] = to;
}

static int deliver_claim_wanted(const struct deliver *d, enum deliver_channel ch)
{
	return d->claim[ch] == DELIVER_CLAIM_WANTED || d->claim[ch] == DELIVER_CLAIM_SENT_WANTED;
}

static int deliver_claim_in_flight(const struct deliver *d, enum deliver_channel ch)
{
	return d->claim[ch] == DELIVER_CLAIM_SENT || d->claim[ch] == DELIVER_CLAIM_SENT_WANTED;
}

static void deliver_want(struct deliver *d, enum deliver_channel ch)
{
	deliver_claim_set(d, ch, deliver_claim_in_flight(d, ch) ? DELIVER_CLAIM_SENT_WANTED
							       : DELIVER_CLAIM_WANTED);
}

static void deliver_unwant(struct deliver *d, enum deliver_channel ch)
{
	deliver_claim_set(d, ch, deliver_claim_in_flight(d, ch) ? DELIVER_CLAIM_SENT
							       : DELIVER_CLAIM_IDLE);
}

/* A claim statement was answered (or failed): a wish made meanwhile stays. */
static void deliver_claim_answered(struct deliver *d, enum deliver_channel ch)
{
	deliver_claim_set(d, ch, deliver_claim_wanted(d, ch) ? DELIVER_CLAIM_WANTED
							     : DELIVER_CLAIM_IDLE);
}

/* An email claim groups every due email notice by person, which on a first day of hundreds of
 * thousands takes seconds: on a connection of its own it never holds a webhook claim or a
 * result behind it (a CP escalation's webhook waits for neither). While that connection is
 * down the email claims take the other, so a lost session never stops email for long. */
static struct db_conn *deliver_claim_conn(const struct deliver *d, enum deliver_channel ch)
{
	if (ch == DELIVER_EMAIL && db_is_up(d->mail_conn))
		return d->mail_conn;
	return d->conn;
}

static int deliver_claiming_allowed(const struct deliver *d)
{
	if (d->mode != DELIVER_RUN && d->mode != DELIVER_DRAIN)
		return 0;
	return !(d->mode == DELIVER_DRAIN && d->error[0]);
}

/* Which lanes' claims are over: each claimed up to its room had more, one left out (no room)
 * may have more, one claimed for less has no more now. A full claim may have left anyone out.
 * --once stops only at a claim that brings the lane nothing: a notice locked by another
 * session (SKIP LOCKED) takes its place in a claim's limit and comes back as nothing, and the
 * dense million's first day took such a short claim for the end, leaving 8,600 notices of
 * 2,700 people unsent while the summary said none was left (stop 45). */
static void deliver_claimed(struct deliver *d, struct deliver_lane *lane, long dflt, int full)
{
	long room = lane->claim_room < 0 ? dflt : lane->claim_room;
	int drain = d->mode == DELIVER_DRAIN && lane->claim_got > 0;

	lane->more = !lane->spent && (full || drain || room == 0 || lane->claim_got >= room);
	lane->claim_room = -1;
	lane->claim_got = 0;
}

/* No webhook claim is in flight for any lane now. */
static void deliver_lanes_unclaimed(struct deliver *d)
{
	for (struct deliver_lane *lane = d->lanes; lane; lane = lane->next)
		lane->claim_room = -1;
}

static void deliver_claim_failed(struct deliver *d, struct db_conn *conn, PGresult *res,
				 const char *what)
{
	char why[400];

	snprintf(why, sizeof(why), "%s", res ? PQresultErrorMessage(res) : db_error(conn));
	log_err(d->ctx, "outbox: claiming due %s failed: %s", what, why);
	if (d->mode == DELIVER_DRAIN)
		snprintf(d->error, sizeof(d->error), "claiming due %s failed: %s", what, why);
}

static void deliver_note_due_by(struct deliver *d, PGresult *res)
{
	if (d->mode == DELIVER_DRAIN && !d->due_by[0] && PQntuples(res) > 0)
		snprintf(d->due_by, sizeof(d->due_by), "%s", PQgetvalue(res, 0, CL_CLAIMED_AT));
}

/* The room of a receiver without a lane yet (see deliver_lane_for). */
static long deliver_default_room(const struct deliver *d)
{
	return d->mode == DELIVER_DRAIN ? DELIVER_WEBHOOK_AHEAD : (long)d->webhook_slots;
}

/* ---- Teams and Slack: one message per evaluation per destination ---- */

static enum chat_format deliver_format_for(const struct deliver *d, const char *url,
					   const char *role)
{
	const struct dw_config *cfg = d->ctx->cfg;

	for (size_t i = 0; i < cfg->n_webhooks; i++)
		if (strcmp(cfg->webhooks[i].url, url) == 0)
			return cfg->webhooks[i].format;
	return deliver_team_role(role) ? cfg->team_webhook_format : CHAT_STANDARD;
}

static enum chat_format deliver_row_format(const struct deliver *d, PGresult *res, int r)
{
	return deliver_format_for(d, PQgetvalue(res, r, CL_DEST),
				  PQgetisnull(res, r, CL_ROLE) ? NULL : PQgetvalue(res, r, CL_ROLE));
}

/* The pages a channel's reader answers on, when the pages are there. */
static const char *deliver_pages_url(const struct deliver *d)
{
	const struct config_web *w = &d->ctx->cfg->web;

	return w->listen && w->public_url ? w->public_url : NULL;
}

/* rows[0..n) of the claim, one destination's notices of one evaluation, as one message job:
 * every notice in it is delivered (or retried) with the message. */
static struct deliver_job *deliver_chat_job(struct deliver *d, struct deliver_lane *lane,
					    PGresult *res, const int *rows, size_t n,
					    enum chat_format f, char *err, size_t errsz)
{
	struct chat_item *items = calloc(n, sizeof(*items));
	json_t **alerts = calloc(n, sizeof(*alerts));
	struct deliver_job *job = items && alerts ? deliver_job_new(d, lane, n) : NULL;
	char *body = NULL;
	size_t shown = 0;
	int first = 0;

	for (size_t i = 0; job && i < n; i++) {
		json_error_t jerr;
		int r = rows[i];

		alerts[i] = json_loads(PQgetvalue(res, r, CL_PAYLOAD), 0, &jerr);
		items[i].type = PQgetvalue(res, r, CL_TYPE);
		items[i].alert = alerts[i];
		job->ids[i] = atoll(PQgetvalue(res, r, CL_ID));
		job->claims[i] = atoi(PQgetvalue(res, r, CL_ATTEMPTS));
		if ((unsigned)job->claims[i] > job->attempts)
			job->attempts = (unsigned)job->claims[i];
		if (atol(PQgetvalue(res, r, CL_AGE)) > job->age_s)
			job->age_s = atol(PQgetvalue(res, r, CL_AGE));
		if (job->ids[i] < job->ids[first])
			first = (int)i;
	}
	if (job) {
		chat_sort(items, n);
		shown = chat_message(f, items, n, deliver_pages_url(d), d->ctx->cfg->email.enabled,
				     &body);
		job->webhook = 1;
		job->format = f;
		job->payload = body;
		/* the oldest notice names the message: its retries keep the one idempotency key */
		job->key = strdup(PQgetvalue(res, rows[first], CL_KEY));
		job->type = strdup(chat_format_name(f));
		job->role = deliver_dup_value(res, rows[first], CL_ROLE);
	}
	for (size_t i = 0; alerts && i < n; i++)
		json_decref(alerts[i]);
	free(alerts);
	free(items);
	if (job && (!shown || !job->key || !job->type)) {
		snprintf(err, errsz, "%s: out of memory building a %s message", lane->shown,
			 chat_format_name(f));
		job->format = CHAT_STANDARD;
	}
	return job;
}

static void deliver_queue_chat(struct deliver *d, PGresult *res, const int *rows, size_t n,
			       struct deliver_lane *lane, enum chat_format f)
{
	char err[512] = "";
	struct deliver_job *job = deliver_chat_job(d, lane, res, rows, n, f, err, sizeof(err));
	int unsigned_ = 0;

	if (!job)
		return;
	if (!err[0] && !deliver_secret_for(d, lane->url, job->role)) {
		deliver_unsigned_why(d, lane, job->role, err, sizeof(err));
		unsigned_ = 1;
	}
	deliver_enqueue(d, job);
	if (d->mode == DELIVER_STOPPING || !err[0])
		return;
	deliver_job_retry(job, unsigned_ ? deliver_unsigned_prio(lane) : LOG_PRIO_ERR, "webhook",
			  err, -1);
	deliver_job_end(job);
}

/* The claim's rows for Teams and Slack destinations, grouped by destination and digest key
 * (one evaluation), each group one message; done[] marks the rows taken. */
static void deliver_queue_chats(struct deliver *d, PGresult *res, char *done)
{
	int n = PQntuples(res);
	int *rows = calloc((size_t)(n ? n : 1), sizeof(*rows));

	for (int r = 0; rows && r < n; r++) {
		struct deliver_lane *lane;
		enum chat_format f;
		size_t k = 0;

		if (done[r] || (f = deliver_row_format(d, res, r)) == CHAT_STANDARD)
			continue;
		for (int q = r; q < n; q++) {
			if (done[q] || strcmp(PQgetvalue(res, q, CL_DEST), PQgetvalue(res, r, CL_DEST)) ||
			    strcmp(PQgetvalue(res, q, CL_DIGEST), PQgetvalue(res, r, CL_DIGEST)))
				continue;
			rows[k++] = q;
			done[q] = 1;
		}
		lane = deliver_lane_for(d, PQgetvalue(res, r, CL_DEST));
		if (lane) {
			lane->claim_got += (long)k;
			deliver_queue_chat(d, res, rows, k, lane, f);
			continue;
		}
		for (size_t i = 0; i < k; i++) {
			struct deliver_job *job = deliver_job_orphan(d, res, rows[i]);

			if (job)
				deliver_job_release(job, "out of memory");
		}
	}
	free(rows);
}

/* A row of the webhook claim for a receiver disabled by a 410: claimed only once the notice
 * has outlived the retry horizon (outbox_claim_webhook.sql), and never sent. */
static int deliver_row_disabled(const PGresult *res, int r)
{
	return PQnfields(res) > CL_DISABLED && strcmp(PQgetvalue(res, r, CL_DISABLED), "t") == 0;
}

/* Fails the claim's notices to disabled receivers, unsent: the result statement fails and
 * reports them as any notice that ran out of time. done[] (when there is one) marks them. */
static void deliver_fail_disabled(struct deliver *d, PGresult *res, char *done)
{
	const char *why = "not sent: the endpoint has been disabled since it answered 410 Gone, "
			  "and the notice outlived delivery.max_age_hours (delete its row from "
			  "the state schema's disabled_endpoints to send to it again)";
	int n = PQntuples(res), given_up = 0;
	char shown[512];

	for (int r = 0; r < n; r++) {
		struct deliver_job *job;

		if (!deliver_row_disabled(res, r))
			continue;
		if (done)
			done[r] = 1;
		job = deliver_job_orphan(d, res, r);
		if (!job)
			continue;
		job->shown = strdup(url_redact(PQgetvalue(res, r, CL_DEST), shown, sizeof(shown)));
		if (!given_up++)
			log_err(d->ctx, "webhook %s: %s", shown, why);
		deliver_job_result(job, "failed", why, 0);
		deliver_job_end(job);
	}
	if (given_up > 1)
		log_err(d->ctx, "outbox: %d notices to disabled webhook endpoints failed unsent",
			given_up);
}

static void deliver_on_claim_webhook(struct db_conn *conn, PGresult *res, void *arg)
{
	struct deliver *d = arg;
	long dflt = deliver_default_room(d);
	int n, full;
	char *done;

	deliver_answered(d);
	if (d->mode == DELIVER_RETIRED) {
		deliver_claim_answered(d, DELIVER_WEBHOOK);
		deliver_progress(d);
		return;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		deliver_claim_answered(d, DELIVER_WEBHOOK);
		deliver_claim_failed(d, conn, res, "webhook notices");
		deliver_lanes_unclaimed(d);
		deliver_progress(d);
		return;
	}
	n = PQntuples(res);
	full = n >= DELIVER_CLAIM_MAX;
	d->stats.claimed += (size_t)n;
	deliver_note_due_by(d, res);
	/* the server counted the lease from its own now(), after the claim was sent */
	d->lease_base = d->claim_sent[DELIVER_WEBHOOK];
	/* every row is queued before any starts (the first slots go round every lane), and no
	 * other claim is made until each lane knows what this one gave it */
	d->progressing = 1;
	done = calloc((size_t)(n ? n : 1), 1);
	deliver_fail_disabled(d, res, done);
	if (done)
		deliver_queue_chats(d, res, done);
	for (int r = 0; r < n; r++) {
		struct deliver_lane *lane;

		if ((done && done[r]) || deliver_row_disabled(res, r))
			continue;
		lane = deliver_lane_for(d, PQgetvalue(res, r, CL_DEST));
		if (lane)
			lane->claim_got++;
		deliver_queue_webhook(d, res, r, lane);
	}
	free(done);
	d->lease_base = (struct timespec){ 0, 0 };
	for (struct deliver_lane *lane = d->lanes; lane; lane = lane->next)
		deliver_claimed(d, lane, dflt, full);
	d->progressing = 0;
	deliver_claim_answered(d, DELIVER_WEBHOOK);
	if (n)
		log_debug(d->ctx, "outbox: claimed %d webhook notices", n);
	if (full)
		deliver_want(d, DELIVER_WEBHOOK);
	if (d->mode == DELIVER_RUN)
		deliver_lanes_prune(d);
	deliver_progress(d);
}

/* A digest claimed again (attempts past 1) is claimed as it was first sent, which can leave the
 * notices queued since for the same person and slot behind (outbox_claim_email.sql): they are
 * due now, so the lane asks again instead of waiting for the next wake. */
static int deliver_claimed_resend(const PGresult *res)
{
	int i, n = PQntuples(res);

	for (i = 0; i < n; i++)
		if (atol(PQgetvalue(res, i, 8)) > 1)
			return 1;
	return 0;
}

static void deliver_on_claim_email(struct db_conn *conn, PGresult *res, void *arg)
{
	struct deliver *d = arg;
	struct deliver_claim_read c = { conn, res, NULL };
	size_t digests;

	deliver_answered(d);
	if (d->mode == DELIVER_RETIRED) {
		deliver_claim_answered(d, DELIVER_EMAIL);
		deliver_progress(d);
		return;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK) {
		deliver_claim_answered(d, DELIVER_EMAIL);
		deliver_claim_failed(d, conn, res, "email notices");
		d->mail_lane.claim_room = -1;
		deliver_progress(d);
		return;
	}
	d->stats.claimed += (size_t)PQntuples(res);
	deliver_note_due_by(d, res);
	d->lease_base = d->claim_sent[DELIVER_EMAIL];
	d->progressing = 1;
	if (d->mail) {
		digests = deliver_queue_digests(d, &c);
		/* rows that made no digest (each failed or waits for a retry) still brought something */
		d->mail_lane.claim_got = digests ? (long)digests : PQntuples(res) > 0;
		deliver_claimed(d, &d->mail_lane, 0, deliver_claimed_resend(res));
	} else {
		deliver_hold_email(d, res);
		d->mail_lane.claim_room = -1;
		d->mail_lane.more = 0;
	}
	d->lease_base = (struct timespec){ 0, 0 };
	d->progressing = 0;
	deliver_claim_answered(d, DELIVER_EMAIL);
	if (PQntuples(res))
		log_debug(d->ctx, "outbox: claimed %d email notices", PQntuples(res));
	/* res is the continuations' now, if any kept it: not to be read past this */
	deliver_rows_unref(c.kept);
	deliver_progress(d);
}

static void deliver_held_id(struct deliver_job *job, long long id, long long attempts,
			    void *arg)
{
	struct strbuf *sb = arg;

	(void)job;
	(void)attempts;
	strbuf_printf(sb, "%s%lld", sb->len > 1 ? "," : "", id);
}

/* Every notice this deliverer holds, as a bigint[] literal: waiting in a lane, being sent, or
 * sent and waiting for its result to be recorded (d->results, d->recording). A claim leaves them
 * alone even when their lease has run out: one result statement slow enough to hold back the
 * renewals behind it let the dense million's first day (stop 45) claim its own head of
 * service's digest again, and send its 40,000 notices twice. Another deliverer still takes
 * them once their lease has run out; that is what the lease is for. */
static char *deliver_held_ids(struct deliver *d)
{
	struct strbuf sb;

	strbuf_init(&sb);
	strbuf_append(&sb, "{");
	deliver_each_held(d, 1, deliver_held_id, &sb);
	strbuf_append(&sb, "}");
	return strbuf_take(&sb);
}

/* The claim parameters for the lanes known: their URLs as a text[] and their rooms as an
 * int[] literal, each lane's room noted for deliver_claimed. */
static int deliver_claim_rooms(struct deliver *d, char **urls, char **rooms)
{
	size_t n = d->n_secrets, i = 0;
	const char **names;
	struct strbuf sb;

	for (struct deliver_lane *lane = d->lanes; lane; lane = lane->next)
		n++;
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names)
		return -1;
	strbuf_init(&sb);
	strbuf_append(&sb, "{");
	for (struct deliver_lane *lane = d->lanes; lane; lane = lane->next, i++) {
		lane->claim_room = deliver_lane_room(lane);
		lane->claim_got = 0;
		names[i] = lane->url;
		strbuf_printf(&sb, "%s%ld", i ? "," : "", lane->claim_room);
	}
	/* a receiver whose secret could not be read has no room at all: its notices wait */
	for (size_t k = 0; k < d->n_secrets; k++) {
		if (!d->secrets[k].broken)
			continue;
		names[i] = d->secrets[k].url;
		strbuf_printf(&sb, "%s0", i++ ? "," : "");
	}
	strbuf_append(&sb, "}");
	*urls = strbuf_text_array(names, i);
	*rooms = strbuf_take(&sb);
	free(names);
	if (!*urls || !*rooms) {
		free(*urls);
		free(*rooms);
		return -1;
	}
	return 0;
}

static void deliver_claim_webhook(struct deliver *d)
{
	char limit[16], lease[16], dflt[16];
	char *urls = NULL, *rooms = NULL, *held;
	char horizon[24];
	const char *params[8];

	/* the wish is spent either way: sent, or failed and said */
	if (deliver_claim_rooms(d, &urls, &rooms) < 0) {
		deliver_lanes_unclaimed(d);
		deliver_unwant(d, DELIVER_WEBHOOK);
		log_err(d->ctx, "outbox: out of memory claiming webhook notices");
		return;
	}
	if (!(held = deliver_held_ids(d))) {
		free(urls);
		free(rooms);
		deliver_lanes_unclaimed(d);
		deliver_unwant(d, DELIVER_WEBHOOK);
		log_err(d->ctx, "outbox: out of memory claiming webhook notices");
		return;
	}
	snprintf(limit, sizeof(limit), "%d", DELIVER_CLAIM_MAX);
	snprintf(lease, sizeof(lease), "%d", d->ctx->cfg->delivery_lease_s);
	snprintf(dflt, sizeof(dflt), "%ld", deliver_default_room(d));
	params[0] = limit;
	params[1] = lease;
	params[2] = d->due_by[0] ? d->due_by : NULL;
	params[3] = urls;
	params[4] = rooms;
	params[5] = dflt;
	snprintf(horizon, sizeof(horizon), "%ld", (long)d->backoff.horizon_s);
	params[6] = horizon;
	params[7] = held;
	clock_gettime(CLOCK_MONOTONIC, &d->claim_sent[DELIVER_WEBHOOK]);
	if (db_query(d->conn, d->claim_webhook_sql, 8, params, deliver_on_claim_webhook, d) < 0) {
		deliver_unwant(d, DELIVER_WEBHOOK);
		deliver_claim_failed(d, d->conn, NULL, "webhook notices");
		deliver_lanes_unclaimed(d);
	} else {
		deliver_claim_set(d, DELIVER_WEBHOOK, DELIVER_CLAIM_SENT);
		deliver_sent(d);
	}
	free(urls);
	free(rooms);
	free(held);
}

/* A digest key of reports to the operators that no other deliverer (another instance, an
 * earlier run) has used. */
static void deliver_ops_key(struct deliver *d)
{
	snprintf(d->ops_digest, sizeof(d->ops_digest), "ops-%lld-%ld-%u", (long long)time(NULL),
		 (long)getpid(), ++d->ops_seq);
}

static void deliver_claim_email(struct deliver *d)
{
	char digests[24], lease[16];
	const char *params[6];
	struct db_conn *conn;
	char *held;
	long room = d->mail ? deliver_lane_room(&d->mail_lane) : 0;

	/* the wish is spent either way: sent, or nothing to send it for */
	if (!d->mail || room <= 0)
		deliver_unwant(d, DELIVER_EMAIL);
	/* no mail server (no email section, or one that could not start): email waits */
	if (!d->mail)
		return;
	if (room <= 0) {
		/* it asks again once a digest is sent, unless this pass gave up on the server */
		d->mail_lane.more = !d->mail_lane.spent;
		return;
	}
	/* Under --once the reports recorded from now on go in the next report digest, not one
	 * claimed now (a result committed on the other connection before this claim starts may
	 * still go with it: the rest of that key then makes an email of its own, nothing is
	 * lost); a resend after a crash holds what it held, so it keeps its Message-ID. The
	 * daemon's reports keep one key: they wait for the rest of their incident
	 * (outbox_result.sql), and the claims of every poll must not split it. */
	held = deliver_held_ids(d);
	if (!held) {
		deliver_unwant(d, DELIVER_EMAIL);
		log_err(d->ctx, "outbox: out of memory claiming email notices");
		return;
	}
	if (d->mode != DELIVER_RUN)
		deliver_ops_key(d);
	snprintf(digests, sizeof(digests), "%ld", room);
	snprintf(lease, sizeof(lease), "%d", d->ctx->cfg->delivery_lease_s);
	params[0] = digests;
	params[1] = lease;
	params[2] = d->due_by[0] ? d->due_by : NULL;
	params[3] = d->mode == DELIVER_DRAIN ? "true" : "false";
	params[4] = d->ctx->cfg->timezone;
	params[5] = held;
	d->mail_lane.claim_room = room;
	d->mail_lane.claim_got = 0;
	conn = deliver_claim_conn(d, DELIVER_EMAIL);
	clock_gettime(CLOCK_MONOTONIC, &d->claim_sent[DELIVER_EMAIL]);
	if (db_query(conn, d->claim_email_sql, 6, params, deliver_on_claim_email, d) < 0) {
		deliver_unwant(d, DELIVER_EMAIL);
		deliver_claim_failed(d, conn, NULL, "email notices");
		d->mail_lane.claim_room = -1;
	} else {
		deliver_claim_set(d, DELIVER_EMAIL, DELIVER_CLAIM_SENT);
		deliver_sent(d);
	}
	free(held);
}

/* Lanes with room that may have more due ask for a claim. */
static void deliver_want_refills(struct deliver *d)
{
	for (struct deliver_lane *lane = d->lanes; lane; lane = lane->next)
		if (deliver_lane_hungry(lane))
			deliver_want(d, DELIVER_WEBHOOK);
	if (deliver_lane_hungry(&d->mail_lane))
		deliver_want(d, DELIVER_EMAIL);
}

static void deliver_claim_next(struct deliver *d)
{
	if (!deliver_claiming_allowed(d)) {
		deliver_unwant(d, DELIVER_WEBHOOK);
		deliver_unwant(d, DELIVER_EMAIL);
		return;
	}
	/* while a connection is down its wishes wait: it kicks when it is back */
	if (d->claim[DELIVER_WEBHOOK] == DELIVER_CLAIM_WANTED &&
	    db_is_up(deliver_claim_conn(d, DELIVER_WEBHOOK)))
		deliver_claim_webhook(d);
	if (d->claim[DELIVER_EMAIL] == DELIVER_CLAIM_WANTED &&
	    db_is_up(deliver_claim_conn(d, DELIVER_EMAIL)))
		deliver_claim_email(d);
}

/* ---- progress, ends ---- */

static int deliver_any_more(const struct deliver *d)
{
	for (const struct deliver_lane *lane = d->lanes; lane; lane = lane->next)
		if (lane->more)
			return 1;
	return d->mail_lane.more;
}

static void deliver_lanes_free(struct deliver *d)
{
	struct deliver_lane *lane;

	while ((lane = d->lanes) != NULL) {
		d->lanes = lane->next;
		free(lane->url);
		free(lane);
	}
}

static void deliver_destroy(struct deliver *d)
{
	deliver_secrets_free(d->secrets, d->n_secrets);
	webhook_secret_clear(&d->team_secret);
	deliver_links_free(d->links);
	deliver_lanes_free(d);
	mail_sender_free(d->mail);
	json_decref(d->results);
	json_decref(d->recording);
	free(d->left_sql);
	free(d->claim_webhook_sql);
	free(d->claim_email_sql);
	free(d->result_sql);
	free(d->renew_sql);
	if (d->renew_ev)
		event_free(d->renew_ev);
	free(d);
}

static void deliver_log_pending(struct deliver *d)
{
	if (d->start_failures > 1)
		log_err(d->ctx, "outbox: %zu more transfers could not be started either; they will "
			"be retried", d->start_failures - 1);
	d->start_failures = 0;
	if (d->released_late)
		log_warn(d->ctx, "outbox: %zu notices waited too long for a transfer slot; they are "
			 "due again, for this or another instance", d->released_late);
	d->released_late = 0;
	if (d->released_unrenewed)
		log_warn(d->ctx, "outbox: %zu claimed notices were not sent: their lease could not "
			 "be renewed (is the state database answering?); they are due again",
			 d->released_unrenewed);
	d->released_unrenewed = 0;
	if (d->lost_waiting)
		log_warn(d->ctx, "outbox: %zu claimed notices were not sent: their lease ran out "
			 "before it was renewed and another deliverer has claimed them",
			 d->lost_waiting);
	d->lost_waiting = 0;
	if (d->lost_running)
		log_warn(d->ctx, "outbox: %zu notices being sent had their lease run out before it "
			 "was renewed, and another deliverer has claimed them: they may arrive twice, "
			 "with the same idempotency key", d->lost_running);
	d->lost_running = 0;
}

static void deliver_on_left(struct db_conn *conn, PGresult *res, void *arg)
{
	struct deliver *d = arg;

	deliver_answered(d);
	d->left_state = DELIVER_LEFT_COUNTED;
	if (d->mode == DELIVER_RETIRED) {
		deliver_progress(d);
		return;
	}
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
		log_warn(d->ctx, "outbox: could not count the notices this run leaves due: %s",
			 res ? PQresultErrorMessage(res) : db_error(conn));
	else {
		d->stats.left_due = atoll(PQgetvalue(res, 0, 0));
		d->stats.left_people = atoll(PQgetvalue(res, 0, 1));
	}
	deliver_progress(d);
}

/* --once, when it has claimed all it could: counts what it leaves due (outbox_left.sql).
 * Returns 1 while that is being counted. */
static int deliver_count_left(struct deliver *d)
{
	const char *params[2];

	if (d->left_state == DELIVER_LEFT_COUNTED)
		return 0;
	if (d->left_state == DELIVER_LEFT_COUNTING)
		return 1;
	/* counted, unless it is sent below: a count that cannot run is not tried again */
	d->left_state = DELIVER_LEFT_COUNTED;
	params[0] = d->due_by[0] ? d->due_by : NULL;
	params[1] = d->mail ? "true" : "false";
	if (!db_is_up(d->conn) ||
	    db_query(d->conn, d->left_sql, 2, params, deliver_on_left, d) < 0) {
		log_warn(d->ctx, "outbox: could not count the notices this run leaves due: %s",
			 db_error(d->conn));
		return 0;
	}
	d->left_state = DELIVER_LEFT_COUNTING;
	deliver_sent(d);
	return 1;
}

/* Whether the pass (--once) or the stop is over; then its callback. */
static void deliver_maybe_done(struct deliver *d)
{
	deliver_done_cb cb = d->cb;

	if (!cb || d->in_flight || json_array_size(d->results))
		return;
	/* A stop waits for the results being recorded, not for a claim: one held by a lock or a
	 * server that stopped answering would keep the daemon for its whole grace period. What it
	 * takes, if it ends at all, waits for its lease as a stopped daemon's notices do. */
	if (d->mode == DELIVER_STOPPING ? d->flushing : d->queries)
		return;
	if (d->mode == DELIVER_DRAIN && !d->error[0] &&
	    (deliver_claim_wanted(d, DELIVER_WEBHOOK) || deliver_claim_wanted(d, DELIVER_EMAIL) ||
	     deliver_any_more(d)))
		return;
	if (d->mode != DELIVER_DRAIN && d->mode != DELIVER_STOPPING)
		return;
	if (d->mode == DELIVER_DRAIN && !d->error[0] && deliver_count_left(d))
		return;
	d->cb = NULL;
	if (d->mode == DELIVER_DRAIN)
		d->mode = DELIVER_IDLE;
	cb(&d->stats, d->error[0] ? d->error : NULL, d->cb_arg);
}

/* --once, its state connection lost while delivering: nothing can be recorded now, nor
 * claimed, and nothing reconnects. The run sent on what it held, unrecorded, and never ended
 * (audit 18, F5): now what waits is left to its lease, what is in flight ends, and the pass
 * ends with the error, so that the run exits 1. */
static void deliver_drain_lost(struct deliver *d)
{
	if (d->mode != DELIVER_DRAIN || db_is_up(d->conn))
		return;
	if (!d->error[0]) {
		snprintf(d->error, sizeof(d->error), "the state database connection was lost while "
			 "delivering (%s): the notices claimed and not recorded go out again once "
			 "their lease ends (delivery.lease_seconds), with the same idempotency key",
			 db_error(d->conn));
		log_err(d->ctx, "delivery: %s", d->error);
	}
	deliver_release_all(d, "the state database connection was lost");
	json_array_clear(d->results);
}

/* What follows any change: waiting jobs start, results are recorded, lanes with room claim,
 * a pass or a stop ends. Re-entered (a job that cannot start ends at once), it runs once more
 * instead of nesting. A retired deliverer frees itself here when nothing refers to it. */
static void deliver_progress(struct deliver *d)
{
	if (d->progressing) {
		d->progress_again = 1;
		return;
	}
	if (d->mode == DELIVER_RETIRED) {
		if (!d->in_flight && !d->queries)
			deliver_destroy(d);
		return;
	}
	d->progressing = 1;
	do {
		d->progress_again = 0;
		/* what a claim answered while stopping took goes back at once, unsent */
		if (d->mode == DELIVER_STOPPING)
			deliver_release_all(d, "the daemon is stopping");
		deliver_drain_lost(d);
		deliver_pump(d);
		deliver_flush(d);
		deliver_want_refills(d);
		deliver_claim_next(d);
	} while (d->progress_again);
	d->progressing = 0;
	deliver_log_pending(d);
	deliver_maybe_done(d);
}

/* The configured age (delivery.max_age_hours) past which a notice is not retried. */
static long deliver_horizon_s(const struct dw_ctx *ctx)
{
	return (long)ctx->cfg->delivery_max_age_h * 3600L;
}

/* ---- public ---- */

struct deliver *deliver_new(struct dw_ctx *ctx, struct db_conn *conn, struct db_conn *mail_conn,
			    struct curl_loop *loop, char *err, size_t errsz)
{
	struct deliver *d = calloc(1, sizeof(*d));
	struct backoff def = BACKOFF_DEFAULT;
	size_t max = curl_loop_max(loop);
	char *ident, why[512];
	int failed;

	if (!d) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	d->ctx = ctx;
	d->conn = conn;
	d->mail_conn = mail_conn ? mail_conn : conn;
	d->loop = loop;
	d->backoff = def;
	d->backoff.horizon_s = deliver_horizon_s(ctx);
	d->rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	d->webhook_slots = deliver_clamp(max / 2, 1, DELIVER_WEBHOOK_SLOTS);
	d->reserve = max / 8;
	deliver_lane_init(&d->mail_lane, deliver_clamp(max / 4, 1, DELIVER_EMAIL_SLOTS),
			  DELIVER_EMAIL_AHEAD, DELIVER_MAIL_TIMEOUT_S);
	snprintf(d->mail_lane.shown, sizeof(d->mail_lane.shown), "the mail server");
	d->results = json_array();
	d->recording = json_array();
	deliver_ops_key(d);
	ident = db_escape_identifier(conn, ctx->cfg->state_schema);
	if (ident) {
		d->claim_webhook_sql = strbuf_subst(sql_outbox_claim_webhook, "@state@", ident);
		d->claim_email_sql = strbuf_subst(sql_outbox_claim_email, "@state@", ident);
		d->result_sql = strbuf_subst(sql_outbox_result, "@state@", ident);
		d->renew_sql = strbuf_subst(sql_outbox_renew, "@state@", ident);
		d->left_sql = strbuf_subst(sql_outbox_left, "@state@", ident);
	}
	free(ident);
	d->renew_ev = event_new(ctx->base, -1, EV_PERSIST, deliver_on_renew_timer, d);
	if (!d->results || !d->recording || !d->left_sql || !d->claim_webhook_sql || !d->claim_email_sql || !d->result_sql ||
	    !d->renew_sql || !d->renew_ev || deliver_renew_schedule(d) < 0) {
		snprintf(err, errsz, "out of memory");
		deliver_destroy(d);
		return NULL;
	}
	if (deliver_load_secrets(ctx, &d->secrets, &d->n_secrets, &d->team_secret,
				 &d->have_team_secret, err, errsz) < 0 ||
	    deliver_load_links(ctx, &d->links, err, errsz) < 0) {
		deliver_destroy(d);
		return NULL;
	}
	/* Email that cannot start (its password unreadable) stops email only: its notices wait. */
	d->mail = deliver_mail_new(d, why, sizeof(why), &failed);
	if (failed)
		log_err(ctx, "delivery: %s: email: %s; email notices wait in the outbox until it is "
			"fixed (SIGHUP to reload); webhooks go on", ctx->cfg->path, why);
	else if (!ctx->cfg->email.enabled)
		log_debug(ctx, "delivery: no email section: email notices are neither written nor "
			  "sent");
	return d;
}

void deliver_kick(struct deliver *d)
{
	if (!d || d->mode != DELIVER_RUN)
		return;
	deliver_want(d, DELIVER_WEBHOOK);
	deliver_want(d, DELIVER_EMAIL);
	deliver_progress(d);
}

int deliver_pass(struct deliver *d, deliver_done_cb cb, void *arg)
{
	if (d->cb || d->mode != DELIVER_RUN || !db_is_up(d->conn))
		return -1;
	memset(&d->stats, 0, sizeof(d->stats));
	d->stats.left_due = d->stats.left_people = -1;
	d->left_state = DELIVER_LEFT_UNCOUNTED;
	d->error[0] = '\0';
	d->due_by[0] = '\0';
	d->mode = DELIVER_DRAIN;
	deliver_want(d, DELIVER_WEBHOOK);
	deliver_want(d, DELIVER_EMAIL);
	d->mail_lane.flowing = 1;
	d->cb = cb;
	d->cb_arg = arg;
	deliver_progress(d);
	if (d->cb && !deliver_claim_in_flight(d, DELIVER_WEBHOOK) &&
	    !deliver_claim_in_flight(d, DELIVER_EMAIL) && !d->in_flight) {
		d->cb = NULL;
		d->mode = DELIVER_RUN;
		return -1;
	}
	return 0;
}

int deliver_reload(struct deliver *d, char *err, size_t errsz)
{
	struct deliver_secret *secrets;
	struct webhook_secret team;
	struct deliver_links *links;
	struct mail_sender *mail;
	size_t n;
	int have_team, failed;
	char why[512];

	if (d->mode != DELIVER_RUN)
		return 0;
	memset(&team, 0, sizeof(team));
	if (deliver_load_secrets(d->ctx, &secrets, &n, &team, &have_team, err, errsz) < 0)
		return -1;
	if (deliver_load_links(d->ctx, &links, err, errsz) < 0) {
		deliver_secrets_free(secrets, n);
		webhook_secret_clear(&team);
		return -1;
	}
	/* as at the start: a mail server that cannot start stops email only */
	mail = deliver_mail_new(d, why, sizeof(why), &failed);
	if (failed)
		log_err(d->ctx, "delivery: %s: email: %s; email notices wait in the outbox until "
			"it is fixed; webhooks go on", d->ctx->cfg->path, why);
	/* transfers running need neither the secrets nor the sender: mail_send copied what it
	 * needs, and a webhook request is signed when it is made */
	deliver_secrets_free(d->secrets, d->n_secrets);
	webhook_secret_clear(&d->team_secret);
	mail_sender_free(d->mail);
	d->secrets = secrets;
	d->n_secrets = n;
	d->team_secret = team;
	d->have_team_secret = have_team;
	d->backoff.horizon_s = deliver_horizon_s(d->ctx);
	if (deliver_renew_schedule(d) < 0)
		log_err(d->ctx, "delivery: could not set the timer that renews leases; claimed "
			"notices are sent only while their first lease lasts");
	deliver_links_free(d->links);
	d->links = links;
	d->mail = mail;
	/* what waits was signed (or composed) under the old settings: it is claimed again */
	deliver_release_all(d, "the configuration was reloaded");
	deliver_kick(d);
	return 0;
}

void deliver_stop(struct deliver *d, deliver_done_cb cb, void *arg)
{
	if (d->mode == DELIVER_RETIRED || d->mode == DELIVER_STOPPING)
		return;
	d->mode = DELIVER_STOPPING;
	d->cb = cb;
	d->cb_arg = arg;
	/* What the stop reports is what the stop could not record. A failure from before it was
	 * logged when it happened, and its notices have gone out again since: said at the stop it
	 * named an old error and promised resends that would not come (audit 18, F7). */
	d->error[0] = '\0';
	deliver_unwant(d, DELIVER_WEBHOOK);
	deliver_unwant(d, DELIVER_EMAIL);
	deliver_release_all(d, "the daemon is stopping");
	deliver_progress(d);
}

void deliver_free(struct deliver *d)
{
	if (!d)
		return;
	/* jobs not started are dropped: their notices stay leased and go out when it ends */
	for (struct deliver_lane *lane = d->lanes;; lane = lane->next) {
		if (!lane)
			lane = &d->mail_lane;
		while (lane->queue.head) {
			struct deliver_job *job = lane->queue.head;

			deliver_jobq_unlink(&lane->queue, job);
			deliver_job_free(job);
			d->in_flight--;
		}
		if (lane == &d->mail_lane)
			break;
	}
	d->mode = DELIVER_RETIRED;
	/* what it was sending goes out again when its lease ends: no more renewals */
	event_del(d->renew_ev);
	d->ctx->metrics.deliver_waiting_since = 0; /* its statements are no one's health now */
	d->cb = NULL;
	json_array_clear(d->results);
	if (!d->in_flight && !d->queries && !d->progressing)
		deliver_destroy(d);
}
