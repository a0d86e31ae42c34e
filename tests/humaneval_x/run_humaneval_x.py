#!/usr/bin/python3
"""HumanEval-X canonical solutions through the real `kiln verify`.

Converts each HumanEval-X record into a kiln task record itself (this is
not `kiln import`): solution = prompt + canonical_solution, tests = the
published test program (one string). Then the same tasks with the body
removed (solution = prompt + a closing brace, or the language's minimal
stub): none may pass.

For go, java and rust the tasks come from `kiln import --format
humaneval-x` itself (Go's test needs its test_setup, Rust's prompt is
the declaration), and the body-removed solution is the imported prompt
with the language's closing stub.

usage: run_humaneval_x.py KILN LANG [LANG...] [--data DIR] [-j N]
Prints per language: passed/total, and every item that does not pass with
its status and the first line of its detail. Exit 1 if a stub passes.
"""
import argparse, gzip, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "..", "..", "shared", "data", "humaneval-x")
FILES = {"python": "python", "cpp": "cpp", "js": "js", "go": "go",
         "java": "java", "rust": "rust"}


def records(data, lang):
    with gzip.open(os.path.join(data, "humaneval_%s.jsonl.gz" % FILES[lang]),
                   "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


def stub(lang, r):
    """The prompt with its body removed: closes what the prompt opens."""
    p = r["prompt"]
    if lang == "python":
        return p + "    pass\n"
    if lang in ("cpp", "js"):
        return p + "\n}\n"
    return p + "\n}\n"


def task(lang, r, body):
    sol = r["prompt"] + r["canonical_solution"] if body else stub(lang, r)
    if lang == "python":
        # the test defines check(candidate) and calls it at its end
        return {"id": r["task_id"], "language": "python", "solution": sol,
                "tests": [r["test"]]}
    return {"id": r["task_id"], "language": lang, "solution": sol,
            "tests": r["test"]}


IMPORTED = ("go", "java", "rust")


def imported(kiln, data, lang):
    """The file's tasks as `kiln import --format humaneval-x` makes them."""
    path = os.path.join(data, "humaneval_%s.jsonl.gz" % FILES[lang])
    p = subprocess.run([kiln, "import", "--format", "humaneval-x", path],
                       capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("kiln import failed: " + p.stderr[-2000:])
    return [json.loads(line) for line in p.stdout.splitlines()]


def imported_stub(lang, t):
    """An imported task with its body removed: the prompt, closed (Java's
    prompt also opens class Solution)."""
    t = dict(t)
    t["solution"] = t["prompt"] + ("\n}\n}\n" if lang == "java" else
                                   "\n}\n")
    return t


def verify(kiln, tasks, jobs, timeout):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for t in tasks:
            f.write(json.dumps(t) + "\n")
        path = f.name
    try:
        p = subprocess.run([kiln, "verify", "-j", str(jobs), "--timeout",
                            timeout, path], capture_output=True, text=True)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        sys.exit("kiln verify failed: " + p.stderr[-2000:])
    return [json.loads(line) for line in p.stdout.splitlines()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kiln")
    ap.add_argument("langs", nargs="+")
    ap.add_argument("--data", default=DATA)
    ap.add_argument("-j", type=int, default=2)
    ap.add_argument("--timeout", default="10s")
    ap.add_argument("--limit", type=int, default=0)
    a = ap.parse_args()
    bad = 0
    for lang in a.langs:
        if lang in IMPORTED:
            ts = imported(a.kiln, a.data, lang)
            if a.limit:
                ts = ts[:a.limit]
            full, stubs = ts, [imported_stub(lang, t) for t in ts]
        else:
            rs = records(a.data, lang)
            if a.limit:
                rs = rs[:a.limit]
            full = [task(lang, r, True) for r in rs]
            stubs = [task(lang, r, False) for r in rs]
        vs = verify(a.kiln, full, a.j, a.timeout)
        ok = sum(v["status"] == "pass" for v in vs)
        print("%s: canonical %d/%d pass" % (lang, ok, len(vs)))
        for v in vs:
            if v["status"] != "pass":
                d = (v.get("tests") or [{}])[0].get("detail", "")
                print("  %s %s: %s | %s" % (v["id"], v["status"],
                      d.splitlines()[0][:150] if d else "",
                      v.get("stderr", "").strip().replace("\n", " ")[:200]))
        vs = verify(a.kiln, stubs, a.j, a.timeout)
        stubs = [v["id"] for v in vs if v["status"] == "pass"]
        print("%s: body removed %d/%d pass%s" % (
            lang, len(stubs), len(vs), (": " + ", ".join(stubs)) if stubs
            else ""))
        bad += len(stubs)
        sys.stdout.flush()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
