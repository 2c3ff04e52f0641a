/* web_pages_pending: TEMPORARY stand-ins answering "not built yet" for /service until its branch lands (the lead deletes this file at merge). */
#include <event2/http.h>

#include "driftwatch/html.h"
#include "driftwatch/page.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/web_pages.h"

static void web_pages_pending(struct evhttp_request *req, const char *root, const char *person)
{
	struct strbuf p;

	page_open(&p, root, "Not built yet", person);
	strbuf_append(&p, "<p>This page is not built yet.</p>\n");
	page_close(&p);
	page_reply(req, 404, &p);
}

void web_service_page(struct web_server *srv, struct evhttp_request *req, const char *person)
{
	(void)srv;
	web_pages_pending(req, "", person);
}
