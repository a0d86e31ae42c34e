#!/usr/bin/python3
"""kiln rewrite end to end against fakeai (tests/server/): scripted
critiques and revisions, each with its only right outcome.

Usage: test_rewrite.py KILN_BINARY FAKEAI_BINARY

Planted records, one per case, told apart by a marker comment in the
solution ("# case-NAME"); the critique of case NAME is "CRIT-NAME ...",
which only the revision prompt contains, so the revision's answer is
matched by it:

  break    the revision breaks a test              -> rolled_back
  weak     the tests pass, the mutation score drops -> rolled_back
  good     same behaviour, clearer names            -> accepted
  garbage  the revision answer has no code          -> failed
  fail     the revision request fails (HTTP 500)    -> failed
  same     the revision is the solution again       -> no_change
  skip     the original fails its own test          -> skipped, nothing sent

Two principles, applied in sequence: the second critiques what the first
left, so the good record's second revision (the same text again) is
no_change. Then: a second run on the store sends nothing and writes the
same; --stats has the rates per principle; a judge that scores both
versions alike rolls the good revision back; bad constitutions are
refused before anything is sent.

Every solution here runs only inside kiln's sandbox; this driver only
writes JSON and reads what kiln wrote.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kilntest  # noqa: E402
from kilntest import Checks, read_jsonl, write_jsonl  # noqa: E402

KILN = os.path.abspath(sys.argv[1])
FAKEAI = os.path.abspath(sys.argv[2])
check = Checks()


def kiln(*args):
    return kilntest.run(KILN, *args)


def FakeAI(tmp, script):
    return kilntest.FakeAI(FAKEAI, tempfile.mkdtemp(dir=tmp), script)


def sol(name, body="return a + b", args="a, b"):
    return "def f(%s):\n    # case-%s\n    %s\n" % (args, name, body)


def block(code):
    return "Here is the revision.\n\n```python\n%s```\n" % code


GOOD = sol("good", "return first + second", "first, second")
# the tests pass, but a third of the shortcut's mutants survive
WEAK = ("def f(a, b):\n    # case-weak\n    if a == 2:\n        return 5\n"
        "    return a + b\n")
REVISIONS = {
    "break": block(sol("break", "return a * b")),
    "weak": block(WEAK),
    "good": block(GOOD),
    "garbage": "I would rather not revise this; it reads fine to me.",
    "fail": block(sol("fail", "return b + a")),
    "same": block(sol("same")),
}
CASES = ["break", "weak", "good", "garbage", "fail", "same", "skip"]
TESTS = ["assert f(2, 3) == 5", "assert f(0, 0) == 0"]


def records():
    recs = []
    for name in CASES:
        s = sol(name, "return a - b") if name == "skip" else sol(name)
        recs.append({"id": "rw/%s" % name, "prompt": "Add a and b.",
                     "solution": s, "tests": TESTS, "entry_point": "f",
                     "verdict": {"status": "pass", "tests_passed": 2,
                                 "tests_total": 2}})
    return recs


def script(judge_text=None):
    answers = []
    if judge_text:
        answers.append({"match": "Rate the solution from 1",
                        "text": judge_text})
    # revisions first: their match is the critique, only in their prompt
    answers += [{"match": "CRIT-%s" % n, "text": t}
                for n, t in REVISIONS.items()]
    answers += [{"match": "case-%s" % n, "text": "CRIT-%s: use clearer "
                 "names." % n} for n in CASES]
    return {"answers": answers,
            "faults": [{"kind": "500", "when": {"match": "CRIT-fail"}}]}


CONSTITUTION = """Two principles for the test.

[names]
Names say what things are.

