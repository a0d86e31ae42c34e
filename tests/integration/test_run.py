#!/usr/bin/python3
"""kiln run end to end against a real loopback server (fakeai, scripted
with HumanEval's published solutions for six tasks and a wrong one for
two): the dataset, the funnel, --dry-run, a bad option named like a flag,
and kill -9 at random moments, resumed each time, ending byte-identical
to an uninterrupted run.

Usage: test_run.py KILN_BINARY FAKEAI_BINARY SHARED_DATA_DIR

Candidate code runs only inside kiln's sandbox (kiln verify, kiln score).
"""
import fcntl
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

KILN = os.path.abspath(sys.argv[1])
FAKEAI = os.path.abspath(sys.argv[2])
DATA = os.path.abspath(sys.argv[3])
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)[:1500]))


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def kiln(*args):
    return subprocess.run([KILN] + list(args), capture_output=True,
                          text=True, timeout=600)


def run_dir_quiet(run):
    """Waits until no process works in the run folder any more (a stage
    that kiln run's death sent SIGTERM finishes its clean stop)."""
    deadline = time.time() + 30
    while time.time() < deadline:
        busy = False
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = open("/proc/%s/cmdline" % pid, "rb").read()
            except OSError:
                continue
            if run.encode() in cmd:
                busy = True
                break
        if not busy:
            return True
        time.sleep(0.05)
    return False


CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync",
                  "--disable-default-apps"]


def render(page, tmp, name):
    """Chromium renders the page: (the DOM after its scripts ran, the
    http(s)/ws requests the page itself made, from the net log)."""
    prof = os.path.join(tmp, "chromium-" + name)
    netlog = os.path.join(tmp, "net-%s.json" % name)
    p = subprocess.run(["chromium"] + CHROMIUM_FLAGS +
                       ["--user-data-dir=" + prof, "--log-net-log=" + netlog,
                        "--dump-dom", "file://" + page],
                       capture_output=True, text=True, timeout=120)
    reqs = []
    try:
        log = json.load(open(netlog))
        names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
        for e in log["events"]:
            prm = e.get("params", {})
            if names.get(e["type"]) != "URL_REQUEST_START_JOB":
                continue
            url = prm.get("url", "")
            # the browser's own background traffic has no origin; what a
            # page loads is for the page's site (file://)
            if url.split(":")[0] in ("http", "https", "ws", "wss") and (
                    "file://" in prm.get("site_for_cookies", "") or
                    prm.get("initiator") not in ("not an origin", None)):
                reqs.append(url)
    except (OSError, ValueError, KeyError):
        reqs.append("<no net log>")
    return p.stdout, reqs


