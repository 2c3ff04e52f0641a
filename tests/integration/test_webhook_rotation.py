#!/usr/bin/python3
"""test_webhook_rotation: a resolution goes through the webhooks configured now (found by an
operations audit). An alert records the destinations it was told through; a resolution went to
those, so after a webhook's URL was rotated (a new ?token=, a new host) the resolution went to the
old URL, which nothing signs any more, retried for days with an error line a try, while the
configured webhook was never told. On tests/fixtures/once_lifecycle.sql with a real receiver:
  1. --once on D1 with the webhook /old: the alerts fire there;
  2. a CP plan ends; --once on D2 with the webhook /new instead (a rotation): the resolution
     goes to /new, and nothing is queued for /old;
  3. a notice already queued for a URL no longer configured says so, once, not once a try.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwrotate is dropped and created here. Standard library only.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

D1, D2 = "2026-11-21", "2026-11-22"


def run(t, procs, tmp):
    db = lib.Db("dwrotate")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle.sql"))
    hooks = lib.Receiver(procs, tmp, "hooks")
    secret = lib.new_secret()

    def config(name, path):
        return lib.write_config(tmp, name, {
            "database": {"conninfo": db.conninfo("dw-rotate")},
            "link_template": "https://lcs.example.gov.uk/person/{child_id}",
            "addresses": lib.addresses(),
            "webhooks": [{"url": hooks.url(path), "secret": secret}]})

    cfg_old, cfg_new = config("old", "/old"), config("new", "/new")
    r = lib.run_once(cfg_old, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "1: --once on %s with /old exits 0" % D1, r.diag())
    t.check(len(hooks.requests("/old")) >= 20, "1: the alerts fired to /old (%d)"
            % len(hooks.requests("/old")))

    ended = db.value("UPDATE casework.cp_plans SET end_date = '%s' WHERE plan_id = "
                     "(SELECT min(plan_id) FROM casework.cp_plans WHERE end_date IS NULL) "
                     "RETURNING child_id" % D2)
    t.note("2: child %s's CP plan ended on %s; the webhook is now /new" % (ended, D2))
    before_old = len(hooks.requests("/old"))
    r = lib.run_once(cfg_new, D2)
    t.check(r.rc == 0 and not r.sanitizer(), "2: --once on %s with /new exits 0" % D2, r.diag())
    resolved = [x for x in hooks.requests("/new")
                if (x["json"] or {}).get("type") == "alert.resolved"]
    t.check([x["json"]["data"]["child_id"] for x in resolved] == [ended],
            "2: the resolution of %s went to the configured webhook /new" % ended,
            json.dumps([x["json"] for x in resolved])[:1500])
    left = db.rows("SELECT destination, type, status FROM driftwatch.outbox "
                   "WHERE destination = '%s'" % hooks.url("/old") +
                   " AND status <> 'delivered'")
    t.check(not left and len(hooks.requests("/old")) == before_old,
            "2: nothing was queued for /old, which is no longer configured", json.dumps(left))

    # 3: notices already queued for a URL no longer configured (recorded before the rotation)
    db.run("INSERT INTO driftwatch.outbox (idempotency_key, channel, destination, type, payload) "
           "SELECT 'rot-' || g, 'webhook', '%s', 'alert.firing', '{}' "
           "FROM generate_series(1, 5) g" % hooks.url("/gone-old"))
    r = lib.run_once(cfg_new, D2)
    said = [x for x in r.err.splitlines() if "/gone-old" in x and x.startswith("<3>")]
    t.check(r.rc == 0 and len(said) == 1 and "no longer in the configuration" in said[0],
            "3: five notices for a URL no longer configured: said once at error level, naming "
            "it as no longer configured (not 'no secret')", "\n".join(said) or r.err[-2000:])
    rows = db.rows("SELECT status FROM driftwatch.outbox WHERE idempotency_key LIKE 'rot-%'")
    t.check(rows and all(x["status"] == "pending" for x in rows),
            "3: they wait (pending) in case the webhook comes back", json.dumps(rows))
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "webhook-rotation", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
