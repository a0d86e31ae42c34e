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
    `kiln tokenizer train` train too;
  - outputs (issue 9): -o into a missing or read-only directory fails
    before training; -o equal to a data file is refused; a FIFO or a
    character device is streamed to, never replaced; the JSON summary to a
    full stdout is an error; SIGINT during a long validation stops at once
    and saves; --resume refuses training states with impossible numbers,
    naming the field.
"""
import json
import math
import os
import shutil
import signal
import stat
import struct
import threading
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


M64 = (1 << 64) - 1
P1, P2, P3, P4, P5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F,
                      0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                      0x27D4EB2F165667C5)


def _rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _round(acc, v):
    return (_rotl((acc + v * P2) & M64, 31) * P1) & M64


def xxh64(data, seed=0):
    """XXH64, as a checkpoint's last 8 bytes are (docs/FORMATS.md)."""
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & M64, (seed + P2) & M64, seed,
             (seed - P1) & M64]
        while i + 32 <= n:
            for k in range(4):
                v[k] = _round(v[k], struct.unpack_from("<Q", data,
                                                       i + 8 * k)[0])
            i += 32
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) +
             _rotl(v[3], 18)) & M64
        for k in range(4):
            h = ((h ^ _round(0, v[k])) * P1 + P4) & M64
    else:
        h = (seed + P5) & M64
    h = (h + n) & M64
    while i + 8 <= n:
        h ^= _round(0, struct.unpack_from("<Q", data, i)[0])
        h = (_rotl(h, 27) * P1 + P4) & M64
        i += 8
    if i + 4 <= n:
        h ^= (struct.unpack_from("<I", data, i)[0] * P1) & M64
        h = (_rotl(h, 23) * P2 + P3) & M64
        i += 4
    while i < n:
        h ^= (data[i] * P5) & M64
        h = (_rotl(h, 11) * P1) & M64
        i += 1
    h ^= h >> 33
    h = (h * P2) & M64
    h ^= h >> 29
    h = (h * P3) & M64
    return h ^ (h >> 32)


def patch_state(src, dst, edits):
    """Copies checkpoint src to dst with its training state's fields
    changed (offset in the state blob -> packed bytes; docs/FORMATS.md) and
    the checksum made right again, so that only the numbers are wrong."""
    data = bytearray(read(src)[:-8])
    hdr = struct.unpack_from("<I", data, 12)[0]
    n_params = struct.unpack_from("<Q", data, 40)[0]
    tok_len = struct.unpack_from("<Q", data, 48)[0]
    st = hdr + 4 * n_params + tok_len
    assert data[st:st + 8] == b"KILNTRS1"
    for off, raw in edits.items():
        data[st + off:st + off + len(raw)] = raw
    with open(dst, "wb") as f:
        f.write(bytes(data) + struct.pack("<Q", xxh64(bytes(data))))


