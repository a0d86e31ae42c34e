#!/usr/bin/python3
"""kiln run on the embedded default teacher, the one shipped in
data/models/ (docs/RUN.md, "The default teacher"): with an empty cache,
kiln run takes the shipped checkpoint, trains nothing, and the funnel is
real: the teacher's answers to held-out bank tasks it never saw are
verified in the sandbox, and some pass and are exported.

usage: test_run_default.py KILN
"""
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilntest import Checks, read_jsonl, run  # noqa: E402

PIPELINE = """\
out: out
tasks:
  bank: {tasks: 12, seed: 3, depth: 1, split: heldout}
teacher: default
generate: {samples: 2, temperature: 0.7, max-tokens: 256, test-sets: 1}
verify: {timeout: 5s}
select: {min-pass: 1.0}
mutation: {max-mutants: 5}
reward: {}
export: {}
"""


def main():
    kiln = os.path.abspath(sys.argv[1])
    check = Checks()
    with tempfile.TemporaryDirectory() as tmp:
        cache = os.path.join(tmp, "cache")
        os.mkdir(cache)
        env_cache = {"KILN_CACHE": cache}
        pipe = os.path.join(tmp, "p.yaml")
        with open(pipe, "w") as f:
            f.write(PIPELINE)
        os.environ.update(env_cache)
        os.chdir(tmp)
        d = run(kiln, "run", "--dry-run", pipe)
        first = d.stdout.splitlines()[0] if d.stdout else ""
        check("--dry-run names the shipped teacher",
              d.returncode == 0 and first.startswith("# teacher: ") and
              first.endswith("/data/models/teacher-v3.bin"), d.stdout[:300]
              + d.stderr[-500:])
        p = run(kiln, "run", pipe, timeout=900)
        check("kiln run on the default teacher completes", p.returncode == 0,
              p.stderr[-1500:])
        check("nothing was trained: the cache stays empty, no teacher-train",
              os.listdir(cache) == [] and "teacher-train" not in p.stderr,
              (os.listdir(cache), p.stderr[-800:]))
        cands = read_jsonl(os.path.join(tmp, "out", "verified.jsonl")) \
            if p.returncode == 0 else []
        status = [c.get("verdict", {}).get("status") for c in cands]
        check("24 candidates verified in the sandbox", len(cands) == 24,
              len(cands))
        check("the funnel is real: some candidates pass their hidden "
              "tests, some do not", 0 < status.count("pass") < 24, status)
        data = read_jsonl(os.path.join(tmp, "out", "dataset.jsonl")) \
            if p.returncode == 0 else []
        check("the dataset holds the passing samples (at least one), as "
              "chat records", len(data) >= 1 and all(
                  r["messages"][-1]["role"] == "assistant" for r in data),
              len(data))
        m = json.load(open(os.path.join(tmp, "out", "manifest.json"))) \
            if p.returncode == 0 else {}
        check("the manifest counts the exported samples",
              m.get("counts", {}).get("samples") == len(data),
              m.get("counts"))
        # the teacher's tests measured on the bank's ground truth (the
        # test-rates stage), and shown in the report
        tpath = os.path.join(tmp, "out", "stats", "tests.json")
        t = json.load(open(tpath)) if os.path.exists(tpath) else {}
        check("stats/tests.json: the teacher's tests measured (tests > 0, "
              "valid <= tests, discriminating <= valid, rates in [0, 1])",
              t.get("tasks", 0) > 0 and t.get("tests", 0) > 0 and
              0 <= t["discriminating"] <= t["valid"] <= t["tests"] and
              all(t[k] is None or 0 <= t[k] <= 1 for k in (
                  "validity_rate", "discrimination_rate", "kill_rate")) and
              t["validity_rate"] == t["valid"] / t["tests"], t)
        page = os.path.join(tmp, "out", "report.html")
        html = open(page).read() if os.path.exists(page) else ""
        m = re.search(r'<script type="application/json" id="kiln-data">'
                      r'(.*?)</script>', html, re.S)
        rep = json.loads(m.group(1)) if m else {}
        check("the report's data holds those figures (\"tests\" not null)",
              rep.get("tests") is not None and
              rep["tests"].get("tests") == t.get("tests") and
              rep["tests"].get("valid") == t.get("valid"),
              rep.get("tests"))
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
