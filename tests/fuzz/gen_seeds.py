#!/usr/bin/env python3
"""Writes the hand-made seed inputs for the kiln fuzz targets.

    python3 tests/fuzz/gen_seeds.py tests/fuzz/corpus

creates DIR/fuzz_jsonl/seed-* (one JSON Lines line each) and
DIR/fuzz_reader/seed-* (whole files, some gzip). Deterministic: gzip
members are written with mtime 0, so re-running gives the same bytes.
"""
import gzip
import json
import os
import sys

CHUNK = 256 << 10  # the reader's READ_CHUNK (src/util/jsonl.c)


def gz(data, level=9):
    return gzip.compress(data, compresslevel=level, mtime=0)


def j(obj):
    return json.dumps(obj, ensure_ascii=False).encode()


HE = {
    "task_id": "HumanEval/0",
    "prompt": "from typing import List\n\n\ndef has_close_elements(numbers:"
              " List[float], threshold: float) -> bool:\n    \"\"\" Check if"
              " any two numbers are closer than threshold.\n    \"\"\"\n",
    "canonical_solution": "    for i, a in enumerate(numbers):\n        for"
                          " b in numbers[i + 1:]:\n            if abs(a - b)"
                          " < threshold:\n                return True\n"
                          "    return False\n",
    "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert "
            "candidate([1.0, 2.0, 3.9], 0.3) == True\n",
    "entry_point": "has_close_elements",
}

MBPP = {
    "task_id": 11,
    "text": "Write a python function to remove first and last occurrence "
            "of a given character from the string.",
    "code": "def remove_Occ(s,ch): \r\n    return s.replace(ch, '', 1)",
    "test_list": ["assert remove_Occ(\"hello\",\"l\") == \"helo\"",
                  "assert remove_Occ(\"abcda\",\"a\") == \"bcd\""],
    "test_setup_code": "",
    "challenge_test_list": [],
}

TASK = {
    "id": "t/1", "prompt": "add", "language": "python",
    "entry_point": "add", "solution": "def add(a, b):\n    return a + b\n",
    "tests": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"],
    "origin": "human", "source": "seed", "license": "MIT",
}


