/* jsontext: JSON text written as text, without building a tree (an evaluation writes hundreds of
 * thousands of alerts, and parsing each one's facts only to write them again was most of its
 * own work). What it writes is byte for byte what jansson's json_dumps writes for the same
 * value with JSON_COMPACT (and JSON_ENSURE_ASCII when ascii is set), numbers apart: those are
 * written as given. */
#ifndef DRIFTWATCH_JSONTEXT_H
#define DRIFTWATCH_JSONTEXT_H

#include <stddef.h>

#include <jansson.h>

struct strbuf;

/* Appends the JSON value in the first len bytes of in (one value, any whitespace around and
 * inside it) to out, compact. Returns 0, or -1 when in is not one JSON value as jansson would
 * read it (bad syntax, text that is not UTF-8, a control character in a string, \u0000 or a
 * lone surrogate, nesting deeper than JSONTEXT_MAX_DEPTH); out then holds a partial value, and
 * the caller truncates it. Allocation failure is the strbuf's (out->failed). */
#define JSONTEXT_MAX_DEPTH 256
int jsontext_compact(struct strbuf *out, const char *in, size_t len, int ascii);

/* Appends s (NUL-terminated UTF-8) as a JSON string literal, quotes included. Returns 0, or -1
 * when s is not UTF-8 (nothing appended). */
int jsontext_string(struct strbuf *out, const char *s, int ascii);

/* The JSON object in the first len bytes of text, read only as deep as its reader needs: its
 * members holding strings, numbers, true, false or null, and those holding an object or array
 * whose key is in nested (NULL-terminated; may be NULL); any other container is checked and
 * left out. A new reference, or NULL when text is not one JSON object (as jsontext_compact
 * decides) or memory ran out. A rule's summary reads a few facts of an alert, and building the
 * lists it never reads was half the work of turning rows into alerts. */
json_t *jsontext_shallow(const char *text, size_t len, const char *const *nested);

/* The JSON object in the first len bytes of text with only the members whose key is in keys
 * (NULL-terminated; NULL: none), whatever they hold; the rest are checked and left out. NULL
 * as jsontext_shallow. A digest of tens of thousands of notices is ordered by four members of
 * each alert. */
json_t *jsontext_pick(const char *text, size_t len, const char *const *keys);

#endif
