#!/usr/bin/python3
"""Known-answer suites of the sandbox's languages, and kiln languages.

Each tests/lang/<language>.kat holds cases: a solution, code tests (or a
test program) and the status kiln verify must give (one of several, with
'|'), optionally the tests that must pass. The cases run only through the
real `kiln verify` (never here): pass, fail, compile error, runtime error,
timeout, memory, output limit, test independence, early exits.

    === NAME | STATUS[|STATUS...] [| passed=N]
    --- solution
    ...
    --- setup            (optional)
    --- test             (one or more)
    --- program          (instead of tests)

usage: run_lang.py KILN [LANG...]      (default: every .kat file)
Then checks kiln languages: --help, --json, exit codes.
"""
import glob, json, os, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
LIMITS = ["--timeout", "5s", "--memory", "256M", "--output-limit", "64K",
          "-j", "2"]


def parse(path, lang):
    cases, cur, sect = [], None, None
    for line in open(path, encoding="utf-8"):
        if line.startswith("=== "):
            head = [f.strip() for f in line[4:].split("|")]
            want = [h for h in head[1:] if h and not h.startswith("passed=")]
            passed = [int(h[7:]) for h in head[1:] if h.startswith("passed=")]
            cur = {"name": head[0], "want": want,
                   "passed": passed[0] if passed else None,
                   "solution": "", "tests": [], "setup": None,
                   "program": None}
            cases.append(cur)
            sect = None
        elif line.startswith("--- ") and cur is not None:
            sect = line[4:].strip()
            if sect == "test":
                cur["tests"].append("")
            elif sect in ("setup", "program"):
                cur[sect] = ""
        elif cur is not None and sect:
            if sect == "test":
                cur["tests"][-1] += line
            else:
                cur[sect] += line
    recs = []
    for c in cases:
        r = {"id": "%s/%s" % (lang, c["name"]), "language": lang,
             "solution": c["solution"],
             "tests": c["program"] if c["program"] is not None
             else c["tests"]}
        if c["setup"] is not None:
            r["test_setup"] = c["setup"]
        recs.append(r)
    return cases, recs


def main():
    kiln = sys.argv[1]
    langs = sys.argv[2:] or sorted(
        os.path.basename(p)[:-4] for p in glob.glob(HERE + "/*.kat"))
    bad = total = 0
    for lang in langs:
        cases, recs = parse(os.path.join(HERE, lang + ".kat"), lang)
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl",
                                         delete=False) as f:
            for r in recs:
                f.write(json.dumps(r) + "\n")
        p = subprocess.run([kiln, "verify", *LIMITS, f.name],
                           capture_output=True, text=True)
        os.unlink(f.name)
        if p.returncode != 0:
            print("FAIL %s: kiln verify exited %d: %s" % (
                lang, p.returncode, p.stderr[-1000:]))
            bad += 1
            continue
        vs = {v["id"]: v for v in map(json.loads, p.stdout.splitlines())}
        ok = 0
        for c, r in zip(cases, recs):
            v = vs.get(r["id"], {})
            good = v.get("status") in c["want"] and (
                c["passed"] is None or v.get("tests_passed") == c["passed"])
            if c["want"] != ["sandbox_error"] and \
                    v.get("status") == "sandbox_error":
                good = False
            total += 1
            ok += good
            if not good:
                bad += 1
                d = [t.get("detail", "")[:200] for t in v.get("tests", [])]
                print("FAIL %s want=%s passed=%s got=%s passed=%s %s | %s" % (
                    r["id"], "|".join(c["want"]), c["passed"],
                    v.get("status"), v.get("tests_passed"), d,
                    v.get("stderr", "")[-300:].replace("\n", " ")))
        print("%s: %d/%d known answers" % (lang, ok, len(cases)))
        if len(cases) < 20:
            print("FAIL %s: only %d cases (20 at least)" % (lang, len(cases)))
            bad += 1
    # kiln languages
    def run(*args):
        return subprocess.run([kiln, "languages", *args],
                              capture_output=True, text=True)
    checks = []
    h = run("--help")
    checks.append(("languages --help", h.returncode == 0 and
                   "--json" in h.stdout and "usage: kiln languages" in h.stdout))
    j = run("--json", *langs)
    rows = [json.loads(l) for l in j.stdout.splitlines() if l.strip()]
    checks.append(("languages --json %s" % " ".join(langs),
                   j.returncode == 0 and [r["language"] for r in rows] == langs
                   and all(r["ok"] and r["status"] == "pass" and r["version"]
                           for r in rows)))
    u = run("no-such-language")
    checks.append(("languages: unknown language exits 2", u.returncode == 2
                   and "unknown language" in u.stderr))
    for name, good in checks:
        total += 1
        if not good:
            bad += 1
            print("FAIL %s" % name)
    print("%d checks, %d failed" % (total, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