def jsonl_seeds():
    s = {}
    s["task-python"] = j(TASK)
    s["task-program"] = j(dict(TASK, tests="assert add(1, 2) == 3\n"))
    s["task-c"] = j(dict(TASK, language="c",
                         solution="int add(int a, int b) { return a + b; }",
                         tests=["assert(add(1, 2) == 3);"]))
    s["task-c-program"] = j(dict(TASK, language="c", solution="",
                                 tests="int main(void) { return 0; }"))
    s["task-sh"] = j(dict(TASK, language="sh", solution="add() { echo 3; }",
                          tests=["[ \"$(add)\" = 3 ]"], test_setup="X=1"))
    s["task-nulls"] = j(dict(TASK, language=None, test_setup=None))
    s["task-empty-language"] = j(dict(TASK, language=""))
    s["task-unknown-language"] = j(dict(TASK, language="cobol\u00e9"))
    s["task-py3"] = j(dict(TASK, language="python3"))
    s["task-id-int"] = j(dict(TASK, id=7))
    s["task-no-solution"] = j({k: v for k, v in TASK.items()
                               if k != "solution"})
    s["task-solution-int"] = j(dict(TASK, solution=1))
    s["task-tests-empty"] = j(dict(TASK, tests=[]))
    s["task-tests-mixed"] = j(dict(TASK, tests=["assert 1", 2]))
    s["task-tests-obj"] = j(dict(TASK, tests={"a": "b"}))
    s["task-setup-list"] = j(dict(TASK, test_setup=["x"]))
    s["candidate"] = j({"id": "t/1", "candidate": 0, "solution": "x = 1",
                        "tests": ["assert x == 1"], "teacher": "m",
                        "extra": {"kept": [1, 2.5, None, True]}})
    s["humaneval"] = j(HE)
    s["humaneval-bad-entry"] = j(dict(HE, entry_point="has close"))
    s["humaneval-entry-digit"] = j(dict(HE, entry_point="9f"))
    s["humaneval-entry-utf8"] = j(dict(HE, entry_point="f\u00e9" * 40))
    s["humaneval-entry-empty"] = j(dict(HE, entry_point=""))
    s["humaneval-missing-test"] = j({k: v for k, v in HE.items()
                                     if k != "test"})
    s["humaneval-task-id-int"] = j(dict(HE, task_id=0))
    s["mbpp"] = j(MBPP)
    s["mbpp-challenge"] = j(dict(MBPP, challenge_test_list=[
        "assert remove_Occ(\"\",\"l\") == \"\""]))
    s["mbpp-setup-null"] = j(dict(MBPP, test_setup_code=None))
    s["mbpp-setup-code"] = j(dict(MBPP, test_setup_code="import math"))
    s["mbpp-setup-int"] = j(dict(MBPP, test_setup_code=3))
    s["mbpp-id-string"] = j(dict(MBPP, task_id="11"))
    s["mbpp-id-max"] = j(dict(MBPP, task_id=9223372036854775807))
    s["mbpp-id-min"] = j(dict(MBPP, task_id=-9223372036854775808))
    s["mbpp-id-real"] = j(dict(MBPP, task_id=11.0))
    s["mbpp-tests-empty"] = j(dict(MBPP, test_list=[]))
    s["mbpp-tests-nonstring"] = j(dict(MBPP, test_list=["assert f(1)", 1]))
    s["mbpp-assert-paren"] = j(dict(MBPP, test_list=["assert (f(1) == 2)"]))
    s["mbpp-assert-noname"] = j(dict(MBPP, test_list=["assert(1)"]))
    s["mbpp-assert-longname"] = j(dict(MBPP, test_list=[
        "assert " + "f" * 127 + "(1)"]))
    s["mbpp-assert-toolong"] = j(dict(MBPP, test_list=[
        "assert " + "f" * 128 + "(1)"]))
    s["mbpp-not-assert"] = j(dict(MBPP, test_list=["print(1)"]))
    s["mbpp-percent"] = j(dict(MBPP, text="%s%n%d 100%", test_list=["%s%n"]))
    # invalid UTF-8 and friends, raw inside a string
    bad = {
        "utf8-lone-cont": b"\x80",
        "utf8-overlong-c0": b"\xc0\x80",
        "utf8-overlong-c1": b"\xc1\xbf",
        "utf8-overlong-e0": b"\xe0\x80\xaf",
        "utf8-overlong-e0-9f": b"\xe0\x9f\xbf",
        "utf8-overlong-f0": b"\xf0\x80\x80\xaf",
        "utf8-overlong-f0-8f": b"\xf0\x8f\xbf\xbf",
        "utf8-surrogate-hi": b"\xed\xa0\x80",
        "utf8-surrogate-lo": b"\xed\xbf\xbf",
        "utf8-max-ok": b"\xf4\x8f\xbf\xbf",
        "utf8-over-max": b"\xf4\x90\x80\x80",
        "utf8-f5": b"\xf5\x80\x80\x80",
        "utf8-ff": b"\xff",
        "utf8-fe": b"\xfe",
        "utf8-f8-5byte": b"\xf8\x88\x80\x80\x80",
        "utf8-truncated-2": b"\xc3",
        "utf8-truncated-3": b"\xe2\x82",
        "utf8-truncated-4": b"\xf0\x9f\x98",
        "utf8-bad-cont": b"\xe2\x28\xa1",
        "utf8-valid-mix": "\u00e9\u20ac\U0001F600\uFFFD\uFEFF".encode(),
        "utf8-ed-9f-ok": b"\xed\x9f\xbf",
        "utf8-ee-ok": b"\xee\x80\x80",
    }
    for name, b in bad.items():
        s[name] = b'{"id":"' + b + b'","solution":"x","tests":["y"]}'
    s["utf8-truncated-at-end"] = b'{"id":"x"}\xe2\x82'
    s["utf8-bom"] = b"\xef\xbb\xbf" + j(TASK)
    s["escape-surrogate-pair"] = b'{"id":"\\ud83d\\ude00","x":"\\u00e9"}'
    s["escape-lone-surrogate"] = b'{"id":"\\ud800"}'
    s["escape-lone-low"] = b'{"id":"\\udc00x"}'
    s["escape-nul"] = b'{"id":"a\\u0000b","solution":"x","tests":["y"]}'
    s["nul-raw-in-string"] = b'{"id":"a\x00b"}'
    s["nul-after-object"] = b'{"id":"a"}\x00'
    s["nul-only"] = b"\x00"
    s["deep-array"] = b'{"a":' + b"[" * 3000 + b"]" * 3000 + b"}"
    s["deep-object"] = b'{"a":' * 3000 + b"1" + b"}" * 3000
    s["deep-2047"] = b'{"a":' + b"[" * 2046 + b"]" * 2046 + b"}"
    s["num-huge-int"] = b'{"task_id":123456789012345678901234567890}'
    s["num-int-max+1"] = b'{"task_id":9223372036854775808}'
    s["num-huge-real"] = b'{"x":1e999}'
    s["num-neg-huge-real"] = b'{"x":-1.5e309}'
    s["num-tiny-real"] = b'{"x":1e-999,"y":4.9e-324,"z":-0.0}'
    s["num-dbl-max"] = b'{"x":1.7976931348623157e308,"y":123.456789012345}'
    s["num-bad"] = b'{"x":01,"y":1.,"z":.5}'
    s["num-long-digits"] = b'{"x":' + b"1" * 400 + b".5}'"
    s["crlf"] = j(TASK) + b"\r"
    s["crlf-inside"] = b'{"id":"x",\r\n"solution":"s",\r\n"tests":"t"}\r\n'
    s["dup-keys"] = b'{"id":"x","id":"y"}'
    s["not-object-array"] = b'[{"id":"x"}]'
    s["not-object-string"] = b'"x"'
    s["not-object-null"] = b"null"
    s["not-object-num"] = b"42"
    s["empty"] = b""
    s["blank"] = b"  \t "
    s["two-objects"] = b"{} {}"
    s["empty-object"] = b"{}"
    s["unterminated"] = b'{"id":"x'
    s["control-char"] = b'{"id":"a\x01b"}'
    s["escapes"] = b'{"id":"\\n\\t\\"\\\\\\/\\b\\f\\r","solution":"\\u2028",' \
                   b'"tests":["\\u001b[31m"]}'
    s["long-language"] = j(dict(TASK, language="x" * 2000))
    s["format-mbpp"] = b"mbpp"            # kiln_import_format_parse
    s["format-humaneval"] = b"humaneval"
    return s


