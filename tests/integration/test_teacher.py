#!/usr/bin/python3
"""kiln teacher-train end to end, tiny and quick.

Usage: test_teacher.py KILN

1. A tiny teacher (40 bank tasks, a 300-id tokenizer, one small layer, a
   few steps) is trained twice with the same options: one JSON summary,
   a checkpoint, byte-identical both times (one thread).
   --depth1-seeds adds a seed's depth-1 tasks; --minutes ends training
   early and saves it.
2. The checkpoint is an ordinary one: kiln serve loads it.
3. kiln run with teacher {local: that file} over a few held-out bank
   tasks runs every stage to the end (whatever the tiny teacher answers).
4. Errors: no -o, an unknown option.
"""
import filecmp
import json
import os
import re
import subprocess
import sys
import tempfile

KILN = os.path.abspath(sys.argv[1])
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)[:2000]))


TINY = ["--tasks", "40", "--depth1-seeds", "0", "--tests-every", "1",
        "--vocab", "300", "--layers", "1", "--heads", "2", "--d-model", "32",
        "--ctx", "384", "--batch", "2", "--steps", "6", "--threads", "1",
        "--seed", "5"]


def train(out):
    return subprocess.run([KILN, "teacher-train", "-o", out] + TINY,
                          capture_output=True, text=True, timeout=600)


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-teacher-")
    a, b = os.path.join(tmp, "a.bin"), os.path.join(tmp, "b.bin")
    p = train(a)
    s = json.loads(p.stdout.splitlines()[-1]) if p.stdout.strip() else {}
    check("teacher-train runs and prints its summary",
          p.returncode == 0 and s.get("steps") == 6 and
          s.get("samples") == 80 and s.get("output") == a and
          os.path.getsize(a) > 0, (p.returncode, p.stderr[-1500:]))
    check("the summary names the model", s.get("layers") == 1 and
          s.get("d_model") == 32 and s.get("ctx") == 384 and
          s.get("vocab", 0) <= 300, s)
    p2 = train(b)
    check("the same options give the same checkpoint, byte for byte",
          p2.returncode == 0 and os.path.exists(b) and
          filecmp.cmp(a, b, shallow=False), p2.stderr[-500:])

    c = os.path.join(tmp, "c.bin")
    keep = os.path.join(tmp, "keep")
    p = subprocess.run([KILN, "teacher-train", "-o", c] + TINY +
                       ["--depth1-seeds", "1", "--minutes", "0.0001",
                        "--keep-data", keep],
                       capture_output=True, text=True, timeout=600)
    s = json.loads(p.stdout.splitlines()[-1]) if p.stdout.strip() else {}
    check("--depth1-seeds adds the depth-1 tasks of a seed; --minutes "
          "ends training, saved", p.returncode == 0 and
          s.get("tasks", 0) > 500 and s.get("stopped_by_time") is True and
          s.get("steps", 6) < 6 and os.path.getsize(c) > 0,
          (p.returncode, s, p.stderr[-1500:]))

    p1 = subprocess.run([KILN, "teacher-train", "-o",
                         os.path.join(tmp, "p1.bin")] + TINY +
                        ["--depth1-seeds", "1", "--param-scale", "1",
                         "--steps", "1"],
                        capture_output=True, text=True, timeout=600)
    s1 = json.loads(p1.stdout.splitlines()[-1]) if p1.stdout.strip() else {}
    check("the default --param-scale 10 gives a seed many more depth-1 "
          "tasks (constants) than the bank's own ranges",
          p1.returncode == 0 and 500 < s1.get("tasks", 0) < 1500 and
          s.get("tasks", 0) > 5000, (s1.get("tasks"), s.get("tasks"),
                                     p1.stderr[-800:]))

    def tok_info(path):
        q = subprocess.run([KILN, "tokenizer", "info", "--tok", path],
                           capture_output=True, text=True, timeout=60)
        return json.loads(q.stdout) if q.returncode == 0 else {}
    check("the teacher's tokenizer does not split digits by default "
          "(teacher-v2's and v3's)",
          tok_info(os.path.join(keep, "tokenizer.bin")).get("split_digits")
          is False)
    d, keep_d = os.path.join(tmp, "d.bin"), os.path.join(tmp, "keep-d")
    p = subprocess.run([KILN, "teacher-train", "-o", d] + TINY +
                       ["--steps", "1", "--split-digits", "--keep-data",
                        keep_d], capture_output=True, text=True, timeout=600)
    check("--split-digits: a tokenizer with every digit a token",
          p.returncode == 0 and tok_info(os.path.join(
              keep_d, "tokenizer.bin")).get("split_digits") is True,
          p.stderr[-1500:])

    srv = subprocess.Popen([KILN, "serve", "-m", a, "--port", "0"],
                           stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    ok = False
    for line in srv.stderr:
        if re.search(r"listening on http://127\.0\.0\.1:\d+/v1", line):
            ok = True
            break
    srv.terminate()
    srv.wait(timeout=60)
    check("kiln serve loads the checkpoint", ok)

    tasks = os.path.join(tmp, "tasks.jsonl")
    p = subprocess.run([KILN, "bank", "-n", "3", "--seed", "2", "--depth",
                        "1", "--split", "heldout", "-o", tasks],
                       capture_output=True, text=True, timeout=120)
    check("held-out bank tasks", p.returncode == 0, p.stderr)
    pipe = os.path.join(tmp, "pipeline.json")
    with open(pipe, "w") as f:
        json.dump({"out": os.path.join(tmp, "run"), "tasks": tasks,
                   "teacher": {"local": a},
                   "generate": {"samples": 1, "temperature": 0,
                                "max-tokens": 24},
                   "mutation": False, "reward": False}, f)
    p = subprocess.run([KILN, "run", "-q", pipe], capture_output=True,
                       text=True, timeout=600)
    check("kiln run with teacher {local: the teacher} completes",
          p.returncode == 0 and
          os.path.exists(os.path.join(tmp, "run", "report.html")),
          (p.returncode, p.stderr[-2000:]))

    p = subprocess.run([KILN, "teacher-train"] + TINY, capture_output=True,
                       text=True, timeout=60)
    check("no -o: usage error", p.returncode == 2 and "-o" in p.stderr,
          (p.returncode, p.stderr))
    p = subprocess.run([KILN, "teacher-train", "-o", a, "--bogus"],
                       capture_output=True, text=True, timeout=60)
    check("an unknown option: usage error", p.returncode == 2, p.returncode)

    subprocess.run(["rm", "-rf", tmp])
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
