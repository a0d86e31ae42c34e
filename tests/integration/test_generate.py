#!/usr/bin/python3
"""kiln generate and kiln eval against a real HTTP server on loopback.

Usage: test_generate.py KILN FAKEAI SHARED_DATA_DIR

The server (tests/server/fakeai) speaks the OpenAI API and injects faults
from a script. Checked here:
  - every fault kind ends in a successful retry, or (when it never stops) in
    a clear per-request error recorded in the store; the run finishes;
  - SIGKILL several times mid-run, then resume: the final candidates equal
    an uninterrupted run's, and no request answered before a kill (recorded
    in the store) reaches the server again;
  - the cache answers identical requests; --retry-failed re-sends failures;
  - kiln eval gives exactly the expected pass@1 for a server that answers
    some HumanEval tasks right and others wrong.
Candidate code runs only inside kiln's sandbox (kiln verify / kiln eval).
"""
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

KILN, FAKEAI, DATA = (os.path.abspath(a) for a in sys.argv[1:4])
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)[:1500]))


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xffffffffffffffff
    return "%016x" % h


class Server:
    def __init__(self, tmp, name, script):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.script = os.path.join(self.dir, "script.json")
        self.log = os.path.join(self.dir, "log.jsonl")
        portf = os.path.join(self.dir, "port")
        with open(self.script, "w") as f:
            json.dump(script, f)
        self.proc = subprocess.Popen(
            [FAKEAI, "--port", "0", "--port-file", portf, "--script",
             self.script, "--log", self.log, "--stdin-lifeline"],
            stdin=subprocess.PIPE)
        for _ in range(200):
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


