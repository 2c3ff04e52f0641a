#!/usr/bin/python3
"""demo_proxy: for `make demo` only, a pretend sign-on proxy: every request to 127.0.0.1:PORT is
passed to driftwatch's web.listen with web.user_header set to one demo person (any such header
the browser sent is dropped), as an authority's OpenID Connect or SAML proxy would after a real
sign-in. It signs nobody in for real and must never face a network.

    demo_proxy.py --listen PORT --to http://127.0.0.1:WEBPORT --email supervisor@la.example
"""
import argparse
import http.client
import http.server
import urllib.parse

HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
       "proxy-authorization", "proxy-authenticate", "host", "content-length"}


def handler(target, email, header):
    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in HOP and k.lower() != header.lower()}
            headers[header] = email
            c = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                c.request(self.command, self.path, body=body, headers=headers)
                r = c.getresponse()
                data = r.read()
            finally:
                c.close()
            self.send_response(r.status, r.reason)
            for k, v in r.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = forward

        def log_message(self, fmt, *args):
            pass

    return Proxy


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--email", required=True)
    ap.add_argument("--header", default="X-Forwarded-Email")
    a = ap.parse_args()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", a.listen),
                                          handler(urllib.parse.urlparse(a.to), a.email,
                                                  a.header))
    srv.serve_forever()


if __name__ == "__main__":
    main()
