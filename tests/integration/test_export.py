#!/usr/bin/python3
"""kiln export end to end, on a small fixture made here.

Usage: test_export.py KILN

Checked:
  - licences filtered (--allow-license), failed and unverified records
    dropped, each dropped row with its reason, samples + dropped = entered;
  - pairs exactly where AceCoder's rule says on planted pass fractions,
    the thresholds themselves included (0.8 chosen, a gap of 0.4);
  - the funnel from earlier stages' --stats files: zero-count reasons and
    an all-dropped stage are in the manifest and the table on stderr;
  - the manifest's sha256 of every input and output equal sha256sum's,
    and its version is kiln --version's;
  - every sample line has one shape (the same keys and JSON types, no
    null): what Arrow, and so Hugging Face datasets, needs to load the
    file as it is (pyarrow itself is not in Debian 12: this checks the
    rule, not the library);
  - the samples train: kiln train reads them (docs = samples);
  - kiln verify's verdicts, joined to their candidates (--candidates) and
    tasks (--tasks), export and pair;
  - errors: a malformed line or a record without a prompt names file,
    line and field, exits 1 and leaves -o as it was; bad options exit 2.
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import threading

KILN = os.path.abspath(sys.argv[1])
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)[:1500]))


def run(args, **kw):
    return subprocess.run([KILN] + args, capture_output=True, text=True,
                          timeout=300, **kw)


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def sha256sum(path):
    out = subprocess.run(["sha256sum", path], capture_output=True,
                         text=True, check=True).stdout
    return out.split()[0]


def write(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def shape(v):
    """The JSON type of every value, keys included (Arrow's view of it)."""
    if isinstance(v, dict):
        return "{" + ",".join("%s:%s" % (k, shape(x))
                              for k, x in v.items()) + "}"
    if isinstance(v, list):
        return "[" + ",".join(shape(x) for x in v) + "]"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    return "NULL"


def candidate(tid, c, passed, total, sol, **more):
    r = {"id": tid, "candidate": c, "solution": sol,
         "status": "pass" if passed == total else "fail",
         "tests_passed": passed, "tests_total": total,
         "teacher": {"backend": "openai", "model": "m", "temperature": 0.8,
                     "seed": 7 + c}, "origin": "synthetic"}
    r.update(more)
    return r


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-export-")
    P = lambda name: os.path.join(tmp, name)

    tasks = [{"id": "t/%d" % i, "prompt": "Write f%d." % i,
              "license": lic, "origin": "human", "source": "fixture"}
             for i, lic in enumerate(["MIT", "CC-BY-4.0", "GPL-3.0", "MIT",
                                      "MIT"])]
    write(P("tasks.jsonl"), tasks)
    recs = [
        # t/0 (MIT): 5/5, 3/5 (gap 0.4 exactly), 4/5 (gap 0.2)
        candidate("t/0", 0, 5, 5, "def f0(): return 0\n"),
        candidate("t/0", 1, 3, 5, "def f0(): return 1\n"),
        candidate("t/0", 2, 4, 5, "def f0(): return 2\n"),
        # t/1 (CC-BY-4.0): 8/10 is just enough; 4/10 is 0.4 below it
        candidate("t/1", 0, 4, 10, "def f1(): return 4\n"),
        candidate("t/1", 1, 8, 10, "def f1(): return 8\n"),
        # t/2 (GPL-3.0): dropped for its licence, in no pair
        candidate("t/2", 0, 2, 2, "def f2(): return 2\n"),
        candidate("t/2", 1, 0, 2, "def f2(): return 0\n"),
        # t/3 (MIT): 7/10 is not enough
        candidate("t/3", 0, 7, 10, "def f3(): return 7\n"),
        candidate("t/3", 1, 0, 10, "def f3(): return 0\n"),
        # t/4: its own prompt and licence; one not verified
        {"id": "t/4", "prompt": "Own prompt.", "solution": "x = 1\n",
         "license": "mit", "status": "pass", "tests_passed": 1,
         "tests_total": 1, "dedup": {"cluster": 3}, "reward": 0.25},
        {"id": "t/4", "candidate": 9, "solution": "x = 2\n"},
    ]
    write(P("records.jsonl"), recs)

    def stats(name, stage, entered, kept, dropped):
        with open(P(name), "w") as f:
            json.dump({"stage": stage, "entered": entered, "kept": kept,
                       "dropped": dropped, "params": {"k": 1},
                       "seconds": 0.1, "kiln_version": "0.1.0"}, f)
    # select saw 20, kept 11; dedup dropped nothing (zero counts)
    stats("select.json", "select", 20, 11, {"fail": 9, "timeout": 0})
    stats("dedup.json", "dedup", 11, 11, {"exact": 0, "near": 0})

    out = [P("samples.jsonl"), P("pairs.jsonl"), P("dropped.jsonl"),
           P("export.json"), P("manifest.json")]
    p = run(["export", "--tasks", P("tasks.jsonl"),
             "--allow-license", "mit", "--allow-license", "cc-by-4.0",
             "-o", out[0], "--pairs", out[1], "--dropped", out[2],
             "--stats", out[3], "--manifest", out[4],
             "--funnel", P("select.json") + "," + P("dedup.json"),
             P("records.jsonl")])
    check("export runs", p.returncode == 0, p.stderr)
    check("summary line",
          "kiln: export: 11 in, 2 kept, 9 dropped (license 2, failed 6, "
          "unverified 1); 2 pairs from 2 tasks" in p.stderr, p.stderr)
    check("funnel table on stderr: every stage, zero counts",
          "timeout 0" in p.stderr and "exact 0, near 0" in p.stderr and
          "license 2, failed 6, unverified 1" in p.stderr, p.stderr)

    samples = lines(out[0])
    ids = [(s["meta"]["id"], s["meta"]["candidate"]) for s in samples]
    check("kept: passing records under allowed licences, input order",
          ids == [("t/0", 0), ("t/4", -1)], ids)
    check("licences in meta are allowed ones",
          all(s["meta"]["license"].lower() in ("mit", "cc-by-4.0")
              for s in samples), [s["meta"]["license"] for s in samples])
    check("chat shape: user prompt from --tasks, assistant solution",
          samples[0]["messages"] == [
              {"role": "user", "content": "Write f0."},
              {"role": "assistant", "content": "def f0(): return 0\n"}],
          samples[0]["messages"])
    check("meta: teacher, scores, cluster, origin, licence, provenance",
          samples[0]["meta"]["teacher"]["model"] == "m" and
          samples[0]["meta"]["scores"]["pass_fraction"] == 1.0 and
          samples[1]["meta"]["cluster"] == "3" and
          samples[1]["meta"]["scores"]["reward"] == 0.25 and
          samples[0]["meta"]["origin"] == "synthetic" and
          samples[0]["meta"]["provenance"]["line"] == 1, samples[0]["meta"])
    shapes = {shape(s) for s in samples}
    check("one shape on every line, no null (Arrow's rule)",
          len(shapes) == 1 and "NULL" not in shapes.copy().pop(), shapes)

    dropped = lines(out[2])
    reasons = [(d["id"], d["dropped"]["reason"]) for d in dropped]
    check("every dropped row with its reason",
          sorted(reasons) == sorted([
              ("t/0", "failed"), ("t/0", "failed"), ("t/1", "failed"),
              ("t/1", "failed"), ("t/2", "license"), ("t/2", "license"),
              ("t/3", "failed"), ("t/3", "failed"),
              ("t/4", "unverified")]) and
          all(d["dropped"]["stage"] == "export" for d in dropped), reasons)
    check("samples + dropped = entered", len(samples) + len(dropped) ==
          len(recs))
    check("a failed row says how it failed",
          dropped[0]["dropped"] == {"stage": "export", "reason": "failed",
                                    "status": "fail", "tests_passed": 3,
                                    "tests_total": 5}, dropped[0])

    pairs = lines(out[1])
    got = sorted((q["meta"]["id"], q["meta"]["chosen"]["candidate"],
                  q["meta"]["rejected"]["candidate"]) for q in pairs)
    check("pairs by AceCoder's rule (0.8 and 0.4 inclusive)",
          got == [("t/0", 0, 1), ("t/1", 1, 0)], got)
    check("pair texts and prompt", pairs[0]["prompt"] == "Write f0." and
          pairs[0]["chosen"] == "def f0(): return 0\n" and
          pairs[0]["rejected"] == "def f0(): return 1\n", pairs[0])
    check("pairs: one shape on every line", len({shape(q) for q in pairs})
          == 1)

    m = json.load(open(out[4]))
    ver = run(["--version"]).stdout.split()[-1]
    check("manifest: kiln version", m["kiln_version"] == ver,
          (m["kiln_version"], ver))
    want = {P("records.jsonl"), P("tasks.jsonl"), P("select.json"),
            P("dedup.json")}
    check("manifest: every input, sha256 as sha256sum's",
          {i["path"] for i in m["inputs"]} == want and
          all(i["sha256"] == sha256sum(i["path"]) and
              i["bytes"] == os.path.getsize(i["path"])
              for i in m["inputs"]), m["inputs"])
    check("manifest: outputs with sha256",
          all(m["outputs"][k]["sha256"] == sha256sum(m["outputs"][k]["path"])
              for k in ("samples", "pairs", "dropped", "stats")) and
          m["outputs"]["samples"]["records"] == 2 and
          m["outputs"]["pairs"]["records"] == 2, m["outputs"])
    check("manifest: parameters",
          m["params"]["allow_license"] == ["mit", "cc-by-4.0"] and
          m["params"]["pair_min_pass"] == 0.8 and
          m["params"]["pair_min_gap"] == 0.4, m["params"])
    stages = m["funnel"]["stages"]
    check("manifest: funnel in order, export last, zero counts kept",
          [s["stage"] for s in stages] == ["select", "dedup", "export"] and
          stages[0]["dropped"]["timeout"] == 0 and
          stages[1]["dropped"] == {"exact": 0, "near": 0} and
          stages[2]["entered"] == 11 and stages[2]["kept"] == 2 and
          stages[2]["dropped"]["unverified"] == 1, stages)
    check("manifest: counts add up, so no notes", m["funnel"]["notes"] ==
          [], m["funnel"]["notes"])
    st = json.load(open(out[3]))
    check("--stats: export's row in the stage format",
          st["stage"] == "export" and st["entered"] == 11 and
          set(st["dropped"]) == {"license", "failed", "unverified"} and
          st["pairs"] == 2, st)

    # an all-dropped stage: nothing reaches export
    stats("decontam.json", "decontam", 11, 0, {"benchmark": 11})
    open(P("none.jsonl"), "w").close()
    p = run(["export", "-o", P("s2.jsonl"), "--manifest", P("m2.json"),
             "--funnel", P("select.json"), "--funnel",
             P("dedup.json") + "," + P("decontam.json"), P("none.jsonl")])
    m2 = json.load(open(P("m2.json"))) if p.returncode == 0 else {}
    rows = m2.get("funnel", {}).get("stages", [])
    check("an all-dropped stage is in the funnel, export after it at 0",
          p.returncode == 0 and
          [r["stage"] for r in rows] == ["select", "dedup", "decontam",
                                         "export"] and
          rows[2]["kept"] == 0 and rows[2]["dropped_total"] == 11 and
          rows[3]["entered"] == 0 and
          os.path.getsize(P("s2.jsonl")) == 0, (p.stderr, rows))
    check("... and in the table", "benchmark 11" in p.stderr, p.stderr)

    # the samples train: kiln train reads them
    p = run(["train", "--layers", "1", "--heads", "1", "--d-model", "16",
             "--ctx", "32", "--batch", "1", "--steps", "2", "--eval-every",
             "0", "--threads", "1", "-q", "-o", P("m.bin"), out[0]])
    summ = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    check("kiln train reads the samples",
          p.returncode == 0 and summ and summ[-1]["docs"] == 2,
          (p.stderr, p.stdout))

    # records on standard input: listed, without a hash
    with open(P("records.jsonl")) as f:
        p = run(["export", "--tasks", P("tasks.jsonl"), "--manifest",
                 P("m3.json"), "-q"], stdin=f)
    m3 = json.load(open(P("m3.json"))) if p.returncode == 0 else {}
    check("standard input: samples on stdout, no sha256 for it",
          p.returncode == 0 and len(p.stdout.splitlines()) == 3 and
          p.stderr == "" and
          m3["inputs"][1] == {"role": "records", "path": "-",
                              "sha256": None, "bytes": None},
          (p.stderr, m3.get("inputs")))

    # a FIFO is read once: listed without a hash, not drained to hash it
    fifo = P("fifo")
    os.mkfifo(fifo)
    def feed():
        with open(fifo, "w") as f:
            f.write(open(P("records.jsonl")).read())
    t = threading.Thread(target=feed)
    t.start()
    p = run(["export", "--tasks", P("tasks.jsonl"), "-o", P("s4.jsonl"),
             "--manifest", P("m4.json"), "-q", fifo])
    t.join()
    m4 = json.load(open(P("m4.json"))) if p.returncode == 0 else {}
    check("a FIFO input: its records exported, listed without sha256",
          p.returncode == 0 and len(lines(P("s4.jsonl"))) == 3 and
          m4["inputs"][1] == {"role": "records", "path": fifo,
                              "sha256": None, "bytes": None},
          (p.stderr, m4.get("inputs")))

    # today's pipeline: kiln verify's verdicts (id, candidate, counts),
    # joined to their candidates (solution, teacher) and tasks (prompt)
    write(P("vt.jsonl"), [{"id": "v/0", "prompt": "Write add.",
                           "license": "MIT"}])
    tests = ["assert add(1, 2) == 3", "assert add(0, 0) == 0",
             "assert add(2, 2) == 4"]
    write(P("vc.jsonl"), [
        {"id": "v/0", "candidate": i, "solution": sol, "tests": tests,
         "language": "python", "teacher": {"backend": "openai",
                                           "model": "m", "seed": i}}
        for i, sol in enumerate(["def add(a, b):\n    return a + b\n",
                                 "def add(a, b):\n    return a * b\n",
                                 "def add(a, b):\n    return 7\n"])])
    p = run(["verify", "-q", "-o", P("vv.jsonl"), P("vc.jsonl")])
    check("kiln verify on three candidates", p.returncode == 0, p.stderr)
    p = run(["export", "--tasks", P("vt.jsonl"), "--candidates",
             P("vc.jsonl"), "--pairs", P("vp.jsonl"), "-o", P("vs.jsonl"),
             "-q", P("vv.jsonl")])
    vs = lines(P("vs.jsonl")) if p.returncode == 0 else []
    vp = lines(P("vp.jsonl")) if p.returncode == 0 else []
    check("verify's verdicts export with --candidates and --tasks",
          p.returncode == 0 and len(vs) == 1 and
          vs[0]["messages"][1]["content"].endswith("return a + b\n") and
          vs[0]["meta"]["teacher"]["seed"] == 0 and
          vs[0]["meta"]["scores"]["tests_passed"] == 3, (p.stderr, vs))
    check("... and pair 3/3 with 0/3, not with 2/3",
          [(q["meta"]["chosen"]["candidate"],
            q["meta"]["rejected"]["candidate"]) for q in vp] == [(0, 2)],
          vp)
    # the same through verify --carry: each record with its verdict as a
    # field, no join needed
    p = run(["verify", "-q", "--carry", "-o", P("vcar.jsonl"), P("vc.jsonl")])
    check("kiln verify --carry on three candidates", p.returncode == 0,
          p.stderr)
    p = run(["export", "--tasks", P("vt.jsonl"), "--pairs", P("vp2.jsonl"),
             "-o", P("vs2.jsonl"), "-q", P("vcar.jsonl")])
    vs2 = lines(P("vs2.jsonl")) if p.returncode == 0 else []
    vp2 = lines(P("vp2.jsonl")) if p.returncode == 0 else []
    check("verify --carry output exports as it is, same samples and pairs",
          p.returncode == 0 and [x["messages"] for x in vs2] ==
          [x["messages"] for x in vs] and
          [x["meta"]["scores"] for x in vs2] ==
          [x["meta"]["scores"] for x in vs] and
          [(q["meta"]["chosen"]["candidate"],
            q["meta"]["rejected"]["candidate"]) for q in vp2] == [(0, 2)],
          (p.stderr, vs2, vp2))
    p = run(["export", "--tasks", P("vt.jsonl"), "-o", P("vs.jsonl"),
             P("vv.jsonl")])
    check("a verdict without --candidates: 'solution' named",
          p.returncode == 1 and "vv.jsonl:1: 'solution'" in p.stderr,
          p.stderr)

    # errors: file:line and field; -o left as it was
    with open(P("keep.jsonl"), "w") as f:
        f.write("old\n")
    with open(P("bad.jsonl"), "w") as f:
        f.write(json.dumps(recs[0]) + "\n" + json.dumps(recs[4]) + "\n"
                + '{"id": "t/0", "solution": 3}\n')
    p = run(["export", "--tasks", P("tasks.jsonl"), "-o", P("keep.jsonl"),
             P("bad.jsonl")])
    check("a record without a string solution: file:line and field, exit 1",
          p.returncode == 1 and "bad.jsonl:3: 'solution'" in p.stderr,
          p.stderr)
    check("-o unchanged after an error, samples before it in .partial",
          open(P("keep.jsonl")).read() == "old\n" and
          len(lines(P("keep.jsonl.partial"))) == 1, p.stderr)
    with open(P("bad2.jsonl"), "w") as f:
        f.write('{"id": "t/0", "solution": "x", "status": "pass"}\n{oops\n')
    p = run(["export", "-o", P("keep.jsonl"), P("bad2.jsonl")])
    check("no prompt without --tasks: named, with the hint",
          p.returncode == 1 and "bad2.jsonl:1: 'prompt'" in p.stderr and
          "--tasks" in p.stderr, p.stderr)
    p = run(["export", "--tasks", P("tasks.jsonl"), "-o", P("keep.jsonl"),
             P("bad2.jsonl")])
    check("a malformed line: file:line", p.returncode == 1 and
          "bad2.jsonl:2:" in p.stderr and
          open(P("keep.jsonl")).read() == "old\n", p.stderr)
    p = run(["export", "--funnel", P("records.jsonl"), P("none.jsonl")])
    check("a funnel file that is no stats file: named, exit 1",
          p.returncode == 1 and "records.jsonl" in p.stderr, p.stderr)

    for args, what in [
            (["--pair-min-gap", "0"], "--pair-min-gap"),
            (["--pair-min-pass", "1.5"], "--pair-min-pass"),
            (["--pairs-per-task", "0"], "--pairs-per-task"),
            (["--allow-license", "mit,,gpl"], "--allow-license"),
            (["-o", P("records.jsonl")], "the input"),
            (["--pairs", P("tasks.jsonl"), "--tasks", P("tasks.jsonl")],
             "--tasks"),
            (["-o", P("x.jsonl"), "--pairs", P("x.jsonl")], "-o"),
            (["-", "-"], "twice")]:
        p = run(["export"] + args + ([] if "-" in args else
                                     [P("records.jsonl")]))
        check("usage error: %s" % " ".join(args),
              p.returncode == 2 and what in p.stderr, p.stderr)
    p = run(["export", "--help"])
    check("--help", p.returncode == 0 and "--pairs" in p.stdout and
          "--funnel" in p.stdout and "--allow-license" in p.stdout and
          "--manifest" in p.stdout, p.stdout)
    check("--help lines fit 79 columns",
          all(len(l) <= 79 for l in p.stdout.splitlines()), p.stdout)
    p = run(["--help"])
    check("kiln --help lists export, in 79 columns",
          "export" in p.stdout and
          all(len(l) <= 79 for l in p.stdout.splitlines()), p.stdout)

    subprocess.run(["rm", "-rf", tmp])
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
