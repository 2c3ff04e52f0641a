/* web_pages: the pages for people on web.listen (RESPONSES.md, "Pages for people"). */
#ifndef DRIFTWATCH_WEB_PAGES_H
#define DRIFTWATCH_WEB_PAGES_H

struct evhttp_request;
struct web_server;

/* Each page's handler, called by the pages' router once the person is known (signed in through
 * the sign-on proxy; person is their email as visibility_person made it, copied by the callee
 * when it keeps it). The handler answers req itself, as page.h frames it. */
void web_child_page(struct web_server *srv, struct evhttp_request *req, const char *person,
		    const char *child_id);
void web_service_page(struct web_server *srv, struct evhttp_request *req, const char *person);

#endif
