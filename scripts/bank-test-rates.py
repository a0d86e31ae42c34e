#!/usr/bin/python3
"""The validity and discrimination rates of generated tests on bank tasks
(docs/BANK.md, "Scoring generated tests").

Usage: bank-test-rates.py [--kiln KILN] [-j JOBS] [--timeout DUR] TASKS CANDIDATES...

TASKS is what `kiln bank` wrote; CANDIDATES are `kiln generate` outputs
on those tasks (records with the teacher's `tests`, `tests_source:
"teacher"`, and `teacher`). For each teacher (its backend and model), each
distinct generated test of a task is run in kiln's sandbox (`kiln
verify`) against the task's reference and against each of its planted
wrong variants, as the only test of a candidate record:

  valid           the reference passes it
  discriminating  it is valid and at least one wrong variant fails it

and one JSON object a teacher is printed: tests, valid, discriminating,
validity_rate (valid / tests), discrimination_rate (discriminating /
valid), variants, variants_killed (by at least one valid test of the
teacher's), kill_rate. Nothing is run outside the sandbox. --timeout is
kiln verify's (the wall clock per test). `kiln test-rates` computes the
same counts in C, in-process and with fewer sandbox runs (docs/BANK.md).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def teacher_key(rec):
    t = rec.get("teacher") or {}
    return "%s/%s" % (t.get("backend", "?"), t.get("model", "?"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default="kiln")
    ap.add_argument("-j", "--jobs", default=None)
    ap.add_argument("--timeout", default=None)
    ap.add_argument("tasks")
    ap.add_argument("candidates", nargs="+")
    a = ap.parse_args()
    tasks = {}
    for t in read_jsonl(a.tasks):
        if t["id"] in tasks:
            sys.exit("%s: task id %r appears twice (a candidate's tests "
                     "would be judged against the wrong task)" %
                     (a.tasks, t["id"]))
        tasks[t["id"]] = t
    # (teacher, task) -> distinct tests, in order
    pools = {}
    for path in a.candidates:
        for c in read_jsonl(path):
            if c.get("tests_source", "teacher") != "teacher" or \
               c.get("id") not in tasks or not isinstance(c.get("tests"),
                                                           list):
                continue
            pool = pools.setdefault((teacher_key(c), c["id"]),
                                    {"tests": [], "setup": None})
            pool["setup"] = c.get("test_setup")
            for t in c["tests"]:
                if t not in pool["tests"]:
                    pool["tests"].append(t)
    runs, meta = [], {}
    for (teacher, tid), pool in sorted(pools.items()):
        task = tasks[tid]
        sols = [task["solution"]] + [w["solution"]
                                     for w in task["wrong_variants"]]
        for ti, test in enumerate(pool["tests"]):
            for si, sol in enumerate(sols):
                rid = "%d" % len(runs)
                meta[rid] = (teacher, tid, ti, si)
                rec = {"id": rid, "language": task["language"],
                       "entry_point": task["entry_point"],
                       "solution": sol, "tests": [test]}
                if pool["setup"]:
                    rec["test_setup"] = pool["setup"]
                runs.append(rec)
    status = {}
    if runs:
        with tempfile.TemporaryDirectory() as tmp:
            src = os.path.join(tmp, "runs.jsonl")
            out = os.path.join(tmp, "verdicts.jsonl")
            with open(src, "w") as f:
                for r in runs:
                    f.write(json.dumps(r) + "\n")
            cmd = [a.kiln, "verify", "-q", src, "-o", out]
            if a.jobs:
                cmd += ["-j", a.jobs]
            if a.timeout:
                cmd += ["--timeout", a.timeout]
            p = subprocess.run(cmd, capture_output=True, text=True)
            if p.returncode not in (0, 1) or not os.path.exists(out):
                sys.stderr.write(p.stderr)
                return 1
            for v in read_jsonl(out):
                status[v["id"]] = v["status"]
    per = {}
    for rid, (teacher, tid, ti, si) in meta.items():
        per.setdefault(teacher, {}).setdefault((tid, ti), {})[si] = \
            status.get(rid) == "pass"
    for teacher in sorted(set(k[0] for k in pools)):
        tests = valid = disc = 0
        killed, variants = set(), set()
        for (tid, ti), res in sorted(per.get(teacher, {}).items()):
            tests += 1
            nvar = len(tasks[tid]["wrong_variants"])
            variants.update((tid, v) for v in range(nvar))
            if not res.get(0):
                continue
            valid += 1
            kills = [v for v in range(nvar) if not res.get(v + 1, True)]
            disc += bool(kills)
            killed.update((tid, v) for v in kills)
        print(json.dumps({
            "teacher": teacher, "tasks": len({k[1] for k in pools
                                              if k[0] == teacher}),
            "tests": tests, "valid": valid, "discriminating": disc,
            "validity_rate": valid / tests if tests else None,
            "discrimination_rate": disc / valid if valid else None,
            "variants": len(variants), "variants_killed": len(killed),
            "kill_rate": len(killed) / len(variants) if variants else None,
        }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
