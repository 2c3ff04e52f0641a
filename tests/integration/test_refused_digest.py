#!/usr/bin/python3
"""test_refused_digest: a digest the mail server refuses for good is one line and one report.

On the dense million's first day the head of service's digest of 48,517 notices was refused
with "552 Error: Too much mail data" (bench/README.md), and the log said it 48,517 times, a line
a notice, and the operators' report had 48,517 items (each carrying its alert): an operator saw
one failure drowned in its own copies. Now the notices of one result statement that failed for
the same receiver and reason are one line of the log and one item of the operators' report,
naming the count and the first notice.

On tests/fixtures/daemon.sql (three children on neglect CP plans, so each recipient's digest
has three notices), with the tests' SMTP server answering every message with 552 after DATA,
`driftwatchd --once`:
  - exits 0, and every email notice failed for good;
  - logs one "failed for good" line for each digest refused, saying how many notices it held
    and the server's answer, and no line a notice;
  - queues the operators' report for the next run, one item per refused digest, with the
    digest's count, its first 20 notice ids and the first notice's alert.
Then, on a new database, with an SMTP server that refuses those recipients (550 at RCPT) and
takes the operators' mail, two `--once` runs: the operators receive one email whose items say,
for each refused digest of several notices, "N email notices (...) to ADDRESS could not be
delivered: ... (notice ID, about child C, and N-1 more)", and one item for each digest of one;
its subject counts the notices ("driftwatch: N undelivered notices").

Environment: DRIFTWATCHD, PGHOST/PGPORT/PGUSER (tests/run.sh), DW_TOP, TEST_TMPDIR; database
dwrefused is dropped and created here. Standard library only.
"""
import datetime
import os
import re
import sys
import zoneinfo

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import dwtest as lib  # noqa: E402  (tests/lib/dwtest.py: the helpers the tests share)
from tap import Tap  # noqa: E402  (tests/lib/tap.py: the result lines)

REPLY = "552 5.3.4 Error: message too big for this test"


def setup(procs, tmp, ca, name, smtp_extra):
    return lib.daemon_fixture_mail(procs, tmp, ca, "dwrefused", name, smtp_extra)


def run(t, procs, tmp):
    ca = lib.make_ca(tmp)
    db, _, cfg = setup(procs, tmp, ca, "smtp", ["--data-reply", REPLY])
    today = datetime.datetime.now(zoneinfo.ZoneInfo("Europe/London")).strftime("%Y-%m-%d")
    r = lib.run_once(cfg, today)
    t.check(r.rc == 1 and not r.sanitizer() and re.search(r"delivery: \d+ notices failed for "
                                                           r"good", r.err),
            "--once with every message refused exits 1, saying how many notices failed for "
            "good (a timer running it shows a failed run)", r.diag())
    digests = db.rows("SELECT destination, count(*) AS n, min(notice_id) AS first, "
                      "bool_and(status = 'failed') AS failed FROM driftwatch.outbox "
                      "WHERE channel = 'email' AND type <> 'delivery.failed' "
                      "GROUP BY 1 ORDER BY 1")
    t.check(digests and all(d["failed"] for d in digests) and
            any(d["n"] > 1 for d in digests),
            "every digest was refused and its notices failed for good, some of several "
            "notices (%s)" % ", ".join("%s %d" % (d["destination"], d["n"]) for d in digests))
    said = [x for x in r.err.splitlines() if "failed for good" in x]
    for d in digests:
        lines = [x for x in said if " email %s " % d["destination"] in x]
        if d["n"] == 1:
            want = r"^<3>outbox: notice %d to email \S+ failed for good: .*552" % d["first"]
        else:
            want = (r"^<3>outbox: %d notices to email \S+ failed for good \(notice %d and %d "
                    r"more\): .*552" % (d["n"], d["first"], d["n"] - 1))
        t.check(len(lines) == 1 and re.search(want, lines[0]),
                "%s: its refused digest of %d notices is one line of the log"
                % (d["destination"], d["n"]), "\n".join(lines) or r.err[-2000:])
    reports = {int(r["first"]): r for r in db.rows(
        "SELECT payload ->> 'notice_id' AS first, (payload ->> 'count')::int AS n, "
        "payload ->> 'destination' AS destination, jsonb_array_length(payload -> 'notice_ids') "
        "AS ids, payload -> 'alert' ->> 'child_id' AS child, status FROM driftwatch.outbox "
        "WHERE type = 'delivery.failed'")}
    want = {d["first"]: (d["n"], d["destination"]) for d in digests}
    got = {k: (r["n"], r["destination"]) for k, r in reports.items()}
    t.check(got == want and all(r["ids"] == r["n"] and r["child"] for r in reports.values()),
            "the operators' report has one item per refused digest, with its count, its "
            "notice ids and its first notice's alert (%d items for %d failed notices)"
            % (len(reports), sum(d["n"] for d in digests)),
            "want %s\ngot %s" % (want, list(reports.values())))
    t.check(all(r["status"] == "pending" for r in reports.values()),
            "the report waits for the next run (%s)" % [r["status"] for r in reports.values()])
    db.drop()
    received(t, procs, tmp, ca, sorted({d["destination"] for d in digests}), today)


