#!/usr/bin/env bash
# Installs every Debian package kiln needs to build, test, fuzz and benchmark.
# Idempotent and non-interactive: the only install step anyone runs.
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
  libxxhash-dev       # request hashes (cache keys), later MinHash
  python3             # Debian's interpreter: runs Python candidates
  clang               # libFuzzer targets and sanitizer builds
  procps              # ps/pgrep: tests look for stray processes
)

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
