#!/usr/bin/python3
"""Compares kiln verify with a plain run of each reference solution.

Usage: scripts/compare-plain.py KILN TASKS.jsonl

For each task, the plain run is what a user would do without kiln: one
/usr/bin/python3 process running solution + test set-up + every test, exit
status 0 meaning pass. It runs the benchmark's published reference
solutions (trusted, human-written) outside the sandbox; never point it at
model-written candidates. Prints every task where the two disagree.
"""
import json
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

PY = "/usr/bin/python3"


def plain(task):
    tests = task["tests"]
    if isinstance(tests, str):
        tests = [tests]
    src = task["solution"] + "\n" + (task.get("test_setup") or "") + "\n" \
        + "\n".join(tests) + "\n"
    with tempfile.NamedTemporaryFile("w", suffix=".py") as f:
        f.write(src)
        f.flush()
        try:
            p = subprocess.run([PY, f.name], capture_output=True,
                               timeout=20, cwd=tempfile.gettempdir())
            return "pass" if p.returncode == 0 else "fail"
        except subprocess.TimeoutExpired:
            return "timeout"


def main():
    kiln, path = sys.argv[1], sys.argv[2]
    tasks = [json.loads(l) for l in open(path) if l.strip()]
    with ThreadPoolExecutor(2) as ex:
        plain_status = list(ex.map(plain, tasks))
    p = subprocess.run([kiln, "verify", "-q", path], capture_output=True,
                       text=True, check=True)
    kiln_status = [json.loads(l)["status"] for l in p.stdout.splitlines()]
    both = sum(a == "pass" and b == "pass"
               for a, b in zip(plain_status, kiln_status))
    print("tasks %d: plain pass %d, kiln pass %d, both %d" % (
        len(tasks), plain_status.count("pass"), kiln_status.count("pass"),
        both))
    bad = 0
    for t, a, b in zip(tasks, plain_status, kiln_status):
        if (a == "pass") != (b == "pass"):
            print("  %s: plain %s, kiln %s" % (t["id"], a, b))
            bad += a == "pass"
    print("passes plainly but not in kiln: %d" % bad)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
