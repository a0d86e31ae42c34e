#!/usr/bin/python3
"""kiln select and kiln decontam end to end, on planted cases.

Usage: test_curate.py KILN_BINARY SHARED_DATA_DIR [--report]

decontam: leaks are planted programmatically from every item of the
published benchmarks (HumanEval, MBPP, HumanEval-X in five more languages):
the benchmark's code verbatim, with identifiers renamed (Python's own
tokenizer; a regex outside strings for the C family), re-laid-out (Python:
ast.unparse, which changes quotes, spacing, parentheses and drops
comments; C family: other indentation, lines joined), renamed and
re-laid-out at once, and the prompt re-wrapped (words re-flowed, other
indentation). Each must be flagged with the item's id. Clean samples must
not be: functions of Python's standard library and kiln's own C sources.
With --report the recall and false-positive figures are printed per set.

select: tasks with known answers (strict, relaxed, CodeT with a planted
correct cluster smaller than a wrong one, per-task distinct, judge).
"""
import ast
import gzip
import io
import json
import keyword
import builtins
import os
import random
import re
import subprocess
import sys
import tempfile
import textwrap
import time
import tokenize

KILN = os.path.abspath(sys.argv[1])
DATA = os.path.abspath(sys.argv[2])
REPORT = "--report" in sys.argv
SRC = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)))


def kiln(*args, stdin=None, ok=True):
    p = subprocess.run([KILN] + list(args), input=stdin,
                       capture_output=True, text=True, timeout=600)
    if ok and p.returncode != 0:
        print("kiln %s failed (%d): %s" % (" ".join(args), p.returncode,
                                           p.stderr[-2000:]))
    return p


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path, recs):
    with open(path, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def load(path):
    op = gzip.open if path.endswith(".gz") else open
    with op(path, "rt") as f:
        return [json.loads(line) for line in f if line.strip()]


# ------------------------------------------------------------ variants

PY_KEEP = set(keyword.kwlist) | set(dir(builtins)) | {"self", "cls"}


def rename_py(code, rng):
    """Every name that is not a keyword, a builtin or an attribute gets a
    new name, consistently (Python's tokenizer: strings stay)."""
    names = {}
    out = []
    prev = None
    try:
        toks = list(tokenize.generate_tokens(io.StringIO(code).readline))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return None
    for t in toks:
        s = t.string
        if t.type == tokenize.NAME and s not in PY_KEEP and not (
                prev is not None and prev.string == "."):
            if s not in names:
                names[s] = "%s%d" % (rng.choice(["val", "item", "q", "tmp",
                                                 "arg", "zz"]), len(names))
            s = names[s]
        out.append(t._replace(string=s))
        if t.type not in (tokenize.NL, tokenize.COMMENT):
            prev = t
    try:
        return tokenize.untokenize(out)
    except ValueError:
        return None


def relayout_py(code):
    try:
        return ast.unparse(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError):
        return None


C_KEYWORDS = set("""auto break case char const continue default do double
else enum extern float for goto if inline int long register restrict
return short signed sizeof static struct switch typedef union unsigned void
volatile while bool true false NULL include define using namespace std
vector string map set pair class public private new delete this template
typename import package func var let const function return fn mut impl
pub use mod match loop as in of nil String Vec Some None Ok Err usize i32
i64 f64 f32 u8 u32 u64 isize size push_back length size_t printf main
boolean Integer List ArrayList Arrays Math System out println assert
console log len append make cap panic fmt strings strconv sort math
Array Object Number parseInt JSON Map Set""".split())
STRING_RE = re.compile(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])\'|'
                       r'//[^\n]*|/\*.*?\*/', re.S)


def rename_c(code, rng):
    names = {}

    def sub_ident(m):
        s = m.group(0)
        start = m.start()
        if s in C_KEYWORDS or (start > 0 and m.string[start - 1] == "."):
            return s
        if s not in names:
            names[s] = "%s%d" % (rng.choice(["val", "q", "tmp", "zz"]),
                                 len(names))
        return names[s]

    parts = []
    last = 0
    for m in STRING_RE.finditer(code):
        parts.append(re.sub(r"\b[A-Za-z_]\w*\b", sub_ident,
                            code[last:m.start()]))
        parts.append(m.group(0))
        last = m.end()
    parts.append(re.sub(r"\b[A-Za-z_]\w*\b", sub_ident, code[last:]))
    return "".join(parts)


