#!/usr/bin/env bash
# Installs every Debian package kiln needs to build, test, fuzz and benchmark.
# Idempotent and non-interactive: the only install step anyone runs.
# Usage: scripts/install-deps.sh [--bench]
#   --bench  also PyTorch (python3-torch), the baseline of bench/train and the
#            generator of the model's reference test vectors; CI needs neither.
#            And numpy, xxhash, regex for bench/dedup's Python baseline.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libjansson-dev      # JSON records
  zlib1g-dev          # reading .gz inputs (HumanEval is published gzipped)
  libseccomp-dev      # sandbox syscall filter
  libcmocka-dev       # unit tests
  libcurl4-openssl-dev  # OpenAI-compatible HTTP client (multi interface)
  libmicrohttpd-dev   # HTTP servers: the loopback test server, kiln serve
  libsqlite3-dev      # the job store
  libxxhash-dev       # request hashes (cache keys), MinHash (kiln dedup)
  libutf8proc-dev     # kiln dedup: Unicode lower case, categories, NFD
  python3             # Debian's interpreter: runs Python candidates
  clang               # libFuzzer targets and sanitizer builds
  libclang-rt-dev     # clang's sanitizer runtimes (only recommended by clang,
                      # and recommends are not installed here)
  procps              # ps/pgrep: tests look for stray processes
  libopenblas-openmp-dev  # matmuls of the small GPT (OpenMP build of OpenBLAS)
  libgomp1            # OpenMP runtime (comes with gcc; named for clarity)
)
if [ "${1:-}" = "--bench" ]; then
  packages+=(python3-torch)
  # bench/dedup's baseline (../shared/bench/minhash_ref.py)
  packages+=(python3-numpy python3-xxhash python3-regex)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: installed ${missing[*]}"
