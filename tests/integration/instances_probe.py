#!/usr/bin/python3
"""instances_probe: the receiver-side checks of tests/integration/test_instances.sh.

    instances_probe.py verify --log REQUESTS.jsonl --outbox OUTBOX.jsonl --expect EXPECT.jsonl
                              --secret whsec_... --path /fast --path /slow [--exactly-once]
                              [--label TEXT]

REQUESTS.jsonl is webhook_receiver.py's log. OUTBOX.jsonl has one JSON object per webhook
notice of the state schema's outbox: {key, destination, type, rule, child_id, stage, status}.
EXPECT.jsonl has one JSON object per change the test caused: {type, rule, child_id, stage}; each
is expected at every --path.

Prints `ok - ` / `not ok - ` lines and `# ` figures:
  - every request is signed per Standard Webhooks with the secret (a resend is a real send);
  - every request's webhook-id is a notice of the outbox, sent to that notice's path with that
    notice's type, rule, child and stage;
  - every notice of the outbox was received at least once (--exactly-once: exactly once);
  - every expected change was received at every path;
  - no two distinct webhook-ids for the same change (path, type, rule, child, stage): a change
    received more than once came with the same idempotency key (a send whose result was lost);
and the number of requests, of distinct webhook-ids and of webhook-ids received more than once.
Standard library only (Debian's /usr/bin/python3). Exit status 0 when every check passed.
"""
import argparse
import base64
import collections
import hashlib
import hmac
import json
import os
import sys
from urllib.parse import urlsplit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import tap  # noqa: E402  (tests/lib/tap.py: the result lines)
from tap import ok  # noqa: E402


def read_jsonl(path):
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # a line being written
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def sig_ok(secret, headers, body):
    """Standard Webhooks: v1,base64(HMAC-SHA256(key, id.timestamp.body)), key = base64 after whsec_."""
    wid = headers.get("webhook-id")
    ts = headers.get("webhook-timestamp")
    sigs = headers.get("webhook-signature", "")
    if not wid or not ts or not sigs:
        return False
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, ("%s.%s.%s" % (wid, ts, body)).encode("utf-8"), hashlib.sha256)
    want = base64.b64encode(mac.digest()).decode()
    return any(s.split(",", 1) == ["v1", want] for s in sigs.split())


def change_of(req):
    """(path, type, rule, child_id, stage) of a logged request, or None when not a notice."""
    try:
        body = json.loads(req.get("body") or "")
        data = body["data"]
        return (req["path"], body["type"], data["rule"], data["child_id"], data["stage"])
    except (ValueError, KeyError, TypeError):
        return None


def short(items, n=8):
    items = sorted(items)
    text = ", ".join(str(i) for i in items[:n])
    return text + (" and %d more" % (len(items) - n) if len(items) > n else "")


def cmd_verify(a):
    reqs = read_jsonl(a.log)
    outbox = read_jsonl(a.outbox)
    expect = read_jsonl(a.expect)
    label = (a.label + ": ") if a.label else ""
    reqs = [r for r in reqs if r.get("path") in a.path]

    bad_sig = [r.get("headers", {}).get("webhook-id") for r in reqs
               if not sig_ok(a.secret, r.get("headers", {}), r.get("body") or "")]
    ok(not bad_sig, "%severy request carries a valid Standard Webhooks signature (%d requests)"
       % (label, len(reqs)), "bad: %s" % short(map(str, bad_sig)))

    notices = {n["key"]: n for n in outbox}
    unknown, mismatched = [], []
    by_id = collections.Counter()
    ids_of_change = collections.defaultdict(set)
    for r in reqs:
        wid = r.get("headers", {}).get("webhook-id")
        ch = change_of(r)
        by_id[wid] += 1
        if ch:
            ids_of_change[ch].add(wid)
        n = notices.get(wid)
        if n is None:
            unknown.append(wid)
            continue
        want = (urlsplit(n["destination"]).path, n["type"], n["rule"], n["child_id"], n["stage"])
        if ch != want:
            mismatched.append("%s: got %s, the outbox says %s" % (wid, ch, want))
    ok(not unknown, "%severy webhook-id received is a notice of the outbox" % label,
       "unknown: %s" % short(map(str, unknown)))
    ok(not mismatched, "%severy request carries its notice's path, type, rule, child and stage"
       % label, "\n".join(mismatched[:10]))

    missing = [k for k in notices if by_id[k] == 0]
    ok(not missing, "%severy notice of the outbox (%d) was received at least once (%d not)"
       % (label, len(notices), len(missing)), "missing: %s" % short(missing))
    repeated = {k: c for k, c in by_id.items() if c > 1}
    if a.exactly_once:
        ok(not repeated, "%severy notice was received exactly once (%d more than once)"
           % (label, len(repeated)),
           "repeated: %s" % short("%s x%d" % kv for kv in repeated.items()))

    not_seen = []
    for e in expect:
        for p in a.path:
            ch = (p, e["type"], e["rule"], e["child_id"], e["stage"])
            if not ids_of_change.get(ch):
                not_seen.append(ch)
    ok(not not_seen, "%severy change the test caused (%d) reached every receiver path (%d did not)"
       % (label, len(expect), len(not_seen)), "not received: %s" % short(not_seen))

    split = {ch: ids for ch, ids in ids_of_change.items() if len(ids) > 1}
    ok(not split, "%sno two distinct webhook-ids for the same change (path, type, rule, child, "
       "stage) (%d changes received)" % (label, len(ids_of_change)),
       "\n".join("%s: %s" % (ch, sorted(ids)) for ch, ids in sorted(split.items())[:10]))

    print("# %s%d requests, %d distinct webhook-ids, %d received more than once with the same "
          "webhook-id (%d extra sends)" % (label, len(reqs), len(by_id), len(repeated),
                                           sum(c - 1 for c in repeated.values())))
    if repeated:
        print("# %ssame-key duplicates: %s" % (
            label, short(("%s x%d" % kv for kv in repeated.items()), 20)))
    return 0 if tap.failures == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verify")
    v.add_argument("--log", required=True)
    v.add_argument("--outbox", required=True)
    v.add_argument("--expect", required=True)
    v.add_argument("--secret", required=True)
    v.add_argument("--path", action="append", required=True)
    v.add_argument("--exactly-once", action="store_true")
    v.add_argument("--label", default="")
    a = ap.parse_args()
    return {"verify": cmd_verify}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
