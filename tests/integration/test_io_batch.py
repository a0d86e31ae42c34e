#!/usr/bin/python3
"""I/O tests in batches (harness.py: plan_batch, Ticks): consecutive I/O
tests of one job send their calls to the candidate in one message, and the
judge's ticks for them may wait a moment before they reach PID 1. Each test
must still get its own verdict, its own deadline and its place in the
order. Every candidate here runs only inside kiln's sandbox.

Usage: test_io_batch.py KILN
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilntest import Checks, read_jsonl, run, write_jsonl  # noqa: E402

KILN = os.path.abspath(sys.argv[1])
check = Checks()


def io(n, want):
    return [{"call": "f(%d)" % i, "expect": json.dumps(want(i))}
            for i in range(n)]


def verify(tmp, name, recs, *flags):
    src = os.path.join(tmp, name + ".jsonl")
    out = os.path.join(tmp, name + ".out.jsonl")
    write_jsonl(src, recs)
    p = run(KILN, "verify", "-q", "-j", "1", "-o", out, *flags, src)
    return p, {r["id"]: r for r in read_jsonl(out)}


def statuses(v):
    return [t["status"] for t in v["tests"]]


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-io-batch-")

    # One candidate: 40 I/O tests; x = 17 never returns, 23 raises, 30
    # ends the process, 35 is wrong. After 17 and 30 a fresh candidate
    # takes the rest.
    sol = ("import os\n"
           "def f(x):\n"
           "    if x == 17:\n"
           "        while True:\n"
           "            pass\n"
           "    if x == 23:\n"
           "        raise ValueError('no')\n"
           "    if x == 30:\n"
           "        os._exit(0)\n"
           "    return x + 1 if x != 35 else 0\n")
    want = ["pass"] * 40
    want[17], want[23], want[30], want[35] = "timeout", "error", "error", \
        "fail"
    p, got = verify(tmp, "faults", [{"id": "faults", "solution": sol,
                                     "tests": io(40, lambda i: i + 1)}],
                    "--timeout", "400ms")
    v = got.get("faults")
    check("each I/O test of a batch keeps its own verdict (timeout at 17, "
          "error at 23 and 30, fail at 35, the rest pass)",
          p.returncode == 0 and v and statuses(v) == want,
          (p.stderr[-500:], v and statuses(v)))
    check("the judge compared what each returned (judge io); PID 1 "
          "decided the timeout and the exit", v and all(
              t["judge"] == ("isolated" if i in (17, 30) else "io")
              for i, t in enumerate(v["tests"])),
          v and [t["judge"] for t in v["tests"]])

    # Order and count: f returns how many calls it has seen. Calls are made
    # once each, in the tests' order, also across a code test between
    # them (the code test's own call is the sixth).
    counter = ("n = 0\n"
               "def f(x):\n"
               "    global n\n"
               "    n += 1\n"
               "    return n\n")
    tests = io(5, lambda i: i + 1) + ["assert f(99) == 6"] + \
        [{"call": "f(%d)" % i, "expect": str(i + 2)} for i in range(5, 30)]
    p, got = verify(tmp, "order", [{"id": "order", "solution": counter,
                                    "tests": tests}])
    v = got.get("order")
    check("calls reach the candidate once each, in the tests' order",
          p.returncode == 0 and v and v["status"] == "pass" and
          v["tests_passed"] == 31, (p.stderr[-500:], v and statuses(v)))

    # Deadlines stay per test: twelve tests of 150 ms each under a 400 ms
    # timeout all pass (their sum, 1.8 s, is far over it).
    slow = ("import time\n"
            "def f(x):\n"
            "    time.sleep(0.15)\n"
            "    return x\n")
    p, got = verify(tmp, "slow", [{"id": "slow", "solution": slow,
                                   "tests": io(12, lambda i: i)}],
                    "--timeout", "400ms")
    v = got.get("slow")
    check("a batch's tests each get the whole timeout (12 x 150 ms under "
          "400 ms: all pass)", p.returncode == 0 and v and
          v["status"] == "pass", (p.stderr[-300:], v and statuses(v)))
    walls = [t["wall_ms"] for t in v["tests"]] if v else []
    check("and their times add up to the work done (>= 1.7 s in all)",
          sum(walls) >= 1700, walls)

    # A test that is not an I/O call ends a batch; a broken I/O test is
    # an error of its own and the ones after it still run.
    tests = io(3, lambda i: i + 1) + [{"call": "f(", "expect": "1"}] + \
        [{"call": "f(%d)" % i, "expect": str(i + 1)} for i in range(3, 6)] + \
        [{"call": "g(1)", "expect": "2"}]
    p, got = verify(tmp, "broken", [{"id": "broken",
                                     "solution": "def f(x):\n    return x + 1\n",
                                     "tests": tests}])
    v = got.get("broken")
    check("a malformed I/O test and a call of a function the solution "
          "lacks are errors; the others pass",
          v and statuses(v) == ["pass"] * 3 + ["error"] + ["pass"] * 3 +
          ["error"], v and statuses(v))

    # --no-batch (and relative timeouts, which imply it): the candidate
    # never sees a batch, so it cannot spend one test's time on a later
    # test's input (docs/SANDBOX.md). This solution answers right only
    # when no message of calls ("B") ever reached it.
    peek = ("import sys\n"
            "def _batched():\n"
            "    f = sys._getframe(1)\n"
            "    while f is not None:\n"
            "        m = f.f_locals.get('msg')\n"
            "        if type(m) is tuple and m and m[0] == 'B':\n"
            "            return True\n"
            "        f = f.f_back\n"
            "    return False\n"
            "def f(x):\n"
            "    return x + (100 if _batched() else 1)\n")
    # (arguments 0, 10, 20, 30 hold no earlier expected value: one batch)
    tens = [{"call": "f(%d)" % (10 * i), "expect": str(10 * i + 1)}
            for i in range(4)]
    rec = {"id": "peek", "solution": peek, "tests": tens}
    _, got = verify(tmp, "peek-batch", [rec])
    check("batched: the candidate sees the batch",
          got.get("peek") and statuses(got["peek"]) == ["fail"] * 4,
          got.get("peek"))
    _, got = verify(tmp, "peek-nobatch", [rec], "--no-batch")
    check("--no-batch: one call at a time, no batch ever reaches it",
          got.get("peek") and statuses(got["peek"]) == ["pass"] * 4,
          got.get("peek"))
    ref = os.path.join(tmp, "ref.jsonl")
    write_jsonl(ref, [{"id": "peek", "solution":
                       "def f(x):\n    return x + 1\n",
                       "tests": tens}])
    _, got = verify(tmp, "peek-relative", [rec], "--tasks", ref,
                    "--timeout-factor", "4")
    check("relative timeouts imply --no-batch",
          got.get("peek") and statuses(got["peek"]) == ["pass"] * 4,
          got.get("peek"))

    run("rm", "-rf", tmp)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
