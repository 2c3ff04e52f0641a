#!/usr/bin/python3
"""test_chat_webhooks: Teams and Slack webhooks (issue 15, item 4), end to end.

On tests/fixtures/once_lifecycle.sql (30 alerts on D1, one escalation on D2), `driftwatchd
--once` delivers to the real webhook receiver (webhook_receiver.py) on four paths: /std
(format standard, the default), /teams, /slack, and /down (teams, answering 500). With
web.listen and web.public_url set, each item links to the child's page.
  - D1: /std gets 30 Standard Webhooks requests; /teams and /slack one message each for the
    evaluation: a title counting all 30, the most serious first (the repeated was-not-brought
    before the CP plans at 9 and 12 months), at most 20 in full and a line for the rest, each
    with its "Open in driftwatch" and "Case record" buttons.
  - Teams: the card parses and validates with Microsoft's own library (npm adaptivecards,
    check_adaptive_card.js), the body within Teams' size.
  - Slack: Block Kit within its limits (50 blocks, 3000 characters a section, 150 a header,
    75 a button's text, 3000 a URL), and a top-level text.
  - The outbox: every notice of /teams and /slack delivered, by the one message; every notice
    of /down waiting to be retried after one attempt, with the receiver's answer recorded.
  - D2: one message each saying the one escalation.
  - Configuration: a webhook "format" that is not one of the three is refused, naming it.

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402
from tap import Tap  # noqa: E402

D1, D2 = "2026-11-21", "2026-11-22"
S = "dwchat"
PUBLIC = "http://127.0.0.1:%d"


def config(tmp, db, hooks, secret, web_port, fmt_down="teams"):
    secret_file = os.path.join(tmp, "link.secret")
    with open(secret_file, "w") as f:
        f.write("a-link-secret-of-enough-length-for-the-test-0123456789\n")
    os.chmod(secret_file, 0o600)
    return lib.write_config(tmp, "chat", {
        "database": {"conninfo": db.conninfo("dw-chat"), "state_schema": S},
        "link_template": "https://lcs.example.gov.uk/person/{child_id}",
        "addresses": lib.addresses(),
        "webhooks": [{"url": hooks.url("/std"), "secret": secret},
                     {"url": hooks.url("/teams"), "secret": secret, "format": "teams"},
                     {"url": hooks.url("/slack"), "secret": secret, "format": "slack"},
                     {"url": hooks.url("/down"), "secret": secret, "format": fmt_down}],
        "web": {"listen": "127.0.0.1:%d" % web_port, "public_url": PUBLIC % web_port,
                "link_secret_file": secret_file}})


def slack_problems(msg):
    bad = []
    blocks = msg.get("blocks") or []
    if not isinstance(msg.get("text"), str) or not msg["text"]:
        bad.append("no top-level text")
    if not 1 <= len(blocks) <= 50:
        bad.append("%d blocks" % len(blocks))
    for b in blocks:
        if b.get("type") == "header" and len(b["text"]["text"]) > 150:
            bad.append("a header over 150 characters")
        if b.get("type") == "section" and len(b["text"]["text"]) > 3000:
            bad.append("a section over 3000 characters")
        for e in b.get("elements", []) if b.get("type") == "actions" else []:
            if len(e["text"]["text"]) > 75 or len(e.get("url", "")) > 3000:
                bad.append("a button over its limits")
    return bad


def sections(msg):
    return [b["text"]["text"] for b in msg.get("blocks", []) if b.get("type") == "section"]


def card_items(msg):
    body = msg["attachments"][0]["content"]["body"]
    return [c["items"][0]["text"] for c in body if c.get("type") == "Container"]


def check_d1(t, db, hooks, port):
    std = hooks.requests("/std")
    t.check(len(std) == 30, "D1: the standard webhook gets 30 requests, one an alert", len(std))
    teams, slack = hooks.requests("/teams"), hooks.requests("/slack")
    if not t.check(len(teams) == 1 and len(slack) == 1,
                   "D1: Teams and Slack get one message each for the evaluation",
                   len(teams), len(slack)):
        return
    tm, sm = teams[0]["json"], slack[0]["json"]
    items = card_items(tm)
    t.check("30 changes" in json.dumps(tm) and len(items) == 20 and
            "And 10 more changes" in json.dumps(tm),
            "teams: the title counts 30, 20 in full, a line for the other 10",
            len(items), items[:3])
    t.check(items and items[0].startswith("New: repeated was-not-brought, child C-WNB"),
            "teams: the most serious first (a repeated was-not-brought before the CP plans)",
            items[:3])
    page = (PUBLIC % port) + "/child/C-WNB"
    t.check(page in json.dumps(tm) and "Case record" in json.dumps(tm),
            "teams: buttons to the child's page in driftwatch and to the case record")
    r = subprocess.run(["node", os.path.join(lib.HERE, "check_adaptive_card.js")],
                       input=teams[0]["body"] + "\n", capture_output=True, text=True,
                       timeout=60)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        out = {"cards": 0, "problems": [r.stderr[-1500:]]}
    t.check(out["cards"] == 1 and not out["problems"],
            "teams: the card parses and validates with npm adaptivecards", out)
    t.check(len(teams[0]["body"].encode()) <= 24000, "teams: within its size",
            len(teams[0]["body"]))
    t.check(not slack_problems(sm), "slack: within Block Kit's limits", slack_problems(sm))
    secs = sections(sm)
    t.check(len(secs) == 20 and secs[0].startswith("*New: repeated was-not-brought, child "
                                                    "C-WNB*"),
            "slack: 20 sections, the most serious first", len(secs), secs[:2])
    rows = db.rows("SELECT destination, status, count(*) AS n, max(attempts) AS attempts "
                   "FROM %s.outbox WHERE channel = 'webhook' GROUP BY 1, 2 ORDER BY 1, 2" % S)
    by = {(r["destination"].rsplit("/", 1)[1], r["status"]): r for r in rows}
    t.check(by.get(("teams", "delivered"), {}).get("n") == 30 and
            by.get(("slack", "delivered"), {}).get("n") == 30,
            "the outbox: every notice of /teams and /slack delivered by the one message", rows)
    down = by.get(("down", "pending")) or by.get(("down", "delivering")) or {}
    t.check(down.get("n") == 30 and down.get("attempts") == 1 and
            len(hooks.requests("/down")) == 1,
            "the outbox: /down's 30 notices wait to be retried after the one refused message",
            rows)
    att = db.value("SELECT count(*) FROM %s.delivery_attempts WHERE outcome = 'retry'" % S)
    t.check(att == "30", "each of them has its attempt recorded", att)


def run(t, procs, tmp):
    db = lib.Db("dwchat")
    db.recreate()
    db.load(os.path.join(lib.TOP, "rules", "contract.sql"),
            os.path.join(lib.TOP, "tests", "fixtures", "once_lifecycle.sql"))
    hooks = lib.Receiver(procs, tmp, "hooks", routes=("/down=500",))
    secret = lib.new_secret()
    port = lib.free_port()
    cfg = config(tmp, db, hooks, secret, port)
    r = lib.run_once(cfg, D1)
    t.check(r.rc == 0 and not r.sanitizer(), "D1: --once delivers", r.diag())
    check_d1(t, db, hooks, port)

    r = lib.run_once(cfg, D2)
    t.check(not r.sanitizer(), "D2: --once runs", r.diag())
    teams, slack = hooks.requests("/teams"), hooks.requests("/slack")
    t.check(len(teams) == 2 and len(slack) == 2, "D2: one more message each", len(teams),
            len(slack))
    if len(teams) == 2 and len(slack) == 2:
        items = card_items(teams[1]["json"])
        t.check("1 change about" in json.dumps(teams[1]["json"]) and len(items) == 1 and
                items[0] == "Escalated: CP escalation at 15 months, child C-CP-15",
                "D2: the message says the one escalation", items)
        t.check(sections(slack[1]["json"])[:1] == ["*Escalated: CP escalation at 15 months, "
                                                   "child C-CP-15*\n" +
                                                   sections(slack[1]["json"])[0].split("\n", 1)[1]],
                "D2: so does Slack's", sections(slack[1]["json"]))

    bad = config(tmp, db, hooks, secret, port, fmt_down="Teams")
    p = subprocess.run([lib.DAEMON, "-c", bad, "--check-config"], capture_output=True,
                       text=True, timeout=60, env=lib.daemon_env())
    t.check(p.returncode != 0 and "webhooks[3].format" in p.stdout + p.stderr and
            "\"Teams\"" in p.stdout + p.stderr,
            "a format that is not one of the three is refused, naming the key and the value",
            p.stdout + p.stderr)


def main():
    t = Tap()
    return lib.run_test(t, "test_chat_webhooks", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
