#!/usr/bin/python3
"""test_web_secrets: a link secret or API token file that cannot be read costs the links or the
API, never the pages, the rest of the daemon, or a word in /healthz.

Found by the pages audit of stop 37: an unreadable web.link_secret_file or web.api_tokens_file
stopped the daemon at its start (exit 2, which the unit does not restart: no evaluation, no
notice), and at a SIGHUP took the pages, the API and every link down while /healthz said "ok"
and systemd was told the reload had worked. README: the daemon starts without them; links
answer that they cannot be checked, the API refuses its clients.

On tests/fixtures/daemon.sql, the running daemon with web.listen:
  1. started with both files missing: it runs, evaluates (the initial webhooks arrive), the
     pages answer a signed-in team manager, a bearer token gets 401, a link gets 503 saying it
     cannot be checked, and /healthz is 200 "degraded" naming web.link_secret_file;
  2. the files written and SIGHUP: a link is checked again (a foreign token gets 403), the token
     is accepted, /healthz says "ok";
  3. the link secret removed and SIGHUP: the pages still answer (they refused connections),
     /healthz is degraded again.
Also, on a NOTIFY_SOCKET of its own: the daemon's STATUS= lines never say "0 children" (the first
said so, the children being counted after the evaluation), and one gives the count.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwweb_secrets is dropped and created here. Standard library only.
"""
import hashlib
import os
import signal
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon and its log)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

TOKEN = "a-test-token-of-enough-length-0123456789"


def reload(t, d, label):
    mark = d.mark()
    d.signal(signal.SIGHUP)
    t.check(d.wait_log(r"reload: configuration applied", 60, since=mark) is not None,
            "SIGHUP (%s) is applied" % label, "\n".join(d.since(mark)[-20:]))


def run(t, procs, tmp):
    db = lib.Db("dwweb_secrets")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    hooks = lib.Receiver(procs, tmp, "hooks")
    http_port = lib.free_port()
    web_port = lib.free_port(taken=(http_port,))
    secret = os.path.join(tmp, "link.secret")
    tokens = os.path.join(tmp, "api-tokens")
    cfg = lib.write_config(tmp, "web-secrets", {
        "database": {"conninfo": db.conninfo("dw-web-secrets"), "case_schema": "casework"},
        "timezone": "Europe/London",
        "addresses": lib.addresses(),
        "webhooks": [{"url": hooks.url("/hook"), "secret": lib.new_secret()}],
        "http": {"listen": "127.0.0.1:%d" % http_port},
        "web": {"listen": "127.0.0.1:%d" % web_port, "public_url": "https://dw.la.example",
                "link_secret_file": secret, "api_tokens_file": tokens,
                "trusted_proxies": ["127.0.0.1"]}})
    person = {"X-Forwarded-Email": "dsup@la.example"}
    bearer = {"Authorization": "Bearer " + TOKEN}

    # 1. both files missing at the start
    notify_path = os.path.join(tmp, "notify.sock")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    notify.setblocking(False)
    os.environ["NOTIFY_SOCKET"] = notify_path
    try:
        d = hostile.Daemon(procs, tmp, cfg)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    if not t.check(lib.wait_for(lambda: hostile.healthz(http_port, 2)[0] == 200, 60),
                   "with the link secret and the API tokens unreadable the daemon starts "
                   "(it exited 2)", "\n".join(d.lines()[-30:])):
        return
    t.check(hostile.wait_webhook(hooks, "C-INIT-1", 30) is not None,
            "... and evaluates: the initial webhooks arrive")
    st, body = hostile.page(web_port, "/", person)
    t.check(st == 200, "... the pages answer a signed-in team manager (%s)" % st, body[:300])
    st, body = hostile.page(web_port, "/api/v1/alerts", bearer)
    t.check(st == 401, "... a bearer token gets 401 (%s)" % st, body[:300])
    st, body = hostile.page(web_port, "/r/not-a-token")
    t.check(st == 503 and "cannot be checked" in body,
            "... a link gets 503 saying links cannot be checked (%s)" % st, body[:300])
    st, body, _ = hostile.healthz(http_port)
    t.check(st == 200 and "degraded" in body and "web.link_secret_file" in body,
            "... /healthz is 200 degraded, naming web.link_secret_file", body)
    t.check("web.api_tokens_file" in d.text() and "web.link_secret_file" in d.text(),
            "... the log names both files")

    # 2. the files written
    with open(secret, "w") as f:
        f.write("a-link-secret-of-enough-length-for-the-test-0123456789\n")
    with open(tokens, "w") as f:
        f.write("ci %s\n" % hashlib.sha256(TOKEN.encode()).hexdigest())
    reload(t, d, "the files written")
    st, body = hostile.page(web_port, "/r/not-a-token")
    t.check(st in (400, 403), "then a link is checked again: a token not made here is "
            "refused as such (%s), not 503" % st, body[:300])
    st, body = hostile.page(web_port, "/api/v1/alerts", bearer)
    t.check(st == 200, "... the token is accepted (%s)" % st, body[:300])
    st, body, _ = hostile.healthz(http_port)
    t.check(st == 200 and body.strip() == "ok", "... /healthz says ok", body)

    # 3. the secret gone again
    os.unlink(secret)
    reload(t, d, "the link secret removed")
    st, body = hostile.page(web_port, "/", person)
    t.check(st == 200, "after a reload that cannot read the link secret the pages still "
            "answer (%s)" % st, body[:300])
    st, body, _ = hostile.healthz(http_port)
    t.check(st == 200 and "degraded" in body and "web.link_secret_file" in body,
            "... and /healthz is degraded, naming web.link_secret_file", body)
    hostile.stop(d, t, "the daemon")
    statuses = []
    while True:
        try:
            msg = notify.recv(4096).decode("utf-8", "replace")
        except BlockingIOError:
            break
        statuses += [line for line in msg.split("\n") if line.startswith("STATUS=last evaluation")]
    notify.close()
    t.check(statuses and not any(": 0 children" in x for x in statuses) and
            any(" children, " in x for x in statuses),
            "systemd's STATUS= never says \"0 children\", and gives the count once it is known",
            statuses)


def main():
    t = Tap()
    return lib.run_test(t, "web_secrets", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
