#!/usr/bin/python3
"""test_rule_off: a rule turned off by a reload keeps its alerts and stops counting them.

README ("Configuration"): a rule turned off keeps its alerts as they were, firing in the state
schema (its rule did not find them gone, so nobody is told they are resolved), and /metrics'
driftwatch_alerts counts none for it. The long-running daemon on a real PostgreSQL
(tests/fixtures/daemon.sql: three cp_neglect_duration alerts at start, C-INIT-1..3) with a
webhook receiver:
  - after the first evaluation driftwatch_alerts{rule="cp_neglect_duration",stage="9m"} is 3;
  - a SIGHUP with the rule turned off is applied, and the next full evaluation (interval 10 s)
    sets it to 0, the other rules' series still there;
  - the three alerts are still firing in the state schema and no alert.resolved reached the
    receiver;
  - turned on again, the rule counts its three alerts again and they were never re-sent as new;
  - the supervisor's page (web.listen) shows the three alerts throughout, marked 'Rule turned
    off' while it is, and so does the child's page (/child/C-INIT-1) for its alert.
(The escalation side, nobody chased for a rule that is off, is test_unanswered's.)

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwrule_off is dropped and created here. Standard library only.
"""
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
import hostile  # noqa: E402  (tests/lib/hostile.py: the daemon and its log)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

SERIES = 'driftwatch_alerts{rule="cp_neglect_duration",stage="9m"}'
SUPERVISOR = "dsup@la.example"  # tests/fixtures/daemon.sql: W-SW1's supervisor


def config(tmp, db, hook_url, http_port, web_port, cp_on):
    conf = {"database": {"conninfo": db.conninfo("dw-rule-off"), "case_schema": "casework"},
            "timezone": "Europe/London",
            "evaluation": {"interval_seconds": 10},
            "addresses": lib.addresses(),
            "webhooks": [{"url": hook_url, "secret": lib.new_secret()}],
            "http": {"listen": "127.0.0.1:%d" % http_port},
            "web": {"listen": "127.0.0.1:%d" % web_port, "trusted_proxies": ["127.0.0.1"]}}
    if not cp_on:
        conf["rules"] = {"cp_neglect_duration": {"enabled": False}}
    return lib.write_config(tmp, "rule-off", conf)


def metric(port, series):
    """The value of one series in /metrics, or None when it is absent or unreadable."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return None
    m = re.search("^" + re.escape(series) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def page(web_port, path):
    """The supervisor's page at path on web.listen, or None when it cannot be read."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (web_port, path),
                                 headers={"X-Forwarded-Email": SUPERVISOR})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.read().decode()
    except OSError:
        return None


def marked(web_port):
    """(cards on the supervisor's /, those marked as of a rule turned off), or None."""
    text = page(web_port, "/")
    if text is None:
        return None
    return text.count('<article class="alert'), text.count(">Rule turned off</span>")


def child_marked(web_port):
    """(alerts on /child/C-INIT-1 for the supervisor, those marked as of a rule turned off)."""
    text = page(web_port, "/child/C-INIT-1")
    if text is None:
        return None
    return (text.count("<caption>History of this alert</caption>"),
            text.count(">Rule turned off</span>"))


def run(t, procs, tmp):
    db = lib.Db("dwrule_off")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "daemon.sql"))
    hooks = lib.Receiver(procs, tmp, "hooks")
    port, web = lib.free_port(), lib.free_port()
    cfg = config(tmp, db, hooks.url("/hook"), port, web, True)
    hostile.install_triggers(t, cfg)
    d = hostile.start_healthy(t, procs, tmp, cfg, port)
    if d is None:
        return
    t.check(lib.wait_for(lambda: metric(port, SERIES) == 3.0, 30),
            "the first evaluation counts C-INIT-1..3 in %s (%s)" % (SERIES, metric(port, SERIES)))

    t.check(marked(web) == (3, 0), "the supervisor's page shows the three alerts, none marked "
            "(%s)" % (marked(web),))
    t.check(child_marked(web) == (1, 0), "the child's page shows C-INIT-1's alert, not marked "
            "(%s)" % (child_marked(web),))
    config(tmp, db, hooks.url("/hook"), port, web, False)
    hostile.reload(t, d, "cp_neglect_duration turned off")
    t.check(lib.wait_for(lambda: metric(port, SERIES) == 0.0, 40, step=0.5),
            "the next full evaluation counts none for the rule turned off (%s)"
            % metric(port, SERIES), "\n".join(d.lines()[-20:]))
    other = metric(port, 'driftwatch_alerts{rule="was_not_brought",stage="vulnerable"}')
    t.check(other == 0.0, "the other rules' series are still there (was_not_brought: %s)" % other)
    firing = db.value("SELECT count(*) FROM driftwatch.alerts WHERE rule = "
                      "'cp_neglect_duration' AND status = 'firing'")
    t.check(firing == "3", "its three alerts are kept firing in the state schema (%s)" % firing)
    resolved = [q for q in hooks.requests("/hook")
                if (q.get("json") or {}).get("type") == "alert.resolved"]
    t.check(not resolved, "nobody is told they are resolved (%d alert.resolved)" % len(resolved))
    t.check(marked(web) == (3, 3), "the supervisor's page still shows them, each marked 'Rule "
            "turned off' (%s)" % (marked(web),))
    t.check(child_marked(web) == (1, 1), "the child's page marks its alert 'Rule turned off' too "
            "(%s)" % (child_marked(web),))

    config(tmp, db, hooks.url("/hook"), port, web, True)
    hostile.reload(t, d, "the rule turned on again")
    t.check(lib.wait_for(lambda: metric(port, SERIES) == 3.0, 40, step=0.5),
            "turned on again, the rule counts its three alerts (%s)" % metric(port, SERIES))
    fired = [q for q in hooks.requests("/hook")
             if (q.get("json") or {}).get("type") == "alert.firing"]
    t.check(len(fired) == 3, "they were never sent again as new (%d alert.firing in all)"
            % len(fired))
    t.check(lib.wait_for(lambda: marked(web) == (3, 0), 10),
            "and the page marks them no more (%s)" % (marked(web),))
    t.check(child_marked(web) == (1, 0), "nor the child's page (%s)" % (child_marked(web),))
    hostile.stop(d, t, "the daemon")


def main():
    t = Tap()
    return lib.run_test(t, "rule_off", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
