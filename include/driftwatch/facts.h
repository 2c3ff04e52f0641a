/* facts: reading an alert's facts object and wording dates for the sentences people read. */
#ifndef DRIFTWATCH_FACTS_H
#define DRIFTWATCH_FACTS_H

#include <stdbool.h>
#include <jansson.h>

/* The string under key, or fallback when absent, null or not a string. */
const char *facts_str(const json_t *facts, const char *key, const char *fallback);
/* The integer under key, or fallback. */
long long facts_int(const json_t *facts, const char *key, long long fallback);
/* true only when key holds JSON true. */
bool facts_true(const json_t *facts, const char *key);

/* "2025-08-14" -> "14 Aug 2025"; anything unparsable is copied as it is. */
void facts_date_words(const char *iso, char *out, size_t outlen);
/* 1 -> "1st", 2 -> "2nd", 11 -> "11th" ... */
void facts_ordinal(long long n, char *out, size_t outlen);

#endif
