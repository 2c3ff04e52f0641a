/* page: the frame of every page for people on web.listen, and the headers each is sent with. */
#ifndef DRIFTWATCH_PAGE_H
#define DRIFTWATCH_PAGE_H

struct evhttp_request;
struct strbuf;
struct web_job;

/* Opens a page into p (initialised here): doctype, head with the title and the stylesheet,
 * a skip link, the header (the navigation, and who is signed in when person is not NULL),
 * <main> and the <h1>. root is the relative path from the page back to web.listen's root (""
 * for "/", "../" one level down): every link and form stays relative, so the prefix the
 * authority's reverse proxy puts in front (web.public_url's path) keeps working. */
void page_open(struct strbuf *p, const char *root, const char *title, const char *person);

/* Closes <main>, the body and the document. */
void page_close(struct strbuf *p);

/* Sends p as text/html (then frees it) with the pages' headers: a Content-Security-Policy
 * with no script at all and nothing loaded from elsewhere, no referrer to another site, no
 * framing. 500 when p could not be built (out of memory). */
void page_send(struct web_job *job, int code, struct strbuf *p);

/* page_send for an answer given at once, before any job (a refusal that needs no database). A
 * Referrer-Policy already on req (a page whose address holds a token says no-referrer) is kept
 * by both. */
void page_reply(struct evhttp_request *req, int code, struct strbuf *p);

#endif
