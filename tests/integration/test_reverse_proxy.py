#!/usr/bin/python3
"""test_reverse_proxy: docs/examples/nginx-driftwatch.conf in front of the running daemon, as the
README's "Behind the authority's reverse proxy" says to set it up (issue 13).

The example file is used as it is, with only its site-specific values replaced (each must be
found exactly once, so the test fails when the example changes under it): the server name by
localhost, port 443 by a free loopback port, port 80 by another, the certificate by the test
CA's, web.listen's address by the daemon's, the log path by one in the scratch directory.
driftwatch's web.public_url is https://localhost:PORT/driftwatch, the prefix of the example.
  - `nginx -t` accepts the configuration;
  - a mail's Acknowledge link (https, through nginx, verified against the test CA) shows the
    page with Cache-Control: no-store and driftwatch's Content-Security-Policy; its form's
    action (relative: the page's own address) stays under the prefix, and its POST through
    nginx acknowledges the alert as the mail's addressee through "link";
  - {public_url}/api/v1/ reaches the JSON API (401 JSON without a bearer token);
  - a link asked for over plain HTTP is redirected to the same link over HTTPS;
  - the access log has the requests with "[token]" in place of the token, and no token.
Needs nginx (Debian's nginx package; .ci/run installs it): without it this fails, saying so.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwproxy is dropped and created here. NGINX names another nginx binary.
"""
import http.client
import json
import os
import re
import shutil
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import linkmail  # noqa: E402  (tests/lib/linkmail.py: mail links, pages and forms)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

