#!/usr/bin/python3
"""kiln test-rates against scripts/bank-test-rates.py, on bank tasks with
planted teacher tests: asserts taken from each task's own hidden tests
(valid), asserts with a wrong expected value (invalid), `assert True`
(valid, fails no variant), tests that time out (one a single `assert`
line, which the batched run must give up on and run test by test; one
a `while True` loop), a test that rebinds the function under test (run
apart: Python's tests share a namespace), I/O tests, and C tasks with a
test that does not compile and one with a preprocessor line. The counts
must be the script's, and a tiny case's must be the ones worked out by
hand. Then what is not measured (no ground truth: tasks 0, rates null)
and the errors (a task id twice, two teachers, a bad line, no --tasks).

usage: test_test_rates.py KILN

Candidate code runs only inside kiln's sandbox.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilntest import Checks, read_jsonl, run, write_jsonl  # noqa: E402

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                      "scripts", "bank-test-rates.py")
COUNTS = ("tasks", "tests", "valid", "discriminating", "variants",
          "variants_killed")
RATES = ("validity_rate", "discrimination_rate", "kill_rate")
HANG = "assert all(True for _ in iter(int, 1))"   # one line, never ends


def py_assert(t, expect=None):
    return "assert %s == %s" % (t["call"], expect or t["expect"])


def c_test(t, wrong=False):
    """A C task's hidden test as a code test (wrong: the count off by
    one, or the value plus one)."""
    if isinstance(t, dict):
        return "assert(%s == %s%s);" % (t["call"], t["expect"],
                                        " + 1" if wrong else "")
    return t.replace("assert(n ==", "assert(n == 1 +") if wrong else t


def plant(tasks):
    """Two candidates a task (the second repeats and reorders the
    first's tests and adds one), and records the pooling must skip."""
    cands = []
    teacher = {"backend": "openai", "model": "planted"}
    for i, t in enumerate(tasks):
        hidden = t["tests"]
        if t["language"] == "c":
            tests = [c_test(x) for x in hidden[:3]] + \
                    [c_test(x, True) for x in hidden[3:5]]
            tests.append("this is not C;" if i % 2 else
                         "#define K 1\nassert(K == 1);")
            extra = c_test(hidden[5])
        else:
            expects = [x["expect"] for x in hidden]
            tests = [py_assert(x) for x in hidden[:3]]
            # a wrong expected value: another input's answer
            for x in hidden[3:6]:
                other = [e for e in expects if e != x["expect"]]
                if other:
                    tests.append(py_assert(x, other[0]))
            tests.append("assert True")
            if i % 5 == 0:
                tests.append(HANG)
            if i % 7 == 1:
                # the tests after it in one record would call this f
                tests.append("f = lambda *a: 0")
            if i % 7 == 3:
                tests.append("while True:\n    pass")
            if i % 4 == 2:
                tests.append(dict(hidden[6]))
            extra = py_assert(hidden[7])
        cands.append({"id": t["id"], "candidate": 0, "solution": "",
                      "tests": tests, "tests_source": "teacher",
                      "teacher": teacher})
        c = {"id": t["id"], "candidate": 1, "solution": "",
             "tests": tests[::-1] + [extra], "teacher": teacher}
        if i % 3 == 0:
            c["tests_source"] = "teacher"   # absent counts as teacher too
        cands.append(c)
        # the hidden tests, as generate gives them when the teacher wrote
        # none: not the teacher's, not measured
        cands.append({"id": t["id"], "candidate": 2, "solution": "",
                      "tests": hidden,
                      "tests_source": "task", "teacher": teacher})
    cands.append({"id": "no/such/task", "candidate": 0, "solution": "",
                  "tests": ["assert False"], "tests_source": "teacher",
                  "teacher": teacher})
    return cands


def main():
    kiln = os.path.abspath(sys.argv[1])
    check = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        def path(name):
            return os.path.join(tmp, name)

        # --- the planted teacher, against the script -------------------
        p = run(kiln, "bank", "-n", "20", "--seed", "3", "--depth", "2",
                "-q")
        q = run(kiln, "bank", "-n", "2", "--seed", "4", "--depth", "2",
                "--language", "c", "-q")
        with open(path("tasks.jsonl"), "w") as f:
            f.write(p.stdout + q.stdout)
        tasks = read_jsonl(path("tasks.jsonl"))
        check("kiln bank wrote 20 Python and 2 C tasks",
              p.returncode == q.returncode == 0 and len(tasks) == 22 and
              [t["language"] for t in tasks].count("c") == 2,
              p.stderr + q.stderr)
        write_jsonl(path("cands.jsonl"), plant(tasks))
        out = path("rates.json")
        p = run(kiln, "test-rates", "--tasks", path("tasks.jsonl"),
                path("cands.jsonl"), "-o", out, "--timeout", "500ms")
        got = json.load(open(out)) if p.returncode == 0 else {}
        check("kiln test-rates ran (exit 0) and wrote its object",
              p.returncode == 0 and p.stdout == "" and
              list(got) == list(COUNTS[:4]) + list(RATES[:2]) +
              ["variants", "variants_killed", "kill_rate", "runs",
               "seconds"], (p.returncode, p.stderr[-800:], got))
        s = subprocess.run([sys.executable, SCRIPT, "--kiln", kiln,
                            "--timeout", "500ms", path("tasks.jsonl"),
                            path("cands.jsonl")], capture_output=True,
                           text=True, timeout=900)
        want = json.loads(s.stdout) if s.returncode == 0 else {}
        check("bank-test-rates.py ran on the same files",
              s.returncode == 0 and want.get("teacher") ==
              "openai/planted", s.stderr[-800:])
        check("the counts are the script's: %s" % ", ".join(
            "%s %s" % (k, got.get(k)) for k in COUNTS),
            want and all(got.get(k) == want.get(k) for k in COUNTS),
            (got, want))
        check("... and so are the rates",
              want and all(abs(got[k] - want[k]) < 1e-12 for k in RATES),
              (got, want))
        check("the planted mix is a real one: some tests invalid, some "
              "valid ones discriminate and some do not",
              0 < got.get("valid", 0) < got.get("tests", 0) and
              0 < got.get("discriminating", 0) < got.get("valid", 0),
              got)
        m = re.search(r"(\d+) runs \((\d+) of whole pools, (\d+) pools? run "
                      r"test by test\)", p.stderr)
        runs, pools, fell = map(int, m.groups()) if m else (0, 0, 0)
        # the script runs each distinct test with every solution
        planted = plant(tasks)
        script_runs = sum((1 + len(t["wrong_variants"])) * len(set(
            json.dumps(x, sort_keys=True) for c in planted
            if c["id"] == t["id"] and
            c.get("tests_source", "teacher") == "teacher"
            for x in c["tests"])) for t in tasks)
        # the batches of C task 21 do not compile: each of its solutions
        # is run again test by test (Python tasks with a test that is not
        # `assert f(literals) == literal`, such as HANG, a loop or a
        # rebound f, run test by test from the start)
        fall = sum(1 + len(t["wrong_variants"])
                   for i, t in enumerate(tasks) if i in (21,))
        check("the batches that timed out or did not compile (%d of %d "
              "whole-pool runs) were run again test by test: %d runs "
              "against the script's %d" % (fell, pools, runs, script_runs),
              m and runs == got.get("runs") and fell == fall and
              pools < runs < script_runs, (fall, p.stderr[-600:]))

        # --- a tiny case worked out by hand --------------------------------
        t = tasks[1]
        every = "assert " + " and ".join(
            "%s == %s" % (x["call"], x["expect"]) for x in t["tests"])
        wrong = "assert %s == 'no such answer'" % t["tests"][0]["call"]
        bare = dict(tasks[2])
        del bare["wrong_variants"]           # no ground truth: not measured
        write_jsonl(path("tiny-tasks.jsonl"), [t, bare])
        write_jsonl(path("tiny-cands.jsonl"), [
            {"id": t["id"], "candidate": 0, "solution": "",
             "tests": [every, wrong], "tests_source": "teacher"},
            {"id": t["id"], "candidate": 1, "solution": "",
             "tests": [wrong, "assert True"], "tests_source": "teacher"},
            {"id": bare["id"], "candidate": 0, "solution": "",
             "tests": ["assert True"], "tests_source": "teacher"}])
        n = len(t["wrong_variants"])
        p = run(kiln, "test-rates", "-q", "--tasks",
                path("tiny-tasks.jsonl"), path("tiny-cands.jsonl"))
        got = json.loads(p.stdout) if p.returncode == 0 else {}
        got.pop("seconds", None)
        # every hidden check in one assert (an `and` chain) is not one
        # call compared with a literal: the pool runs test by test
        check("by hand: 3 distinct tests, 2 valid (every hidden check, "
              "assert True), 1 discriminating, all %d variants killed, "
              "%d runs (a test a run)" % (n, 3 * (n + 1)),
              got == {"tasks": 1, "tests": 3, "valid": 2,
                      "discriminating": 1, "validity_rate": 2 / 3,
                      "discrimination_rate": 0.5, "variants": n,
                      "variants_killed": n, "kill_rate": 1.0,
                      "runs": 3 * (n + 1)} and p.stderr == "",
              (got, p.stderr[-500:]))
        # ... and without it, one run a solution
        write_jsonl(path("tiny2-cands.jsonl"), [
            {"id": t["id"], "candidate": 0, "solution": "",
             "tests": [wrong, "assert True"], "tests_source": "teacher"}])
        p = run(kiln, "test-rates", "-q", "--tasks",
                path("tiny-tasks.jsonl"), path("tiny2-cands.jsonl"))
        got = json.loads(p.stdout) if p.returncode == 0 else {}
        check("by hand: 2 tests of the batched shape, %d runs (one a "
              "solution), 1 valid, none discriminating" % (n + 1),
              got.get("runs") == n + 1 and got.get("tests") == 2 and
              got.get("valid") == 1 and got.get("discriminating") == 0,
              (got, p.stderr[-500:]))

        # --- tests that change what the set-up holds ---------------------
        # data.pop() in one namespace passed twice in a batch: the second
        # test saw the list the first one changed (it fails run alone,
        # as the script runs it); next(it) likewise
        u = tasks[4]
        state = []
        for setup, tests in (("data = [1, 2]", ["assert data.pop() == 2",
                                                "assert data.pop() == 1"]),
                             ("it = iter([1, 2])", ["assert next(it) == 1",
                                                    "assert next(it) == 2"])):
            state.append({"id": u["id"], "candidate": len(state),
                          "solution": "", "test_setup": setup,
                          "tests": tests + [py_assert(u["tests"][0])],
                          "tests_source": "teacher"})
        for k, c in enumerate(state):
            write_jsonl(path("state-tasks.jsonl"), [u])
            write_jsonl(path("state-cands.jsonl"), [c])
            p = run(kiln, "test-rates", "-q", "--tasks",
                    path("state-tasks.jsonl"), path("state-cands.jsonl"))
            got = json.loads(p.stdout) if p.returncode == 0 else {}
            s = subprocess.run([sys.executable, SCRIPT, "--kiln", kiln,
                                path("state-tasks.jsonl"),
                                path("state-cands.jsonl")],
                               capture_output=True, text=True, timeout=300)
            want = json.loads(s.stdout) if s.returncode == 0 else {}
            check("set-up state changed by a test (%s): the script's "
                  "counts, 2 of 3 valid" % c["test_setup"],
                  want and all(got.get(x) == want.get(x) for x in COUNTS)
                  and got.get("valid") == 2, (got, want))

        # --- no ground truth -------------------------------------------
        write_jsonl(path("bare.jsonl"), [bare])
        p = run(kiln, "test-rates", "--tasks", path("bare.jsonl"),
                path("tiny-cands.jsonl"), "-o", path("bare-rates.json"))
        got = json.load(open(path("bare-rates.json"))) \
            if p.returncode == 0 else {}
        got.pop("seconds", None)
        check("no task with ground truth: not an error; tasks 0, zeros, "
              "rates null, no run",
              got == {"tasks": 0, "tests": 0, "valid": 0,
                      "discriminating": 0, "validity_rate": None,
                      "discrimination_rate": None, "variants": 0,
                      "variants_killed": 0, "kill_rate": None, "runs": 0}
              and "nothing to measure" in p.stderr, (got, p.stderr))

        # --- errors: what and where, the output untouched ----------------
        keep = path("keep.json")
        with open(keep, "w") as f:
            f.write("old\n")
        write_jsonl(path("dup.jsonl"), [t, bare, dict(tasks[3],
                                                      id=t["id"])])
        p = run(kiln, "test-rates", "--tasks", path("dup.jsonl"),
                path("tiny-cands.jsonl"), "-o", keep)
        check("a task id twice: exit 1, the file and line named, the "
              "output untouched", p.returncode == 1 and
              "%s:3: task id '%s' appears twice (first on line 1)" % (
                  path("dup.jsonl"), t["id"]) in p.stderr and
              open(keep).read() == "old\n", p.stderr)
        two = read_jsonl(path("tiny-cands.jsonl"))
        two[1]["teacher"] = {"backend": "openai", "model": "other"}
        write_jsonl(path("two.jsonl"), two)
        p = run(kiln, "test-rates", "--tasks", path("tiny-tasks.jsonl"),
                path("two.jsonl"), "-o", keep)
        check("candidates of two teachers: refused, where named",
              p.returncode == 1 and "%s:2: a candidate of a second "
              "teacher, openai/other" % path("two.jsonl") in p.stderr and
              open(keep).read() == "old\n", p.stderr)
        with open(path("bad.jsonl"), "w") as f:
            f.write(open(path("tiny-cands.jsonl")).read() + "{not json\n")
        p = run(kiln, "test-rates", "--tasks", path("tiny-tasks.jsonl"),
                path("bad.jsonl"), "-o", keep)
        check("a malformed candidate line: exit 1, FILE:LINE",
              p.returncode == 1 and "%s:4:" % path("bad.jsonl") in
              p.stderr and open(keep).read() == "old\n", p.stderr)
        p = run(kiln, "test-rates", "--tasks", "-", "-")
        check("- twice (tasks and candidates): exit 2, said",
              p.returncode == 2 and "given 2 times" in p.stderr, p.stderr)
        p = run(kiln, "test-rates", path("tiny-cands.jsonl"))
        check("no --tasks: exit 2, said", p.returncode == 2 and
              "--tasks FILE is required" in p.stderr, p.stderr)
        p = run(kiln, "test-rates", "--tasks", path("tiny-tasks.jsonl"),
                path("tiny-cands.jsonl"), "-o", path("tiny-cands.jsonl"))
        check("-o an input: refused before any work", p.returncode == 2,
              p.stderr)
        p = run(kiln, "test-rates", "--print-config", "--timeout", "2s")
        check("--print-config: the sandbox's options, as other commands",
              p.returncode == 0 and json.loads(p.stdout).get("timeout") ==
              "2s", p.stdout + p.stderr)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
