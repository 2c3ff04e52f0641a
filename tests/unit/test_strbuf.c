/* test_strbuf: the growing string every SQL text, log line and message body is built in. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "driftwatch/strbuf.h"
#include "tap.h"

static void test_empty(void)
{
	struct strbuf sb;
	char *s;

	/* Found by ASan: a buffer nothing was appended to came back unterminated. */
	strbuf_init(&sb);
	s = strbuf_take(&sb);
	tap_str(s, "", "taking a buffer nothing was appended to gives the empty string");
	free(s);
	strbuf_init(&sb);
	strbuf_append(&sb, "");
	s = strbuf_take(&sb);
	tap_str(s, "", "appending the empty string gives the empty string");
	free(s);
}

static void test_growth(void)
{
	struct strbuf sb;
	char *s;
	size_t want = 0;

	strbuf_init(&sb);
	for (int i = 0; i < 1000; i++) {
		strbuf_printf(&sb, "%d,", i);
		want += (size_t)snprintf(NULL, 0, "%d,", i);
	}
	s = strbuf_take(&sb);
	tap_int((long long)(s ? strlen(s) : 0), (long long)want,
		"a thousand printfs keep every byte (%zu)", want);
	tap_ok(s && strncmp(s, "0,1,2,", 6) == 0 && strcmp(s + want - 4, "999,") == 0,
	       "and in order");
	free(s);
}

static void test_take_fits(void)
{
	struct strbuf sb;
	char chunk[1000];
	char *s;
	size_t len;

	/* A digest's message is taken and then kept until it is sent: doubling had left up to
	 * half as much again unused behind each (a first day's continuations, 6 MB apiece). */
	memset(chunk, 'x', sizeof(chunk));
	strbuf_init(&sb);
	for (int i = 0; i < 1100; i++)
		strbuf_appendn(&sb, chunk, sizeof(chunk));
	tap_ok(sb.cap >= 2 * 1024 * 1024, "1.1 MB appended grew the buffer to %zu bytes", sb.cap);
	len = sb.len;
	s = strbuf_take(&sb);
	tap_ok(s && malloc_usable_size(s) < len + 65536,
	       "strbuf_take gives back the slack: %zu usable for %zu bytes",
	       s ? malloc_usable_size(s) : (size_t)0, len);
	tap_ok(s && strlen(s) == len && s[len - 1] == 'x', "and keeps every byte");
	free(s);
}

static void test_reserve(void)
{
	struct strbuf sb;
	char chunk[1000];
	size_t cap;
	char *buf;

	/* A digest's base64 list is reserved before it is written: one allocation of its size */
	memset(chunk, 'y', sizeof(chunk));
	strbuf_init(&sb);
	strbuf_append(&sb, "head ");
	strbuf_reserve(&sb, 1100 * sizeof(chunk));
	cap = sb.cap;
	buf = sb.buf;
	tap_ok(cap == 5 + 1100 * sizeof(chunk) + 1, "reserving 1.1 MB after 5 bytes makes room "
	       "for just that: %zu bytes", cap);
	for (int i = 0; i < 1100; i++)
		strbuf_appendn(&sb, chunk, sizeof(chunk));
	tap_ok(sb.cap == cap && sb.buf == buf && !sb.failed,
	       "appending the 1.1 MB reserved does not grow it again (%zu bytes)", sb.cap);
	strbuf_append(&sb, "!");
	tap_ok(sb.cap > cap && sb.len == 5 + 1100 * sizeof(chunk) + 1 &&
	       sb.buf[sb.len - 1] == '!' && strncmp(sb.buf, "head y", 6) == 0,
	       "one byte more grows it as usual, every byte kept");
	strbuf_reserve(&sb, 10);
	tap_ok(sb.cap > sb.len + 10, "reserving less than the room there is changes nothing");
	strbuf_free(&sb);
}

static void test_subst(void)
{
	char *s = strbuf_subst("FROM @case@.a JOIN @case@.b", "@case@", "\"x\"");

	tap_str(s, "FROM \"x\".a JOIN \"x\".b", "strbuf_subst replaces every occurrence");
	free(s);
	s = strbuf_subst("no marker", "@case@", "x");
	tap_str(s, "no marker", "strbuf_subst without the marker copies the text");
	free(s);
}

static void test_subst_all(void)
{
	const char *pairs[] = { "@state@", "\"@case@\"", "@case@", "\"cw\"", NULL };
	char *s = strbuf_subst_all("@case@.t; @state@.s; @case@@state@", pairs);

	/* one pass: the state schema's name, which holds a token, is not substituted again */
	tap_str(s, "\"cw\".t; \"@case@\".s; \"cw\"\"@case@\"",
		"strbuf_subst_all replaces each token in one pass, in text order");
	free(s);
}

static void test_text_array(void)
{
	const char *const ids[] = { "C-1", "a,b", "say \"hi\"", "back\\slash", "{}" };
	char *s = strbuf_text_array(ids, 5);

	tap_str(s, "{\"C-1\",\"a,b\",\"say \\\"hi\\\"\",\"back\\\\slash\",\"{}\"}",
		"a text[] literal quotes every id and escapes quotes and backslashes");
	free(s);
	s = strbuf_text_array(NULL, 0);
	tap_str(s, "{}", "no ids give the empty array");
	free(s);
}

int main(void)
{
	test_empty();
	test_growth();
	test_take_fits();
	test_reserve();
	test_subst();
	test_subst_all();
	test_text_array();
	return tap_status();
}
