/* facts: small readers over an alert's facts, shared by every rule's summary sentence. */
#include <stdio.h>
#include <string.h>

#include "driftwatch/facts.h"

const char *facts_str(const json_t *facts, const char *key, const char *fallback)
{
	const json_t *v = json_object_get(facts, key);

	return json_is_string(v) ? json_string_value(v) : fallback;
}

long long facts_int(const json_t *facts, const char *key, long long fallback)
{
	const json_t *v = json_object_get(facts, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : fallback;
}

bool facts_true(const json_t *facts, const char *key)
{
	return json_is_true(json_object_get(facts, key));
}

void facts_date_words(const char *iso, char *out, size_t outlen)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int y, m, d;
	char tail;

	if (!iso || sscanf(iso, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12) {
		snprintf(out, outlen, "%s", iso ? iso : "an unknown date");
		return;
	}
	snprintf(out, outlen, "%d %s %d", d, months[m - 1], y);
}

void facts_ordinal(long long n, char *out, size_t outlen)
{
	const char *suffix = "th";
	long long last2 = n % 100;

	if (last2 < 11 || last2 > 13) {
		switch (n % 10) {
		case 1: suffix = "st"; break;
		case 2: suffix = "nd"; break;
		case 3: suffix = "rd"; break;
		default: break;
		}
	}
	snprintf(out, outlen, "%lld%s", n, suffix);
}
