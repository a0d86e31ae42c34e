#!/usr/bin/python3
"""kiln score --mutation end to end: known answers on planted solutions
and tests, HumanEval's references with their own tests and with tests that
check nothing, timeouts of hanging mutants, thresholds with their dropped
rows and stats, C, and a mutator that never runs the code it mutates.

Usage: test_score.py KILN_BINARY SHARED_DATA_DIR [FAKEAI_BINARY]

With fakeai (tests/server/), the LLM judge (--judge) and the reward
(--reward) too: scripted judge replies, each with its only right reading.

Every solution and mutant here runs only inside kiln's sandbox; this
driver only writes JSON and reads what kiln wrote.
"""
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time

KILN = os.path.abspath(sys.argv[1])
DATA = os.path.abspath(sys.argv[2])
FAKEAI = os.path.abspath(sys.argv[3]) if len(sys.argv) > 3 else None
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)[:1500]))


def kiln(*args, ok=True):
    p = subprocess.run([KILN] + list(args), capture_output=True, text=True,
                       timeout=900)
    if ok and p.returncode != 0:
        print("kiln %s failed (%d): %s" % (" ".join(args), p.returncode,
                                           p.stderr[-2000:]))
    return p


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


ADD = "def f(a, b):\n    return a + b\n"
PLANTED = [
    # both mutants (a - b, return None) fail 2 + 3 == 5
    {"id": "k/strong", "solution": ADD, "tests": ["assert f(2, 3) == 5"]},
    # a - b passes 0 + 0 == 0: it survives, return None does not
    {"id": "k/weak", "solution": ADD, "tests": ["assert f(0, 0) == 0"]},
    # the solution fails its own test: not scored
    {"id": "k/wrong", "solution": "def f(a, b):\n    return a - b\n",
     "tests": ["assert f(2, 3) == 5"]},
    # nothing to mutate: not scored
    {"id": "k/empty", "solution": "def g():\n    pass\n", "tests": ["g()"]},
]


def planted_checks(tmp):
    src = os.path.join(tmp, "planted.jsonl")
    write_jsonl(src, PLANTED)
    out = os.path.join(tmp, "planted.out.jsonl")
    muts = os.path.join(tmp, "planted.mut.jsonl")
    p = kiln("score", "--mutation", "-q", src, "-o", out, "--mutants-out",
             muts)
    got = {r["id"]: r["mutation"] for r in read_jsonl(out)} \
        if p.returncode == 0 else {}
    s, w = got.get("k/strong", {}), got.get("k/weak", {})
    check("strong test kills both mutants (known answer)",
          s.get("mutants") == 2 and s.get("killed") == 2 and
          s.get("score") == 1.0 and s.get("survivors") == [] and
          s.get("by_op") == {"arith": [1, 1], "return_none": [1, 1]}, s)
    check("weak test: a - b survives, score 0.5 (known answer)",
          w.get("mutants") == 2 and w.get("killed") == 1 and
          w.get("score") == 0.5 and
          w.get("survivors") == [{"op": "arith", "line": 2,
                                  "from": "a + b", "to": "(a - b)"}], w)
    check("a solution failing its own tests is not scored",
          got.get("k/wrong", {}).get("score", 0) is None and
          "does not pass" in got.get("k/wrong", {}).get("error", ""),
          got.get("k/wrong"))
    check("a solution with nothing to mutate is not scored",
          got.get("k/empty", {}).get("score", 0) is None and
          "no mutation site" in got.get("k/empty", {}).get("error", ""),
          got.get("k/empty"))
    ms = read_jsonl(muts) if p.returncode == 0 else []
    check("--mutants-out: every mutant with its verdict",
          len(ms) == 4 and all(m["mutant"]["killed"] ==
                               (m["mutant"]["status"] != "pass")
                               for m in ms) and
          [m["mutant"]["killed"] for m in ms
           if m["id"] == "k/weak" and m["mutant"]["op"] == "arith"] ==
          [False] and all("(a - b)" in m["solution"] or
                          "return None" in m["solution"] for m in ms),
          ms[:2])

    # thresholds: dropped rows with their reasons, and the stats file
    kept = os.path.join(tmp, "kept.jsonl")
    dropped = os.path.join(tmp, "dropped.jsonl")
    stats = os.path.join(tmp, "stats.json")
    p = kiln("score", "--mutation", "-q", src, "-o", kept, "--dropped",
             dropped, "--stats", stats, "--min-mutation-score", "0.9")
    k = [r["id"] for r in read_jsonl(kept)] if p.returncode == 0 else []
    d = {r["id"]: r["dropped"] for r in read_jsonl(dropped)} \
        if p.returncode == 0 else {}
    st = json.load(open(stats)) if p.returncode == 0 else {}
    check("--min-mutation-score keeps the strong one only", k ==
          ["k/strong"], (k, p.stderr[-500:]))
    check("... and drops the others with their reasons",
          d.get("k/weak", {}).get("reason") == "low_score" and
          d["k/weak"].get("score") == 0.5 and
          d.get("k/wrong", {}).get("reason") == "not_scored" and
          d.get("k/empty", {}).get("reason") == "not_scored", d)
    check("--stats: entered, kept, dropped per reason, per operator",
          st.get("stage") == "mutation" and st.get("entered") == 4 and
          st.get("kept") == 1 and st.get("dropped") ==
          {"low_score": 1, "not_scored": 2} and
          st.get("mutation", {}).get("by_op", {}).get("arith") == [2, 1],
          st)