[docstring]
The function says what it returns.
"""


def main_checks(tmp):
    srv = FakeAI(tmp, script())
    src = os.path.join(tmp, "in.jsonl")
    write_jsonl(src, records())
    cons = os.path.join(tmp, "constitution.txt")
    with open(cons, "w") as f:
        f.write(CONSTITUTION)
    out = os.path.join(tmp, "out.jsonl")
    stats = os.path.join(tmp, "stats.json")
    store = os.path.join(tmp, "rw.store")
    args = ["rewrite", "--backend", srv.url, "-m", "teacher-1",
            "--constitution", cons, "--attempts", "1", src, "-o", out,
            "--store", store, "-j", "2"]
    p = kiln(*(args + ["--stats", stats]))
    check("rewrite runs", p.returncode == 0, p.stderr[-1500:])
    got = {r["id"][3:]: r for r in read_jsonl(out)}
    outcomes = {n: [q["outcome"] for q in r["rewrite"]["principles"]]
                for n, r in got.items()}
    check("every record is written, in input order",
          [r["id"] for r in read_jsonl(out)] ==
          ["rw/" + n for n in CASES], list(got))

    br = got.get("break", {})
    check("MUST: a revision that breaks a test is rolled back",
          outcomes.get("break", [None])[0] == "rolled_back" and
          "fails its tests" in br["rewrite"]["principles"][0]["reason"]
          and br["solution"] == sol("break") and
          not br["rewrite"]["accepted"], br.get("rewrite"))
    wk = got.get("weak", {})
    check("a revision whose mutation score drops is rolled back",
          outcomes.get("weak", [None])[0] == "rolled_back" and
          "mutation score drops from 1.000 to 0.667" in
          wk["rewrite"]["principles"][0]["reason"] and
          wk["solution"] == sol("weak"), wk.get("rewrite"))
    gd = got.get("good", {})
    check("a good revision is accepted, and the next principle works on "
          "it (no_change)", outcomes.get("good") ==
          ["accepted", "no_change"] and gd["solution"] == GOOD and
          gd["rewrite"]["accepted"], gd.get("rewrite"))
    check("... its verdict and mutation are kiln's run of the revision; "
          "the original is kept",
          gd.get("verdict", {}).get("status") == "pass" and
          gd["verdict"].get("tests_passed") == 2 and
          "id" not in gd["verdict"] and
          gd.get("mutation", {}).get("score") == 1.0 and
          gd["rewrite"]["original"]["solution"] == sol("good") and
          gd["rewrite"]["original"]["mutation_score"] == 1.0 and
          gd["rewrite"]["original"]["verdict"]["status"] == "pass" and
          gd["rewrite"]["principles"][0]["critique"].startswith(
              "CRIT-good"), gd)
    ga = got.get("garbage", {})
    check("an answer with no code is a failed step, not a crash",
          outcomes.get("garbage") == ["failed", "failed"] and
          "no code" in ga["rewrite"]["principles"][0]["reason"] and
          ga["solution"] == sol("garbage"), ga.get("rewrite"))
    fl = got.get("fail", {})
    check("a failed request is a failed step",
          outcomes.get("fail") == ["failed", "failed"] and
          "revision request failed" in
          fl["rewrite"]["principles"][0]["reason"], fl.get("rewrite"))
    check("the solution again is no_change",
          outcomes.get("same") == ["no_change", "no_change"],
          got.get("same", {}).get("rewrite"))
    sk = got.get("skip", {})
    check("an original that fails its tests is skipped, nothing asked",
          outcomes.get("skip") == [] and "skipped" in sk["rewrite"] and
          sk["solution"] == sol("skip", "return a - b") and
          not any("case-skip" in (q.get("prompt") or "")
                  for q in srv.requests()), sk.get("rewrite"))
    st = json.load(open(stats)) if os.path.exists(stats) else {}
    per = {q["name"]: q for q in st.get("rewrite", {}).get("principles",
                                                            [])}
    n1 = per.get("names", {})
    check("--stats: acceptance and rollback rates per principle",
          st.get("stage") == "rewrite" and st.get("entered") == 7 and
          n1.get("attempted") == 6 and n1.get("accepted") == 1 and
          n1.get("rolled_back") == 2 and n1.get("failed") == 2 and
          n1.get("no_change") == 1 and
          abs(n1.get("acceptance_rate", 0) - 1 / 6) < 1e-9 and
          abs(n1.get("rollback_rate", 0) - 2 / 6) < 1e-9 and
          per.get("docstring", {}).get("accepted") == 0 and
          st["rewrite"]["accepted"] == 1 and st["rewrite"]["skipped"] == 1,
          st)
    check("the summary names each principle's rates",
          "names" in p.stderr and "16.7%" in p.stderr and
          "1 rewritten, 1 skipped" in p.stderr, p.stderr[-800:])

    # resumed: every answered request comes from the store, the failed
    # ones are not sent again, the output is the same
    def outcome_of(recs):   # what does not depend on timing
        return [(r["id"], r["solution"], r["rewrite"]["principles"])
                for r in recs]
    sent = len(srv.requests())
    first = outcome_of(read_jsonl(out))
    p = kiln(*args)
    check("a second run on the store sends nothing and writes the same",
          p.returncode == 0 and len(srv.requests()) == sent and
          outcome_of(read_jsonl(out)) == first,
          (len(srv.requests()) - sent, p.stderr[-600:]))
    srv.stop()


def judge_checks(tmp):
    # a judge that scores everything 5: it never prefers a revision
    srv = FakeAI(tmp, script('Fine.\n{"score": 5}'))
    src = os.path.join(tmp, "judge.in.jsonl")
    write_jsonl(src, [r for r in records() if r["id"] in
                      ("rw/good", "rw/break")])
    cons = os.path.join(tmp, "one.txt")
    with open(cons, "w") as f:
        f.write("[names]\nNames say what things are.\n")
    out = os.path.join(tmp, "judge.out.jsonl")
    p = kiln("rewrite", "--backend", srv.url, "--judge", srv.url,
             "--constitution", cons, src, "-o", out, "--store",
             os.path.join(tmp, "judge.store"), "-q")
    got = {r["id"]: r["rewrite"]["principles"][0] for r in read_jsonl(out)}
    check("with a judge that does not prefer it, a good revision is "
          "rolled back", p.returncode == 0 and
          got.get("rw/good", {}).get("outcome") == "rolled_back" and
          "judge does not prefer" in got["rw/good"]["reason"] and
          got.get("rw/break", {}).get("outcome") == "rolled_back",
          (got, p.stderr[-500:]))
    # only the good revision reached the judge (both of its versions)
    judged = [q for q in srv.requests()
              if (q.get("prompt") or "").startswith("You are reviewing a "
                                                    "Python solution to a "
                                                    "programming task, "
                                                    "together")]
    check("the judge sees only revisions that passed the tests",
          len(judged) == 2, len(judged))
    srv.stop()


def refusal_checks(tmp):
    src = os.path.join(tmp, "in.jsonl")
    write_jsonl(src, records()[:1])
    for name, text, want in [
            ("empty", "just a comment\n", "no principle"),
            ("notext", "[a]\n\n[b]\ntext\n", "[a] has no text"),
            ("twice", "[a]\nx\n[a]\ny\n", "[a] again"),
            ("badname", "[a b]\nx\n", "a principle's name")]:
        cons = os.path.join(tmp, name + ".txt")
        with open(cons, "w") as f:
            f.write(text)
        p = kiln("rewrite", "--backend", "http://127.0.0.1:9/v1",
                 "--constitution", cons, src, "-o",
                 os.path.join(tmp, "refused.jsonl"), "-q")
        check("a bad constitution is refused (%s)" % name,
              p.returncode == 1 and want in p.stderr and
              not os.path.exists(os.path.join(tmp, "refused.jsonl")),
              p.stderr[-300:])
    p = kiln("rewrite", src)
    check("--backend is required", p.returncode == 2 and
          "--backend" in p.stderr, p.stderr)


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-rewrite-")
    refusal_checks(tmp)
    main_checks(tmp)
    judge_checks(tmp)
    subprocess.run(["rm", "-rf", tmp])
    return check.finish()


if __name__ == "__main__":
    sys.exit(main())