def output_checks(tmp, good):
    """Outputs and numbers (issue 9); each check failed before its fix."""
    base = TINY + ["--steps", "20", "--seed", "3"]

    # -o into a missing directory fails before any training
    nodir = os.path.join(tmp, "no-such-dir", "m.bin")
    t0 = time.time()
    p = run(["train"] + TINY + ["--steps", "100000", "-o", nodir, STDLIB])
    check("-o into a missing directory fails before training",
          p.returncode == 1 and "no such directory" in p.stderr and
          time.time() - t0 < 60, (p.returncode, p.stderr))

    # -o into a read-only directory: a read-only tmpfs as root (a mode
    # does not stop root), a 0555 directory otherwise
    ro = os.path.join(tmp, "ro")
    os.mkdir(ro)
    args = [KILN, "train"] + TINY + ["--steps", "100000", "-o",
                                     os.path.join(ro, "m.bin"), STDLIB]
    if os.geteuid() == 0 and shutil.which("unshare"):
        args = ["unshare", "-m", "sh", "-c",
                'mount -t tmpfs -o ro none "$0" && exec "$@"', ro] + args
    else:
        os.chmod(ro, 0o555)
    t0 = time.time()
    p = subprocess.run(args, capture_output=True, text=True, timeout=600)
    check("-o into a read-only directory fails before training",
          p.returncode == 1 and "cannot write in" in p.stderr and
          time.time() - t0 < 60, (p.returncode, p.stderr))

    # -o equal to a data file is refused, the file untouched
    data = os.path.join(tmp, "data.py")
    shutil.copy(os.path.join(STDLIB, "decoder.py"), data)
    before = read(data)
    p = run(["train"] + base + ["-o", data, data])
    check("-o equal to a data file is refused",
          p.returncode == 1 and "is a data path" in p.stderr and
          read(data) == before, p.stderr)

    # a FIFO is streamed to (byte for byte the checkpoint a file gets),
    # never replaced by a regular file
    ref = os.path.join(tmp, "ref.bin")
    p = run(["train"] + base + ["-o", ref, STDLIB])
    fifo = os.path.join(tmp, "ckpt.fifo")
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(read(fifo)))
    reader.start()
    # (--save-every: a stream gets only the last checkpoint, not several
    # one after another)
    p = run(["train"] + base + ["--save-every", "5", "-o", fifo, STDLIB])
    reader.join(60)
    check("-o FIFO: the checkpoint is streamed once, the FIFO stays",
          p.returncode == 0 and got and got[0] == read(ref) and
          stat.S_ISFIFO(os.lstat(fifo).st_mode), p.stderr)
    # a character device: a null device of the test's own (as root), so
    # that a failure could not touch the machine's /dev/null
    null = os.path.join(tmp, "null")
    try:
        os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    except OSError:
        null = None
    if null:
        p = run(["train"] + base + ["-o", null, STDLIB])
        check("-o a character device: written to, not replaced",
              p.returncode == 0 and stat.S_ISCHR(os.lstat(null).st_mode),
              p.stderr)
    left = [f for f in os.listdir(tmp) if ".tmp." in f]
    check("no temporary files left", not left, left)

    # the JSON summary to a full stdout is an error
    with open("/dev/full", "w") as full:
        p = subprocess.run([KILN, "train"] + base +
                           ["-o", os.path.join(tmp, "f.bin"), STDLIB],
                           stdout=full, stderr=subprocess.PIPE, text=True,
                           timeout=600)
    check("summary to a full stdout: exit 1, said",
          p.returncode == 1 and "standard output" in p.stderr, p.stderr)

    # SIGINT during a long validation (minutes) stops at once and saves,
    # without validating again first
    v = os.path.join(tmp, "val.bin")
    proc = subprocess.Popen([KILN, "train"] + TINY[:-9] +
                            ["--eval-every", "1", "--eval-batches",
                             "100000", "--threads", "1", "--ext", ".py",
                             "-q", "--steps", "50", "-o", v, STDLIB],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(2)
    t0 = time.time()
    proc.send_signal(signal.SIGINT)
    try:
        o, e = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        o, e = proc.communicate()
    st = summary(subprocess.CompletedProcess([], 0, o, e)) or {}
    check("SIGINT during validation: stops at once, saves, exit 130",
          proc.returncode == 130 and time.time() - t0 < 30 and
          st.get("interrupted") is True and os.path.exists(v),
          (proc.returncode, time.time() - t0, e[-500:]))

    # --resume: impossible numbers in the training state, field named
    f32, u64 = (lambda x: struct.pack("<f", x)), (lambda x: struct.pack("<Q", x))
    cases = [
        ("beta1 = 2", {72: f32(2.0)}, "beta1 is 2"),
        ("beta2 = NaN", {76: f32(math.nan)}, "beta2 is nan"),
        ("negative learning rate", {64: f32(-1e-3)}, "lr is -0.001"),
        ("infinite min_lr", {68: f32(math.inf)}, "min_lr is inf"),
        ("eps = 0", {80: f32(0.0)}, "eps is 0"),
        ("total steps 2^64 - 1", {40: u64(M64)}, "total steps is"),
        ("step past the total", {16: u64(1000), 40: u64(50)},
         "step 1000 is past the total steps 50"),
        ("NaN in Adam's moments", {128 + 4 * 5: f32(math.nan)},
         "first moment 5 is nan"),
        ("negative second moment", None, "second moment"),
    ]
    n_params = struct.unpack_from("<Q", read(good), 40)[0]
    for name, edits, want in cases:
        if edits is None:
            edits = {128 + 4 * n_params: f32(-1.0)}
        bad = os.path.join(tmp, "state.bin")
        patch_state(good, bad, edits)
        p = run(["train"] + base + ["-o", os.path.join(tmp, "r.bin"),
                                    "--resume", bad, STDLIB])
        check("--resume refuses %s, naming it" % name,
              p.returncode == 1 and want in p.stderr and
              "training state" in p.stderr, p.stderr)
    patch_state(good, os.path.join(tmp, "same.bin"), {})
    p = run(["train"] + TINY + ["--steps", "60", "-o",
                                os.path.join(tmp, "r.bin"), "--resume",
                                os.path.join(tmp, "same.bin"), STDLIB])
    check("--resume of an unchanged state (checksum rewritten) works",
          p.returncode == 0, p.stderr)


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
    output_checks(tmp, out)

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
