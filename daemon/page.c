/* page: the frame of every page for people on web.listen, and the headers each is sent with. */
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "driftwatch/html.h"
#include "driftwatch/http.h"
#include "driftwatch/page.h"
#include "driftwatch/strbuf.h"
#include "driftwatch/web.h"

/* Written for this project, inline (nothing is loaded from elsewhere; the policy allows inline
 * style, never script). Colours keep 4.5:1 on their backgrounds; focus is always visible; print
 * drops the navigation and the forms. */
static const char page_css[] =
	"*{box-sizing:border-box}"
	"body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;"
	"color:#1f2937;background:#fff;line-height:1.5}"
	".skip{position:absolute;left:-999px}.skip:focus{left:1em;top:1em;background:#fff;"
	"padding:.5em;z-index:2}"
	"header{background:#0b3d6e;color:#fff;padding:.6em 1.2em;display:flex;flex-wrap:wrap;"
	"gap:1.2em;align-items:center}"
	"header a{color:#fff}header .who{margin-left:auto;font-size:.9em}"
	"nav ul{list-style:none;margin:0;padding:0;display:flex;gap:1.2em}"
	"main{max-width:72em;margin:0 auto;padding:1em 1.2em 3em}"
	"h1{font-size:1.6em;margin:.4em 0}h2{font-size:1.25em;margin-top:1.6em}"
	"a{color:#0b5fa5}a:focus,button:focus,input:focus,select:focus,textarea:focus,"
	"summary:focus{outline:3px solid #c2410c;outline-offset:2px}"
	"table{border-collapse:collapse;width:100%;margin:.6em 0}"
	"th,td{text-align:left;vertical-align:top;padding:.35em .5em;border-bottom:1px solid #d1d5db}"
	"th{background:#f3f4f6}caption{text-align:left;font-weight:bold;padding:.3em 0}"
	".muted{color:#4b5563}.id{white-space:nowrap}.tag{display:inline-block;padding:0 .4em;border:1px solid #4b5563;"
	"border-radius:3px;font-size:.85em}"
	".urgent{border-color:#b42318;color:#b42318}"
	".note{background:#fff7e6;border-left:4px solid #c2410c;padding:.5em .8em}"
	".done{background:#ecfdf3;border-left:4px solid #067647;padding:.1em .8em;margin:1em 0}"
	/* a note or value with no spaces (a pasted address) breaks rather than widening the page
	 * (it made pages 10,000 px wide: WCAG reflow) */
	"p,li,dd,td,q{overflow-wrap:anywhere}"
	"figure{margin:1em 0}figcaption{font-size:.9em;color:#4b5563}"
	"svg{max-width:100%;height:auto}"
	"button{font-size:1em;padding:.35em .9em}"
	"label{display:block;margin-top:.6em;font-weight:bold}"
	"input,select,textarea{font-size:1em;max-width:100%}"
	"fieldset{border:1px solid #767676;margin:.6em 0;padding:.4em .8em;min-width:0}"
	"fieldset button{display:block;margin-top:.6em}"
	".alert{border:1px solid #d1d5db;border-left:6px solid #4b5563;padding:.1em 1em .6em;"
	"margin:1em 0;break-inside:avoid}.alert.open{border-left-color:#b42318}"
	".alert h3,.alert h4{margin:.5em 0 .3em}"
	"dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.15em 1em;margin:.3em 0}"
	"dl.facts dt{font-weight:bold}dl.facts dd{margin:0}"
	".family{border-left:3px solid #0b3d6e;padding-left:1em;margin:1em 0}"
	".counts{display:flex;flex-wrap:wrap;gap:0 2em}.counts table{width:auto;min-width:18em}"
	"@media (max-width:40em){dl.facts{display:block}dl.facts dd{margin:0 0 .3em 1em}}"
	"@media print{header,nav,.skip,form,button,details.answer{display:none}main{max-width:none;padding:0}"
	"a{color:#000;text-decoration:none}}";

void page_open(struct strbuf *p, const char *root, const char *title, const char *person)
{
	strbuf_init(p);
	strbuf_append(p, "<!DOCTYPE html>\n<html lang=\"en-GB\">\n<head>\n<meta charset=\"utf-8\">\n"
		      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
		      /* an empty icon of its own: no browser asks for /favicon.ico */
		      "<link rel=\"icon\" href=\"data:,\">\n<title>");
	html_escape(p, title);
	strbuf_append(p, " - driftwatch</title>\n<style>");
	strbuf_append(p, page_css);
	strbuf_append(p, "</style>\n</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to the "
		      "content</a>\n<header>\n<nav aria-label=\"driftwatch\"><ul><li><a href=\"");
	html_escape(p, root && *root ? root : "./");
	strbuf_append(p, "\">My alerts</a></li><li><a href=\"");
	html_escape(p, root);
	strbuf_append(p, "service\">Service overview</a></li></ul></nav>\n");
	if (person) {
		strbuf_append(p, "<p class=\"who\">Signed in as ");
		html_escape(p, person);
		strbuf_append(p, "</p>\n");
	}
	strbuf_append(p, "</header>\n<main id=\"main\">\n<h1>");
	html_escape(p, title);
	strbuf_append(p, "</h1>\n");
}

void page_close(struct strbuf *p)
{
	strbuf_append(p, "</main>\n</body>\n</html>\n");
}

/* A handler that set its own Referrer-Policy (a page whose address holds a token) keeps it. */
static void page_headers(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Security-Policy", "default-src 'none'; style-src "
			  "'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
			  "frame-ancestors 'none'; base-uri 'none'");
	if (!evhttp_find_header(h, "Referrer-Policy"))
		evhttp_add_header(h, "Referrer-Policy", "same-origin");
}

void page_reply(struct evhttp_request *req, int code, struct strbuf *p)
{
	page_headers(req);
	if (p->failed)
		http_reply(req, 500, web_reason(500), "text/plain; charset=utf-8",
			   "out of memory\n", 14);
	else
		http_reply(req, code, web_reason(code), "text/html; charset=utf-8", p->buf, p->len);
	strbuf_free(p);
}

void page_send(struct web_job *job, int code, struct strbuf *p)
{
	page_headers(job->req);
	if (p->failed)
		web_job_reply(job, 500, "text/plain; charset=utf-8", "out of memory\n", 14);
	else
		web_job_reply(job, code, "text/html; charset=utf-8", p->buf, p->len);
	strbuf_free(p);
}
