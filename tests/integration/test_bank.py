#!/usr/bin/python3
"""kiln bank end to end: determinism, distinctness, splits, the records'
fields, and the ground truth through the real sandbox: every reference
passes its own hidden tests and every planted wrong variant fails at least
one, in Python and in C.

Usage: test_bank.py KILN_BINARY [--full]

--full runs the brief's sizes (2000 tasks per language, every variant);
the default keeps CI time modest (a few hundred tasks, both languages).
Every solution here runs only inside kiln's sandbox (kiln verify); this
driver only writes JSON and reads what kiln wrote.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

KILN = os.path.abspath(sys.argv[1])
FULL = "--full" in sys.argv[2:]
results = []
KINDS = {"off_by_one", "wrong_branch", "wrong_op", "dropped_case",
         "dropped_step", "wrong_order"}


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)[:1500]),
          flush=True)


def kiln(*args, ok=True, input=None):
    p = subprocess.run([KILN] + list(args), capture_output=True,
                       timeout=1800, input=input)
    if ok and p.returncode != 0:
        print("kiln %s failed (%d): %s" % (" ".join(args), p.returncode,
                                           p.stderr[-2000:]))
    return p


def records(data):
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def verify(tmp, name, recs):
    src = os.path.join(tmp, name + ".jsonl")
    out = os.path.join(tmp, name + ".verdicts.jsonl")
    write_jsonl(src, recs)
    p = kiln("verify", "-q", src, "-o", out, ok=False)
    if p.returncode not in (0, 1) or not os.path.exists(out):
        print(p.stderr[-2000:].decode())
        return []
    with open(out) as f:
        return [json.loads(line) for line in f if line.strip()]


def determinism():
    a = kiln("bank", "-n", "300", "--seed", "5", "-q").stdout
    b = kiln("bank", "-n", "300", "--seed", "5", "-q").stdout
    c = kiln("bank", "-n", "300", "--seed", "6", "-q").stdout
    pre = kiln("bank", "-n", "120", "--seed", "5", "-q").stdout
    check("same seed: byte-identical output", a == b and len(a) > 0)
    check("another seed: other tasks", a != c)
    check("-n 120 is a prefix of -n 300", a.startswith(pre))
    ca = kiln("bank", "-n", "300", "--seed", "5", "-q", "-l", "c").stdout
    ta, tc = records(a), records(ca)
    check("the C bank is the same tasks (ids, compositions, answers)",
          [(r["id"], r["bank"]["composition"]) for r in ta] ==
          [(r["id"], r["bank"]["composition"]) for r in tc] and
          all(r["language"] == "c" for r in tc))


def distinct_and_fields():
    t0 = time.monotonic()
    p = kiln("bank", "-n", "10000", "--seed", "1", "-q")
    took = time.monotonic() - t0
    recs = records(p.stdout)
    check("10000 tasks from one seed", len(recs) == 10000, len(recs))
    check("generating 10k tasks takes under a minute (%.1fs)" % took,
          took < 60, took)
    ids = {r["id"] for r in recs}
    comps = {r["bank"]["composition"] for r in recs}
    fps = {r["bank"]["fingerprint"] for r in recs}
    sols = {r["solution"] for r in recs}
    check("ids, compositions, behaviour fingerprints and solutions all "
          "distinct", len(ids) == len(comps) == len(fps) == len(sols) ==
          len(recs), (len(ids), len(comps), len(fps), len(sols)))
    bad = []
    for r in recs:
        b = r["bank"]
        wv = r.get("wrong_variants", [])
        ok = (r["language"] == "python" and r["entry_point"] == "f" and
              r["origin"] == "synthetic" and r["source"] == "kiln-bank" and
              r["license"] == "MIT" and r["prompt"] and
              1 <= b["depth"] <= 3 and len(b["templates"]) == b["depth"] and
              b["phrasing"] in range(4) and b["split"] in
              ("train", "heldout") and len(wv) >= 5 and
              all(v["kind"] in KINDS and v["solution"] != r["solution"]
                  for v in wv) and
              len({v["solution"] for v in wv}) == len(wv) and
              len(r["tests"]) >= 6 and
              all(set(t) == {"call", "expect"} for t in r["tests"]))
        if ok and b["input"] == "list":
            ok = r["tests"][0]["call"] == "f([])"   # edge cases first
        if not ok:
            bad.append(r["id"])
    check("every record has its fields (templates, depth, phrasing, split, "
          ">= 5 distinct wrong variants, I/O tests, edge cases first)",
          not bad, bad[:5])
    kinds = {v["kind"] for r in recs for v in r["wrong_variants"]}
    check("every kind of wrong variant is planted", kinds == KINDS, kinds)
    check("all four phrasing frames occur",
          {r["bank"]["phrasing"] for r in recs} == set(range(4)))
    return recs


def stages(r):
    return r["bank"]["composition"].split(" | ")


def splits(recs_all):
    tmpl = records(kiln("bank", "--list-templates").stdout)
    held = {t["name"] for t in tmpl if t["heldout"]}
    check("at least 200 templates, some held out",
          len(tmpl) >= 200 and 0 < len(held) < len(tmpl) / 2,
          (len(tmpl), len(held)))
    train = records(kiln("bank", "-n", "600", "--split", "train-template",
                         "-q").stdout)
    heldout = records(kiln("bank", "-n", "600", "--split",
                           "heldout-template", "-q").stdout)
    check("train-template tasks use no held-out template",
          all(not held & set(r["bank"]["templates"]) and
              r["bank"]["template_split"] == "train" for r in train))
    check("heldout-template tasks use at least one held-out template",
          all(held & set(r["bank"]["templates"]) and
              r["bank"]["template_split"] == "heldout" for r in heldout))
    byid = {r["id"]: r for r in recs_all}
    same = all(byid[r["id"]]["bank"]["composition"] ==
               r["bank"]["composition"] for r in train + heldout
               if r["id"] in byid)
    check("a task has the same id and composition in every split",
          same and not {r["id"] for r in train} & {r["id"] for r in heldout})

    # the default split: a held-out task has a stage (a template with its
    # parameters) or a composition (two neighbouring templates) that no
    # train task has, at any depth and seed
    train = []
    for seed, depth in ((1, 3), (2, 1), (3, 2)):
        p = kiln("bank", "-n", "800", "--seed", str(seed), "--depth",
                 str(depth), "--split", "train", "-q")
        train += records(p.stdout)
    heldout = records(kiln("bank", "-n", "400", "--split", "heldout",
                           "--seed", "4", "--depth", "2", "-q").stdout)
    seen_st = {x for r in train for x in stages(r)}
    seen_pair = {(a, b) for r in train for a, b in
                 zip(r["bank"]["templates"], r["bank"]["templates"][1:])}
    new = [r for r in heldout if set(stages(r)) - seen_st or
           set(zip(r["bank"]["templates"], r["bank"]["templates"][1:])) -
           seen_pair]
    check("every held-out task has a stage or a composition no train task "
          "has", len(new) == len(heldout) and
          all(r["bank"]["split"] == "heldout" for r in heldout) and
          all(r["bank"]["split"] == "train" for r in train),
          (len(new), len(heldout)))
    d1 = [r for r in heldout if r["bank"]["depth"] == 1]
    check("held-out depth-1 tasks are templates with parameters",
          d1 and all("(" in r["bank"]["composition"] for r in d1), len(d1))


def references_and_variants(tmp, lang, n, nvar):
    recs = records(kiln("bank", "-n", str(n), "--seed", "3", "-q", "-l",
                        lang).stdout)
    v = verify(tmp, "ref-" + lang, recs)
    fails = [(x["id"], x["status"]) for x in v if x["status"] != "pass"]
    check("%s: %d references pass their own hidden tests" % (lang, n),
          len(v) == n and not fails, fails[:5])
    cands = []
    for r in recs[:nvar]:
        for i, w in enumerate(r["wrong_variants"]):
            cands.append({"id": r["id"], "candidate": i,
                          "language": r["language"],
                          "entry_point": "f", "solution": w["solution"],
                          "tests": r["tests"], "kind": w["kind"]})
    v = verify(tmp, "var-" + lang, cands)
    passed = [(x["id"], x["candidate"], x["status"]) for x in v
              if x["status"] != "fail"]
    check("%s: each of %d wrong variants (%d tasks) fails a hidden test"
          % (lang, len(cands), nvar), len(v) == len(cands) and not passed,
          passed[:5])


def test_rates(tmp):
    """scripts/bank-test-rates.py on planted teachers: A writes, per task,
    one test holding every hidden check (valid, fails every variant), one
    with a wrong answer (invalid) and `assert True` (valid, catches
    nothing); B writes only `assert True`."""
    tasks_path = os.path.join(tmp, "rate-tasks.jsonl")
    p = kiln("bank", "-n", "4", "--seed", "11", "-q", "-o", tasks_path)
    tasks = records(open(tasks_path, "rb").read())
    cands = []
    for t in tasks:
        every = "assert " + " and ".join(
            "%s == %s" % (x["call"], x["expect"]) for x in t["tests"])
        wrong = "assert %s == 'no such answer'" % t["tests"][0]["call"]
        for teacher, tests in (("a", [every, wrong, "assert True"]),
                               ("b", ["assert True"])):
            cands.append({"id": t["id"], "candidate": 0,
                          "solution": t["solution"], "tests": tests,
                          "tests_source": "teacher",
                          "teacher": {"backend": "fake", "model": teacher}})
    cpath = os.path.join(tmp, "rate-cands.jsonl")
    write_jsonl(cpath, cands)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "..", "..", "scripts", "bank-test-rates.py")
    p = subprocess.run([sys.executable, script, "--kiln", KILN, tasks_path,
                        cpath], capture_output=True, text=True, timeout=900)
    got = {r["teacher"]: r for r in records(p.stdout)} \
        if p.returncode == 0 else {}
    a, b = got.get("fake/a", {}), got.get("fake/b", {})
    nvar = sum(len(t["wrong_variants"]) for t in tasks)
    check("rates: teacher a valid 2/3, discriminating 1/2, kills all",
          a.get("tests") == 12 and a.get("valid") == 8 and
          a.get("discriminating") == 4 and a.get("variants") == nvar and
          a.get("variants_killed") == nvar, (a, p.stderr[-500:]))
    check("rates: teacher b valid 1, discriminating 0",
          b.get("validity_rate") == 1.0 and
          b.get("discrimination_rate") == 0.0 and
          b.get("variants_killed") == 0, b)
    # tasks of two streams of one seed written together: depth 1 and
    # depth 2 (a teacher's eval does): each task keeps its own id, and a
    # file with an id twice is refused rather than matched to the wrong
    # task's reference
    both = []
    for depth in ("1", "2"):
        p = kiln("bank", "-n", "30", "--seed", "11", "--depth", depth, "-q")
        both += records(p.stdout)
    ids = [t["id"] for t in both]
    check("bank: ids of --depth 1 and --depth 2 differ",
          len(set(ids)) == len(ids), sorted(ids)[:6])
    dup = os.path.join(tmp, "rate-dup.jsonl")
    write_jsonl(dup, tasks + [dict(tasks[1], id=tasks[0]["id"])])
    p = subprocess.run([sys.executable, script, "--kiln", KILN, dup, cpath],
                       capture_output=True, text=True, timeout=900)
    check("rates: a task id twice is refused",
          p.returncode != 0 and "appears twice" in p.stderr, p.stderr[-300:])


def cli_errors():
    p = kiln("bank", "--help")
    check("--help", p.returncode == 0 and b"--split" in p.stdout)
    for args in (["--depth", "0"], ["--depth", "7"], ["-n", "0"],
                 ["--split", "test"], ["--language", "cobol"], ["x"]):
        p = kiln("bank", *args, ok=False)
        check("refused: %s" % " ".join(args), p.returncode == 2, p.stderr)
    p = kiln("bank", "-n", "3", "--depth", "1", "-q")
    check("--depth 1 gives single-stage tasks",
          all(r["bank"]["depth"] == 1 for r in records(p.stdout)))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        cli_errors()
        test_rates(tmp)
        determinism()
        recs = distinct_and_fields()
        splits(recs)
        if FULL:
            references_and_variants(tmp, "python", 2000, 2000)
            references_and_variants(tmp, "c", 2000, 300)
        else:
            references_and_variants(tmp, "python", 600, 300)
            references_and_variants(tmp, "c", 100, 30)
    print("%d/%d checks passed" % (sum(results), len(results)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
