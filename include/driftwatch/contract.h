/* contract: the relations and columns driftwatch reads (CONTRACT.md), and checking a schema. */
#ifndef DRIFTWATCH_CONTRACT_H
#define DRIFTWATCH_CONTRACT_H

#include <stddef.h>

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

/* Whether an information_schema data_type is usable for a contract type. */
int contract_type_usable(enum contract_type want, const char *data_type);

#endif
