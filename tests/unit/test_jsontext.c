/* test_jsontext: JSON written as text is what jansson writes, and what jansson refuses is refused;
 * the shallow reading keeps every scalar and only the containers asked for. */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "driftwatch/jsontext.h"
#include "driftwatch/strbuf.h"
#include "tap.h"

/* What jansson writes for in, or NULL when jansson cannot read it. */
static char *jansson_compact(const char *in, int ascii)
{
	json_t *v = json_loads(in, JSON_DECODE_ANY, NULL);
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
			       (ascii ? JSON_ENSURE_ASCII : 0)) : NULL;

	json_decref(v);
	return s;
}

static void same_as_jansson(const char *in, const char *name)
{
	for (int ascii = 0; ascii <= 1; ascii++) {
		char *want = jansson_compact(in, ascii);
		struct strbuf sb;
		int rc;

		strbuf_init(&sb);
		rc = jsontext_compact(&sb, in, strlen(in), ascii);
		tap_ok(want != NULL, "%s: jansson reads it", name);
		tap_int(rc, 0, "%s (ascii %d): read", name, ascii);
		tap_str(sb.buf ? sb.buf : "", want ? want : "(none)", "%s (ascii %d): written as jansson "
			"writes it", name, ascii);
		strbuf_free(&sb);
		free(want);
	}
}

static void refused(const char *in, size_t len, const char *name)
{
	struct strbuf sb;
	json_t *v = json_loadb(in, len, JSON_DECODE_ANY, NULL);

	strbuf_init(&sb);
	tap_ok(v == NULL, "%s: jansson refuses it too", name);
	tap_int(jsontext_compact(&sb, in, len, 0), -1, "%s: refused", name);
	tap_ok(jsontext_shallow(in, len, NULL) == NULL, "%s: no shallow reading", name);
	tap_ok(jsontext_pick(in, len, NULL) == NULL, "%s: nothing picked", name);
	json_decref(v);
	strbuf_free(&sb);
}

static void test_compact(void)
{
	same_as_jansson("{\"months\" : 26, \"episode_start\" : \"2024-09-30\", \"held\" : false}",
			"json_build_object's spacing");
	same_as_jansson("{\"referrals\" : [{\"a\": 1, \"b\": null}, \n {\"a\": 2, \"b\": true}], "
			"\"n\": -3}", "json_agg's newline between elements");
	same_as_jansson(" \t\r\n{ } ", "an empty object in whitespace");
	same_as_jansson("[[], {}, [[[]]], 0, -0, 12, -45]", "empty containers and integers");
	same_as_jansson("{\"name\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbd\"}",
			"non-ASCII: BMP, an astral plane emoji, U+FFFD");
	same_as_jansson("{\"s\": \"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"}",
			"every short escape, \\/ and control characters");
	same_as_jansson("{\"s\": \"\\u00e9\\u00C9\\u20ac\\ud83d\\ude00\\uFFFD\"}",
			"\\u escapes in either case, a surrogate pair");
	same_as_jansson("\"just a string \\u00e9\"", "a string alone");
	same_as_jansson("{\"k\\u00e9y \\\"q\\\"\": [true, false, null]}", "an escaped key");
	same_as_jansson("{\"del\": \"\x7f\", \"slash\": \"a/b\"}", "DEL and slash as they are");
}

static void test_refused(void)
{
	char deep[2 * (JSONTEXT_MAX_DEPTH + 2) + 1];

	refused("{\"a\": 1} x", 10, "text after the value");
	refused("{\"a\": \"tab\there\"}", 17, "a raw control character in a string");
	refused("{\"a\": \"\\u0000\"}", 15, "\\u0000");
	refused("{\"a\": \"\\ud83d\"}", 15, "a lone high surrogate");
	refused("{\"a\": \"\\ude00x\"}", 16, "a lone low surrogate");
	refused("{\"a\": \"caf\xe9\"}", 13, "a byte that is not UTF-8");
	refused("{\"a\": \"open", 11, "an unterminated string");
	refused("{\"a\" 1}", 7, "no colon");
	refused("{\"a\": 1,}", 9, "a trailing comma");
	refused("[01]", 4, "a leading zero");
	refused("[1.]", 4, "a point without digits");
	refused("[-]", 3, "a minus alone");
	refused("[1e]", 4, "an exponent without digits");
	refused("[tru]", 5, "a cut word");
	refused("{\"a\": \"\\x\"}", 11, "an unknown escape");
	refused("", 0, "nothing");
	refused("{\"a\": 1}\0{}", 11, "a NUL inside the text");
	memset(deep, '[', JSONTEXT_MAX_DEPTH + 2);
	memset(deep + JSONTEXT_MAX_DEPTH + 2, ']', JSONTEXT_MAX_DEPTH + 2);
	deep[sizeof(deep) - 1] = '\0';
	{
		struct strbuf sb;

		strbuf_init(&sb);
		tap_int(jsontext_compact(&sb, deep, strlen(deep), 0), -1,
			"nesting deeper than JSONTEXT_MAX_DEPTH is refused");
		strbuf_free(&sb);
	}
}

static void test_string(void)
{
	const char *cases[] = { "", "plain", "q\"b\\s/", "line\nfeed\ttab\x01", "caf\xc3\xa9",
				"\xf0\x9f\x98\x80 astral", "\x7f" };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int ascii = 0; ascii <= 1; ascii++) {
			json_t *s = json_string(cases[i]);
			char *want = json_dumps(s, JSON_ENCODE_ANY | (ascii ? JSON_ENSURE_ASCII : 0));
			struct strbuf sb;

			strbuf_init(&sb);
			tap_int(jsontext_string(&sb, cases[i], ascii), 0, "string %zu (ascii %d)", i,
				ascii);
			tap_str(sb.buf, want, "string %zu (ascii %d) as jansson writes it", i, ascii);
			strbuf_free(&sb);
			free(want);
			json_decref(s);
		}
	{
		struct strbuf sb;

		strbuf_init(&sb);
		strbuf_append(&sb, "x");
		tap_int(jsontext_string(&sb, "caf\xe9", 0), -1, "a string that is not UTF-8");
		tap_str(sb.buf, "x", "and nothing of it is left");
		strbuf_free(&sb);
	}
}