def relayout_c(code, rng):
    """Other indentation, and lines joined after '{' or ';' (never after a
    comment or a directive)."""
    out = []
    for line in code.split("\n"):
        s = line.strip()
        if (out and (out[-1].endswith("{") or out[-1].endswith(";")) and
                "//" not in out[-1] and not out[-1].lstrip().startswith("#")
                and not s.startswith("#") and rng.random() < 0.6):
            out[-1] += " " + s
        else:
            out.append("\t" * rng.randint(0, 2) + s)
    return "\n".join(out)


def rewrap(text, rng):
    """The same words, re-flowed: other line lengths and indentation."""
    words = text.split()
    lines, cur = [], []
    width = rng.randint(4, 11)
    for w in words:
        cur.append(w)
        if len(cur) >= width:
            lines.append(" " * rng.choice([0, 2, 3, 8]) + " ".join(cur))
            cur, width = [], rng.randint(4, 11)
    if cur:
        lines.append(" ".join(cur))
    return "\n".join(lines)


# --------------------------------------------------------- benchmarks

def benchmarks():
    """(benchmark name, file, [(id, prompt, code, lang)])"""
    out = []
    he = load(os.path.join(DATA, "HumanEval.jsonl.gz"))
    out.append(("HumanEval", "HumanEval.jsonl.gz",
                [(r["task_id"], r["prompt"],
                  r["prompt"] + r["canonical_solution"], "python")
                 for r in he]))
    mb = load(os.path.join(DATA, "mbpp.jsonl"))
    out.append(("mbpp", "mbpp.jsonl",
                [("mbpp/%d" % r["task_id"], r["text"],
                  r["code"].replace("\r\n", "\n"), "python") for r in mb]))
    for lang in ("cpp", "java", "js", "go", "rust"):
        recs = load(os.path.join(DATA, "humaneval-x",
                                 "humaneval_%s.jsonl.gz" % lang))
        out.append(("humaneval_" + lang, "humaneval-x/humaneval_%s.jsonl.gz"
                    % lang,
                    [(r["task_id"], r["prompt"],
                      r["prompt"] + ("" if r["declaration"].strip() in
                                     r["prompt"] else r["declaration"]) +
                      r["canonical_solution"], lang) for r in recs]))
    return out


FILLER_PROMPT = "Write a function that solves the task described below."


def planted(bench, rng):
    """Leak samples of every item: {variant: [(sample, id)]}"""
    name, _, items = bench
    sets = {k: [] for k in ("verbatim", "renamed", "relaid",
                            "renamed+relaid", "prompt_rewrapped")}
    for (iid, prompt, code, lang) in items:
        py = lang == "python"
        ren = rename_py(code, rng) if py else rename_c(code, rng)
        rel = relayout_py(code) if py else relayout_c(code, rng)
        both = (relayout_py(ren) if ren else None) if py else \
            relayout_c(ren, rng)
        base = {"language": lang, "prompt": FILLER_PROMPT}
        for var, sol in (("verbatim", code), ("renamed", ren),
                         ("relaid", rel), ("renamed+relaid", both)):
            if sol is not None:
                sets[var].append((dict(base, solution=sol), iid))
        sets["prompt_rewrapped"].append(
            ({"language": lang, "prompt": rewrap(prompt, rng),
              "solution": "pass"}, iid))
    return sets


# --------------------------------------------------------- clean sets

def clean_python(rng, limit=3000):
    """Functions of Python's standard library, 4 to 80 lines."""
    import sysconfig
    lib = sysconfig.get_paths()["stdlib"]
    funcs = []
    for fn in sorted(os.listdir(lib)):
        if not fn.endswith(".py"):
            continue
        try:
            src = open(os.path.join(lib, fn), encoding="utf-8").read()
            tree = ast.parse(src)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                seg = ast.get_source_segment(src, node)
                if seg and 4 <= seg.count("\n") <= 80:
                    funcs.append(textwrap.dedent(seg))
    rng.shuffle(funcs)
    return [{"language": "python", "prompt": FILLER_PROMPT, "solution": f}
            for f in funcs[:limit]]