def kiln(*args, timeout=300):
    return subprocess.run([KILN] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def read_jsonl(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def store_items(store, *opts):
    """The store's items, oldest first, as `kiln store list --json` gives
    them (id, task, index, kind, state, attempts, error; request with
    --request)."""
    p = kiln("store", "list", "--json", *opts, store)
    if p.returncode != 0:
        raise RuntimeError("kiln store list: " + p.stderr)
    return [json.loads(l) for l in p.stdout.splitlines() if l.strip()]


def store_states(store):
    """Items per state: {"pending": n, "done": n, "failed": n, ...}."""
    p = kiln("store", "stats", "--json", store)
    if p.returncode != 0:
        raise RuntimeError("kiln store stats: " + p.stderr)
    return json.loads(p.stdout)["states"]


def write_tasks(path, n, tag):
    tasks = []
    for i in range(n):
        tasks.append({"id": "%s/%d" % (tag, i),
                      "prompt": "Task %s number %d: write add_%d(a, b)."
                      % (tag, i, i), "entry_point": "add_%d" % i,
                      "language": "python", "origin": "human"})
    with open(path, "w") as f:
        for t in tasks:
            f.write(json.dumps(t) + "\n")
    return tasks


def answers_for(tasks):
    out = []
    for i, t in enumerate(tasks):
        out.append({"match": "number %d:" % i, "text":
                    "Sure.\n```python\ndef add_%d(a, b):\n    return a + b\n"
                    "```\n" % i})
    return out


def faults_test(tmp):
    kinds = ["slow", "429", "500", "503", "malformed", "truncated", "reset",
             "content_type", "empty_choices"]
    tasks = write_tasks(os.path.join(tmp, "f.jsonl"), len(kinds) + 1, "f")
    faults = []
    for i, k in enumerate(kinds):
        f = {"kind": k, "when": {"match": "number %d:" % i, "times": 2}}
        if k == "slow":
            f["delay_ms"] = 300
        if k == "429":
            f["retry_after"] = 1
        faults.append(f)
    # The last task's requests always fail: a permanent, recorded error.
    faults.append({"kind": "500", "when": {"match": "number %d:" % len(kinds)}})
    srv = Server(tmp, "faults", {"answers": answers_for(tasks),
                                 "faults": faults})
    out = os.path.join(tmp, "f.cands.jsonl")
    t0 = time.time()
    p = kiln("generate", "--backend", srv.url, "-m", "fake", "-k", "1",
             "--test-sets", "0", "--attempts", "4", "-c", "8",
             os.path.join(tmp, "f.jsonl"), "-o", out)
    took = time.time() - t0
    check("faults: run finishes", p.returncode == 0, p.stderr)
    cands = read_jsonl(out) if p.returncode == 0 else []
    got = sorted(c["id"] for c in cands)
    want = sorted("f/%d" % i for i in range(len(kinds)))
    check("faults: every retried fault ends in a candidate", got == want,
          (got, p.stderr))
    check("faults: solutions extracted",
          all("return a + b" in c["solution"] for c in cands))
    rows = [(r["task"], r["state"], r["error"], r["attempts"])
            for r in store_items(out + ".store")]
    failed = [r for r in rows if r[1] == "failed"]
    check("faults: the permanent fault is a recorded per-request error",
          len(failed) == 1 and failed[0][0] == "f/%d" % len(kinds) and
          "HTTP 500" in failed[0][2] and failed[0][3] == 4, rows)
    check("faults: the recorded error carries the server's message",
          failed and "server_error" in failed[0][2], failed)
    # Attempts per kind: a fault that fires twice costs two retries. "slow"
    # is no failure; a valid answer under a wrong Content-Type is taken as
    # it is; libcurl itself re-sends a request whose reused connection
    # was reset, so "reset" may cost one attempt less, or two when both
    # resets hit reused connections (seen once under load: 1 attempt).
    want = {"slow": {1}, "content_type": {1}, "reset": {1, 2, 3}}
    retried = {r[0]: r[3] for r in rows if r[1] == "done"}
    check("faults: each fault cost its retries",
          all(retried.get("f/%d" % i) in want.get(k, {3})
              for i, k in enumerate(kinds)), retried)
    check("faults: Retry-After honoured (>= 1 s for two 429s)", took >= 2.0,
          took)
    check("faults: summary names the failure and the store",
          "1 failed" in p.stderr and ".store" in p.stderr, p.stderr)
    # --retry-failed sends exactly the failed request again.
    n0 = len(srv.requests())
    p = kiln("generate", "--backend", srv.url, "-m", "fake",
             "--test-sets", "0", "--attempts", "1", "--retry-failed",
             os.path.join(tmp, "f.jsonl"), "-o", out)
    new = srv.requests()[n0:]
    check("--retry-failed re-sends only the failures",
          len(new) == 1 and "number %d:" % len(kinds) in new[0]["prompt"],
          new)
    # kiln store, as people read it (the tests above read its --json)
    store = out + ".store"
    p = kiln("store", "list", "--state", "failed", store)
    check("kiln store list: the failed item with its error, one line",
          p.returncode == 0 and len(p.stdout.splitlines()) == 1 and
          "\tf/%d\t0\tsolution\tfailed\t" % len(kinds) in p.stdout and
          "HTTP 500" in p.stdout, p.stdout + p.stderr)
    p = kiln("store", "stats", store)
    check("kiln store stats: items by state",
          p.returncode == 0 and "%d items: 0 pending, %d done, 1 failed" %
          (len(kinds) + 1, len(kinds)) in p.stdout, p.stdout + p.stderr)
    nope = os.path.join(tmp, "nope.store")
    p = kiln("store", "list", nope)
    check("kiln store: a missing store is an error, not a new store",
          p.returncode == 1 and "no such store" in p.stderr and
          not os.path.exists(nope), p.stderr)
    p = kiln("store", "stats", "postgresql://db.example/kiln")
    check("kiln store: postgresql:// is named and not built yet",
          p.returncode == 1 and "not built" in p.stderr, p.stderr)
    srv.stop()


def kill_resume_test(tmp):
    tasks = write_tasks(os.path.join(tmp, "k.jsonl"), 30, "k")
    script = {"answers": answers_for(tasks),
              "faults": [{"kind": "slow", "delay_ms": 40,
                          "when": {"all": True}}]}
    # Uninterrupted reference run on its own server and store.
    ref_srv = Server(tmp, "ref", script)
    ref_out = os.path.join(tmp, "ref.jsonl")
    p = kiln("generate", "--backend", ref_srv.url, "-m", "fake", "-k", "2",
             "-c", "4", os.path.join(tmp, "k.jsonl"), "-o", ref_out)
    check("kill: reference run", p.returncode == 0, p.stderr)
    ref_srv.stop()

    srv = Server(tmp, "kill", script)
    out = os.path.join(tmp, "k.cands.jsonl")
    store = out + ".store"
    argv = [KILN, "generate", "--backend", srv.url, "-m", "fake", "-k", "2",
            "-c", "4", os.path.join(tmp, "k.jsonl"), "-o", out, "-q"]
    kills, violations, answered = 0, [], set()
    for attempt in range(30):
        seen = len(srv.requests())
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            proc.wait(0.25 + 0.05 * attempt)
            finished = proc.returncode == 0
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            finished = False
        # Requests this process sent that the store had answered before.
        for r in srv.requests()[seen:]:
            if r["hash"] in answered:
                violations.append(r)
        for r in store_items(store, "--state", "done", "--request"):
            answered.add(fnv1a64(r["request"].encode()))
        if finished:
            break
    check("kill: killed with SIGKILL several times", kills >= 3, kills)
    check("kill: the resumed run finishes", finished)
    check("kill: no answered request sent again", not violations,
          violations[:3])
    def strip(recs):  # the two servers differ only in their port
        for r in recs:
            r["teacher"].pop("url", None)
        return recs
    a = strip(read_jsonl(ref_out))
    b = strip(read_jsonl(out)) if os.path.exists(out) else []
    check("kill: candidates equal an uninterrupted run's", a == b and
          len(a) == 60, (len(a), len(b)))
    # Candidates stream out as tasks complete (here to stdout, against a
    # server that takes 40 ms a request): the first line comes well
    # before the end.
    proc = subprocess.Popen([KILN, "generate", "--backend", srv.url, "-m",
                             "stream", "-k", "1", "--test-sets", "0", "-c",
                             "2", "-q", os.path.join(tmp, "k.jsonl"),
                             "--store", os.path.join(tmp, "stream.store")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    t0 = time.time()
    first = proc.stdout.readline()
    t_first = time.time() - t0
    rest = proc.stdout.read()
    proc.wait()
    t_end = time.time() - t0
    check("candidates stream out as tasks complete",
          first.startswith(b'{"id":"k/0"') and t_end - t_first > 0.2 and
          len(rest.splitlines()) == 29, (t_first, t_end))
    # Everything answered: a further run sends nothing (the cache and the
    # store answer it all).
    seen = len(srv.requests())
    p = kiln("generate", "--backend", srv.url, "-m", "fake", "-k", "2",
             os.path.join(tmp, "k.jsonl"), "-o", out)
    check("kill: a finished run sends nothing more",
          p.returncode == 0 and len(srv.requests()) == seen, p.stderr)
    # A new store with the same requests: answered from... the server
    # again (the cache is per store), but --store of the old one with a
    # changed template misses the cache.
    tmpl = os.path.join(tmp, "t.txt")
    with open(tmpl, "w") as f:
        f.write("Please solve: {prompt}\n")
    p = kiln("generate", "--backend", srv.url, "-m", "fake", "-k", "1",
             "--test-sets", "0", "--template-solution", tmpl,
             os.path.join(tmp, "k.jsonl"), "-o", os.path.join(tmp, "t.out"),
             "--store", store)
    check("a changed template misses the cache",
          p.returncode == 0 and len(srv.requests()) == seen + 30, p.stderr)
    # Pending jobs of one configuration are not sent by a run of another:
    # start a run with template A, kill it at once, then run template B.
    ta, tb = os.path.join(tmp, "ta.txt"), os.path.join(tmp, "tb.txt")
    open(ta, "w").write("Variant A: {prompt}\n")
    open(tb, "w").write("Variant B: {prompt}\n")
    proc = subprocess.Popen([KILN, "generate", "--backend", srv.url, "-m",
                             "fake", "--test-sets", "0", "-c", "1",
                             "--template-solution", ta,
                             os.path.join(tmp, "k.jsonl"), "-o",
                             os.path.join(tmp, "ta.out"), "--store", store],
                            stderr=subprocess.DEVNULL)
    time.sleep(0.15)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    seen = len(srv.requests())
    p = kiln("generate", "--backend", srv.url, "-m", "fake", "--test-sets",
             "0", "--template-solution", tb, os.path.join(tmp, "k.jsonl"),
             "-o", os.path.join(tmp, "tb.out"), "--store", store)
    new = srv.requests()[seen:]
    check("a run sends only its own pending jobs", p.returncode == 0 and
          len(new) == 30 and all(r["prompt"].startswith("Variant B")
                                 for r in new),
          [r["prompt"][:20] for r in new][:5])
    srv.stop()


def limits_test(tmp):
    """Concurrency 256, the request bucket, cost, and the API key."""
    tasks = write_tasks(os.path.join(tmp, "l.jsonl"), 300, "l")
    srv = Server(tmp, "limits", {"answers": answers_for(tasks)})
    out = os.path.join(tmp, "l.out")
    env = dict(os.environ, KILN_TEST_KEY="sk-very-secret-0123456789")
    p = subprocess.run([KILN, "generate", "--backend", srv.url, "-m", "m",
                        "--test-sets", "0", "-c", "256", "--api-key-env",
                        "KILN_TEST_KEY", "--price-in", "1.5", "--price-out",
                        "6", os.path.join(tmp, "l.jsonl"), "-o", out],
                       capture_output=True, text=True, env=env, timeout=120)
    check("concurrency 256: all 300 answered", p.returncode == 0 and
          len(read_jsonl(out)) == 300, p.stderr)
    check("cost in the summary", "cost $" in p.stderr, p.stderr)
    blob = b""
    for f in (out, out + ".store", out + ".store-wal"):
        if os.path.exists(f):
            blob += open(f, "rb").read()
    check("the API key is written nowhere",
          b"sk-very-secret" not in blob and
          "sk-very-secret" not in p.stderr)
    # --max-rpm 120: a burst of 120, then 2 a second: 124 take >= 1.5 s.
    sub = os.path.join(tmp, "l124.jsonl")
    with open(sub, "w") as f:
        for t in tasks[:124]:
            f.write(json.dumps(t) + "\n")
    t0 = time.time()
    p = kiln("generate", "--backend", srv.url, "-m", "m2", "--test-sets",
             "0", "--max-rpm", "120", sub, "-o", os.path.join(tmp, "r.out"))
    took = time.time() - t0
    check("--max-rpm holds requests back", p.returncode == 0 and
          1.5 <= took < 20, (took, p.stderr))
    srv.stop()

    # The token buckets. 64 tasks whose prompts are ~1,000 tokens (bytes/4)
    # and whose answers are ~1,000 completion tokens: a per-minute limit of
    # 60,000 lets 60 through at once, then 1,000 tokens a second, so the
    # last few wait about a second each (3-4 s in all).
    big = []
    for i in range(64):
        big.append({"id": "big/%d" % i, "prompt": "number %d: " % i +
                    "x" * 4000, "entry_point": "f"})
    bigf = os.path.join(tmp, "big.jsonl")
    with open(bigf, "w") as f:
        for t in big:
            f.write(json.dumps(t) + "\n")
    long_answer = "```python\ndef f():\n    return 1\n```\n" + "y" * 4000
    srv = Server(tmp, "buckets", {"default": long_answer})
    for flag in ("--max-input-tpm", "--max-output-tpm"):
        t0 = time.time()
        p = kiln("generate", "--backend", srv.url, "-m", flag,
                 "--test-sets", "0", "-c", "1", flag, "60000", bigf, "-o",
                 os.path.join(tmp, "b.out"))
        took = time.time() - t0
        check("%s holds requests back" % flag, p.returncode == 0 and
              2.5 <= took < 30, (took, p.stderr))
    t0 = time.time()
    p = kiln("generate", "--backend", srv.url, "-m", "nolimit",
             "--test-sets", "0", "-c", "1", bigf, "-o",
             os.path.join(tmp, "b.out"))
    check("without a limit the same run is quick", p.returncode == 0 and
          time.time() - t0 < 2.0, time.time() - t0)
    srv.stop()


def teacher_tests_test(tmp):
    """The teacher's tests answer restates a (wrong) solution beside its
    asserts: that definition must not replace the candidate's."""
    tasks = write_tasks(os.path.join(tmp, "t.jsonl"), 3, "t")
    answers = [{"match": "Write unit tests", "text":
                "```python\nimport math\n\n@staticmethod\ndef helper():\n"
                "    return 0\n\n"
                "def add_%d(a, b):\n    return a - b  # wrong\n\n"
                "assert add_%d(1, 2) == 3\nassert add_%d(0, 0) == 0\n```\n"
                % (i, i, i)} for i in range(1)]
    answers += answers_for(tasks)
    srv = Server(tmp, "teacher", {"answers": answers})
    out = os.path.join(tmp, "t.out")
    p = kiln("generate", "--backend", srv.url, "-m", "m", "-k", "1",
             os.path.join(tmp, "t.jsonl"), "-o", out)
    c = read_jsonl(out)[0] if p.returncode == 0 else {}
    check("teacher tests: asserts split out", c.get("tests_source") ==
          "teacher" and len(c.get("tests", [])) == 2, c)
    check("teacher tests: its own definition of the entry point dropped",
          "def add_0" not in c.get("test_setup", "x") and
          "import math" in c.get("test_setup", ""), c.get("test_setup"))
    p = kiln("verify", "-q", out)
    v = [json.loads(l) for l in p.stdout.splitlines()]
    check("teacher tests: the right candidate passes them",
          v and v[0]["status"] == "pass", v[:1])
    srv.stop()


def joint_test(tmp):
    """--joint: one answer holds the solution and its tests; the candidate
    gets the solution alone and the tests of every answer, pooled, each
    snippet once."""
    tasks = write_tasks(os.path.join(tmp, "j.jsonl"), 2, "j")
    answers = []
    for i in range(2):
        wrong = "a - b" if i == 1 else "a + b"
        answers.append({"match": "number %d:" % i, "text":
                        "Here is the solution.\n```python\ndef add_%d(a, b):"
                        "\n    return %s\n```\nAnd tests:\n```python\n"
                        "assert add_%d(1, 2) == 3\nassert add_%d(2, 2) == 4\n"
                        "```\n" % (i, wrong, i, i)})
    # one separate test set too, for task 0: a third, different assert
    answers.insert(0, {"match": "Write unit tests", "text":
                       "```python\nassert add_0(5, 5) == 10\n"
                       "assert add_0(1, 2) == 3\n```\n"})
    srv = Server(tmp, "joint", {"answers": answers})
    out = os.path.join(tmp, "j.out")
    p = kiln("generate", "--backend", srv.url, "-m", "m", "-k", "2",
             "--joint", os.path.join(tmp, "j.jsonl"), "-o", out)
    cs = read_jsonl(out) if p.returncode == 0 else []
    reqs = srv.requests()
    check("joint: k requests per task and no test requests by default",
          p.returncode == 0 and len(reqs) == 4 and all(
              "then unit tests for it" in json.dumps(r) for r in reqs),
          (p.stderr, reqs[:1]))
    check("joint: one candidate per answer", len(cs) == 4, cs)
    c0 = cs[0] if cs else {}
    check("joint: the solution is the code block, without the tests",
          c0.get("solution", "").startswith("def add_0") and
          "assert" not in c0.get("solution", "x"), c0.get("solution"))
    check("joint: tests split and pooled once each",
          c0.get("tests") == ["assert add_0(1, 2) == 3\n",
                              "assert add_0(2, 2) == 4\n"] and
          c0.get("tests_source") == "teacher", c0.get("tests"))
    check("joint: the teacher record says so",
          c0.get("teacher", {}).get("prompt") == "joint", c0.get("teacher"))
    p = kiln("verify", "-q", out)
    v = [json.loads(l) for l in p.stdout.splitlines()]
    check("joint: the right solution passes, the wrong one fails",
          [x["status"] for x in v] == ["pass", "pass", "fail", "fail"],
          [x.get("status") for x in v])
    # with a test set as well: its asserts join the pool
    out2 = os.path.join(tmp, "j2.out")
    p = kiln("generate", "--backend", srv.url, "-m", "m", "-k", "2",
             "--joint", "--test-sets", "1", os.path.join(tmp, "j.jsonl"),
             "-o", out2)
    cs = read_jsonl(out2) if p.returncode == 0 else []
    check("joint + test set: all distinct asserts", cs and sorted(
        cs[0].get("tests", [])) == ["assert add_0(1, 2) == 3\n",
                                    "assert add_0(2, 2) == 4\n",
                                    "assert add_0(5, 5) == 10\n"],
          cs[:1])
    p = kiln("generate", "--backend", srv.url, "--joint", "--completions",
             os.path.join(tmp, "j.jsonl"), "-o", out2)
    check("joint: refused with --completions", p.returncode == 2 and
          "--joint" in p.stderr, p.stderr)
    srv.stop()


def agree_test(tmp):
    """--tests-agree M: a test is kept only where M of a task's test sets
    wrote it, compared by tokens (layout and comments do not count), each
    set voting once; the first-written text is kept. The fake server gives
    each test set (same prompt, seed + i) its own answer (by_seed)."""
    write_tasks(os.path.join(tmp, "a.jsonl"), 1, "a")
    # test request i is sent seed 1234 + i: texts[1], texts[2], texts[0]
    sets = ["```python\nassert add_0(1, 2) == 3\nassert add_0(2, 2) == 4\n"
            "assert add_0(0, 0) == 1\n```\n",
            "```python\nassert add_0(1,2) == 3  # same test\n"
            "assert add_0(2, 2) == 5\n```\n",
            "```python\nassert add_0(1, 2)==3\nassert add_0(2, 2) == 4\n"
            "assert add_0(9, 9) == 0\nassert add_0(9, 9) == 0\n```\n"]
    srv = Server(tmp, "agree", {"answers": [
        {"match": "Write unit tests", "texts": sets, "by_seed": True},
        {"text": "```python\ndef add_0(a, b):\n    return a + b\n```\n"}]})
    src = os.path.join(tmp, "a.jsonl")

    def tests_of(*flags):
        out = os.path.join(tmp, "a.out")
        p = kiln("generate", "--backend", srv.url, "-m", "m",
                 "--test-sets", "3", *flags, src, "-o", out)
        cs = read_jsonl(out) if p.returncode == 0 else []
        return p, (cs[0] if cs else {})

    p, c = tests_of()
    check("agree: without --tests-agree every distinct test is pooled",
          p.returncode == 0 and len(c.get("tests", [])) == 7 and
          "tests_agree" not in c.get("teacher", {}), (p.stderr, c))
    p, c = tests_of("--tests-agree", "2")
    check("agree 2: the tests two sets wrote, first-written text, in order",
          p.returncode == 0 and c.get("tests") == [
              "assert add_0(1,2) == 3  # same test\n",
              "assert add_0(2, 2) == 4\n"] and
          c.get("tests_source") == "teacher", (p.stderr, c.get("tests")))
    check("agree 2: the teacher record says so",
          c.get("teacher", {}).get("tests_agree") == 2, c.get("teacher"))
    p, c = tests_of("--tests-agree", "3")
    check("agree 3: only the test all three sets wrote",
          p.returncode == 0 and c.get("tests") ==
          ["assert add_0(1,2) == 3  # same test\n"], (p.stderr, c))
    out = os.path.join(tmp, "a.out")
    p = kiln("verify", "-q", out)
    v = [json.loads(l) for l in p.stdout.splitlines()]
    check("agree: the candidate is judged by the agreed test",
          v and v[0]["status"] == "pass" and v[0].get("tests_total",
                                                      1) == 1, v[:1])
    nreq = len(srv.requests())
    p, c = tests_of("--tests-agree", "2", "--temperature", "0")
    check("agree at temperature 0: refused (greedy sets are all alike), "
          "nothing sent", p.returncode != 0 and "temperature above 0" in
          p.stderr and len(srv.requests()) == nreq, (p.returncode,
                                                     p.stderr))
    p, c = tests_of("--tests-agree", "4")
    check("agree 4 of 3 sets: refused before anything is sent",
          p.returncode != 0 and "tests-agree 4" in p.stderr and
          len(srv.requests()) == nreq, (p.returncode, p.stderr))
    srv.stop()


def choices_test(tmp):
    """--n: k candidates from ceil(k/n) requests, each asking for n choices
    (the last for what is left); candidate j is choice j % n of request
    j // n, which got seed + j // n."""
    tasks = write_tasks(os.path.join(tmp, "n.jsonl"), 2, "n")
    answers = []
    for i in range(2):
        good = "```python\ndef add_%d(a, b):\n    return a + b\n```" % i
        bad = "```python\ndef add_%d(a, b):\n    return a * b\n```" % i
        answers.append({"match": "number %d:" % i, "texts": [good, bad],
                        "text": good})
    srv = Server(tmp, "choices", {"answers": answers})
    out = os.path.join(tmp, "n.out")
    p = kiln("generate", "--backend", srv.url, "-m", "m", "-k", "3", "--n",
             "2", "--test-sets", "0", os.path.join(tmp, "n.jsonl"), "-o", out)
    cs = read_jsonl(out) if p.returncode == 0 else []
    check("--n: ceil(k/n) requests per task", len(srv.requests()) == 4,
          (p.stderr, len(srv.requests())))
    ns = sorted((r["task"], r["index"], json.loads(r["request"])["n"],
                 json.loads(r["request"])["seed"])
                for r in store_items(out + ".store", "--request"))
    check("--n: request i asks for min(n, what is left), seed + i",
          ns == [("n/0", 0, 2, 1234), ("n/0", 1, 1, 1235),
                 ("n/1", 0, 2, 1234), ("n/1", 1, 1, 1235)], ns)
    got = [(c["id"], c["candidate"], c["teacher"].get("choice"),
            c["teacher"]["seed"], "a * b" in c["solution"]) for c in cs]
    check("--n: one candidate per choice, in order", got == [
        ("n/0", 0, 0, 1234, False), ("n/0", 1, 1, 1234, True),
        ("n/0", 2, 0, 1235, False), ("n/1", 0, 0, 1234, False),
        ("n/1", 1, 1, 1234, True), ("n/1", 2, 0, 1235, False)], got)
    p = kiln("generate", "--backend", srv.url, "--n", "0",
             os.path.join(tmp, "n.jsonl"), "-o", out)
    check("--n 0 is refused", p.returncode == 2, p.stderr)
    srv.stop()


def empty_test(tmp):
    """No tasks: an empty output at once (this once hung: the loop waited
    for requests that no one would add)."""
    srv = Server(tmp, "empty", {})
    src = os.path.join(tmp, "e.jsonl")
    open(src, "w").close()
    out = os.path.join(tmp, "e.out")
    try:
        p = kiln("generate", "--backend", srv.url, src, "-o", out, timeout=20)
        ok = p.returncode == 0 and os.path.getsize(out) == 0
        detail = p.stderr
    except subprocess.TimeoutExpired:
        ok, detail = False, "timed out"
    check("no tasks: an empty output, at once", ok, detail)
    check("no tasks: nothing sent", srv.requests() == [])
    srv.stop()


def duplicate_ids_test(tmp):
    """A task listed twice is the same jobs: sent once, written twice."""
    tasks = write_tasks(os.path.join(tmp, "d.jsonl"), 3, "d")
    with open(os.path.join(tmp, "d.jsonl"), "a") as f:
        f.write(json.dumps(tasks[1]) + "\n")
    srv = Server(tmp, "dup", {"answers": answers_for(tasks)})
    out = os.path.join(tmp, "d.out")
    p = kiln("generate", "--backend", srv.url, "-m", "m", "-k", "2",
             "--test-sets", "0", os.path.join(tmp, "d.jsonl"), "-o", out)
    cs = read_jsonl(out) if p.returncode == 0 else []
    check("duplicate ids: each request sent once", len(srv.requests()) == 6,
          len(srv.requests()))
    check("duplicate ids: the repeat gets the first one's candidates",
          [(c["id"], c["candidate"]) for c in cs] ==
          [("d/0", 0), ("d/0", 1), ("d/1", 0), ("d/1", 1), ("d/2", 0),
           ("d/2", 1), ("d/1", 0), ("d/1", 1)] and
          cs[6]["solution"] == cs[2]["solution"] != "", p.stderr)
    # A repeat far from the first (other chunks of tasks between them):
    # on a resumed run every answer is there at once, so the first is
    # written long before the repeat is reached; it must still come out.
    far = write_tasks(os.path.join(tmp, "df.jsonl"), 3000, "df")
    with open(os.path.join(tmp, "df.jsonl"), "a") as f:
        f.write(json.dumps(far[0]) + "\n")
    srv2 = Server(tmp, "dupfar", {})
    out2 = os.path.join(tmp, "df.out")
    runs = []
    for _ in range(2):
        p = kiln("generate", "--backend", srv2.url, "-m", "m", "-c", "64",
                 "--test-sets", "0", os.path.join(tmp, "df.jsonl"), "-o",
                 out2)
        runs.append(read_jsonl(out2) if p.returncode == 0 else [])
    check("duplicate ids far apart: written twice, also when resumed",
          len(runs[0]) == 3001 and runs[1] == runs[0] and
          runs[0][-1]["id"] == "df/0" and runs[0][-1]["solution"] != "",
          (len(runs[0]), len(runs[1])))
    srv2.stop()
    srv.stop()


OLD_SCHEMA = """
CREATE TABLE jobs (id INTEGER PRIMARY KEY, task_id TEXT NOT NULL,
  idx INTEGER NOT NULL, kind TEXT NOT NULL, state INTEGER NOT NULL DEFAULT 0,
  request TEXT NOT NULL, hash TEXT NOT NULL, answer TEXT, error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0, ms REAL,
  created REAL NOT NULL DEFAULT (julianday('now')),
  updated REAL NOT NULL DEFAULT (julianday('now')),
  UNIQUE (task_id, idx, kind, hash));
CREATE INDEX jobs_hash ON jobs (hash, state);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO meta VALUES ('schema', '1');
"""


def old_store_test(tmp):
    """A store of schema 1 (the earliest layout) resumes as it is, gets its
    hash index (and leases: schema 3), and a store from a future kiln is
    refused. The fixture and the index check are SQL: they are about
    SQLite's layout, which `kiln store` does not show."""
    tasks = write_tasks(os.path.join(tmp, "o.jsonl"), 5, "o")
    srv = Server(tmp, "old", {"answers": answers_for(tasks)})
    out = os.path.join(tmp, "o.out")
    args = ["generate", "--backend", srv.url, "-m", "m", "--test-sets", "1",
            os.path.join(tmp, "o.jsonl"), "-o", out]
    p = kiln(*args)
    first = open(out).read() if p.returncode == 0 else None
    # the same rows in a schema 1 store
    new = sqlite3.connect(out + ".store")
    rows = new.execute("SELECT id, task_id, idx, kind, state, request, hash,"
                       " answer, error, attempts, ms, created, updated"
                       " FROM items ORDER BY id").fetchall()
    new.close()
    for f in (out + ".store", out + ".store-wal", out + ".store-shm"):
        if os.path.exists(f):
            os.unlink(f)
    old = sqlite3.connect(out + ".store")
    old.executescript(OLD_SCHEMA)
    old.executemany("INSERT INTO jobs VALUES (%s)" % ",".join("?" * 13), rows)
    old.commit()
    old.close()
    n0 = len(srv.requests())
    p = kiln(*args)
    check("old store: resumed, nothing sent again", p.returncode == 0 and
          len(srv.requests()) == n0 and open(out).read() == first,
          p.stderr)
    db = sqlite3.connect(out + ".store")
    idx = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index'")]
    check("old store: indexed by hash alone",
          "jobs_by_hash" in idx and "jobs_hash" not in idx, idx)
    db.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")
    db.commit()
    db.close()
    p = kiln(*args)
    check("a store of a newer schema is refused",
          p.returncode != 0 and "schema 4" in p.stderr, p.stderr)
    srv.stop()


def retry_scope_test(tmp):
    """--retry-failed re-sends the run's own failures only: another
    configuration's in the same store stay failed."""
    tasks = write_tasks(os.path.join(tmp, "rs.jsonl"), 3, "rs")
    srv = Server(tmp, "rscope", {"answers": answers_for(tasks), "faults": [
        {"kind": "500", "when": {"match": "number 1:"}}]})
    out = os.path.join(tmp, "rs.out")
    base = ["generate", "--backend", srv.url, "--test-sets", "0",
            "--attempts", "1", os.path.join(tmp, "rs.jsonl"), "-o", out]
    kiln(*(base + ["-m", "A"]))
    kiln(*(base + ["-m", "B"]))
    n0 = len(srv.requests())
    kiln(*(base + ["-m", "B", "--retry-failed"]))
    n1 = len(srv.requests())
    kiln(*(base + ["-m", "A"]))
    n2 = len(srv.requests())
    failed = store_states(out + ".store")["failed"]
    check("--retry-failed: only this configuration's failure re-sent, and "
          "the other's stays failed", n1 - n0 == 1 and n2 == n1 and
          failed == 2, (n0, n1, n2, failed))
    srv.stop()


def store_lag_test(tmp):
    """Another process holds the store's write lock mid-run: kiln stops
    sending once a bounded number of answers wait for the store (a kill
    would lose them), instead of answering everything into memory."""
    import threading
    # Enough tasks that the run is still sending when the lock is taken:
    # BEGIN IMMEDIATE waits for kiln's own commits, and a busy CI machine
    # once let 1,026 of 1,200 go out meanwhile.
    tasks = write_tasks(os.path.join(tmp, "lag.jsonl"), 3000, "lag")
    srv = Server(tmp, "lag", {"faults": [
        {"kind": "slow", "delay_ms": 20, "when": {"all": True}}]})
    out = os.path.join(tmp, "lag.out")
    proc = subprocess.Popen([KILN, "generate", "--backend", srv.url, "-m",
                             "m", "--test-sets", "0", "-c", "8", "-q",
                             os.path.join(tmp, "lag.jsonl"), "-o", out],
                            stderr=subprocess.PIPE, text=True)
    for _ in range(200):      # until answers are being stored
        time.sleep(0.05)
        if len(srv.requests()) >= 50:
            break
    db = sqlite3.connect(out + ".store", timeout=30, isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    sent0 = len(srv.requests())
    time.sleep(4)
    sent = len(srv.requests())
    stored = store_states(out + ".store")["done"]
    db.execute("COMMIT")
    db.close()
    err = proc.communicate(timeout=120)[1]
    check("store lag: sending stops while the store is locked",
          sent - stored <= 256 + 8 + 8 and sent < len(tasks),
          (sent0, sent, stored))
    check("store lag: the run then finishes", proc.returncode == 0 and
          len(read_jsonl(out)) == len(tasks), err[-300:])
    srv.stop()


def two_runs_test(tmp):
    """Two runs on one store at once (this once sent 1,140 requests for 600
    items: each run sent every pending item): the second is refused with a
    message that names the first (its pid and host), nothing is sent
    twice, and the first finishes."""
    tasks = write_tasks(os.path.join(tmp, "two.jsonl"), 60, "two")
    srv = Server(tmp, "two", {"answers": answers_for(tasks), "faults": [
        {"kind": "slow", "delay_ms": 30, "when": {"all": True}}]})
    store = os.path.join(tmp, "two.store")

    def argv(out):
        return [KILN, "generate", "--backend", srv.url, "-m", "m",
                "--test-sets", "0", "-c", "4", "-q",
                os.path.join(tmp, "two.jsonl"), "-o",
                os.path.join(tmp, out), "--store", store]
    a = subprocess.Popen(argv("two.a"), stderr=subprocess.PIPE, text=True)
    for _ in range(250):          # until the first run is sending
        time.sleep(0.02)
        if len(srv.requests()) >= 4:
            break
    b = subprocess.run(argv("two.b"), capture_output=True, text=True,
                       timeout=120)
    a_err = a.communicate(timeout=120)[1]
    sent = len(srv.requests())
    check("two runs on one store: no more requests than items",
          sent <= len(tasks), (sent, a.returncode, b.returncode))
    check("two runs on one store: the second is refused, naming the first",
          b.returncode != 0 and "two.store is in use by kiln generate "
          "(pid %d on host %s) since " % (a.pid, socket.gethostname())
          in b.stderr and "wait or use another store" in b.stderr,
          b.stderr[-500:])
    check("two runs on one store: the first finishes",
          a.returncode == 0 and
          len(read_jsonl(os.path.join(tmp, "two.a"))) == len(tasks),
          a_err[-300:])
    # once the first is done the store is free again (and has it all)
    p = subprocess.run(argv("two.b"), capture_output=True, text=True,
                       timeout=120)
    check("two runs on one store: a run after the first sends nothing",
          p.returncode == 0 and len(srv.requests()) == sent and
          store_states(store)["done"] == len(tasks), p.stderr[-300:])
    srv.stop()


def store_failure_test(tmp):
    """The store stops taking writes mid-run (a file-size limit, as a full
    disk would): kiln stops with an error that names the store, keeps what
    was committed, and a run without the limit finishes the job."""
    import resource
    tasks = write_tasks(os.path.join(tmp, "w.jsonl"), 40, "w")
    big = "x = 1\n" * 5000          # 30 KB answers: the store grows fast
    answers = [{"match": "number %d:" % i, "text":
                "```python\ndef add_%d(a, b):\n    return a + b\n%s```\n"
                % (i, big)} for i in range(len(tasks))]
    srv = Server(tmp, "wfail", {"answers": answers, "faults": [
        {"kind": "slow", "delay_ms": 20, "when": {"all": True}}]})
    out = os.path.join(tmp, "w.out")

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300 << 10, 300 << 10))
    p = subprocess.run([KILN, "generate", "--backend", srv.url, "-m", "m",
                        "--test-sets", "0", "-c", "4",
                        os.path.join(tmp, "w.jsonl"), "-o", out],
                       capture_output=True, text=True, timeout=120,
                       preexec_fn=limit)
    check("store failure: the run stops with an error naming the store",
          p.returncode == 1 and "w.out.store" in p.stderr and
          "Traceback" not in p.stderr, (p.returncode, p.stderr[-500:]))
    check("store failure: here a rerun helps, and the message says so",
          "run again to resume" in p.stderr, p.stderr[-500:])
    check("store failure: no partial output", not os.path.exists(out))
    kept = store_states(out + ".store")["done"]
    n0 = len(srv.requests())
    p = kiln("generate", "--backend", srv.url, "-m", "m", "--test-sets", "0",
             "-c", "4", os.path.join(tmp, "w.jsonl"), "-o", out)
    cs = read_jsonl(out) if p.returncode == 0 else []
    check("store failure: a run without the limit finishes",
          len(cs) == 40 and [c["id"] for c in cs] ==
          ["w/%d" % i for i in range(40)], p.stderr[-300:])
    check("store failure: committed answers are not sent again",
          len(srv.requests()) - n0 == 40 - kept, (kept, n0))
    srv.stop()


def eval_test(tmp):
    he = os.path.join(tmp, "he.jsonl")
    subprocess.run([KILN, "import", "-f", "humaneval",
                    os.path.join(DATA, "HumanEval.jsonl.gz"), "-o", he],
                   check=True, capture_output=True)
    tasks = read_jsonl(he)[:12]
    sub = os.path.join(tmp, "he12.jsonl")
    with open(sub, "w") as f:
        for t in tasks:
            f.write(json.dumps(t) + "\n")
    answers, right = [], 0
    for i, t in enumerate(tasks):
        code = t["solution"]
        if i % 3 == 0:       # wrong: the body replaced by a bad return
            code = t["prompt"] + "    return None\n"
        else:
            right += 1
        answers.append({"match": t["prompt"][-80:],
                        "text": "```python\n%s\n```\n" % code})
    srv = Server(tmp, "eval", {"answers": answers})
    out = os.path.join(tmp, "eval.samples.jsonl")
    p = kiln("eval", "--backend", srv.url, "-m", "fake", "--benchmark", sub,
             "-n", "3", "-k", "1,3", "-o", out)
    summary = json.loads(p.stdout) if p.returncode == 0 else {}
    want = right / len(tasks)
    check("eval: exact pass@1", p.returncode == 0 and
          abs(summary.get("pass@1", -1) - want) < 1e-9, (summary, p.stderr))
    check("eval: pass@3 equals pass@1 for identical samples",
          abs(summary.get("pass@3", -1) - want) < 1e-9)
    check("eval: per-task rows", len(summary.get("per_task", [])) == 12 and
          all(r["c"] in (0, 3) for r in summary["per_task"]))
    check("eval: per-sample verdicts written",
          os.path.exists(out) and len(read_jsonl(out)) == 36)
    check("eval: table on stderr", "pass@1" in p.stderr)
    # --choices 3: the 3 samples of a task in one request (n = 3)
    n0 = len(srv.requests())
    p = kiln("eval", "--backend", srv.url, "-m", "fake-n", "--benchmark",
             sub, "-n", "3", "--choices", "3", "-k", "1,3", "-o",
             os.path.join(tmp, "eval3.samples.jsonl"))
    summary = json.loads(p.stdout) if p.returncode == 0 else {}
    check("eval --choices: one request per task, the same pass@1",
          len(srv.requests()) - n0 == 12 and
          abs(summary.get("pass@1", -1) - want) < 1e-9 and
          summary.get("samples_verified") == 36,
          (len(srv.requests()) - n0, summary, p.stderr[-300:]))
    # The published file by name: the first 3 HumanEval tasks, of which
    # task 0 is answered wrong.
    p = kiln("eval", "--backend", srv.url, "-m", "fake", "--benchmark",
             "humaneval", "--data-dir", DATA, "--limit", "3", "-o",
             os.path.join(tmp, "he3.samples.jsonl"))
    summary = json.loads(p.stdout) if p.returncode == 0 else {}
    check("eval: --benchmark humaneval from --data-dir",
          summary.get("tasks") == 3 and
          abs(summary.get("pass@1", -1) - 2 / 3) < 1e-9, (summary, p.stderr))
    p = kiln("eval", "--backend", srv.url, "--benchmark", "humaneval",
             "--data-dir", "/nonexistent")
    check("eval: a missing data file is a clear error",
          p.returncode != 0 and "HumanEval.jsonl.gz" in p.stderr, p.stderr)
    srv.stop()



def free_port():
    """A loopback port with nothing listening on it."""
    sk = socket.socket()
    sk.bind(("127.0.0.1", 0))
    port = sk.getsockname()[1]
    sk.close()
    return port


def tested_tasks(path, n, tag):
    """write_tasks with each task's own tests (for eval)."""
    tasks = write_tasks(path, n, tag)
    for i, t in enumerate(tasks):
        t["tests"] = ["assert add_%d(1, 2) == 3" % i]
    with open(path, "w") as f:
        for t in tasks:
            f.write(json.dumps(t) + "\n")
    return tasks


def honest_exits_test(tmp):
    """A run in which every request failed exits non-zero, with the count
    and the first error, and no 'run again to resume' (a rerun cannot
    help). These exited 0 with an empty output."""
    src = os.path.join(tmp, "h.jsonl")
    tasks = tested_tasks(src, 2, "h")
    srv = Server(tmp, "honest", {"answers": answers_for(tasks)})
    out = os.path.join(tmp, "h.out")
    # A URL without /v1: every request is a 404.
    p = kiln("generate", "--backend", srv.url[:-len("/v1")], src, "-o", out)
    check("all failed (no /v1): exit 1, the count and the first error",
          p.returncode == 1 and "every request failed (4 of 4)" in p.stderr
          and "HTTP 404" in p.stderr and "resume" not in p.stderr,
          (p.returncode, p.stderr))
    # Nothing listening.
    url = "http://127.0.0.1:%d/v1" % free_port()
    p = kiln("generate", "--backend", url, "--attempts", "1", src, "-o",
             os.path.join(tmp, "h2.out"))
    check("all failed (nothing listening): exit 1, the count and the "
          "first error", p.returncode == 1 and
          "every request failed (4 of 4)" in p.stderr and
          "onnect" in p.stderr and "resume" not in p.stderr,
          (p.returncode, p.stderr))
    # Every prompt too long for the server (fakeai: 413 over 8 MiB).
    big = os.path.join(tmp, "big.jsonl")
    with open(big, "w") as f:
        f.write(json.dumps({"id": "big/0", "prompt": "x" * (9 << 20)}) +
                "\n")
    p = kiln("generate", "--backend", srv.url, "--test-sets", "0", big,
             "-o", os.path.join(tmp, "big.out"))
    check("all failed (prompts too long): exit 1, HTTP 413 named",
          p.returncode == 1 and "every request failed (1 of 1)" in p.stderr
          and "413" in p.stderr, (p.returncode, p.stderr[-400:]))
    # Run again on the same store: the failures are settled; still an
    # error, and it says how to send them again.
    p = kiln("generate", "--backend", srv.url[:-len("/v1")], src, "-o", out)
    check("all failed before: exit 1, --retry-failed named",
          p.returncode == 1 and "earlier run" in p.stderr and
          "--retry-failed" in p.stderr, (p.returncode, p.stderr))
    # eval: exit 1 too, instead of pass@1 = 0 over no samples.
    p = kiln("eval", "--backend", url, "--attempts", "1", "--benchmark",
             src, "-o", os.path.join(tmp, "h.samples.jsonl"))
    check("eval, all failed: exit 1 with the count, no summary",
          p.returncode == 1 and "every request failed (2 of 2)" in p.stderr
          and p.stdout == "", (p.returncode, p.stdout, p.stderr))
    p = kiln("eval", "--backend", url, "--attempts", "1", "--benchmark",
             src, "-o", os.path.join(tmp, "h.samples.jsonl"))
    check("eval, all failed before: exit 1, how to try again",
          p.returncode == 1 and "earlier run" in p.stderr and
          "another --store" in p.stderr and p.stdout == "", p.stderr)
    # Some failed, some not: a run that did its work exits 0.
    srv2 = Server(tmp, "honest2", {"answers": answers_for(tasks), "faults": [
        {"kind": "500", "when": {"match": "number 1:"}}]})
    p = kiln("generate", "--backend", srv2.url, "--attempts", "1",
             "--test-sets", "0", src, "-o", os.path.join(tmp, "h3.out"))
    check("some failed: exit 0, the first error in the summary",
          p.returncode == 0 and "1 requests failed (the first: HTTP 500"
          in p.stderr and "1 candidates of 2 are missing" in p.stderr,
          p.stderr)
    srv2.stop()
    srv.stop()


def odd_servers_test(tmp):
    """Servers that answer fewer choices than n, choices out of order, or
    no usage."""
    src = os.path.join(tmp, "o.jsonl")
    write_tasks(src, 2, "o")
    answers = []
    for i in range(2):
        texts = ["```python\ndef add_%d(a, b):\n    return a + b  # c%d\n```"
                 % (i, c) for c in range(4)]
        answers.append({"match": "number %d:" % i, "texts": texts})
    # A server that answers one choice whatever n asks: the rest are asked
    # for (these candidates were missing, without a word).
    srv = Server(tmp, "few", {"answers": answers, "faults": [
        {"kind": "few_choices", "when": {"all": True}}]})
    out = os.path.join(tmp, "few.out")
    argv = ["generate", "--backend", srv.url, "-m", "m", "-k", "4",
            "--choices", "4", "--test-sets", "0", src, "-o", out]
    p = kiln(*argv)
    cs = read_jsonl(out) if p.returncode == 0 else []
    check("few choices: every candidate, from follow-up requests",
          [(c["id"], c["candidate"]) for c in cs] ==
          [("o/%d" % t, j) for t in range(2) for j in range(4)] and
          len(srv.requests()) == 8, (len(cs), len(srv.requests()), p.stderr))
    check("few choices: said once", p.stderr.count("fewer choices") == 1
          and "6 answers had fewer choices than asked" in p.stderr and
          "6 more requests" in p.stderr, p.stderr)
    reqs = sorted((r["task"], r["index"], json.loads(r["request"])["n"],
                   json.loads(r["request"])["seed"])
                  for r in store_items(out + ".store", "--request"))
    check("few choices: follow-up i asks for what is left, seed + i",
          reqs[:4] == [("o/0", 0, 4, 1234), ("o/0", 1, 3, 1235),
                       ("o/0", 2, 2, 1236), ("o/0", 3, 1, 1237)], reqs)
    check("few choices: a candidate's seed and choice are its request's",
          [(c["teacher"]["seed"], c["teacher"]["choice"]) for c in cs[:4]]
          == [(1234, 0), (1235, 0), (1236, 0), (1237, 0)],
          [c["teacher"] for c in cs[:4]])
    n0 = len(srv.requests())
    p = kiln(*argv)
    check("few choices: resumed, nothing sent, the same candidates",
          p.returncode == 0 and len(srv.requests()) == n0 and
          read_jsonl(out) == cs, p.stderr)
    srv.stop()
    # eval: pass@k over the n samples asked for, not over fewer.
    tested_tasks(src, 2, "o")
    srv = Server(tmp, "few-eval", {"answers": answers, "faults": [
        {"kind": "few_choices", "when": {"all": True}, "choices": 2}]})
    p = kiln("eval", "--backend", srv.url, "--benchmark", src, "-n", "4",
             "--choices", "4", "-k", "1,4", "-o",
             os.path.join(tmp, "few.samples.jsonl"))
    summary = json.loads(p.stdout) if p.returncode == 0 else {}
    check("few choices, eval: every sample verified",
          summary.get("samples_verified") == 8 and
          summary.get("samples_missing") == 0 and
          summary.get("pass@1") == 1.0 and
          [r["verified"] for r in summary.get("per_task", [])] == [4, 4],
          (summary, p.stderr))
    srv.stop()
    # Choices out of order: matched by index. Choice 0 is right, 1 wrong.
    for i in range(2):
        answers[i]["texts"][1] = answers[i]["texts"][1].replace("a + b",
                                                                "a * b")
    srv = Server(tmp, "shuffled", {"answers": answers, "faults": [
        {"kind": "shuffled_choices", "when": {"all": True}}]})
    out = os.path.join(tmp, "shuf.out")
    p = kiln("generate", "--backend", srv.url, "-k", "2", "--choices", "2",
             "--test-sets", "0", src, "-o", out)
    cs = read_jsonl(out) if p.returncode == 0 else []
    check("choices out of order: matched by index",
          [("a * b" in c["solution"], c["teacher"]["choice"]) for c in cs]
          == [(False, 0), (True, 1)] * 2, [c.get("solution") for c in cs])
    srv.stop()
    # No usage: unknown (null), not 0 tokens.
    srv = Server(tmp, "nousage", {"answers": answers, "faults": [
        {"kind": "no_usage", "when": {"match": "number 0:"}}]})
    out = os.path.join(tmp, "nousage.out")
    p = kiln("generate", "--backend", srv.url, "--test-sets", "0", src,
             "-o", out)
    cs = read_jsonl(out) if p.returncode == 0 else []
    check("no usage: null in the record, counted apart",
          len(cs) == 2 and cs[0]["usage"] is None and
          cs[1]["usage"]["prompt_tokens"] > 0 and
          "1 answers did not say how many tokens" in p.stderr,
          ([c.get("usage") for c in cs], p.stderr))
    srv.stop()


def refusals_test(tmp):
    """Refused before any request is sent, naming what is wrong."""
    srv = Server(tmp, "refuse", {})
    src = os.path.join(tmp, "r.jsonl")
    tasks = tested_tasks(src, 3, "r")
    tasks[2]["language"] = "cobol"
    with open(src, "w") as f:
        for t in tasks:
            f.write(json.dumps(t) + "\n")
    p = kiln("generate", "--backend", srv.url, src, "-o",
             os.path.join(tmp, "r.out"))
    check("generate: a language kiln cannot run is refused, nothing sent",
          p.returncode == 1 and "task 3 (r/2)" in p.stderr and "cobol" in
          p.stderr and "resume" not in p.stderr and srv.requests() == [],
          (p.stderr, len(srv.requests())))
    p = kiln("eval", "--backend", srv.url, "--benchmark", src, "-o",
             os.path.join(tmp, "r.samples.jsonl"))
    check("eval: a language kiln cannot run is refused, naming the file",
          p.returncode == 1 and src + ": task 3 (r/2)" in p.stderr and
          srv.requests() == [], p.stderr)
    # A task without tests: the sandbox found it after every request,
    # and named eval's intermediate candidates file.
    del tasks[2]["language"]
    del tasks[1]["tests"]
    with open(src, "w") as f:
        for t in tasks:
            f.write(json.dumps(t) + "\n")
    p = kiln("eval", "--backend", srv.url, "--benchmark", src, "-o",
             os.path.join(tmp, "r.samples.jsonl"))
    check("eval: a task without tests is refused before sending, naming "
          "the user's file", p.returncode == 1 and src + ": task 2 (r/1)"
          in p.stderr and ".candidates" not in p.stderr and
          srv.requests() == [], p.stderr)
    # A repeated id: eval counted its samples twice (c > n).
    tasks[1]["tests"] = ["assert True"]
    with open(src, "w") as f:
        for t in tasks + [tasks[0]]:
            f.write(json.dumps(t) + "\n")
    p = kiln("eval", "--backend", srv.url, "--benchmark", src, "-o",
             os.path.join(tmp, "r.samples.jsonl"))
    check("eval: a repeated task id is refused before sending",
          p.returncode == 1 and "task 4: id 'r/0' again (task 1" in p.stderr
          and srv.requests() == [], p.stderr)
    p = kiln("generate", "--backend", srv.url, "--test-sets", "0", src,
             "-o", os.path.join(tmp, "r.out"))
    check("generate: a repeated task id is reported",
          p.returncode == 0 and "1 tasks repeat the id of an earlier task"
          in p.stderr, p.stderr)
    # A malformed store (it takes no item): a rerun cannot help, so no
    # 'run again to resume'.
    bad = os.path.join(tmp, "malformed.store")
    db = sqlite3.connect(bad)
    db.executescript("""
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
      INSERT INTO meta VALUES ('schema', '3');
      CREATE TABLE items (id INTEGER PRIMARY KEY, task_id, idx, kind, state,
        request, hash, answer, error, attempts, ms, created, updated, worker,
        lease, claims);
      CREATE TRIGGER refuse BEFORE INSERT ON items
        BEGIN SELECT RAISE(ABORT, 'malformed row'); END;""")
    db.commit()
    db.close()
    p = kiln("generate", "--backend", srv.url, "--store", bad, src, "-o",
             os.path.join(tmp, "r.out"))
    check("a malformed store: the error, without 'run again to resume'",
          p.returncode == 1 and "malformed row" in p.stderr and
          "resume" not in p.stderr, p.stderr)
    srv.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-gen-")
    only = os.environ.get("KILN_TEST_ONLY", "")  # e.g. "joint": one test
    for t in (faults_test, kill_resume_test, limits_test, teacher_tests_test,
              joint_test, agree_test, choices_test, empty_test,
              duplicate_ids_test,
              old_store_test, retry_scope_test, store_lag_test,
              two_runs_test, store_failure_test,
              eval_test, honest_exits_test, odd_servers_test,
              refusals_test):
        if only in t.__name__:
            t(tmp)
    subprocess.run(["rm", "-rf", tmp])
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
