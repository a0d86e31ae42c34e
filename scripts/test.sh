#!/usr/bin/env bash
# Builds kiln twice and runs every test in each build:
#   build/       RelWithDebInfo, -Wall -Wextra -Werror
#   build-asan/  the same under AddressSanitizer + UndefinedBehaviorSanitizer
# Usage: scripts/test.sh [--fast]   (--fast: the first build only)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

run_suite() {
  local dir=$1; shift
  cmake -S . -B "$dir" "$@" >/dev/null
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure --timeout 900)
}

echo "== build/ (RelWithDebInfo)"
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${1:-}" != "--fast" ]; then
  echo "== build-asan/ (ASan + UBSan)"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON
fi