def clean_c(limit=1500):
    """kiln's own C functions (top-level blocks of src/**/*.c)."""
    out = []
    for root, _, files in sorted(os.walk(os.path.join(SRC, "src"))):
        for fn in sorted(files):
            if not fn.endswith(".c"):
                continue
            text = open(os.path.join(root, fn), encoding="utf-8").read()
            for m in re.finditer(r"\n[a-z][^\n;]*\([^;{]*\)\n\{\n.*?\n\}\n",
                                 text, re.S):
                body = m.group(0)
                if 4 <= body.count("\n") <= 80:
                    out.append({"language": "c", "prompt": FILLER_PROMPT,
                                "solution": body})
    return out[:limit]


# ------------------------------------------------------------- decontam

def run_decontam(tmp, against, samples, extra=()):
    inp = os.path.join(tmp, "samples.jsonl")
    recs = []
    for i, s in enumerate(samples):
        r = dict(s)
        r["id"] = "sample/%d" % i
        recs.append(r)
    write_jsonl(inp, recs)
    out, dropped = os.path.join(tmp, "kept.jsonl"), \
        os.path.join(tmp, "dropped.jsonl")
    stats = os.path.join(tmp, "stats.json")
    args = ["decontam", "-q", "-o", out, "--dropped", dropped, "--stats",
            stats] + list(extra)
    for a in against:
        args += ["-a", a]
    t = time.time()
    p = kiln(*(args + [inp]))
    took = time.time() - t
    if p.returncode:
        return None, None, None, took
    return read_jsonl(out), read_jsonl(dropped), json.load(open(stats)), took