def report_checks(run, tmp):
    page = os.path.join(run, "report.html")
    check("kiln run wrote the report", os.path.exists(page), run)
    if not os.path.exists(page):
        return
    html = open(page).read()
    check("the report refers to nothing outside itself",
          not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', html) and
          "@import" not in html, "external reference")
    dom, reqs = render(page, tmp, "report")
    charts = re.findall(r'data-chart="([^"]*)"', dom)
    nbars = len(re.findall(r'<rect[^>]*class="bar"', dom))
    check("Chromium renders it: its script ran and drew %d charts, %d bars"
          % (len(charts), nbars), 'data-rendered="yes"' in dom and
          len(charts) >= 5 and nbars >= 10, charts)
    check("... and the page made no network request", reqs == [], reqs)
    # HumanEval's tasks have no wrong variants: test-rates measured no
    # task, and the page says why there are no figures
    check("the tests section says no task carries ground truth",
          "no task carries ground truth" in dom and
          json.load(open(os.path.join(run, "stats", "tests.json")))
          ["tasks"] == 0, dom[-300:])
    check("a planted markup in a dropped solution stays text",
          "pwn.png" not in "".join(reqs) and "&lt;img src=" in dom and
          "<img src=\"http://192.0.2.1" not in dom, reqs)
    # the check itself can fail: a page that loads an image is caught
    bad = os.path.join(tmp, "bad.html")
    with open(bad, "w") as f:
        f.write('<html><body><img src="http://192.0.2.1/x.png"></body>'
                '</html>')
    _, breqs = render(bad, tmp, "bad")
    check("(control) a page that loads an image is caught by the check",
          any("192.0.2.1" in u for u in breqs), breqs)


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-run-test-")
    tasks = os.path.join(tmp, "tasks.jsonl")
    p = kiln("import", "-f", "humaneval",
             os.path.join(DATA, "HumanEval.jsonl.gz"), "-o", tasks)
    recs = read_jsonl(tasks)[:8]
    with open(tasks, "w") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")
    answers = []
    for i, r in enumerate(recs):
        # the two wrong ones carry markup that must stay text in the
        # report (they are dropped, and shown with their reason)
        sol = r["solution"] if i < 6 else r["prompt"] + (
            "    # </script><img src=\"http://192.0.2.1/pwn.png\">\n"
            "    return None\n")
        answers.append({"match": "def %s(" % r["entry_point"],
                        "text": "```python\n" + sol + "```"})
    script = os.path.join(tmp, "script.json")
    with open(script, "w") as f:
        json.dump({"answers": answers}, f)
    portf = os.path.join(tmp, "port")
    srv = subprocess.Popen([FAKEAI, "--port", "0", "--port-file", portf,
                            "--script", script, "--stdin-lifeline"],
                           stdin=subprocess.PIPE)
    for _ in range(250):
        if os.path.exists(portf) and open(portf).read().strip():
            break
        time.sleep(0.02)
    url = "http://127.0.0.1:%s/v1" % open(portf).read().strip()
    run = os.path.join(tmp, "run")
    pipe = os.path.join(tmp, "pipeline.yaml")
    with open(pipe, "w") as f:
        f.write("""# a kiln run pipeline (docs/RUN.md)
out: %s
tasks: %s
teacher: {url: "%s", model: teacher}
generate: {samples: 2, test-sets: 0, temperature: 0}
select: {min-pass: 1.0}
mutation: {max-mutants: 8}
reward: {min-reward: 0.5}
rewrite: {max-mutants: 8}
decontam:
  against: [%s]
export: {}
""" % (run, tasks, url, os.path.join(DATA, "mbpp.jsonl")))

    # --dry-run: every stage resolved and checked, nothing run
    p = kiln("run", "--dry-run", pipe)
    check("--dry-run prints each stage's command and options",
          p.returncode == 0 and "# generate: kiln generate" in p.stdout and
          "# export: kiln export" in p.stdout and '"min-pass": 1.0' in
          p.stdout and not os.path.exists(os.path.join(run, "state.json")),
          (p.returncode, p.stdout[-500:], p.stderr[-500:]))

    # a bad option reads like a flag error, before anything runs
    bad = os.path.join(tmp, "bad.yaml")
    with open(pipe) as f:
        text = f.read()
    with open(bad, "w") as f:
        f.write(text.replace("select: {min-pass: 1.0}",
                             "select: {min-pass: 1.5}").replace(run, run +
                                                                "-bad"))
    p = kiln("run", bad)
    check("a bad stage option is named like a flag error, exit 2",
          p.returncode == 2 and "bad.yaml: select:" in p.stderr and
          "min-pass" in p.stderr and "1.5" in p.stderr and
          not os.path.exists(os.path.join(run + "-bad", "candidates.jsonl")),
          p.stderr)
    with open(bad, "w") as f:
        f.write(text + "stray: 1\n")
    p = kiln("run", bad)
    check("an unknown key is an error naming it", p.returncode == 2 and
          "unknown key 'stray'" in p.stderr, p.stderr)

    # an empty task file is an error, not an empty dataset
    empty = os.path.join(tmp, "empty.jsonl")
    open(empty, "w").write("\n")
    with open(bad, "w") as f:
        f.write(text.replace(tasks, empty).replace(run, run + "-empty"))
    p = kiln("run", bad)
    check("an empty task file: exit 1, named, no dataset",
          p.returncode == 1 and "%s holds no tasks" % empty in p.stderr and
          not os.path.exists(os.path.join(run + "-empty", "dataset.jsonl")),
          (p.returncode, p.stderr[-500:]))

    # the uninterrupted run (timed: the kills below fall within its length)
    t0 = time.time()
    p = kiln("run", pipe)
    full = time.time() - t0
    ok = p.returncode == 0
    ds = read_jsonl(os.path.join(run, "dataset.jsonl")) if ok else []
    check("kiln run: tasks to a dataset (exit 0, 12 samples: 6 tasks x 2)",
          ok and len(ds) == 12 and all(
              r["messages"][0]["role"] == "user" and
              r["messages"][1]["content"] for r in ds),
          (p.returncode, p.stderr[-1500:]))
    # every exported sample, verified again on its own (its solution as the
    # dataset has it, the task's tests), passes
    tasks_by_id = {r["id"]: r for r in recs}
    again = os.path.join(tmp, "again.jsonl")
    with open(again, "w") as f:
        for k, r in enumerate(ds):
            t = tasks_by_id[r["meta"]["id"]]
            f.write(json.dumps({"id": t["id"], "candidate": k,
                                "solution": r["messages"][1]["content"],
                                "tests": t["tests"]}) + "\n")
    pv = kiln("verify", "-q", again)
    vs = [json.loads(l)["status"] for l in pv.stdout.splitlines()]
    check("every exported sample, verified again independently, passes",
          pv.returncode == 0 and len(vs) == len(ds) > 0 and
          all(s == "pass" for s in vs), (vs, pv.stderr[-300:]))
    man = json.load(open(os.path.join(run, "manifest.json"))) if ok else {}
    funnel = man.get("funnel", {}).get("stages", [])
    stages = [s.get("stage") for s in funnel]
    check("the funnel names every curation stage, in order",
          stages == ["select", "mutation", "reward", "rewrite", "decontam",
                     "export"],
          funnel)
    sel = funnel[0] if funnel else {}
    check("... with what select dropped (the two wrong tasks' 4)",
          sel.get("entered") == 16 and sel.get("kept") == 12 and
          sel.get("dropped", {}).get("below_min_pass") == 4, sel)
    check("the end says where the dataset is",
          "the dataset is %s" % os.path.join(run, "dataset.jsonl") in
          p.stderr, p.stderr[-300:])
    p = kiln("run", pipe)
    check("a second run finds every stage done and unchanged",
          p.returncode == 0 and p.stderr.count("done before, unchanged") == 9,
          p.stderr[-800:])
    # the report: one self-contained HTML file, rendered by a real browser
    report_checks(run, tmp)
    want = open(os.path.join(run, "dataset.jsonl"), "rb").read()
    shutil.move(run, run + ".reference")

    # kill -9 at random moments, resume each time
    rng = random.Random(7)
    kills = 0
    for i in range(6):
        proc = subprocess.Popen([KILN, "run", "-q", pipe],
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        # within the run's length, which is about 1 s on 2 cores (a
        # fixed 0.05-1.2 s let runs on a quiet machine finish unkilled)
        time.sleep(rng.uniform(0.05, max(0.3, 0.8 * full)))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        run_dir_quiet(run)
    p = kiln("run", "-q", pipe)
    got = open(os.path.join(run, "dataset.jsonl"), "rb").read() \
        if p.returncode == 0 else b""
    check("killed with SIGKILL %d times at random moments and resumed: "
          "the dataset is byte-identical" % kills,
          p.returncode == 0 and got == want and kills >= 3,
          (p.returncode, kills, p.stderr[-800:]))
    # a changed option reruns that stage and those after it only
    with open(pipe, "w") as f:
        f.write(text.replace("reward: {min-reward: 0.5}",
                             "reward: {min-reward: 0.99}"))
    # ... while a stage stopped before still holds its store (it got
    # SIGTERM from a killed run and is finishing): the run waits for it
    # instead of failing with "in use" (this lock is held by the test)
    lock = os.open(os.path.join(run, "rewrite.store-lock"),
                   os.O_RDWR | os.O_CREAT)
    fcntl.flock(lock, fcntl.LOCK_EX)
    threading.Timer(2.5, os.close, (lock,)).start()
    p = kiln("run", pipe)
    check("a changed option reruns its stage and the later ones only",
          p.returncode == 0 and p.stderr.count("done before, unchanged")
          == 5 and "[6/9] reward\n" in p.stderr, p.stderr[-800:])
    check("... waiting for a store another process still holds",
          p.returncode == 0 and "waiting for the stage stopped before to "
          "let go of %s" % os.path.join(run, "rewrite.store") in p.stderr,
          p.stderr[-800:])

    # the teacher down: the stage fails, kiln run says so and exits 1;
    # the same server back: run again, the failed requests are sent again
    port = int(open(portf).read().strip())
    srv.terminate()
    srv.wait(10)
    down = os.path.join(tmp, "down")
    with open(pipe, "w") as f:
        f.write(text.replace(run, down))
    p = kiln("run", "-q", pipe)
    check("the teacher down: kiln run fails in generate, exit 1",
          p.returncode == 1 and "stage generate failed" in p.stderr and
          not os.path.exists(os.path.join(down, "dataset.jsonl")),
          (p.returncode, p.stderr[-600:]))
    srv = subprocess.Popen([FAKEAI, "--port", str(port), "--script",
                            script, "--stdin-lifeline"],
                           stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    p = kiln("run", "-q", pipe)
    check("... back up: the same command resumes and finishes",
          p.returncode == 0 and
          os.path.exists(os.path.join(down, "dataset.jsonl")),
          (p.returncode, p.stderr[-600:]))

    srv.terminate()
    srv.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
