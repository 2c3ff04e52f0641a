"""tap: result lines for the Python helpers of the shell tests (the probes), in the form
tests/run.sh counts: `ok - NAME`, `not ok - NAME` with `#   ` diagnostic lines under it.
tests/lib/tap.sh is the shell side.

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
    import tap
    tap.ok(cond, "name", diagnostic, ...)   # returns cond
    sys.exit(1 if tap.failures else 0)
"""

failures = 0


def ok(cond, name, *diag):
    """One result line; under a failure each diagnostic's lines (an empty one as `#   `)."""
    global failures
    print(("ok - " if cond else "not ok - ") + name, flush=True)
    if not cond:
        failures += 1
        for d in diag:
            for line in str(d).splitlines() or [""]:
                print("#   " + line, flush=True)
    return cond
