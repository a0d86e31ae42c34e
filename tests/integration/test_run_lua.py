#!/usr/bin/python3
"""kiln run end to end in Lua: the bank writes Lua tasks, a teacher answers,
the sandbox verifies, the dataset keeps exactly the right answers.

Usage: test_run_lua.py KILN FAKEAI

The pipeline is data/pipelines/lua.yaml with fakeai as the teacher and a
smaller bank. fakeai answers each task by its prompt: eight with the
task's Lua reference, two with one of its planted wrong variants (Lua that
runs and answers wrong), one with the Python reference (not Lua) and one
with prose. The dataset must hold exactly the eight, as Lua samples of the
bank's tasks. Candidate code runs only inside kiln's sandbox.
"""
import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kilntest import Checks, FakeAI, read_jsonl, run  # noqa: E402

KILN, FAKEAI = (os.path.abspath(a) for a in sys.argv[1:3])
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "data", "pipelines", "lua.yaml")
BANK = {"tasks": 12, "seed": 5, "depth": 2, "language": "lua"}
check = Checks()


def fenced(lang, code):
    return "```%s\n%s```\n" % (lang, code)


def main(tmp):
    args = ["bank", "-n", str(BANK["tasks"]), "--seed", str(BANK["seed"]),
            "--depth", str(BANK["depth"]), "-q"]
    lua = [json.loads(line) for line in
           run(KILN, *args, "-l", "lua").stdout.splitlines()]
    py = [json.loads(line) for line in
          run(KILN, *args, "-l", "python").stdout.splitlines()]
    check("the bank's 12 Lua tasks and their Python twins",
          len(lua) == len(py) == 12 and
          all(r["language"] == "lua" for r in lua))
    good, wrong, python, prose = lua[:8], lua[8:10], lua[10], lua[11]
    answers = [{"match": t["prompt"], "text": fenced("lua", t["solution"])}
               for t in good]
    answers += [{"match": t["prompt"], "text": fenced(
        "lua", t["wrong_variants"][0]["solution"])} for t in wrong]
    answers.append({"match": python["prompt"],
                    "text": fenced("python", py[10]["solution"])})
    answers.append({"match": prose["prompt"],
                    "text": "The function reverses the list."})
    srv = FakeAI(FAKEAI, os.path.join(tmp, "fake"), {"answers": answers})

    # the documented example, with this test's teacher, bank and folder
    with open(EXAMPLE) as f:
        text = f.read()
    out = os.path.join(tmp, "run")
    text = re.sub(r"(?m)^out: .*$", "out: " + out, text)
    text = re.sub(r"(?m)^  bank: .*$", "  bank: " + json.dumps(BANK), text)
    text = re.sub(r"(?m)^teacher:(\n  .*)*$",
                  'teacher: {url: "%s", model: fake}' % srv.url, text)
    pipe = os.path.join(tmp, "lua.yaml")
    with open(pipe, "w") as f:
        f.write(text)
    p = run(KILN, "run", pipe, timeout=900)
    check("kiln run on the Lua bank (exit 0)", p.returncode == 0,
          (p.returncode, p.stderr[-2000:]))

    reqs = srv.requests()
    check("12 requests, each asking for a Lua solution", len(reqs) == 12 and
          all(q["prompt"].startswith("Write a Lua solution") for q in reqs),
          reqs[:1])
    cands = read_jsonl(os.path.join(out, "candidates.jsonl"))
    check("the candidates are Lua with the bank's hidden tests",
          len(cands) == 12 and all(
              c["language"] == "lua" and c["tests_source"] == "task"
              for c in cands), [(c["id"], c.get("language")) for c in cands])
    verified = read_jsonl(os.path.join(out, "verified.jsonl"))
    status = {v["id"]: v["verdict"]["status"] for v in verified}
    check("verify: the references pass, the variants fail, the Python "
          "and the prose do not pass",
          all(status.get(t["id"]) == "pass" for t in good) and
          all(status.get(t["id"]) == "fail" for t in wrong) and
          status.get(python["id"]) not in (None, "pass") and
          status.get(prose["id"]) not in (None, "pass"), status)
    ds = read_jsonl(os.path.join(out, "dataset.jsonl"))
    by_id = {t["id"]: t for t in good}
    check("the dataset holds exactly the eight right answers, as Lua "
          "samples of the bank's tasks",
          sorted(r["meta"]["id"] for r in ds) == sorted(by_id) and all(
              r["meta"]["language"] == "lua" and
              r["meta"]["source"] == "kiln-bank" and
              r["meta"]["scores"]["status"] == "pass" and
              r["meta"]["scores"]["tests_passed"] ==
              len(by_id[r["meta"]["id"]]["tests"]) and
              r["messages"][0]["content"] == by_id[r["meta"]["id"]]["prompt"]
              and r["messages"][1]["content"].strip() ==
              by_id[r["meta"]["id"]]["solution"].strip() for r in ds),
          [(r["meta"]["id"], r["meta"]["language"]) for r in ds])
    check("fakeai stops cleanly", srv.stop() == 0)
    return check.finish()


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="kiln-run-lua-") as tmp_dir:
        sys.exit(main(tmp_dir))
