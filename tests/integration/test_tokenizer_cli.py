#!/usr/bin/python3
"""End-to-end checks of `kiln tokenizer` (train, encode, decode, info).

Usage: test_tokenizer_cli.py KILN_BINARY

Trains on a small corpus written here (and on the Python standard library
where Debian ships it), then checks exit codes, outputs, round trips and the
`kiln: tokenizer: <where>: <what>` errors.
"""
import json
import os
import random
import subprocess
import sys
import tempfile

KILN = os.path.abspath(sys.argv[1])
PYLIB = "/usr/lib/python3.11"
results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    print("%s %s%s" % ("PASS" if cond else "FAIL", name,
                       "" if cond else ": " + str(detail)[:2000]))


def kiln(*args, stdin=b""):
    return subprocess.run([KILN, "tokenizer"] + list(args), input=stdin,
                          capture_output=True, timeout=600)


def main():
    tmp = tempfile.mkdtemp(prefix="kiln-tok-cli-")
    corpus = os.path.join(tmp, "corpus")
    os.makedirs(os.path.join(corpus, "pkg"))
    rnd = random.Random(7)
    for i in range(20):
        lines = ["def f%d(x, y):" % i,
                 "    total = x + y * %d" % rnd.randrange(100),
                 "    for k in range(%d):" % rnd.randrange(50),
                 "        total += k  # accumulate",
                 "    return total", ""]
        name = os.path.join(corpus, "pkg" if i % 2 else "", "m%d.py" % i)
        with open(name, "w") as f:
            f.write("\n".join(lines))
    with open(os.path.join(corpus, "README.txt"), "w") as f:
        f.write("not code\n")
    tok = os.path.join(tmp, "tok.bin")

    # train
    p = kiln("train", "--vocab", "400", "--ext", ".py", "-o", tok, corpus)
    check("train exits 0", p.returncode == 0, p.stderr)
    err = p.stderr.decode()
    check("train summary: files, merges, ratio",
          "from 20 files" in err and "merges" in err and "bytes/token" in err,
          err)
    again = os.path.join(tmp, "again.bin")
    p = kiln("train", "-q", "--vocab", "400", "--ext", ".py", "-o", again,
             corpus)
    check("same corpus, same file",
          p.returncode == 0 and open(tok, "rb").read() == open(again, "rb").read())

    # info
    p = kiln("info", "--tok", tok)
    info = json.loads(p.stdout) if p.returncode == 0 else {}
    check("info is JSON with the sizes",
          info.get("format") == "KILNTOK1" and info.get("vocab") <= 400 and
          info.get("eot") == info.get("vocab") - 1 and
          info.get("file_bytes") == os.path.getsize(tok), p.stdout)

    check("info: digits not split by default",
          info.get("split_digits") is False, p.stdout)

    # --split-digits: stored in the file, every digit its own token
    digits = os.path.join(tmp, "digits.bin")
    p = kiln("train", "-q", "--vocab", "400", "--ext", ".py",
             "--split-digits", "-o", digits, corpus)
    q = kiln("info", "--tok", digits)
    check("train --split-digits: info says so",
          p.returncode == 0 and q.returncode == 0 and
          json.loads(q.stdout).get("split_digits") is True, p.stderr)
    num = b"x = 12345 + f(5) - 5  # add 5 to it\n"
    p = kiln("encode", "--tok", digits, stdin=num)
    pieces = [kiln("decode", "--tok", digits, stdin=i).stdout
              for i in p.stdout.split()]
    check("--split-digits: each digit a token of its own",
          b"".join(pieces) == num and
          all(len(x) == 1 for x in pieces if any(48 <= c <= 57 for c in x))
          and pieces.count(b"5") == 4, pieces)

    # encode / decode round trips, stdin and file
    text = open(os.path.join(corpus, "m0.py"), "rb").read()
    p = kiln("encode", "--tok", tok, stdin=text)
    ids = p.stdout.split()
    check("encode compresses code", p.returncode == 0 and
          0 < len(ids) < len(text) / 1.5, (len(ids), len(text)))
    p2 = kiln("decode", "--tok", tok, stdin=p.stdout)
    check("decode(encode(code)) == code", p2.stdout == text, p2.stderr)
    blob = bytes(rnd.randrange(256) for _ in range(5000)) + b"\0\xff\xc0\xaf"
    path = os.path.join(tmp, "blob.bin")
    with open(path, "wb") as f:
        f.write(blob)
    p = kiln("encode", "--tok", tok, "--eot", "--stats", path)
    ids = p.stdout.split()
    check("encode --eot ends with the EOT id",
          p.returncode == 0 and int(ids[-1]) == info.get("eot"), p.stderr)
    check("encode --stats", b"bytes/token" in p.stderr, p.stderr)
    idpath = os.path.join(tmp, "ids.txt")
    with open(idpath, "wb") as f:
        f.write(p.stdout)
    p = kiln("decode", "--tok", tok, idpath)
    check("random bytes round trip (EOT decodes to nothing)",
          p.returncode == 0 and p.stdout == blob, p.stderr)
    p = kiln("encode", "--tok", tok, stdin=b"")
    check("empty input: an empty line", p.returncode == 0 and
          p.stdout == b"\n", p.stdout)

    # errors
    p = kiln("decode", "--tok", tok, stdin=b"65 66 99999 67")
    check("decode: bad id named, exit 1",
          p.returncode == 1 and b"kiln: tokenizer: decode: standard input: "
          b"word 3: '99999' is not an id" in p.stderr, p.stderr)
    p = kiln("decode", "--tok", tok, stdin=b"65 -1")
    check("decode: negative id", p.returncode == 1, p.stderr)
    cut = os.path.join(tmp, "cut.bin")
    with open(cut, "wb") as f:
        f.write(open(tok, "rb").read()[:50])
    p = kiln("encode", "--tok", cut, stdin=b"x")
    check("truncated tokenizer: clear error",
          p.returncode == 1 and (b"kiln: tokenizer: encode: %s: truncated"
                                 % cut.encode()) in p.stderr, p.stderr)
    p = kiln("info", "--tok", os.path.join(corpus, "README.txt"))
    check("foreign file: clear error", p.returncode == 1 and
          b"not a kiln tokenizer" in p.stderr, p.stderr)
    p = kiln("train", "--vocab", "100", corpus)
    check("train: vocab out of range is a usage error",
          p.returncode == 2 and b"--vocab" in p.stderr, p.stderr)
    p = kiln("train", "--vocab", "300", "-o", os.path.join(tmp, "x.bin"),
             os.path.join(tmp, "missing"))
    check("train: missing path named", p.returncode == 1 and
          b"missing: No such file" in p.stderr, p.stderr)
    p = kiln("encode", stdin=b"")
    check("encode without --tok", p.returncode == 2 and
          b"--tok is required" in p.stderr, p.stderr)
    p = kiln("frobnicate")
    check("unknown subcommand", p.returncode == 2, p.stderr)
    for sub in ("train", "encode", "decode", "info"):
        p = kiln(sub, "--help")
        check("%s --help" % sub, p.returncode == 0 and
              p.stdout.startswith(b"usage: kiln tokenizer " + sub.encode()))

    # the Python standard library, where Debian has it
    if os.path.isdir(PYLIB):
        big = os.path.join(tmp, "py.bin")
        p = kiln("train", "-q", "--vocab", "4096", "--ext", ".py", "-o", big,
                 PYLIB)
        err = p.stderr.decode()
        ratio = float(err.split(" bytes/token")[0].split()[-1]) \
            if "bytes/token" in err else 0
        check("stdlib to 4096: trains, > 3 bytes/token",
              p.returncode == 0 and ratio > 3.0, err)
        src = open(os.path.join(PYLIB, "argparse.py"), "rb").read()
        p = kiln("encode", "--tok", big, os.path.join(PYLIB, "argparse.py"))
        p2 = kiln("decode", "--tok", big, stdin=p.stdout)
        check("stdlib tokenizer round trips argparse.py", p2.stdout == src)

    subprocess.run(["rm", "-rf", tmp])
    print("%d/%d passed" % (sum(results), len(results)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
