#!/usr/bin/python3
"""Measures a teacher checkpoint (kiln teacher-train) on held-out bank
tasks (docs/RUN.md, "The default teacher").

Usage: teacher-eval.py [--kiln KILN] [-n N] [--seed S]
                       [--split heldout|train|heldout-template|train-template]
                       [--exclude TASKS] [--phrasing K]
                       [--best-of B] [--tests-best-of B] [--temperature T]
                       [--test-sets N --tests-agree M]
                       [--keep] MODEL.bin

Held-out tasks (kiln bank --split heldout: every task has a parameter
value or a composition the teacher never saw; heldout-template: a
template it never saw, for a teacher trained with --split train-template)
of depth 1 and of depth 2 (from --depth 2, the tasks with bank.depth ==
2). kiln serve serves MODEL on loopback; kiln generate
asks it (greedy; or with --best-of B, the best of B samples by the model's
own mean token log-probability) for one solution a task (--test-sets 0:
the task's own
hidden tests judge it) and kiln verify gives pass@1, by depth and by
phrasing frame; a second kiln generate asks for one test set a task and
scripts/bank-test-rates.py gives the tests' validity and discrimination.
With --test-sets N --tests-agree M the tests are N sets sampled at
--temperature, of which kiln generate keeps the tests M sets agree on (as
the default pipeline writes them: docs/GENERATE.md). With --phrasing K only tasks of phrasing frame K are asked (n of them a
depth): for a teacher trained with --hold-out-phrasing K, pass@1 on
phrasings it never saw, against the same teacher on a frame it saw.
Prints one JSON object. Candidate code runs only in kiln's sandbox.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

HERE = os.path.dirname(os.path.abspath(__file__))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, rows):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("failed (%d): %s\n%s" % (p.returncode, " ".join(cmd),
                                          p.stderr[-2000:]))
    return p.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kiln", default=os.path.join(HERE, "..", "build",
                                                   "kiln"))
    ap.add_argument("-n", type=int, default=100, help="tasks per depth")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--split", default="heldout",
                    choices=["heldout", "train", "heldout-template",
                             "train-template"],
                    help="train: seen templates, unseen tasks (with "
                    "--exclude)")
    ap.add_argument("--exclude", help="a kiln bank file: leave out tasks "
                    "with its fingerprints (the teacher's own training "
                    "tasks)")
    ap.add_argument("--phrasing", type=int, choices=[0, 1, 2, 3],
                    help="only tasks of this phrasing frame")
    ap.add_argument("--best-of", type=int, default=0,
                    help="each solution the best of B samples by the "
                    "model's mean token log-probability (kiln generate "
                    "--best-of), at --temperature; tests stay greedy")
    ap.add_argument("--temperature", type=float, default=0.8,
                    help="with --best-of: the samples' temperature")
    ap.add_argument("--tests-best-of", type=int, default=0,
                    help="the tests too the best of B samples by mean "
                    "token log-probability, at --temperature")
    ap.add_argument("--test-sets", type=int, default=1,
                    help="test sets a task, sampled at --temperature "
                    "(with --tests-agree)")
    ap.add_argument("--tests-agree", type=int, default=0,
                    help="keep the tests M of the --test-sets agree on")
    ap.add_argument("--keep", action="store_true",
                    help="keep the work folder (tasks, answers, verdicts) "
                    "and print its path to stderr")
    ap.add_argument("model")
    a = ap.parse_args()
    kiln = os.path.abspath(a.kiln)
    tmp = tempfile.mkdtemp(prefix="kiln-teacher-eval-")

    seen = set()
    if a.exclude:
        seen = {t["bank"]["fingerprint"] for t in read_jsonl(a.exclude)}
    tasks = []
    more = 1 if a.phrasing is None else 4   # a frame is about 1 in 4
    for depth, n in ((1, 4 * more * a.n), (2, 8 * more * a.n)):
        path = os.path.join(tmp, "d%d.jsonl" % depth)
        while True:  # depth 1 has few distinct tasks: ask for fewer
            p = subprocess.run([kiln, "bank", "-n", str(n), "--seed",
                                str(a.seed), "--depth", str(depth),
                                "--split", a.split, "-o", path],
                               capture_output=True, text=True)
            if p.returncode == 0:
                break
            if "no new distinct task" not in p.stderr or n < 2:
                sys.exit(p.stderr)
            n //= 2
        rows = [t for t in read_jsonl(path) if t["bank"]["depth"] == depth
                and t["bank"]["fingerprint"] not in seen and
                (a.phrasing is None or t["bank"]["phrasing"] == a.phrasing)
                ][:a.n]
        tasks += rows
    # verdicts and tests are matched to tasks by id: the two depths'
    # streams must not share one (kiln bank names a stream's depth in its
    # ids; before it did, tasks of one id were judged by one verdict)
    if len({t["id"] for t in tasks}) != len(tasks):
        sys.exit("teacher-eval: the tasks' ids are not unique")
    tasks_path = os.path.join(tmp, "tasks.jsonl")
    write_jsonl(tasks_path, tasks)

    srv = subprocess.Popen([kiln, "serve", "-m", a.model, "--port", "0",
                            "--max-batch", "8"], stderr=subprocess.PIPE,
                           stdout=subprocess.DEVNULL, text=True)
    url = None
    while url is None:
        line = srv.stderr.readline()
        if not line:
            sys.exit("kiln serve did not start")
        m = re.search(r"listening on (http://127\.0\.0\.1:\d+/v1)", line)
        if m:
            url = m.group(1)
    threading.Thread(target=lambda: [None for _ in srv.stderr],
                     daemon=True).start()
    store = os.path.join(tmp, "gen.store")
    try:
        sol = os.path.join(tmp, "sol.jsonl")
        decode = ["--temperature", "0"] if a.best_of <= 1 else \
            ["--temperature", str(a.temperature), "--best-of",
             str(a.best_of)]
        run([kiln, "generate", "--backend", url, "-m", "teacher", "-k", "1",
             "--test-sets", "0"] + decode + ["--max-tokens",
             "256", "-c", "8", "--store", store, "-q", "-o", sol,
             tasks_path])
        tst = os.path.join(tmp, "tests.jsonl")
        if a.tests_agree > 1:
            tdecode = ["--temperature", str(a.temperature), "--test-sets",
                       str(a.test_sets), "--tests-agree", str(a.tests_agree)]
        elif a.tests_best_of > 1:
            tdecode = ["--temperature", str(a.temperature), "--best-of",
                       str(a.tests_best_of), "--test-sets", "1"]
        else:
            tdecode = ["--temperature", "0", "--test-sets", "1"]
        run([kiln, "generate", "--backend", url, "-m", "teacher", "-k", "1"]
            + tdecode + ["--max-tokens",
             "256", "-c", "8", "--store", store, "-q", "-o", tst,
             tasks_path])
    finally:
        srv.terminate()
        srv.wait()
    ver = os.path.join(tmp, "verdicts.jsonl")
    run([kiln, "verify", "-q", "-o", ver, sol])
    status = {v["id"]: v["status"] for v in read_jsonl(ver)}
    by = {}
    for t in tasks:
        b = t["bank"]
        for key in ("depth%d" % b["depth"],
                    "depth%d_phrasing%d" % (b["depth"], b["phrasing"])):
            n, p = by.get(key, (0, 0))
            by[key] = (n + 1, p + (status.get(t["id"]) == "pass"))
    out = {"model": a.model, "tasks_per_depth": a.n, "seed": a.seed,
           "phrasing": a.phrasing, "best_of": a.best_of,
           "temperature": a.temperature
           if a.best_of > 1 or a.tests_best_of > 1 or a.tests_agree > 1
           else 0,
           "tests_best_of": a.tests_best_of,
           "test_sets": a.test_sets if a.tests_agree > 1 else 1,
           "tests_agree": a.tests_agree,
           "split": a.split, "excluded": len(seen),
           "pass@1": {k: round(p / n, 3) for k, (n, p) in sorted(by.items())},
           "n": {k: n for k, (n, p) in sorted(by.items())}}
    rates = run([sys.executable, os.path.join(HERE, "bank-test-rates.py"),
                 "--kiln", kiln, tasks_path, tst])
    out["tests"] = json.loads(rates.splitlines()[-1])
    print(json.dumps(out))
    if a.keep:
        print("kept: " + tmp, file=sys.stderr)
    else:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    main()
