/* web_child: /child/{child_id}, the child's chronology on one screen (RESPONSES.md; issue 14). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "driftwatch/child_page.h"
#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/html.h"
#include "driftwatch/log.h"
#include "driftwatch/page.h"
#include "driftwatch/rule.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/visibility.h"
#include "driftwatch/web.h"
#include "driftwatch/web_pages.h"

/* The case data, a relation at a time: one that cannot be read (a revoked grant, a view that
 * fails) leaves out its own part of the page, says so, and no other. */
enum child_section {
	SEC_CHILD, SEC_REFERRALS, SEC_CIN, SEC_CP, SEC_ALLOCATIONS, SEC_APPOINTMENTS,
	SEC_STRATEGIES, SEC_DONE
};

static const struct {
	const char *key;      /* in the chronology document (timeline.h) */
	const char *words;    /* what could not be read, in a sentence */
} child_sections[SEC_DONE] = {
	{ "child", "the child's record (children)" },
	{ "referrals", "referrals" },
	{ "cin_plans", "CIN plans" },
	{ "cp_plans", "CP plans" },
	{ "allocations", "allocations" },
	{ "appointments", "appointments" },
	{ "strategies", "strategies" },
};

/* The page being built, across its queries (job->data). */
struct child_job {
	json_t *doc;     /* the chronology document so far (timeline.h) */
	int step;        /* the section asked for */
	char *cats;      /* the CP categories that count as neglect, as text[] */
};

static void child_job_free(void *data)
{
	struct child_job *c = data;

	if (!c)
		return;
	json_decref(c->doc);
	free(c->cats);
	free(c);
}

static struct child_job *child_of(struct web_job *job)
{
	return job->data;
}

static void child_next(struct web_job *job);

/* ---- the statements ---- */

static int child_merge_gap(const struct dw_config *cfg, const char *rule)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		const struct rule_def *def = cfg->rules[i].def;
		int k = strcmp(def->name, rule) == 0 ? rule_opt_index(def, "merge_gap_days") : -1;

		if (k >= 0)
			return cfg->rules[i].opts[k];
	}
	return 28;  /* RULES.md's default */
}

/* The plans statement for cin_plans or cp_plans: fixed expressions, never configuration. */
static char *child_plans_sql(int cp)
{
	const char *pairs[] = {
		"@plans@", cp ? "cp_plans" : "cin_plans",
		"@category@", cp ? "coalesce(p.latest_category, p.initial_category)" : "NULL::text",
		"@neglect@", cp ? "coalesce(p.latest_category, p.initial_category) = ANY ($3::text[])"
				: "p.neglect IS TRUE",
		"@chair@", cp ? "p.chair_id" : "NULL::text",
		NULL
	};

	return strbuf_subst_all(sql_web_child_plans, pairs);
}

static int child_send(struct web_job *job, enum child_section s, web_result_cb cb)
{
	const struct dw_config *cfg = job->ctx->cfg;
	const char *params[3] = { job->child_id, cfg->timezone, child_of(job)->cats };
	const char *text = NULL;
	char gap[16], *sql = NULL;
	int n = 1, rc;

	switch (s) {
	case SEC_CHILD: text = sql_web_child_children; break;
	case SEC_REFERRALS: text = sql_web_child_referrals; break;
	case SEC_ALLOCATIONS: text = sql_web_child_allocations; break;
	case SEC_APPOINTMENTS: text = sql_web_child_appointments; n = 2; break;
	case SEC_STRATEGIES: text = sql_web_child_strategies; break;
	case SEC_CIN:
	case SEC_CP:
		snprintf(gap, sizeof(gap), "%d", child_merge_gap(cfg, s == SEC_CP
							   ? "cp_neglect_duration"
							   : "cin_neglect_duration"));
		params[1] = gap;
		n = s == SEC_CP ? 3 : 2;
		text = sql = child_plans_sql(s == SEC_CP);
		break;
	case SEC_DONE: break;
	}
	if (!text) {
		web_job_error(job, 500, "out of memory");
		return -1;
	}
	rc = web_job_query(job, text, n, params, cb);
	free(sql);
	return rc;
}

/* ---- the answers ---- */

static void child_on_section(struct web_job *job, PGresult *res)
{
	json_error_t jerr;
	json_t *v = PQntuples(res) == 1 ? json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, &jerr)
					: NULL;

	if (!v) {
		web_job_error(job, 500, "the child's record could not be read back");
		return;
	}
	json_object_set_new(child_of(job)->doc, child_sections[child_of(job)->step].key, v);
	child_of(job)->step++;
	child_next(job);
}

/* A relation that cannot be read: said on the page and in the log (once per request), and the
 * page goes on without it. */
