#!/usr/bin/python3
"""Writes the golden files of tests/unit/test_dedup.c (run from this folder
with Debian's python3 and python3-numpy, -xxhash, -regex):

  texts.jsonl            texts with the cases that matter: Unicode case and
                         accents, digits of other scripts, separators,
                         whitespace, short texts, code
  datatrove.params/.sigs ../../../../shared/bench/minhash_ref.py --mode datatrove
                         --params-out/--sigs-out over texts.jsonl
  code.params/.sigs      bigcode's signatures over the same texts, by the
                         reference's run_bigcode steps restated (it does not
                         write them): 256 uint64 a text, all ones when
                         skipped (< 5 tokens)
"""
import hashlib, json, os, re, struct, subprocess, sys
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REF = os.path.join(HERE, "../../../../shared/bench/minhash_ref.py")

texts = [
    "def add(a, b):\n    return a + b\n",
    "Héllo Wörld, ÇA VA? naïve café résumé — ÉÈÊ straße İstanbul ΣΊΣΥΦΟΣ ΟΔΟΣ",
    "x = 3.14159 + 2,5 + 1.2.3 + ١٢٣٫٤٥ + ٣ + 10⎖5 + ²³ + ５６",
    "tabs\tand\nnewlines\r\nand\x0bvertical\x0cfeeds\x1cfile\x85next\u00a0nbsp\u2003em\u3000ideo end",
    "a b c d",
    "one two three four five",
    "",
    "   \n\t  ",
    "combining: e\u0301 a\u0300 o\u0308 n\u0303 \u0301 lone \u0301 mark; hangul 한국어 텍스트 입니다 여기",
    "for i in range(10):\n    if i % 2 == 0:\n        print(i, 'even')  # comment\n    else:\n        print(i)\n",
    "emoji 😀 🚀 in code: s = '😀' * 3; t = s.upper(); u = t.lower(); v = u + 'ß'",
    "MixedCASE Identifiers_with_Underscores and CamelCase42 numbers 007 0x1F 1e10 3.0e-5",
    "def solve_left_0(val, cache, count):\n    \"\"\"Compute the graph.\"\"\"\n    while val and right < 24:\n        right += 1\n    return val\n",
    "punctuation!!! \"quoted\" 'single' (parens) [brackets] {braces} <angles> a@b#c$d%e^f&g*h",
    "ﬁ ﬂ ligatures Ⅻ roman ½ fractions ㎏ squared ℃ degrees Å angstrom Ω ohm K kelvin",
    "\u0130\u0131 dotted I, dotless ı, ǅ titlecase ǈ ǋ, ᾈ greek with prosgegrammeni",
]
with open(os.path.join(HERE, "texts.jsonl"), "w") as f:
    for i, t in enumerate(texts):
        f.write(json.dumps({"id": i, "text": t}) + "\n")

subprocess.run([sys.executable, REF, "--mode", "datatrove",
                "--params-out", os.path.join(HERE, "datatrove.params"),
                "--sigs-out", os.path.join(HERE, "datatrove.sigs"),
                os.path.join(HERE, "texts.jsonl")], check=True, stdout=subprocess.DEVNULL)

# run_bigcode of minhash_ref.py, its signature steps
non_alpha = re.compile("[^A-Za-z_0-9]")
P, MAXH = np.uint64((1 << 61) - 1), np.uint64((1 << 32) - 1)
NP, NG = 256, 5
rng = np.random.RandomState(42)
a = np.array([rng.randint(1, P, dtype=np.uint64) for _ in range(NP)], dtype=np.uint64)
b = np.array([rng.randint(0, P, dtype=np.uint64) for _ in range(NP)], dtype=np.uint64)
np.concatenate([a, b]).astype("<u8").tofile(os.path.join(HERE, "code.params"))
sigs = np.full((len(texts), NP), np.iinfo(np.uint64).max, dtype=np.uint64)
for i, d in enumerate(texts):
    tok = non_alpha.split(d)
    if len(tok) < NG:
        continue
    grams = {" ".join(tok[j:j + NG]) for j in range(len(tok) - NG + 1)}
    hv = np.array([struct.unpack("<I", hashlib.sha1(g.encode()).digest()[:4])[0] for g in grams], dtype=np.uint64)
    with np.errstate(over="ignore"):
        sigs[i] = np.bitwise_and((np.outer(hv, a) + b) % P, MAXH).min(axis=0)
sigs.astype("<u8").tofile(os.path.join(HERE, "code.sigs"))
