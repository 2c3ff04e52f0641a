/* test_utf8: what a SQL_ASCII database can hand driftwatch, and what it shows of it. */
#include <stdlib.h>
#include <string.h>

#include "driftwatch/utf8.h"
#include "tap.h"

static void check(const char *in, const char *want, size_t want_fixes, const char *name)
{
	size_t fixes = 99;
	char *out = utf8_repair(in, &fixes);

	tap_str(out, want, "%s: text", name);
	tap_int((long long)fixes, (long long)want_fixes, "%s: replacements", name);
	tap_int(utf8_valid(in), want_fixes == 0, "%s: valid in", name);
	tap_int(out ? utf8_valid(out) : 0, 1, "%s: valid out", name);
	free(out);
}

int main(void)
{
	check("", "", 0, "empty");
	check("C-1042 caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "C-1042 caf\xc3\xa9 \xe2\x82\xac "
	      "\xf0\x9f\x98\x80", 0, "well-formed text is copied as it is");
	check("caf\xe9", "caf\xef\xbf\xbd", 1, "a Latin-1 byte becomes one U+FFFD");
	check("\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd", 2, "each stray byte is one U+FFFD");
	check("\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", 2, "an overlong slash is two");
	check("\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3, "a surrogate is three");
	check("\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 4,
	      "past U+10FFFF is four");
	check("\xe2\x82", "\xef\xbf\xbd", 1, "a truncated sequence at the end is one");
	check("\xe2\x82x", "\xef\xbf\xbdx", 1, "a truncated sequence before ASCII is one");
	check("\xf0\x9f\x98", "\xef\xbf\xbd", 1, "a truncated four-byte sequence is one");
	check("a\x80" "b", "a\xef\xbf\xbd" "b", 1, "a lone continuation byte is one");
	tap_int((long long)utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 3), 3,
		"a whole three-byte sequence");
	tap_int((long long)utf8_seq_len((const unsigned char *)"\xe2\x82\xac", 2), 0,
		"the same cut short by its bound, though the bytes go on");
	tap_int((long long)utf8_seq_len((const unsigned char *)"a", 0), 0, "nothing to read");
	tap_int((long long)utf8_seq_len((const unsigned char *)"\xed\xa0\x80", 3), 0,
		"a surrogate is not well-formed");
	return tap_status();
}
