/* contract: the relations and columns driftwatch reads (CONTRACT.md), and checking a schema. */
#ifndef DRIFTWATCH_CONTRACT_H
#define DRIFTWATCH_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "driftwatch/db.h"

struct errlist;

enum contract_type { CONTRACT_TEXT, CONTRACT_DATE, CONTRACT_BOOL, CONTRACT_TIMESTAMPTZ };

struct contract_column {
	const char *relation;
	const char *column;
	enum contract_type type;
};

/* The contract, one entry per column, grouped by relation. */
const struct contract_column *contract_columns(size_t *n);

/* The SQL that lists the relations and columns of schema $1 visible to this user:
 * rows (relation, column, data_type, can_select). */
extern const char contract_catalog_sql[];

/* Compares the catalogue rows with the contract; adds one message per relation missing,
 * column missing, column of an unusable type or relation not readable. Returns the number
 * of problems found. */
size_t contract_compare(const char *schema, const char *const *rows, size_t n_rows,
			struct errlist *errs);

/* The columns of those rows whose type is not usable, one bit each in contract_columns()
 * order (the start's check keeps it in ctx->case_mistyped). */
uint64_t contract_mistyped(const char *const *rows, size_t n_rows);

/* Writes into buf ("S.R.C, S.R.C") the columns of relation in set; returns how many. */
size_t contract_mistyped_say(uint64_t set, const char *schema, const char *relation, char *buf,
			     size_t size);

/* Whether an information_schema data_type is usable for a contract type. */
int contract_type_usable(enum contract_type want, const char *data_type);

/* The indexes rules/contract_indexes.sql recommends. A full evaluation needs none of them;
 * an evaluation of a few children reads whole relations without them. */
struct contract_index {
	const char *relation;
	const char *name;       /* as contract_indexes.sql names it */
	const char *columns;    /* "(child_id, start_date)" */
	const char *lead;       /* the column an index must lead with to serve */
	const char *predicate;  /* "outcome = 'was_not_brought'", or NULL */
};

const struct contract_index *contract_indexes(size_t *n);

/* The SQL that lists, for schema $1, each relation of the contract with its kind and the first
 * column of each of its valid indexes: rows (relation, relkind, lead_column or NULL). */
extern const char contract_index_sql[];

/* Compares those rows with contract_indexes(): adds to notes one message per recommended index
 * missing from a table (with the CREATE INDEX statement that adds it, the schema given as an
 * escaped identifier) or per relation that is a view (the index belongs on the table behind
 * it). Relations missing altogether are contract_compare's to report. Returns the number of
 * messages added. */
size_t contract_index_advice(const char *schema_ident, const char *const *rows, size_t n_rows,
			     struct errlist *notes);

struct dw_ctx;
struct db_conn;

/* Checks the recommended indexes on conn (connected) and logs one notice naming what is
 * missing, for the daemon's start; nothing when every index is there. Returns 0 if the query
 * was sent. */
int contract_note_indexes(struct dw_ctx *ctx, struct db_conn *conn);

/* ---- empty relations (contract_empty.c) ---- */

struct config_rule;

/* The contract's relations, in contract_columns() order: how many, and the i-th name. */
size_t contract_relation_count(void);
const char *contract_relation(size_t i);

/* The contract's relations as a text[] literal ("{teams,workers,...}"), to free; NULL when
 * memory ran out. */
char *contract_relations_array(void);

/* ---- row-level security (contract_rls.c) ---- */

/* Asks conn which contract relations row-level security may hide rows of from this role
 * (daemon/sql/contract_rls.sql: one row each, a sentence). 0 when the query was sent. */
int contract_ask_rls(const struct dw_ctx *ctx, struct db_conn *conn, db_result_cb cb, void *arg);

/* contract_ask_rls's answer as its sentences, one a line ("" for none), to free; NULL when
 * the question failed or memory ran out. */
char *contract_rls_text(const PGresult *res);

/* Logs what changed between two contract_rls_text answers (before NULL: nothing known, so
 * nothing is said): a warning for each sentence that is new, a notice when the last one went. */
void contract_rls_changed(const struct dw_ctx *ctx, const char *before, const char *now);

/* Whether statement sql reads relation of the case schema. The rules name each relation they
 * read as @case@.NAME (rules/rows_NAME.sql; rules/tail_rows.sql's four for every rule), so this
 * reads it from a rule's own text (rule_def.sql), never from a list kept beside it. */
bool contract_sql_reads(const char *sql, const char *relation);

/* Adds to warnings one message saying relation (of schema, configured in file) is empty and
 * which of the enabled rules in rules[0..n_rules) it leaves blind, or that every rule reads
 * it, or that no enabled rule does. */
void contract_empty_warning(const char *file, const char *schema, const char *relation,
			    const struct config_rule *rules, size_t n_rules,
			    struct errlist *warnings);

typedef void (*contract_empty_cb)(void *arg);

/* Asks conn (connected), one `SELECT EXISTS (SELECT 1 FROM rel)` per contract relation of the
 * case schema, which relations hold no row, adding contract_empty_warning's message to
 * warnings for each (warnings NULL: logs it, a warning when it blinds a rule); a relation that
 * cannot be asked (missing, not granted: contract_compare names why) adds a note (notes NULL:
 * logs it at debug). Calls cb(arg), unless cb is NULL, when done, possibly before returning.
 * Returns -1, cb not called, if nothing could be started. */
/* A relation the role may SELECT whose query is still refused (a view with security_invoker
 * over tables the role may not read: every rule reading it fails) adds a line to problems
 * (problems NULL: logs it as an error). */
int contract_check_empty(struct dw_ctx *ctx, struct db_conn *conn, struct errlist *warnings,
			 struct errlist *notes, struct errlist *problems, contract_empty_cb cb,
			 void *arg);

/* The daemon's start (and the one-shot runs'): logs one line per empty contract relation
 * naming the enabled rules it leaves blind, as --check-config warns, then calls cb(arg). The
 * checks are sent one after another, each in an implicit transaction of its own: nothing may
 * open a transaction on conn until cb, or a check queued behind its BEGIN would run inside it,
 * and a check that fails (a relation locked, missing or not granted) would abort it. Returns
 * -1, cb not called, if nothing could be started. rls_said, unless NULL, receives
 * contract_rls_text of the row-level security asked about on the way (the daemon asks again
 * after each full evaluation and says only what changed). */
int contract_note_empty(struct dw_ctx *ctx, struct db_conn *conn, char **rls_said,
			contract_empty_cb cb, void *arg);

#endif