static void test_shallow(void)
{
	static const char text[] =
		"{\"months\" : 26, \"big\": 123456789012345678901, \"ratio\": 1.5, \"e\": 2e3, "
		"\"start\" : \"2024-09-30\", \"who\": \"O\\u2019Brien \\\"Jo\\\"\", \"held\": true, "
		"\"lapsed\": false, \"none\": null, \"list\": [1, {\"x\": [2]}], "
		"\"strategy\": {\"kind\": \"plo\", \"decided_on\": \"2025-09-10\"}, \"months\": 27}";
	static const char *const nested[] = { "strategy", NULL };
	json_t *full = json_loads("{\"strategy\": {\"kind\": \"plo\", \"decided_on\": \"2025-09-10\"}}",
				  0, NULL);
	json_t *o = jsontext_shallow(text, strlen(text), nested);

	tap_ok(o != NULL, "an object is read");
	tap_int(json_integer_value(json_object_get(o, "months")), 27,
		"a repeated key: the last value, as jansson keeps it");
	tap_ok(json_is_real(json_object_get(o, "big")), "an integer too big to hold is a real");
	tap_ok(json_is_real(json_object_get(o, "ratio")) &&
	       json_real_value(json_object_get(o, "ratio")) == 1.5, "a real");
	tap_ok(json_real_value(json_object_get(o, "e")) == 2000.0, "an exponent is a real");
	tap_str(json_string_value(json_object_get(o, "start")), "2024-09-30", "a date string");
	tap_str(json_string_value(json_object_get(o, "who")), "O\xe2\x80\x99" "Brien \"Jo\"",
		"escapes decoded");
	tap_ok(json_is_true(json_object_get(o, "held")) && json_is_false(json_object_get(o, "lapsed"))
	       && json_is_null(json_object_get(o, "none")), "true, false and null");
	tap_ok(json_object_get(o, "list") == NULL, "a list not asked for is left out");
	tap_ok(json_equal(json_object_get(o, "strategy"), json_object_get(full, "strategy")),
	       "an object asked for is read whole");
	json_decref(o);
	json_decref(full);
	tap_ok(jsontext_shallow("[1]", 3, NULL) == NULL, "an array is not an object");
	tap_ok(jsontext_shallow("\"s\"", 3, NULL) == NULL, "nor is a string");
	o = jsontext_shallow(" {} ", 4, NULL);
	tap_int(o ? (long long)json_object_size(o) : -1, 0, "an empty object");
	json_decref(o);
	tap_ok(jsontext_shallow("{\"a\": [1, }", 11, NULL) == NULL,
	       "a list left out is still checked");
}

/* Only the members asked for, of any kind; the rest checked all the same. */
static void test_pick(void)
{
	static const char text[] =
		"{\"rule\": \"re_referral\", \"facts\": {\"referrals\": [{\"id\": \"R-1\"}]}, "
		"\"summary\": \"long words\", \"months\": 7, \"child_id\": \"C-\\u00e9\", "
		"\"recipients\": [{\"email\": \"a@b\"}], \"none\": null}";
	static const char *const keys[] = { "rule", "child_id", "recipients", "missing", NULL };
	static const char good[] = "{\"rule\": \"x\", \"facts\": {\"a\": [1, 2]}}";
	static const char cut[] = "{\"rule\": \"x\", \"facts\": {\"a\": [1, ]}}";
	static const char lone[] = "{\"rule\": \"x\", \"s\": \"\\ud800\"}";
	json_t *full = json_loads(text, 0, NULL);
	json_t *o = jsontext_pick(text, strlen(text), keys);

	tap_int(o ? (long long)json_object_size(o) : -1, 3, "pick: the three members asked for "
		"that are there");
	tap_str(json_string_value(json_object_get(o, "rule")), "re_referral", "pick: a string");
	tap_str(json_string_value(json_object_get(o, "child_id")), "C-\xc3\xa9",
		"pick: a string's escapes decoded");
	tap_ok(json_equal(json_object_get(o, "recipients"), json_object_get(full, "recipients")),
	       "pick: a list asked for is read whole");
	tap_ok(!json_object_get(o, "facts") && !json_object_get(o, "summary") &&
	       !json_object_get(o, "months"), "pick: containers and scalars not asked for are "
	       "left out");
	json_decref(o);
	json_decref(full);
	o = jsontext_pick(text, strlen(text), NULL);
	tap_int(o ? (long long)json_object_size(o) : -1, 0, "pick: no keys, an empty object");
	json_decref(o);
	o = jsontext_pick(good, strlen(good), keys);
	tap_ok(o && json_object_size(o) == 1, "pick: the good object beside the bad ones is read");
	json_decref(o);
	tap_ok(jsontext_pick(cut, strlen(cut), keys) == NULL,
	       "pick: a member left out is still checked");
	tap_ok(jsontext_pick(lone, strlen(lone), keys) == NULL,
	       "pick: a lone surrogate in a string left out is refused, as jansson refuses it");
}

int main(void)
{
	test_compact();
	test_refused();
	test_string();
	test_shallow();
	test_pick();
	return tap_status();
}
