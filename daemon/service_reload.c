/* service_reload: a new configuration's case schema is asked about before it is applied. */
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "driftwatch/config.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/log.h"
#include "driftwatch/sdnotify.h"
#include "driftwatch/service.h"

/* --check-config refuses a case schema that does not exist, but a SIGHUP applied it, and every
 * rule then failed until someone noticed (audit 16). Asked on the evaluation's connection, which
 * is on the case database and idle while a reload waits. A new database.conninfo is not asked
 * about here: those connections are made after the reload, and their failure is said then. */
#define SERVICE_RELOAD_SCHEMA_SQL \
	"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)"

struct service_reload_ask {
	struct service *svc;
	unsigned gen;                 /* the staged configuration asked about */
};

static int service_reload_wants_check(const struct service *svc)
{
	const struct dw_config *old = svc->ctx->cfg, *cfg = svc->reload;

	return svc->reload_checked != svc->reload_gen &&
	       strcmp(old->conninfo, cfg->conninfo) == 0 &&
	       strcmp(old->case_schema, cfg->case_schema) != 0;
}

static void service_reload_refuse(struct service *svc)
{
	log_err(svc->ctx, "reload: %s: database.case_schema: schema \"%s\" does not exist in the "
		"case database (database.conninfo); keeping the configuration in use",
		svc->reload->path, svc->reload->case_schema);
	config_free(svc->reload);
	free(svc->reload);
	svc->reload = NULL;
	sdnotify_ready(svc->sd);
}

static void service_reload_on_schema(struct db_conn *conn, PGresult *res, void *arg)
{
	struct service_reload_ask *a = arg;
	struct service *svc = a->svc;
	int ok = res && PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;

	svc->reload_asking = 0;
	/* Another SIGHUP while asking: the answer was about a configuration no longer staged. */
	if (svc->reload && a->gen == svc->reload_gen) {
		svc->reload_checked = a->gen;
		if (ok && strcmp(PQgetvalue(res, 0, 0), "f") == 0)
			service_reload_refuse(svc);
		else if (!ok && !service_stopping(svc))
			log_warn(svc->ctx, "reload: could not ask whether case schema \"%s\" exists "
				 "(%s); applying the configuration", svc->reload->case_schema,
				 res ? PQresultErrorMessage(res) : db_error(conn));
	}
	free(a);
	if (!service_stopping(svc))
		service_kick(svc);
}

int service_reload_check(struct service *svc)
{
	const char *params[1];
	struct service_reload_ask *a;
	struct db_conn *db = svc->conns[CONN_EVAL].db;

	if (svc->reload_asking)
		return 1;
	if (!service_reload_wants_check(svc) || !db || !db_is_up(db) || db_busy(db))
		return 0;
	a = malloc(sizeof(*a));
	if (!a)
		return 0;
	a->svc = svc;
	a->gen = svc->reload_gen;
	params[0] = svc->reload->case_schema;
	if (db_query(db, SERVICE_RELOAD_SCHEMA_SQL, 1, params, service_reload_on_schema, a) < 0) {
		free(a);
		return 0;
	}
	svc->reload_asking = 1;
	return 1;
}
