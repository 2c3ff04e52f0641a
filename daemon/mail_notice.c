/* mail_notice: a digest's notice, its alert read whole only when it is shown or listed. */
#include <jansson.h>

#include "driftwatch/mail.h"

const char *const mail_notice_head_keys[] = { "rule", "stage", "family_id", "child_id", NULL };

json_t *mail_notice_alert(const struct mail_notice *n)
{
	if (!n->alert_text)
		return json_incref((json_t *)n->alert);
	/* the text passed jsontext_pick's check of the whole object when the notice was
	 * made, so jansson reads it as it always did */
	return json_loadb(n->alert_text, n->alert_len, 0, NULL);
}
