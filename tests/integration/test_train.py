#!/usr/bin/python3
"""kiln train end to end.

Usage: test_train.py KILN

Checked here, on small real data (this interpreter's own standard library
source and generated chat samples):
  - the JSON summary and that the loss falls well below its start (ln V);
  - SIGKILL several times mid-run, each time resuming from the last
    checkpoint: the final checkpoint is byte-identical to an uninterrupted
    run's (weights, optimizer state, data position);
  - SIGTERM stops after the current step, saves, exits 130, and resuming
    from there also ends byte-identical;
  - resuming against different data is refused;
  - damaged checkpoints are clear errors; bad options exit 2 with a message;
  - chat samples (kiln export's "messages") and a BPE tokenizer trained by
    `kiln tokenizer train` train too.
"""
import json
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time

KILN = os.path.abspath(sys.argv[1])
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)[:1500]))


def run(args, **kw):
    return subprocess.run([KILN] + args, capture_output=True, text=True,
                          timeout=600, **kw)


def summary(p):
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def read(path):
    with open(path, "rb") as f:
        return f.read()


STDLIB = os.path.join(sysconfig.get_paths()["stdlib"], "json")
TINY = ["--layers", "2", "--heads", "2", "--d-model", "32", "--ctx", "32",
        "--batch", "4", "--eval-every", "0", "--eval-batches", "2",
        "--threads", "1", "--ext", ".py", "-q"]


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-train-")

    # --- a short run: summary, loss falls ---
    out = os.path.join(tmp, "a.bin")
    p = run(["train"] + TINY + ["--steps", "60", "--lr", "3e-3", "-o", out,
                                STDLIB])
    s = summary(p)
    check("train exits 0 and prints a JSON summary", p.returncode == 0 and s,
          p.stderr)
    if s:
        check("summary has the run's shape",
              s["steps"] == 60 and s["vocab"] == 257 and s["d_model"] == 32
              and s["params"] > 0 and s["tokens_per_s"] > 0
              and s["train_tokens"] > 0 and s["val_tokens"] > 0, s)
        # ln(257) = 5.55 at the start; 60 small steps reach far below
        check("training loss falls well below ln V", s["train_loss"] < 4.0,
              s)
        check("validation loss measured", s["val_loss"] is not None and
              s["val_loss"] < 4.5, s)
        check("unigram entropy reported", 0 < s["unigram_entropy"] < 5.6, s)
    check("checkpoint written", os.path.getsize(out) > 1000)

    # --- SIGKILL several times, resume each time: byte-identical ---
    # long enough (about 3 s here, far more under sanitizers) for several
    # kills; a checkpoint every 25 steps
    base = TINY + ["--steps", "2500", "--save-every", "25", "--seed", "7"]
    full = os.path.join(tmp, "full.bin")
    p = run(["train"] + base + ["-o", full, STDLIB])
    check("uninterrupted reference run", p.returncode == 0, p.stderr)
    res = os.path.join(tmp, "res.bin")
    kills = 0
    for attempt in range(12):
        args = [KILN, "train"] + base + ["-o", res, STDLIB]
        if os.path.exists(res):
            args += ["--resume", res]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        time.sleep(0.3)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        if proc.returncode == 0:
            break
    if proc.returncode != 0:
        p = run(["train"] + base + ["-o", res, "--resume", res, STDLIB])
    check("killed %d times (>= 3) mid-run" % kills, kills >= 3, kills)
    check("resumed after SIGKILLs: byte-identical to the uninterrupted run",
          os.path.exists(res) and read(res) == read(full))

    # --- SIGTERM: save, exit 130, resume to the same end ---
    term = os.path.join(tmp, "term.bin")
    proc = subprocess.Popen([KILN, "train"] + base + ["-o", term, STDLIB],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    o, e = proc.communicate()
    st = json.loads(o.splitlines()[-1]) if o.strip() else {}
    if proc.returncode == 0:
        check("SIGTERM (run had already finished; not exercised)", True)
    else:
        check("SIGTERM: exit 130, summary says interrupted",
              proc.returncode == 130 and st.get("interrupted") is True,
              (proc.returncode, o, e))
        p = run(["train"] + base + ["-o", term, "--resume", term, STDLIB])
        check("resumed after SIGTERM: byte-identical",
              p.returncode == 0 and read(term) == read(full), p.stderr)

    # --- resuming on other data is refused ---
    other = os.path.join(sysconfig.get_paths()["stdlib"], "email")
    p = run(["train"] + base + ["-o", os.path.join(tmp, "x.bin"), "--resume",
                                full, other])
    check("resume on different data refused",
          p.returncode == 1 and "data differs" in p.stderr, p.stderr)

    # --- damaged checkpoints ---
    data = read(full)
    bad = os.path.join(tmp, "trunc.bin")
    with open(bad, "wb") as f:
        f.write(data[:len(data) // 2])
    p = run(["train"] + base + ["-o", os.path.join(tmp, "y.bin"), "--resume",
                                bad, STDLIB])
    check("truncated checkpoint: clear error, exit 1",
          p.returncode == 1 and "trunc.bin" in p.stderr and
          "truncated" in p.stderr, p.stderr)
    with open(bad, "wb") as f:
        f.write(b"GGUF" + bytes(200))
    p = run(["train"] + base + ["-o", os.path.join(tmp, "y.bin"), "--resume",
                                bad, STDLIB])
    check("foreign file: clear error", p.returncode == 1 and
          "not a kiln model" in p.stderr, p.stderr)

    # --- option errors ---
    for args, want in [
            (["--d-model", "30", "--heads", "4"], "multiple"),
            (["--steps", "zero"], "--steps"),
            (["--seq", "64", "--ctx", "32"], "--seq"),
            ([], "no output")]:
        extra = ["-o", os.path.join(tmp, "z.bin")] if want != "no output" else []
        p = run(["train"] + args + extra + [STDLIB])
        check("bad option %s: exit 2, says %r" % (args, want),
              p.returncode == 2 and want in p.stderr, p.stderr)
    p = run(["train", "--help"])
    check("--help documents resume and formats",
          p.returncode == 0 and "--resume" in p.stdout and
          "messages" in p.stdout)
    p = run(["train", "-o", os.path.join(tmp, "z.bin"),
             os.path.join(tmp, "nope")])
    check("missing data path: error names it",
          p.returncode == 1 and "nope" in p.stderr, p.stderr)

    # --- chat samples and a trained BPE tokenizer ---
    chat = os.path.join(tmp, "chat.jsonl")
    with open(chat, "w") as f:
        for i in range(300):
            f.write(json.dumps({"messages": [
                {"role": "user", "content": "Write add_%d." % i},
                {"role": "assistant",
                 "content": "def add_%d(x):\n    return x + %d\n" % (i, i)}]})
                + "\n")
    tok = os.path.join(tmp, "tok.bin")
    p = run(["tokenizer", "train", "--vocab", "400", "-o", tok, chat])
    check("tokenizer trained for the chat run", p.returncode == 0, p.stderr)
    p = run(["train"] + TINY + ["--steps", "40", "--lr", "3e-3", "--tok", tok,
                                "-o", os.path.join(tmp, "chat.bin"), chat])
    s = summary(p)
    check("chat samples train with a BPE tokenizer",
          p.returncode == 0 and s and s["vocab"] > 257 and
          s["docs"] == 300 and s["train_loss"] < 5.0, (p.stderr, s))

    subprocess.run(["rm", "-rf", tmp])
    passed = sum(results)
    print("%d passed, %d failed" % (passed, len(results) - passed))
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