def decontam_checks(tmp):
    rng = random.Random(10)
    benches = benchmarks()
    report = []
    for b in benches:
        name, path, items = b
        sets = planted(b, rng)
        for var, pairs in sets.items():
            samples = [s for s, _ in pairs]
            kept, dropped, stats, _ = run_decontam(
                tmp, [os.path.join(DATA, path)], samples)
            if kept is None:
                check("decontam %s %s runs" % (name, var), False)
                continue
            want = {"sample/%d" % i: iid for i, (_, iid) in enumerate(pairs)}
            # the benchmark's own duplicates (Rust/45's prompt is
            # Rust/71's) are the same leak
            text = {iid: (prompt if var == "prompt_rewrapped" else code)
                    for (iid, prompt, code, _) in items}

            def same(got, iid):
                return got == iid or text.get(got) == text[iid]
            right = sum(1 for r in dropped
                        if same(r["decontam"]["id"], want[r["id"]]) and
                        r["decontam"]["benchmark"] == name)
            recall = right / max(1, len(pairs))
            report.append((name, var, len(pairs), len(dropped), right,
                           recall))
            # every set: most of the class, each flagged with its own id
            floor = {"verbatim": 0.97, "renamed": 0.9, "relaid": 0.9,
                     "renamed+relaid": 0.85, "prompt_rewrapped": 0.9}[var]
            if name == "mbpp":
                # short functions: renamed, few distinctive 10-grams are
                # left (docs/CURATE.md, "kiln decontam": measured)
                floor = {"verbatim": 0.88, "renamed": 0.5, "relaid": 0.8,
                         "renamed+relaid": 0.4,
                         "prompt_rewrapped": 0.8}[var]
            check("decontam %s %s: %d/%d flagged with the right id"
                  % (name, var, right, len(pairs)), recall >= floor,
                  "recall %.3f < %.2f" % (recall, floor))
            wrong = [r for r in dropped
                     if not same(r["decontam"]["id"], want[r["id"]])]
            # MBPP holds near-duplicate tasks (mbpp/67 and mbpp/608 are
            # both Bell numbers): a leak of one may match the other best
            check("decontam %s %s: at most 3%% blamed on another item"
                  % (name, var), len(wrong) <= max(1, 3 * len(pairs) // 100),
                  [(r["id"], want[r["id"]], r["decontam"]) for r in
                   wrong[:3]])

    # the funnel: per-benchmark counts, against every benchmark at once
    all_against = [os.path.join(DATA, p) for p in (
        "HumanEval.jsonl.gz", "mbpp.jsonl", "sanitized-mbpp.json",
        "humanevalplus/HumanEvalPlus.jsonl.gz")] + [
        os.path.join(DATA, "humaneval-x", "humaneval_%s.jsonl.gz" % l)
        for l in ("cpp", "go", "java", "js", "python", "rust")]
    he = planted(benches[0], rng)["verbatim"][:40]
    mb = planted(benches[1], rng)["verbatim"][:30]
    kept, dropped, stats, _ = run_decontam(tmp, all_against,
                                           [s for s, _ in he + mb])
    bm = stats["benchmarks"] if stats else {}
    check("decontam funnel: per-benchmark counts",
          bm.get("HumanEval", {}).get("flagged") == 40 and
          bm.get("mbpp", {}).get("flagged", 0) >= 26 and
          bm.get("HumanEvalPlus", {}).get("flagged") == 40 and
          bm.get("humaneval_python", {}).get("flagged", 0) >= 38 and
          stats["dropped"]["contaminated"] == len(dropped), bm)

    # clean samples
    for cname, samples in (("python stdlib functions", clean_python(rng)),
                           ("kiln C functions", clean_c())):
        kept, dropped, stats, took = run_decontam(tmp, all_against, samples)
        fp = len(dropped) / max(1, len(samples))
        report.append(("clean", cname, len(samples), len(dropped), 0, fp))
        check("decontam clean %s: %d/%d flagged" % (cname, len(dropped),
                                                    len(samples)),
              fp <= 0.005, [(r["decontam"], r["solution"][:200])
                            for r in dropped[:3]])

    # throughput: every benchmark item, four copies, against all of them
    samples = []
    for b in benches:
        for (iid, prompt, code, lang) in b[2]:
            samples.append({"language": lang, "prompt": prompt,
                            "solution": code})
    samples = samples * 4
    kept, dropped, stats, took = run_decontam(tmp, all_against, samples)
    size = os.path.getsize(os.path.join(tmp, "samples.jsonl"))
    if REPORT:
        print("\n%-16s %-18s %6s %7s %7s %7s" % ("benchmark", "set", "n",
                                                 "flagged", "right id",
                                                 "rate"))
        for row in report:
            print("%-16s %-18s %6d %7d %7d %7.3f" % row)
        print("\nthroughput: %d records (%.1f MB) in %.2f s wall (index "
              "of %d benchmark files included; stage %.2f s): %.0f "
              "records/s" % (len(samples), size / 1e6, took,
                             len(all_against), stats["seconds"],
                             len(samples) / stats["seconds"]))


# --------------------------------------------------------------- select

def verdict(tid, cand, passes, judge="isolated", solution=None):
    tests = [{"status": "pass" if p else "fail", "judge": judge}
             for p in passes]
    n = sum(passes)
    return {"id": tid, "candidate": cand,
            "status": "pass" if n == len(passes) else "fail",
            "tests_passed": n, "tests_total": len(passes), "tests": tests,
            "judge": judge,
            "solution": solution or "def f%d():\n    return %d\n" % (cand,
                                                                  cand)}


def run_select(tmp, recs, *args, ok=True):
    inp = os.path.join(tmp, "verdicts.jsonl")
    write_jsonl(inp, recs)
    out = os.path.join(tmp, "sel.jsonl")
    dropped = os.path.join(tmp, "sel_dropped.jsonl")
    stats = os.path.join(tmp, "sel_stats.json")
    p = kiln("select", "-q", "-o", out, "--dropped", dropped, "--stats",
             stats, *args, inp, ok=ok)
    if p.returncode:
        return p, None, None, None
    return p, read_jsonl(out), read_jsonl(dropped), json.load(open(stats))


def codet_tasks(rng, ntasks=300):
    """Per task: generated tests, of which some are wrong; a correct
    cluster passes the right ones, a larger wrong cluster passes the
    wrong ones (a few), noise candidates pass random subsets. The correct
    cluster's score (size x tests) is the highest, its size is not."""
    recs, want = [], {}
    for t in range(ntasks):
        tid = "task/%d" % t
        ntests = rng.randint(6, 14)
        nwrong = rng.randint(1, ntests // 3)
        right = ntests - nwrong
        csize = rng.randint(2, 4)
        wsize = csize + rng.randint(1, 3)
        # the wrong cluster passes the wrong tests and maybe one right one
        wpass = nwrong + rng.randint(0, 1)
        if wsize * wpass >= csize * right:
            wsize = max(csize + 1, (csize * right - 1) // max(1, wpass))
            if wsize * wpass >= csize * right:
                wpass = 1
                wsize = csize + 1
        cands = []
        cpat = [i < right for i in range(ntests)]
        wpat = [i >= right or i < wpass - nwrong for i in range(ntests)]
        for _ in range(csize):
            cands.append(("c", cpat))
        for _ in range(wsize):
            cands.append(("w", wpat))
        for _ in range(rng.randint(0, 3)):   # noise, each its own pattern
            pat = [rng.random() < 0.3 for _ in range(ntests)]
            pat[rng.randrange(ntests)] = False
            if sum(pat) * 1 < csize * right and pat not in (cpat, wpat):
                cands.append(("n", pat))
        rng.shuffle(cands)
        for i, (kind, pat) in enumerate(cands):
            recs.append((rng.random(), verdict(tid, i, pat)))
            if kind == "c":
                want.setdefault(tid, set()).add(i)
        assert wsize > csize and wsize * sum(wpat) < csize * right
    recs.sort(key=lambda x: x[0])   # tasks interleaved
    return [r for _, r in recs], want


def select_checks(tmp):
    rng = random.Random(7)
    # strict and relaxed
    recs = [verdict("a", 0, [1, 1, 1, 1, 1]), verdict("a", 1, [1, 1, 1, 1, 0]),
            verdict("a", 2, [0, 0, 0, 0, 0]), verdict("b", 0, [1, 0]),
            verdict("b", 1, [1, 1])]
    p, kept, dropped, st = run_select(tmp, recs)
    check("select strict keeps what passes every test",
          [(r["id"], r["candidate"]) for r in kept] == [("a", 0), ("b", 1)],
          kept)
    check("select strict: reasons and stats",
          st and st["dropped"] == {"judge": 0, "below_min_pass": 3,
                                   "codet_group": 0, "duplicate": 0,
                                   "per_task": 0} and
          all(d["dropped"]["reason"] == "below_min_pass" and
              "pass_fraction" in d["dropped"] for d in dropped), st)
    p, kept, dropped, st = run_select(tmp, recs, "--min-pass", "0.8")
    check("select --min-pass 0.8 keeps 4/5",
          [(r["id"], r["candidate"]) for r in kept] ==
          [("a", 0), ("a", 1), ("b", 1)] and
          kept[1]["select"]["pass_fraction"] == 0.8, kept)

    # CodeT: a planted correct cluster over a larger wrong one
    recs, want = codet_tasks(rng)
    p, kept, dropped, st = run_select(tmp, recs, "--codet")
    got = {}
    for r in kept or []:
        got.setdefault(r["id"], set()).add(r["candidate"])
    check("select --codet keeps exactly the planted correct cluster in "
          "%d interleaved tasks" % len(want), got == want,
          [(t, got.get(t), want[t]) for t in want if got.get(t) !=
           want[t]][:3])
    check("select --codet: dropped rows say group, size, score",
          dropped and all(d["dropped"]["reason"] == "codet_group" and
                          d["dropped"]["score"] < d["dropped"]["best_score"]
                          for d in dropped), dropped[:1] if dropped else p)
    p2, kept2, _, _ = run_select(tmp, recs, "--min-pass", "1")
    check("select strict on the same tasks keeps no planted cluster "
          "(every candidate fails a wrong test)", kept2 == [], kept2[:2])

    # per task, distinct
    same = "def f(x):\n    return x + 1\n"
    recs = [verdict("t", 0, [1], solution=same),
            verdict("t", 1, [1], solution="def f(x):  # one more\n"
                    "    return x+1\n\n"),
            verdict("t", 2, [1], solution="def f(x):\n    return x + 2\n"),
            verdict("t", 3, [1], solution="def g(x):\n    return x - 1\n"),
            verdict("u", 0, [1], solution=same)]
    p, kept, dropped, st = run_select(tmp, recs, "--per-task", "2")
    check("select --per-task 2: distinct by normalised code",
          [(r["id"], r["candidate"]) for r in kept] ==
          [("t", 0), ("t", 2), ("u", 0)] and
          sorted(d["dropped"]["reason"] for d in dropped) ==
          ["duplicate", "per_task"] and
          [d["dropped"].get("same_as") for d in dropped
           if d["dropped"]["reason"] == "duplicate"] == [0],
          (kept, dropped))

    # judge
    recs = [verdict("j", 0, [1], judge="in-process"),
            verdict("j", 1, [1], judge="isolated"),
            verdict("j", 2, [1], judge="io")]
    recs[1]["tests"][0]["judge"] = "in-process"   # a test decides too
    recs.append(verdict("j", 3, [1], judge="isolated"))
    p, kept, dropped, st = run_select(tmp, recs, "--require-judge",
                                      "isolated")
    check("select --require-judge isolated",
          [r["candidate"] for r in kept] == [2, 3] and
          all(d["dropped"]["reason"] == "judge" for d in dropped), kept)
    p, kept, dropped, st = run_select(tmp, recs, "--require-judge", "io")
    check("select --require-judge io", [r["candidate"] for r in kept] == [2],
          kept)

    # grouped input: the same output with --grouped; interleaved refused
    recs = sorted(codet_tasks(random.Random(3), 50)[0],
                  key=lambda r: int(r["id"].split("/")[1]))
    _, a, _, _ = run_select(tmp, recs, "--codet")
    _, b, _, _ = run_select(tmp, recs, "--codet", "--grouped")
    check("select --grouped gives the same output on grouped input",
          a == b and a, len(a or []))
    recs2, _ = codet_tasks(random.Random(4), 20)
    p, *_ = run_select(tmp, recs2, "--grouped", ok=False)
    check("select --grouped refuses interleaved input",
          p.returncode == 1 and "comes back" in p.stderr, p.stderr)

    # a record without what select needs: file, line, field
    recs = [verdict("x", 0, [1]), {"id": "x", "candidate": 1,
                                   "status": "pass"}]
    p, *_ = run_select(tmp, recs, ok=False)
    check("select: a record without tests_total is an error naming it",
          p.returncode == 1 and "verdicts.jsonl:2" in p.stderr and
          "tests_total" in p.stderr, p.stderr)
    p = kiln("select", "--min-pass", "1.5", ok=False)
    check("select --min-pass 1.5 is refused with its range",
          p.returncode == 2 and "out of range [0, 1]" in p.stderr, p.stderr)


def carried_checks(tmp):
    """The real chain: kiln verify --carry, then select reads each
    record's verdict from its "verdict" field (and the solution from the
    record), CodeT and --per-task included."""
    tests = ["assert add(1, 2) == 3", "assert add(0, 0) == 0",
             "assert add(-1, 1) == 0"]
    sols = ["def add(a, b):\n    return a + b\n",            # right
            "def add(a, b):\n    return b + a\n",            # right, other
            "def add(a, b):\n    return a + b  # same\n",    # a copy of 0
            "def add(a, b):\n    return a * b\n",            # 1 of 3
            "def add(a, b):\n    return 0\n"]                # 2 of 3
    cands = [{"id": "car/0", "candidate": i, "solution": s, "tests": tests}
             for i, s in enumerate(sols)]
    src = os.path.join(tmp, "car.cands.jsonl")
    write_jsonl(src, cands)
    car = os.path.join(tmp, "car.verdicts.jsonl")
    p = kiln("verify", "-q", "--carry", src, "-o", car)
    check("select chain: kiln verify --carry ran", p.returncode == 0,
          p.stderr)
    out = os.path.join(tmp, "car.kept.jsonl")
    p = kiln("select", "-q", "--per-task", "5", car, "-o", out)
    kept = [r["candidate"] for r in read_jsonl(out)] \
        if p.returncode == 0 else []
    check("select on verify --carry output: strict, distinct per task",
          kept == [0, 1], (kept, p.stderr[-300:]))
    p = kiln("select", "-q", "--min-pass", "0.6", car, "-o", out)
    kept = [r["candidate"] for r in read_jsonl(out)] \
        if p.returncode == 0 else []
    check("select --min-pass 0.6 on verify --carry output", kept ==
          [0, 1, 2, 4], (kept, p.stderr[-300:]))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        select_checks(tmp)
        carried_checks(tmp)
        decontam_checks(tmp)
        p = kiln("decontam", "x.jsonl", ok=False)
        check("decontam without --against is a usage error",
              p.returncode == 2 and "--against" in p.stderr, p.stderr)
    print("%d/%d checks passed" % (sum(results), len(results)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
