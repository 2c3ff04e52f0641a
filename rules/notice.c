/* notice: the words and flags a notice keeps from its rule, fixed when the change is recorded. */
#include <stdlib.h>

#include "driftwatch/alert.h"
#include "driftwatch/notice.h"
#include "driftwatch/rule.h"
#include "driftwatch/strbuf.h"

/* The words in sb as a JSON string (NULL when out of memory). */
static json_t *notice_words(struct strbuf *sb)
{
	char *s = strbuf_take(sb);
	json_t *v = s ? json_string(s) : NULL;

	free(s);
	return v;
}

static json_t *notice_subject(const struct alert *a)
{
	struct strbuf sb;

	if (!a->subject_id || !a->rule->subject_words)
		return json_null();
	strbuf_init(&sb);
	strbuf_printf(&sb, "%s %s", a->rule->subject_words, a->subject_id);
	return notice_words(&sb);
}

static json_t *notice_update(const struct alert *a)
{
	struct strbuf sb;

	if (!a->rule->update_words)
		return json_null();
	strbuf_init(&sb);
	a->rule->update_words(a, &sb);
	return notice_words(&sb);
}

json_t *notice_for(const struct alert *a, const char *role)
{
	const struct rule_stage *st = &a->rule->stages[a->stage];
	const char *expected = role ? rule_expected(st, role) : NULL;
	json_t *o = json_object();

	if (!o)
		return NULL;
	/* json_object_set_new steals the reference even when it fails: no leak on the way */
	json_object_set_new(o, "label", json_string(st->label));
	json_object_set_new(o, "label_many", json_string(st->label_many));
	json_object_set_new(o, "subject", notice_subject(a));
	json_object_set_new(o, "expected", expected ? json_string(expected) : json_null());
	json_object_set_new(o, "update", notice_update(a));
	json_object_set_new(o, "urgent", json_boolean(rule_urgent(a)));
	json_object_set_new(o, "seriousness", json_integer(st->seriousness));
	if (json_object_size(o) != 7) {
		json_decref(o);
		return NULL;
	}
	return o;
}