def humaneval(n):
    tasks = []
    with gzip.open(os.path.join(DATA, "HumanEval.jsonl.gz"), "rt") as f:
        for line in f:
            tasks.append(json.loads(line))
    return tasks[:n]


def humaneval_checks(tmp):
    src = os.path.join(tmp, "he.jsonl")
    p = kiln("import", "-f", "humaneval",
             os.path.join(DATA, "HumanEval.jsonl.gz"), "-o", src)
    recs = read_jsonl(src)[:40]
    write_jsonl(src, recs)
    out = os.path.join(tmp, "he.out.jsonl")
    p = kiln("score", "--mutation", "-q", src, "-o", out)
    got = [r["mutation"] for r in read_jsonl(out)] if p.returncode == 0 \
        else []
    mutants = sum(m.get("mutants", 0) for m in got)
    killed = sum(m.get("killed", 0) for m in got)
    score = killed / mutants if mutants else 0
    check("HumanEval references with their own tests: every one scored",
          len(got) == 40 and all(m.get("score") is not None for m in got),
          [m for m in got if m.get("score") is None][:3])
    check("... overall mutation score in [0.8, 0.97] (%.3f of %d)" %
          (score, mutants), 0.8 <= score <= 0.97 and mutants > 300, score)
    check("... per-operator counts add up",
          all(sum(v[0] for v in m["by_op"].values()) == m["mutants"] and
              sum(v[1] for v in m["by_op"].values()) == m["killed"]
              for m in got), got[:1])

    # The same solutions with a test that checks nothing: only mutants
    # that break the program's loading are killed.
    weak = [dict(r, tests=["assert True"]) for r in recs]
    wsrc = os.path.join(tmp, "weak.jsonl")
    write_jsonl(wsrc, weak)
    wout = os.path.join(tmp, "weak.out.jsonl")
    p = kiln("score", "--mutation", "-q", wsrc, "-o", wout)
    wg = [r["mutation"] for r in read_jsonl(wout)] if p.returncode == 0 \
        else []
    wm = sum(m.get("mutants", 0) for m in wg)
    wk = sum(m.get("killed", 0) for m in wg)
    check("tests that check nothing score near 0 (%d of %d killed)" %
          (wk, wm), wm > 300 and wk / wm < 0.1, (wk, wm, p.stderr[-300:]))


def timeout_checks(tmp):
    # i -= 1 never reaches n: the mutant hangs and times out at the floor
    rec = {"id": "t/loop", "solution": "def count(n):\n    i = 0\n"
           "    while i < n:\n        i += 1\n    return i\n",
           "tests": ["assert count(5) == 5"]}
    src = os.path.join(tmp, "loop.jsonl")
    write_jsonl(src, [rec])
    muts = os.path.join(tmp, "loop.mut.jsonl")
    t0 = time.monotonic()
    p = kiln("score", "--mutation", "-q", src, "-o",
             os.path.join(tmp, "loop.out.jsonl"), "--mutants-out", muts,
             "--mutant-timeout-floor", "200ms")
    took = time.monotonic() - t0
    ms = read_jsonl(muts) if p.returncode == 0 else []
    hung = [m["mutant"] for m in ms if m["mutant"]["from"] == "i += 1" and
            m["mutant"]["op"] == "arith"]
    check("a hanging mutant is killed by its scaled timeout",
          len(hung) == 1 and hung[0]["status"] == "timeout" and
          hung[0]["killed"] and hung[0]["timeout_ms"] == 200, hung)
    check("... without waiting for the sandbox's own timeout (%.1fs)" %
          took, took < 4.5, took)


