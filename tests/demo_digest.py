"""Prints the dry run's alerts as each person would receive them: one digest per address."""
import collections
import email
import email.policy
import glob
import json
import os
import sys

ROLE_WORDS = {
    "supervisor": "as supervisor",
    "allocated_worker": "as allocated worker",
    "cp_chair": "as CP chair",
    "cp_manager": "as CP manager",
    "head_of_service": "as head of service",
    "fallback": "as the front door (no one else could be found)",
}
MAX_LINES = 6     # per person, so the demo stays readable
MAX_PEOPLE = 8


def main(path):
    by_person = collections.defaultdict(list)
    with open(path, encoding="utf-8") as f:
        for line in f:
            alert = json.loads(line)
            for r in alert["recipients"]:
                by_person[r["email"] or "(no address)"].append((r["role"], alert))
    # Supervisors with the most alerts, then every CP chair and manager: both audiences matter.
    chairs = {"cp_chair", "cp_manager", "head_of_service"}
    people = sorted(by_person.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    shown = [p for p in people if not any(r in chairs for r, _ in p[1])][:MAX_PEOPLE // 2]
    shown += [p for p in people if any(r in chairs for r, _ in p[1])][:MAX_PEOPLE - len(shown)]
    print(f"What {len(people)} people would be told ({len(shown)} shown: the supervisors with "
          f"the most alerts, then CP chairs and managers):")
    for email, items in shown:
        rules = collections.Counter(a["rule"] + " " + a["stage"] for _, a in items)
        head = ", ".join(f"{n} {k}" for k, n in rules.most_common(3))
        print(f"\nTo: {email}  ({len(items)} alerts: {head})")
        for role, a in items[:MAX_LINES]:
            print(f"  - [{a['rule']} {a['stage']}] {a['summary']}")
            print(f"    {ROLE_WORDS.get(role, role)}; {a['link'] or 'no link configured'}")
        if len(items) > MAX_LINES:
            print(f"  ... and {len(items) - MAX_LINES} more in the same digest")


def show_mail(maildir, hooks):
    paths = sorted(glob.glob(os.path.join(maildir, "*.eml")),
                   key=lambda p: int(os.path.basename(p).split(".")[0]))
    msgs = []
    for p in paths:
        with open(p, "rb") as f:
            msgs.append(email.message_from_binary_file(f, policy=email.policy.default))
    print(f"The SMTP server received {len(msgs)} digest emails (one per person):")
    for m in msgs[:12]:
        print(f"  To: {m['To']:32} Subject: {m['Subject']}")
    if msgs:
        m = max(msgs, key=lambda m: len(m.get_body(("plain",)).get_content()))
        text = m.get_body(("plain",)).get_content()
        print(f"\nThe longest digest, as {m['To']} reads it (first 40 lines of the text part):")
        for line in text.splitlines()[:40]:
            print("  | " + line)
    with open(hooks, encoding="utf-8") as f:
        reqs = [json.loads(line) for line in f if line.strip()]
    print(f"\nThe webhook receiver got {len(reqs)} signed POSTs; the first:")
    if reqs:
        r = reqs[0]
        hdr = {k.lower(): v for k, v in r.get("headers", {}).items()}
        for h in ("webhook-id", "webhook-timestamp", "webhook-signature"):
            print(f"  {h}: {hdr.get(h)}")
        body = json.loads(r.get("body", "{}"))
        print(f"  type: {body.get('type')}  rule: {body['data']['rule']} {body['data']['stage']}"
              f"  child: {body['data']['child_id']}")
        print(f"  summary: {body['data']['summary']}")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--mail":
        show_mail(sys.argv[2], sys.argv[4])
    else:
        main(sys.argv[1])
