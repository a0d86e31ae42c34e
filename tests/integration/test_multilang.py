#!/usr/bin/python3
"""kiln generate and kiln eval end to end on a benchmark that is not
Python: HumanEval-X's C++, against the fault-free fake server and against
kiln serve with a model kiln trained here.

Usage: test_multilang.py KILN FAKEAI SHARED_DATA_DIR

1. kiln import -f humaneval-x: the eight shortest C++ tasks.
2. fakeai answers five of them with the published solution, one with code
   that compiles and returns the wrong value, one with another task's
   function, one with prose and no code. kiln generate (k = 2) + kiln
   verify must give exactly that: 5 tasks pass, 3 do not; the requests
   name the language as C++; the candidates are C++. kiln eval on the same
   server: pass@1 exactly 5/8.
3. kiln train learns three of the tasks (prompt -> published solution) in
   a tiny GPT; kiln serve serves it; kiln eval (greedy): pass@1 >= 2/3.
Candidate code runs only inside kiln's sandbox.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilntest import Checks, FakeAI, KilnServe, read_jsonl, run, write_jsonl  # noqa: E402

KILN, FAKEAI, DATA = (os.path.abspath(a) for a in sys.argv[1:4])
check = Checks()


def fenced(code):
    return "```cpp\n" + code + "```\n"


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-multilang-")
    every = os.path.join(tmp, "cpp.jsonl")
    p = run(KILN, "import", "-f", "humaneval-x",
            os.path.join(DATA, "humaneval-x", "humaneval_cpp.jsonl.gz"),
            "-o", every)
    check("import HumanEval-X C++", p.returncode == 0, p.stderr)
    tasks = sorted(read_jsonl(every), key=lambda t: (len(t["solution"]),
                                                     t["id"]))[:8]
    check("eight C++ tasks", len(tasks) == 8 and
          all(t["language"] == "cpp" for t in tasks), [t["id"] for t in tasks])
    path = os.path.join(tmp, "tasks.jsonl")
    write_jsonl(path, tasks)

    # The last line of each prompt is the function's signature: unique,
    # and in every request the template renders.
    def sig(t):
        return t["prompt"].rstrip().splitlines()[-1]

    good, wrong, other, prose = tasks[:5], tasks[5], tasks[6], tasks[7]
    answers = [{"match": sig(t), "text": fenced(t["solution"])} for t in good]
    answers.append({"match": sig(wrong),
                    "text": fenced(wrong["prompt"] + "    return 1;\n}\n")})
    answers.append({"match": sig(other), "text": fenced(good[0]["solution"])})
    answers.append({"match": sig(prose),
                    "text": "I would rather explain the idea in words."})
    srv = FakeAI(FAKEAI, os.path.join(tmp, "fake"), {"answers": answers})

    cands = os.path.join(tmp, "candidates.jsonl")
    p = run(KILN, "generate", "--backend", srv.url, "-m", "fake", "-k", "2",
            "--test-sets", "0", "-q", "-o", cands, path)
    check("kiln generate on C++ tasks against fakeai", p.returncode == 0,
          p.stderr)
    rows = read_jsonl(cands)
    check("two C++ candidates per task, the published code where it was "
          "answered", len(rows) == 16 and
          all(r["language"] == "cpp" for r in rows) and
          all(r["solution"].strip() == t["solution"].strip()
              for t in good for r in rows if r["id"] == t["id"]),
          [(r["id"], r["language"]) for r in rows])
    reqs = srv.requests()
    check("every request asks for C++", reqs and all(
        "C++" in json.dumps(q) for q in reqs), reqs[:1])
    verdicts = os.path.join(tmp, "verdicts.jsonl")
    p = run(KILN, "verify", "-q", "-o", verdicts, cands)
    vs = read_jsonl(verdicts)
    passed = {v["id"] for v in vs if v["status"] == "pass"}
    check("verify: the five published solutions pass, the other three do "
          "not", p.returncode == 0 and len(vs) == 16 and
          passed == {t["id"] for t in good} and
          sum(v["status"] == "pass" for v in vs) == 10,
          (p.returncode, p.stderr[-500:], [(v["id"], v["status"])
                                             for v in vs]))
    wrong_v = [v for v in vs if v["id"] == wrong["id"]]
    check("the code that compiles but answers wrong fails its tests",
          wrong_v and all(v["status"] == "fail" for v in wrong_v), wrong_v)

    evout = os.path.join(tmp, "eval.jsonl")
    p = run(KILN, "eval", "--backend", srv.url, "-m", "fake", "--benchmark",
            path, "-n", "2", "-k", "1,2", "-q", "-o", evout)
    ev = json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() \
        else {}
    check("kiln eval on C++ against fakeai: pass@1 = pass@2 = 5/8",
          abs(ev.get("pass@1", -1) - 5 / 8) < 1e-9 and
          abs(ev.get("pass@2", -1) - 5 / 8) < 1e-9,
          (p.returncode, p.stdout[-300:], p.stderr[-800:]))
    check("fakeai stops cleanly", srv.stop() == 0)

    # 3. kiln serve with a model that learnt three of the tasks
    learnt = tasks[:3]
    train = os.path.join(tmp, "train.jsonl")
    write_jsonl(train, [{"messages": [
        {"role": "user", "content": t["prompt"]},
        {"role": "assistant", "content": fenced(t["solution"])}]}
        for t in learnt * 3])
    tmpl = os.path.join(tmp, "solution.txt")
    with open(tmpl, "w") as f:
        f.write("{prompt}")
    model = os.path.join(tmp, "model.bin")
    p = run(KILN, "train", "--layers", "2", "--heads", "2", "--d-model",
            "64", "--ctx", "512", "--batch", "4", "--steps", "200", "--lr",
            "5e-3", "--warmup", "20", "--eval-batches", "0",
            "--val-fraction", "0.02", "--seed", "3", "-q", "-o", model,
            train, timeout=1200)
    s = json.loads(p.stdout.splitlines()[-1]) if p.stdout.strip() else {}
    check("a tiny model learnt three C++ solutions (loss %.3f < 0.1)"
          % s.get("train_loss", 9), p.returncode == 0 and
          s.get("train_loss", 9) < 0.1, (p.stderr[-500:], s))
    serve = KilnServe(KILN, model, "--max-batch", "4")
    check("kiln serve listening", serve.url is not None, serve.log)
    if serve.url:
        lpath = os.path.join(tmp, "learnt.jsonl")
        write_jsonl(lpath, learnt)
        evout = os.path.join(tmp, "eval-serve.jsonl")
        p = run(KILN, "eval", "--backend", serve.url, "-m", "tiny",
                "--benchmark", lpath, "-n", "1", "-k", "1",
                "--temperature", "0", "--max-tokens", "320",
                "--template-solution", tmpl, "-q", "-o", evout,
                timeout=900)
        ev = json.loads(p.stdout) if p.returncode == 0 and \
            p.stdout.strip() else {}
        check("kiln eval on C++ against kiln serve: pass@1 %.2f >= 2/3"
              % ev.get("pass@1", -1), ev.get("pass@1", 0) >= 2 / 3 - 1e-9,
              (p.returncode, p.stderr[-1500:],
               [(r.get("id"), r.get("status")) for r in read_jsonl(evout)]))
        check("kiln serve drains and exits 0", serve.stop() == 0)
    run("rm", "-rf", tmp)
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