def score_one(tmp, name, rec):
    """kiln score --mutation on one record: (process, its output records,
    its mutants (--mutants-out), its --stats), empty when it failed."""
    src = os.path.join(tmp, name + ".jsonl")
    write_jsonl(src, [rec])
    out, muts, stats = (os.path.join(tmp, name + x) for x in
                        (".out.jsonl", ".mut.jsonl", ".stats.json"))
    p = kiln("score", "--mutation", "-q", src, "-o", out, "--mutants-out",
             muts, "--stats", stats)
    if p.returncode:
        return p, [], [], {}
    with open(stats) as f:
        return p, read_jsonl(out), read_jsonl(muts), json.load(f)


def c_checks(tmp):
    rec = {"id": "c/add", "language": "c",
           "solution": "int add(int a, int b) {\n    if (a > 100)\n"
                       "        return 0;\n    return a + b;\n}\n",
           "tests": ["assert(add(2, 3) == 5);", "assert(add(200, 1) == 0);"]}
    p, out, ms, _ = score_one(tmp, "c", rec)
    surv = sorted((m["mutant"]["op"], m["mutant"]["from"], m["mutant"]["to"])
                  for m in ms if not m["mutant"]["killed"])
    # the boundary (a > 100 vs >= 100, 101, 99) is not tested: those live
    check("C: mutants of a C solution, the untested boundary survives",
          len(out) == 1 and out[0]["mutation"]["mutants"] == len(ms) and
          surv == [("cmp", ">", ">="), ("const", "100", "101"),
                   ("const", "100", "99")], (surv, p.stderr[-300:]))


def c_equivalent_checks(tmp):
    # `dead` is never read: -O2 compiles every mutant of its two lines
    # (0 -> 1, * -> /, 2 -> 3, 2 -> 1, the assignment deleted) to the
    # original's object file; those are equivalent, never run, and out of
    # the score's denominator. The mutants of `return a + 1;` change the
    # code: run, and killed by the tests.
    rec = {"id": "c/dead", "language": "c",
           "solution": "int f(int a) {\n    int dead = 0;\n"
                       "    dead = a * 2;\n    return a + 1;\n}\n",
           "tests": ["assert(f(1) == 2);", "assert(f(5) == 6);"]}
    p, out, ms, st = score_one(tmp, "ceq", rec)
    ran = sorted((m["mutant"]["op"], m["mutant"]["from"], m["mutant"]["to"])
                 for m in ms)
    m = out[0]["mutation"] if out else {}
    check("C: mutants compiled to the original's object file at -O2 are "
          "equivalent, not run, not in the score",
          m.get("equivalent") == 5 and m.get("mutants") == 4 and
          m.get("killed") == 4 and m.get("score") == 1.0 and
          ran == [("arith", "+", "-"), ("const", "1", "0"),
                  ("const", "1", "2"), ("return_none", "return a + 1;",
                                        "return 0;")],
          (m, ran, p.stderr[-300:]))
    check("... counted in the stats (equivalent_objects)",
          st.get("mutation", {}).get("equivalent_objects") == 5 and
          st.get("mutation", {}).get("equivalent") == 5, st)


def never_runs(tmp):
    # If the mutator (outside the sandbox) ran the code, this file would
    # appear on the host; the solution itself runs only in the sandbox,
    # whose /tmp is its own.
    canary = os.path.join(tempfile.gettempdir(),
                          "kiln-mutator-canary-%d" % os.getpid())
    sol = ("import os\nopen(%r, 'w').write('ran')\n"
           "def f(x):\n    return x + 1\n" % canary)
    src = os.path.join(tmp, "canary.jsonl")
    write_jsonl(src, [{"id": "m/canary", "solution": sol,
                       "tests": ["assert f(1) == 2"]}])
    p = kiln("score", "--mutation", "-q", src, "-o",
             os.path.join(tmp, "canary.out.jsonl"))
    out = read_jsonl(os.path.join(tmp, "canary.out.jsonl")) \
        if p.returncode == 0 else []
    check("the code is mutated and run in the sandbox, never on the host",
          len(out) == 1 and out[0]["mutation"]["mutants"] > 0 and
          not os.path.exists(canary), (out, os.path.exists(canary)))
    if os.path.exists(canary):
        os.unlink(canary)