def received(t, procs, tmp, ca, refused, today):
    """The same digests refused at RCPT, the operators' report taken: what it says."""
    extra = []
    for addr in refused:
        extra += ["--reject", addr]
    db, smtp, cfg = setup(procs, tmp, ca, "smtp2", extra)
    runs = [lib.run_once(cfg, today) for _ in range(2)]
    t.check([r.rc for r in runs] == [1, 0] and not any(r.sanitizer() for r in runs),
            "two --once runs with those recipients refused at RCPT: the first, whose notices "
            "failed for good, exits 1; the second, which sends the operators' report, 0",
            "\n".join(r.diag() for r in runs))
    # (the copies sent on to the fallback address are test_mailbox_fallback's)
    digests = db.rows("SELECT destination, count(*) AS n, min(notice_id) AS first, "
                      "bool_and(status = 'failed') AS failed FROM driftwatch.outbox "
                      "WHERE channel = 'email' AND type <> 'delivery.failed' "
                      "AND role IS DISTINCT FROM 'fallback' GROUP BY 1 ORDER BY 1")
    ops = lib.addresses()["operators"]
    mail = [m for m in smtp.messages() if m["to"] == ops]
    text = " ".join(" ".join(m["text"].split()) for m in mail)
    t.check(len(mail) == 1 and all(d["failed"] for d in digests),
            "the operators receive one email reporting the refused digests (%d emails to %s; "
            "digests %s)" % (len(mail), ops, [(d["destination"], d["n"]) for d in digests]),
            text[:3000])
    said = re.search(r"(\d+) undelivered notices?", mail[0]["subject"]) if mail else None
    items = [k for k, _, _ in mail[0]["items"]] if mail else []
    total = sum(d["n"] for d in digests)
    t.check(said is not None and int(said.group(1)) == total and items == ["failed"] * len(digests),
            "its subject counts the %d notices and it has one item per refused digest (%d)"
            % (total, len(digests)), (mail[0]["subject"] + "\n" + str(items)) if mail else "")
    for d in digests:
        if d["n"] > 1:
            want = (r"%d email notices \([^)]*\) to %s could not be delivered: .*?550.*?"
                    r"\(notice %d, about child C-[A-Z0-9-]+, and %d more\)"
                    % (d["n"], re.escape(d["destination"]), d["first"], d["n"] - 1))
        else:
            want = (r"An email notice \([^)]*\) to %s could not be delivered: .*?550"
                    % re.escape(d["destination"]))
        if d["n"] > 1:
            want += r".*?stopped trying to deliver these notices"
        found = re.findall(want, text)
        t.check(len(found) == 1, "the report says %s's refused digest of %d notices once"
                % (d["destination"], d["n"]), text[:3000])
    db.drop()


def main():
    t = Tap()
    return lib.run_test(t, "refused-digest", lambda procs, tmp: run(t, procs, tmp))


if __name__ == "__main__":
    sys.exit(main())
