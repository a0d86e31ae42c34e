#!/usr/bin/env bash
# Builds kiln three times:
#   build/       RelWithDebInfo, -Wall -Wextra -Werror: every test
#   build-asan/  the same under AddressSanitizer + UndefinedBehaviorSanitizer:
#                every test
#   build-tsan/  ThreadSanitizer: the tests of the threaded code (kiln
#                generate's HTTP loop, store thread and checker)
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
  unset ASAN_OPTIONS UBSAN_OPTIONS

  echo "== build-tsan/ (ThreadSanitizer: generate)"
  export TSAN_OPTIONS=halt_on_error=1
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DKILN_TSAN=ON >/dev/null
  cmake --build build-tsan -j "$jobs" --target kiln_cli fakeai
  (cd build-tsan && ctest --output-on-failure --timeout 900 -R '^generate$')
fi