def input_checks(tmp):
    # kiln verify --carry output scores as it is
    src = os.path.join(tmp, "planted.jsonl")
    car = os.path.join(tmp, "carried.jsonl")
    kiln("verify", "-q", "--carry", src, "-o", car)
    p = kiln("score", "--mutation", "-q", car, "-o",
             os.path.join(tmp, "car.out.jsonl"))
    out = read_jsonl(os.path.join(tmp, "car.out.jsonl")) \
        if p.returncode == 0 else []
    check("verify --carry output is scored, its verdict kept",
          [r["mutation"].get("score") for r in out] == [1.0, 0.5, None,
                                                         None] and
          all("verdict" in r for r in out), (out[:1], p.stderr[-300:]))
    # a record without a solution: an error with file and line
    bad = os.path.join(tmp, "bad.jsonl")
    write_jsonl(bad, PLANTED[:1] + [{"id": "x", "tests": ["pass"]}])
    p = kiln("score", "--mutation", "-q", bad, "-o",
             os.path.join(tmp, "bad.out.jsonl"), ok=False)
    check("a record without a solution: exit 1, file:line named",
          p.returncode == 1 and "bad.jsonl:2" in p.stderr and
          not os.path.exists(os.path.join(tmp, "bad.out.jsonl")), p.stderr)
    p = kiln("score", "-q", bad, ok=False)
    check("nothing to score without --mutation: usage error",
          p.returncode == 2 and "--mutation" in p.stderr, p.stderr)


class FakeAI:
    def __init__(self, tmp, script):
        self.dir = tempfile.mkdtemp(dir=tmp)
        sp = os.path.join(self.dir, "script.json")
        self.log = os.path.join(self.dir, "log.jsonl")
        portf = os.path.join(self.dir, "port")
        with open(sp, "w") as f:
            json.dump(script, f)
        self.proc = subprocess.Popen(
            [FAKEAI, "--port", "0", "--port-file", portf, "--script", sp,
             "--log", self.log, "--stdin-lifeline"], stdin=subprocess.PIPE)
        for _ in range(250):
            if os.path.exists(portf) and open(portf).read().strip():
                break
            time.sleep(0.02)
        self.url = "http://127.0.0.1:%s/v1" % open(portf).read().strip()

    def requests(self):
        if not os.path.exists(self.log):
            return []
        return [json.loads(l) for l in open(self.log) if l.strip()]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)


# Judge replies, matched by a marker in the judged solution, and the only
# right reading of each.
JUDGED = [
    ("good", 'Clean and correct.\n{"score": 8, "reason": "fine"}', 8),
    ("trap", '[[10]] at first sight.\n{"score": 2}', 2),
    ("quoted", '{"score": 3}\nThe code also says:\n{"score": 10}', 3),
    ("prose", "I would rate it highly: 9/10.", None),
    ("range", '{"score": 42}', None),
    ("fail", None, None),      # the server fails every request for it
]