static void child_on_unreadable(struct web_job *job, const char *why)
{
	json_t *list = json_object_get(child_of(job)->doc, "unreadable");

	log_warn(job->ctx, "web: the child's page left out %s: %s",
		 child_sections[child_of(job)->step].words, why);
	if (!list) {
		list = json_array();
		json_object_set_new(child_of(job)->doc, "unreadable", list);
	}
	json_array_append_new(list, json_string(child_sections[child_of(job)->step].words));
	child_of(job)->step++;
	child_next(job);
}

static void child_render_and_send(struct web_job *job)
{
	struct strbuf p;
	char title[320];

	snprintf(title, sizeof(title), "Child %s", job->child_id);
	page_open(&p, "../", title, job->person);
	child_page_render(&p, child_of(job)->doc, job->today);
	page_close(&p);
	page_send(job, 200, &p);
}

static void child_next(struct web_job *job)
{
	if (child_of(job)->step >= SEC_DONE) {
		child_render_and_send(job);
		return;
	}
	job->on_error = child_on_unreadable;
	child_send(job, (enum child_section)child_of(job)->step, child_on_section);
}

/* An alert of a rule turned off is kept as it was when the rule last ran (README,
 * "Configuration"): the page says so beside it, as the lists of / and /team/{id} do, so that
 * nobody reads its stage as today's. */
static void child_mark_rules_off(const struct dw_config *cfg, json_t *alerts)
{
	size_t i;
	json_t *a;

	json_array_foreach(alerts, i, a) {
		const char *rule = json_string_value(json_object_get(a, "rule"));
		const char *status = json_string_value(json_object_get(a, "status"));
		const struct config_rule *rc = rule ? config_rule_find(cfg, rule) : NULL;

		/* a resolved alert is settled whatever its rule does now */
		if (rc && !rc->enabled && !(status && strcmp(status, "resolved") == 0))
			json_object_set_new(a, "rule_off", json_true());
	}
}

/* The alerts decide whether the page may be seen: someone who may see none of the child's
 * alerts learns nothing, not even whether the child has any. */
static void child_on_alerts(struct web_job *job, PGresult *res)
{
	json_error_t jerr;
	json_t *alerts = PQntuples(res) == 1 && PQnfields(res) == 2
		? json_loads(PQgetvalue(res, 0, 1), 0, &jerr) : NULL;
	struct strbuf p;

	if (!json_is_array(alerts)) {
		json_decref(alerts);
		web_job_error(job, 500, "the child's alerts could not be read back");
		return;
	}
	if (!job->vis.all && json_array_size(alerts) == 0) {
		json_decref(alerts);
		page_open(&p, "../", "You cannot see this child's page", job->person);
		strbuf_append(&p, "<p>A child's page shows to the people who may see one of its "
			      "alerts: the allocated worker, their supervisor and team manager, the "
			      "chair of its CP plan, the people sent its notices, and the addresses "
			      "configured to see everything.</p>\n");
		page_close(&p);
		page_send(job, 403, &p);
		return;
	}
	job->today = (int32_t)atol(PQgetvalue(res, 0, 0));
	child_mark_rules_off(job->ctx->cfg, alerts);
	json_object_set_new(child_of(job)->doc, "alerts", alerts);
	child_of(job)->step = SEC_CHILD;
	child_next(job);
}

/* The CP categories that count as neglect for cp_neglect_duration (config.h fills every
 * rule's list), as the text[] the plans statement takes. */
static char *child_categories(const struct dw_config *cfg)
{
	for (size_t i = 0; i < cfg->n_rules; i++) {
		char **cats = cfg->rules[i].neglect_categories;
		size_t n = 0;

		if (strcmp(cfg->rules[i].def->name, "cp_neglect_duration") != 0 || !cats)
			continue;
		while (cats[n])
			n++;
		return strbuf_text_array((const char *const *)cats, n);
	}
	return strdup("{NEG}");
}

static void child_start(struct web_job *job)
{
	const char *params[3] = { job->child_id, visibility_param(&job->vis),
				  job->ctx->cfg->timezone };

	child_of(job)->doc = json_pack("{s:s}", "child_id", job->child_id);
	child_of(job)->cats = child_categories(job->ctx->cfg);
	if (!child_of(job)->doc || !child_of(job)->cats) {
		web_job_error(job, 500, "out of memory");
		return;
	}
	web_job_query(job, sql_web_child_alerts, 3, params, child_on_alerts);
}

void web_child_page(struct web_server *srv, struct evhttp_request *req, const char *person,
		    const char *child_id)
{
	struct web_job *job = web_job_add(srv, req, 0, web_job_visible);

	if (!job)
		return;
	job->page = 1;
	job->person = strdup(person);
	job->child_id = strdup(child_id);
	job->data = calloc(1, sizeof(struct child_job));
	job->data_free = child_job_free;
	job->then = child_start;
	if (!job->person || !job->child_id || !job->data)
		job->run = web_job_oom;
}