def pad_to(prefix_len, target):
    """A filler line (too long, so a single ELIMIT) of spaces that moves
    the next byte to offset target."""
    n = target - prefix_len
    assert n >= 2
    return b" " * (n - 1) + b"\n"


def reader_seeds():
    s = {}
    line = b'{"id":"a","solution":"s","tests":["t"]}'  # 40 bytes
    l64 = b'{"id":"' + b"x" * 55 + b'"}'
    assert len(l64) == 64
    s["mixed"] = b"\n".join([
        line, b"", b"   ", b"\t", line + b"\r", b"\r", b"not json",
        b'{"id":"\xc0\x80"}', b"[1]", l64, l64 + b"\r", l64 + b" ",
        b" " * 65, b'{"a":1}']) + b"\n"
    s["crlf-file"] = b"\r\n".join([line, line, b"", line]) + b"\r\n"
    s["no-final-newline"] = line + b"\n" + line
    s["final-cr-only"] = line + b"\n\r"
    s["final-blank"] = line + b"\n   "
    s["cap-64"] = l64 + b"\n"
    s["cap-65"] = l64 + b"x\n" + line + b"\n"
    s["cap-64-cr"] = l64 + b"\r\n" + line + b"\n"
    s["cap-63-cr"] = b'{"id":"' + b"x" * 54 + b'"}\r\n'  # 64 with the CR
    s["long-then-ok"] = b"x" * 300 + b"\n" + line
    s["only-newlines"] = b"\n\n\n"
    s["empty"] = b""
    s["one-byte"] = b"{"
    s["nul-bytes"] = b"\x00\n" + line + b"\x00\n\x00"
    s["bare-cr-lines"] = line + b"\r" + line + b"\r\n"
    s["invalid-utf8-lines"] = b"\n".join([
        b'{"a":"\xed\xa0\x80"}', b'{"a":"\xf4\x90\x80\x80"}',
        b'{"a":"\xe0\x80\x80"}', b'{"a":"\xc3"}', line]) + b"\n"
    s["gzip-small"] = gz(s["mixed"])
    s["gzip-crlf"] = gz(s["crlf-file"])
    s["gzip-empty"] = gz(b"")
    s["gzip-two-members"] = gz(line + b"\n") + gz(b"[1]\n" + line)
    s["gzip-member-split-line"] = gz(b'{"id":') + gz(b'"x"}\n')
    s["gzip-trailing-garbage"] = gz(line + b"\n") + b"garbage\n"
    s["gzip-trailing-1f"] = gz(line + b"\n") + b"\x1f"
    s["gzip-trailing-magic"] = gz(line + b"\n") + b"\x1f\x8b"
    g = gz(s["mixed"])
    s["gzip-truncated"] = g[: len(g) // 2]
    s["gzip-truncated-trailer"] = g[:-4]
    bad = bytearray(g)
    bad[-8] ^= 0xff  # CRC32
    s["gzip-bad-crc"] = bytes(bad)
    bad = bytearray(g)
    bad[-1] ^= 0x01  # ISIZE
    s["gzip-bad-size"] = bytes(bad)
    s["gzip-magic-only"] = b"\x1f\x8b"
    s["gzip-bad-method"] = b"\x1f\x8b\x07\x00" + b"\x00" * 6
    s["single-1f"] = b"\x1f"
    s["raw-deflate"] = gz(line)[10:-8]
    s["gzip-of-gzip"] = gz(gz(line + b"\n"))
    s["gzip-store"] = gz(s["mixed"], level=0)

    # Decompressed > READ_CHUNK: lines across the reader's refills.
    def big(tail_at_boundary):
        head, tail = tail_at_boundary
        body = pad_to(0, CHUNK - len(head)) + head + tail
        assert len(body) - len(tail) == CHUNK
        return gz(body + b"\n" + line + b"\n")
    s["gzip-big-line-across-chunk"] = big((line[:20], line[20:]))
    s["gzip-big-cr-at-chunk-end"] = big((line + b"\r", b"\n" + line))
    s["gzip-big-lf-at-chunk-start"] = big((line, b"\n" + line))
    s["gzip-big-lf-at-chunk-end"] = big((line + b"\n", line))
    s["gzip-big-long-across-chunk"] = big((b"y" * 50, b"y" * 50))
    s["gzip-big-64-across-chunk"] = big((l64[:32], l64[32:] + b"\r"))
    s["gzip-big-blank-across-chunk"] = big((b"  ", b"\t \r"))
    # Three refills; a few short lines at each chunk boundary (the bulk
    # is cheap too-long filler so that the seed stays fast).
    body = b""
    for k in (1, 2, 3):
        body += pad_to(len(body), k * CHUNK - 3 * k) + (line + b"\r\n") * 3
    s["gzip-big-three-chunks"] = gz(body + b"\n" + line)
    # size % 8 == 7 selects fuzz_reader's bigger cap (5000): lines that
    # outgrow the reader's first 4096-byte line buffer.
    def size7(b, pad):
        while len(b) % 8 != 7:
            b += pad
        return b
    long1 = b'{"id":"' + b"x" * 4500 + b'"}'
    long2 = b'{"id":"' + b"y" * 6000 + b'"}'
    s["bigcap-lines"] = size7(long1 + b"\r\n" + line + b"\n" + long2 +
                              b"\n" + long1 + b"\n", b" ")
    s["bigcap-gzip"] = size7(gz(long1 + b"\n" + long2 + b"\n" + long1),
                             b"\0")
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    for target, seeds in (("fuzz_jsonl", jsonl_seeds()),
                          ("fuzz_reader", reader_seeds())):
        d = os.path.join(out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)
        print(f"{d}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()