def judge_checks(tmp):
    script = {"answers": [{"match": "case-" + name, "text": text}
                          for name, text, _ in JUDGED if text],
              "faults": [{"kind": "500", "when": {"match": "case-fail"}}]}
    srv = FakeAI(tmp, script)
    recs = []
    for i, (name, _, _) in enumerate(JUDGED):
        sol = "def f(x):\n    # case-%s\n    return x + %d\n" % (name, i)
        if name == "quoted":
            sol += "NOTE = '''\n{\"score\": 10}\n'''\n"
        recs.append({"id": "j/%d" % i, "prompt": "Write f.", "solution": sol,
                     "tests": ["assert f(1) == %d" % (1 + i)],
                     "verdict": {"status": "pass", "tests_passed": 1,
                                 "tests_total": 1}})
    src = os.path.join(tmp, "judge.in.jsonl")
    write_jsonl(src, recs)
    out = os.path.join(tmp, "judge.out.jsonl")
    store = os.path.join(tmp, "judge.store")
    args = ["score", "--judge", srv.url, "--judge-model", "judge-1", src,
            "-o", out, "--store", store]
    p = kiln(*(args + ["--stats", os.path.join(tmp, "judge.stats.json")]),
             ok=False)
    got = [r["judge"] for r in read_jsonl(out)] if p.returncode == 0 else []
    want = [w for _, _, w in JUDGED]
    check("judge: each reply gets its only right reading",
          [g.get("score") for g in got] == want,
          ([g.get("score") for g in got], p.stderr[-500:]))
    check("judge: a readable score is scaled to 0..1",
          got and abs(got[0].get("scaled", -1) - 7 / 9) < 1e-9, got[:1])
    check("judge: every missing score says why",
          all(g.get("error") for g in got if g.get("score") is None) and
          got and "request failed" in got[-1].get("error", ""), got)
    check("judge: the failure rate is printed",
          "3 scored, 2 unreadable, 1 failed: failure rate 50.0%" in
          p.stderr, p.stderr[-400:])
    st = json.load(open(os.path.join(tmp, "judge.stats.json"))) \
        if p.returncode == 0 else {}
    check("judge: --stats holds the counts",
          st.get("judge", {}).get("unreadable") == 2 and
          st.get("judge", {}).get("failed") == 1, st)
    sent = len(srv.requests())
    # a second run: every answered request comes from the store, the
    # failed one is not sent again without --retry-failed
    p = kiln(*args, ok=False)
    again = [r["judge"].get("score") for r in read_jsonl(out)] \
        if p.returncode == 0 else []
    check("judge: a second run answers from the store, same scores",
          again == want and len(srv.requests()) == sent,
          (again, len(srv.requests()) - sent, p.stderr[-300:]))
    # the reward over the judged records: the judge's score is a
    # component where it was read, missing where not
    rout = os.path.join(tmp, "reward.out.jsonl")
    p = kiln("score", "--reward", out, "-o", rout)
    rw = [r["reward"] for r in read_jsonl(rout)] if p.returncode == 0 else []
    check("reward: mean of pass, static and the judge where it was read",
          len(rw) == 6 and abs(rw[0]["score"] - (1 + 1 + 7 / 9) / 3) < 1e-9
          and "judge" in rw[3]["missing"] and rw[3]["score"] == 1.0 and
          rw[3]["components"] == {"pass": 1.0, "static": 1.0}, rw[:4])
    # a banned import fails the static check
    bad = [dict(recs[0], id="j/bad",
                solution="import subprocess\n" + recs[0]["solution"])]
    write_jsonl(os.path.join(tmp, "banned.jsonl"), bad)
    p = kiln("score", "--reward", os.path.join(tmp, "banned.jsonl"), "-o",
             os.path.join(tmp, "banned.out.jsonl"), "--min-reward", "0.9",
             "--dropped", os.path.join(tmp, "banned.drop.jsonl"))
    d = read_jsonl(os.path.join(tmp, "banned.drop.jsonl")) \
        if p.returncode == 0 else []
    check("reward: a banned import fails the static check, dropped "
          "below --min-reward", len(d) == 1 and
          d[0]["reward"]["static"]["banned"] == ["subprocess"] and
          d[0]["reward"]["components"]["static"] == 0.0 and
          d[0]["dropped"]["reason"] == "low_reward", d)
    srv.stop()


def top_k_checks(tmp):
    # three candidates of task a, two of task b: the best two of each
    def rec(tid, c, passed):
        return {"id": tid, "candidate": c,
                "solution": "def f():\n    return %d\n" % c,
                "verdict": {"status": "pass" if passed == 4 else "fail",
                            "tests_passed": passed, "tests_total": 4}}
    recs = [rec("a", 0, 2), rec("b", 0, 4), rec("a", 1, 4), rec("a", 2, 3),
            rec("b", 1, 1)]
    src = os.path.join(tmp, "topk.jsonl")
    write_jsonl(src, recs)
    out = os.path.join(tmp, "topk.out.jsonl")
    drop = os.path.join(tmp, "topk.drop.jsonl")
    p = kiln("score", "--reward", "--w-static", "0", src, "-o", out,
             "--dropped", drop, "--top-k-per-task", "2")
    kept = [(r["id"], r["candidate"]) for r in read_jsonl(out)] \
        if p.returncode == 0 else []
    dropped = [(r["id"], r["candidate"], r["dropped"]["reason"])
               for r in read_jsonl(drop)] if p.returncode == 0 else []
    check("reward --top-k-per-task 2: the two best of each task, in input "
          "order", kept == [("b", 0), ("a", 1), ("a", 2), ("b", 1)],
          (kept, p.stderr[-300:]))
    check("... and the rest dropped as top_k", dropped == [("a", 0, "top_k")],
          dropped)


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-score-")
    planted_checks(tmp)
    timeout_checks(tmp)
    c_checks(tmp)
    c_equivalent_checks(tmp)
    never_runs(tmp)
    input_checks(tmp)
    top_k_checks(tmp)
    if FAKEAI:
        judge_checks(tmp)
    humaneval_checks(tmp)
    subprocess.run(["rm", "-rf", tmp])
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
