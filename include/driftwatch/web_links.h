/* web_links: the pages behind the links in notices (RESPONSES.md, "Links in notices"). */
#ifndef DRIFTWATCH_WEB_LINKS_H
#define DRIFTWATCH_WEB_LINKS_H

struct evhttp_request;
struct web_job;
struct web_server;

/* GET (or HEAD) /r/{token}: the alert and its form, changing nothing; POST /r/{token} with the
 * form's fields (application/x-www-form-urlencoded, "form" the FORM_* token): records the
 * response as the token's recipient through "link". token is the path after "/r/". */
void web_links_handle(struct web_server *srv, struct evhttp_request *req, const char *token);

/* A plain page saying msg, nothing about the alert. */
void web_links_error(struct web_job *job, int code, const char *msg);

#endif
