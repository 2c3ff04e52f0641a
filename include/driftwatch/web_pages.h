/* web_pages: the pages for people on web.listen (RESPONSES.md, "Pages for people"). */
#ifndef DRIFTWATCH_WEB_PAGES_H
#define DRIFTWATCH_WEB_PAGES_H

struct evhttp_request;
struct web_job;
struct web_server;

/* The pages' router, for every path that is not /r/ nor /api/v1/: GET (or HEAD) "/" (my
 * alerts), "/team/{team_id}", "/child/{child_id}", "/service", and POST "/answer" (the answer
 * forms). Someone not signed in through the sign-on proxy gets a plain 401 page saying how to
 * sign in; another method 405 with Allow; another path 404. Path segments are percent-decoded. */
void web_pages_handle(struct web_server *srv, struct evhttp_request *req, const char *path);

/* A plain page saying msg with code, nothing about any alert (403, 404, 503, ...). */
void web_pages_error(struct web_job *job, int code, const char *msg);

/* Each page's handler, called by the pages' router once the person is known (signed in through
 * the sign-on proxy; person is their email as visibility_person made it, copied by the callee
 * when it keeps it). The handler answers req itself, as page.h frames it. */
void web_mine_page(struct web_server *srv, struct evhttp_request *req, const char *person);
void web_team_page(struct web_server *srv, struct evhttp_request *req, const char *person,
		   const char *team_id);
void web_child_page(struct web_server *srv, struct evhttp_request *req, const char *person,
		    const char *child_id);
void web_service_page(struct web_server *srv, struct evhttp_request *req, const char *person);

/* /service's figures for everyone, kept between requests (web.h, web_service_cache_slot). */
struct web_service_cache;
void web_service_cache_free(struct web_service_cache *cache);

#endif
