/* contract_rls: row-level security that may hide children from the rules, asked and compared. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/config.h"
#include "driftwatch/contract.h"
#include "driftwatch/ctx.h"
#include "driftwatch/db.h"
#include "driftwatch/log.h"
#include "driftwatch/sqltext.h"
#include "driftwatch/strbuf.h"

int contract_ask_rls(const struct dw_ctx *ctx, struct db_conn *conn, db_result_cb cb, void *arg)
{
	char *rels = contract_relations_array();
	const char *params[2] = { ctx->cfg->case_schema, rels };
	int rc = rels ? db_query(conn, sql_contract_rls, 2, params, cb, arg) : -1;

	free(rels);
	return rc;
}

char *contract_rls_text(const PGresult *res)
{
	struct strbuf sb;

	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK)
		return NULL;
	strbuf_init(&sb);
	for (int r = 0; r < PQntuples(res); r++)
		strbuf_printf(&sb, "%s\n", PQgetvalue(res, r, 0));
	return strbuf_take(&sb);
}

/* Whether text, lines ending in '\n', holds line (of len bytes, without its '\n') whole. */
static int rls_has_line(const char *text, const char *line, size_t len)
{
	for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (strncmp(p, line, len) == 0 && p[len] == '\n')
			return 1;
	return 0;
}

/* A policy switched on while the daemon runs hides children from the next evaluation, which
 * then resolves their alerts as if their cases had moved on: the start-up warning alone let
 * that pass without a word (audit 12, F6). */
void contract_rls_changed(const struct dw_ctx *ctx, const char *before, const char *now)
{
	const char *nl;

	if (!before || !now)
		return;
	for (const char *p = now; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			break;
		if (!rls_has_line(before, p, (size_t)(nl - p)))
			log_warn(ctx, "database (%s: database.case_schema): since the last evaluation, "
				 "%.*s; the alerts of children it hides are resolved as if their cases "
				 "had moved on", ctx->cfg->path, (int)(nl - p), p);
	}
	if (*before && !*now)
		log_notice(ctx, "database (%s: database.case_schema): row-level security no longer "
			   "hides rows of the contract's relations from the rules", ctx->cfg->path);
}
