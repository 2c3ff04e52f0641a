/* web_api: the JSON API on web.listen (RESPONSES.md, "The JSON API"). */
#ifndef DRIFTWATCH_WEB_API_H
#define DRIFTWATCH_WEB_API_H

struct evhttp_request;
struct web_job;
struct web_server;

/* path is what follows "/api/v1/": "alerts", "alerts/{fingerprint}",
 * "alerts/{fingerprint}/acknowledge|snooze|unsnooze". */
void web_api_handle(struct web_server *srv, struct evhttp_request *req, const char *path);

/* {"error": msg} with code. */
void web_api_error(struct web_job *job, int code, const char *msg);

#endif
