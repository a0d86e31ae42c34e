#!/usr/bin/env bash
# Installs every Debian package kiln needs to build, test, fuzz and benchmark,
# and the one npm package its tests use (tests/serve/node, by npm ci).
# Idempotent and non-interactive: the only install step anyone runs.
# Usage: scripts/install-deps.sh [--bench]
#   --bench  also PyTorch (python3-torch), the baseline of bench/train and the
#            generator of the model's reference test vectors; CI needs neither.
#            And numpy, xxhash, regex for bench/dedup's Python baseline.
set -euo pipefail

packages=(
  build-essential cmake pkg-config   # also g++: the sandbox's cpp
  libjansson-dev      # JSON records
  zlib1g-dev          # reading .gz inputs (HumanEval is published gzipped)
  libseccomp-dev      # sandbox syscall filter
  libcmocka-dev       # unit tests
  libcurl4-openssl-dev  # OpenAI-compatible HTTP client (multi interface)
  libmicrohttpd-dev   # HTTP servers: the loopback test server, kiln serve
  libsqlite3-dev      # the job store
  libxxhash-dev       # request hashes (cache keys), MinHash (kiln dedup)
  nettle-dev          # SHA-256 of kiln export's inputs (the manifest)
  libyaml-dev         # kiln run: pipeline files (YAML, or JSON)
  libutf8proc-dev     # kiln dedup: Unicode lower case, categories, NFD
  python3             # Debian's interpreter: runs Python candidates
  clang               # libFuzzer targets and sanitizer builds
  libclang-rt-dev     # clang's sanitizer runtimes (only recommended by clang,
                      # and recommends are not installed here)
  procps              # ps/pgrep: tests look for stray processes
  chromium            # headless: the tests render kiln run's HTML report
  libopenblas-openmp-dev  # matmuls of the small GPT (OpenMP build of OpenBLAS)
  libgomp1            # OpenMP runtime (comes with gcc; named for clarity)
  # The sandbox's languages beyond Python, C, C++ and JavaScript (each
  # runs in the box from /usr; kiln languages checks them):
  golang-go           # go: go test -c (Go 1.19 on bookworm, std prebuilt)
  default-jdk-headless  # java: javac and the JVM, no X11 (OpenJDK 17)
  rustc               # rust: rustc and its std (1.63 on bookworm); no cargo
  lua5.4              # lua: the interpreter (~0.5 MB)
  ocaml-nox           # ocaml: ocamlopt, no X11 libraries
  tcl8.6              # tcl: tclsh8.6 (safe interpreters are Tcl's own)
  racket              # racket: Racket CS 8.7 (337 MB installed, with its
                      # libraries; kiln loads racket and its own rackunit)
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(python3-torch)
  # bench/dedup's baseline (../shared/bench/minhash_ref.py)
  packages+=(python3-numpy python3-xxhash python3-regex)
fi

# Node and npm: the test of kiln serve with the official openai client
# (tests/serve/node), and the sandbox's js, which runs /usr/bin/node (a
# node elsewhere on PATH is not seen by the box). Debian's nodejs and npm unless a node and an npm are
# already on PATH (e.g. NodeSource's nodejs, which bundles npm and
# conflicts with Debian's npm package).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
else
  SUDO=
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  echo "install-deps: installed ${missing[*]}"
fi

# The openai npm package, pinned by tests/serve/node/package-lock.json,
# into tests/serve/node/node_modules (project-local, gitignored): npm ci
# installs exactly the lock file's versions and checks their integrity
# hashes. Skipped when the installed openai is the pinned version.
node_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/serve/node"
pinned=$(node -p "require('$node_dir/package.json').dependencies.openai")
installed=$(node -p "try { require('$node_dir/node_modules/openai/package.json').version } catch (e) { '' }")
if [ "$pinned" = "$installed" ]; then
  echo "install-deps: openai $pinned present in tests/serve/node"
else
  npm ci --prefix "$node_dir" --no-audit --no-fund --loglevel=error
  echo "install-deps: npm ci in tests/serve/node (openai $pinned)"
fi