NGINX = os.environ.get("NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
EXAMPLE = os.path.join(lib.TOP, "docs", "examples", "nginx-driftwatch.conf")


def site_config(t, tmp, ca, https_port, http_port, web_port):
    """The example with its site-specific values replaced; None when one is not there once."""
    text = open(EXAMPLE, encoding="utf-8").read()
    subst = [
        ("server_name care.example.gov.uk;", "server_name localhost;", 2),
        ("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % https_port, 1),
        ("listen [::]:443 ssl;", "", 1),
        ("listen 80;", "listen 127.0.0.1:%d;" % http_port, 1),
        ("listen [::]:80;", "", 1),
        ("/etc/ssl/certs/care.example.gov.uk.pem", os.path.join(ca, "server.pem"), 1),
        ("/etc/ssl/private/care.example.gov.uk.key", os.path.join(ca, "server.key"), 1),
        ("server 127.0.0.1:9481;", "server 127.0.0.1:%d;" % web_port, 1),
        ("/var/log/nginx/driftwatch.access.log", os.path.join(tmp, "access.log"), 2),
    ]
    missing = [(a, text.count(a), n) for a, _, n in subst if text.count(a) != n]
    if not t.check(not missing, "the example has each site-specific value where the README "
                   "says (server name, ports, certificate, web.listen, log)", repr(missing)):
        return None
    for a, b, _ in subst:
        text = text.replace(a, b)
    return text


def main_config(tmp, site):
    with open(os.path.join(tmp, "site.conf"), "w") as f:
        f.write(site)
    for d in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        os.makedirs(os.path.join(tmp, "nginx-tmp", d), exist_ok=True)
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""# the test's own nginx: in the foreground, everything under %(t)s
%(user)sworker_processes 1;
daemon off;
pid %(t)s/nginx.pid;
error_log %(t)s/nginx-error.log info;
events { worker_connections 64; }
http {
    access_log %(t)s/nginx-other.log;
    client_body_temp_path %(t)s/nginx-tmp/body;
    proxy_temp_path %(t)s/nginx-tmp/proxy;
    fastcgi_temp_path %(t)s/nginx-tmp/fastcgi;
    uwsgi_temp_path %(t)s/nginx-tmp/uwsgi;
    scgi_temp_path %(t)s/nginx-tmp/scgi;
    include %(t)s/site.conf;
}
""" % {"t": tmp, "user": "user root;\n" if os.geteuid() == 0 else ""})
    return conf


def run(t, procs, tmp):
    if not t.check(os.access(NGINX, os.X_OK), "nginx is installed (%s; Debian: apt-get install "
                   "nginx; .ci/run installs it; NGINX names another)" % NGINX):
        return
    https_port = lib.free_port()
    http_port = lib.free_port({https_port})
    public = "https://localhost:%d/driftwatch" % https_port
    s = linkmail.Setup(procs, tmp, "dwproxy", public_url=public)
    site = site_config(t, tmp, s.ca, https_port, http_port, s.web_port)
    if site is None:
        return
    conf = main_config(tmp, site)
    p = subprocess.run([NGINX, "-t", "-p", tmp, "-c", conf], capture_output=True, text=True,
                       timeout=30)
    if not t.check(p.returncode == 0, "nginx -t accepts the example", p.stderr):
        return
    ng = procs.add(subprocess.Popen([NGINX, "-p", tmp, "-c", conf], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL,
                                    stderr=open(os.path.join(tmp, "nginx.err"), "w")))
    ctx = ssl.create_default_context(cafile=os.path.join(s.ca, "ca.pem"))

    def up():
        try:
            return linkmail.request("get", public + "/r/x", context=ctx)[0] > 0
        except OSError:
            return False
    if not t.check(lib.wait_for(up, 20, step=0.2), "nginx answers on https",
                   open(os.path.join(tmp, "nginx-error.log")).read()[-1500:]):
        return
    mails = [m for m in s.mails_with_links(1, 90) if linkmail.text_links(m["text"], public)]
    if not t.check(mails, "a digest reaches the SMTP server with links under %s" % public,
                   "\n".join(s.daemon.lines()[-30:])):
        return
    m = mails[0]
    item = linkmail.text_links(m["text"], public)[0]
    st, body, headers = linkmail.request("get", item["acknowledge"], context=ctx)
    page = linkmail.Page(item["acknowledge"], body)
    form = page.form("Acknowledge")
    t.check(st == 200 and page.facts.get("Child") == item["child"] and form and
            headers.get("Cache-Control") == "no-store" and
            "form-action 'self'" in (headers.get("Content-Security-Policy") or ""),
            "the mail's Acknowledge link through nginx: the page, Cache-Control: no-store, "
            "driftwatch's Content-Security-Policy", "%s %r\n%s" % (st, headers, body[:600]))
    if not form:
        return
    t.check(form["action"] == item["acknowledge"] and form["action"].startswith(public + "/r/"),
            "its form posts to the page's own address, under the prefix", form["action"])
    st, done, body = linkmail.submit(page, form, {"note": "through the proxy"}, context=ctx)
    fp = s.alert_of(page.facts.get("Rule", "?"), item["child"])
    ev = s.responses(fp) if fp else []
    t.check(st == 200 and "Acknowledged for the" in done.text and
            [(e["kind"], e["actor"], e["via"], e["note"]) for e in ev] ==
            [("acknowledged", m["to"], "link", "through the proxy")],
            "its POST through nginx acknowledges the alert as %s through link" % m["to"],
            "%s %s" % (st, body[:500]), repr(ev))
    st, body, headers = linkmail.request("get", public + "/api/v1/alerts", context=ctx)
    try:
        err = json.loads(body).get("error")
    except ValueError:
        err = None
    t.check(st == 401 and err, "{public_url}/api/v1/ reaches the JSON API (401 JSON without a "
            "token)", "%s %s" % (st, body[:300]))
    c = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
    path = item["open"][len("https://localhost:%d" % https_port):]
    c.request("GET", path, headers={"Host": "localhost"})
    r = c.getresponse()
    r.read()
    loc = r.getheader("Location") or ""
    t.check(r.status == 301 and loc == "https://localhost" + path,
            "a link asked for over plain HTTP is sent to the same link over HTTPS",
            "%s %s" % (r.status, loc))
    c.close()
    # nginx writes a request's line once it has sent the answer: the client can be first
    def access_log():
        with open(os.path.join(tmp, "access.log"), encoding="utf-8") as f:
            return f.read()
    lib.wait_for(lambda: access_log().count("/driftwatch/r/[token]") >= 4, 5)
    log = access_log()
    tokens = [u.rsplit("/", 1)[1] for it in linkmail.text_links(m["text"], public)
              for u in (it["acknowledge"], it["snooze"], it["open"])]
    leaked = [tok[:12] for tok in tokens if tok in log]
    t.check(log.count("/driftwatch/r/[token]") >= 4 and "/driftwatch/api/v1/alerts" in log and
            not leaked and not re.search(r"/r/[A-Za-z0-9_-]{40,}", log),
            "the access log has the requests with [token] in place of each token, and no token",
            repr(leaked), log[-1500:])
    procs.stop(ng)
    s.stop(t)


def main():
    t = Tap()
    return lib.run_test(t, "reverse_proxy", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
