#!/usr/bin/env bash
# Builds kiln three times:
#   build/       RelWithDebInfo, -Wall -Wextra -Werror: every test
#   build-asan/  clang, AddressSanitizer + UndefinedBehaviorSanitizer (with
#                clang's float-cast-overflow, which gcc's UBSan lacks), any
#                finding fatal: every test, the allocation-failure loop
#                (tests/alloc) with LeakSanitizer among them
#   build-tsan/  ThreadSanitizer: the tests of the threaded code (kiln
#                generate's HTTP loop, store thread and checker; kiln
#                verify's workers and sandbox; kiln serve and the batcher)
# and compiles it once more as Release (-O3: gcc's -Wformat-truncation and
# other warnings that only optimisation finds, fatal under -Werror), into
# build-release/, without running the tests again.
# Usage: scripts/test.sh [--fast]   (--fast: the first build only)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc 2>/dev/null || echo 2)

# A build tree configured with another compiler is made afresh (CMake
# keeps the first compiler it found in its cache).
configure() {
  local dir=$1 cc=$2; shift 2
  if [ -f "$dir/CMakeCache.txt" ] &&
     ! grep -q "^CMAKE_C_COMPILER:[A-Z]*=\(.*/\)\?${cc##*/}\$" \
       "$dir/CMakeCache.txt"; then
    rm -rf "$dir"
  fi
  CC=$cc cmake -S . -B "$dir" "$@" >/dev/null
}

run_suite() {
  local dir=$1 cc=$2; shift 2
  configure "$dir" "$cc" "$@"
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure --timeout 900)
}

took() { echo "== $1: $(( SECONDS - $2 )) s"; }

t=$SECONDS
echo "== build/ (RelWithDebInfo)"
run_suite build "${CC:-cc}" -DCMAKE_BUILD_TYPE=RelWithDebInfo
took build/ "$t"

if [ "${1:-}" != "--fast" ]; then
  t=$SECONDS
  echo "== build-release/ (Release: compiles, warnings fatal)"
  configure build-release "${CC:-cc}" -DCMAKE_BUILD_TYPE=Release
  cmake --build build-release -j "$jobs"
  took build-release/ "$t"

  t=$SECONDS
  echo "== build-asan/ (clang: ASan + UBSan)"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan clang -DCMAKE_BUILD_TYPE=Debug -DKILN_SANITIZE=ON
  unset ASAN_OPTIONS UBSAN_OPTIONS
  took build-asan/ "$t"

  # ThreadSanitizer over the threaded code: the targets the tests need,
  # and the CTest names (a regex). verify's workers clone() the boxes; the
  # child gets a copy of TSan's state and, until execve, makes only system
  # calls through libc (src/sandbox/box.c), a few of them intercepted
  # (signal, read, close, dup2), on that copy. The sandbox, the candidates
  # (Python, not instrumented) and the verdicts are as without TSan.
  t=$SECONDS
  echo "== build-tsan/ (ThreadSanitizer: generate, verify, serve)"
  export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
  tsan_targets=(kiln_cli fakeai test_verify)
  tsan_tests='generate|verify|cli'
  # kiln serve (HTTP threads, guard, decode thread) and the batcher; both
  # run with one OpenMP thread under TSan (libgomp is not instrumented).
  tsan_targets+=(mkmodel test_batch)
  tsan_tests+='|serve|model_batch'
  configure build-tsan "${CC:-cc}" -DCMAKE_BUILD_TYPE=Debug -DKILN_TSAN=ON
  cmake --build build-tsan -j "$jobs" --target "${tsan_targets[@]}"
  (cd build-tsan &&
   ctest --output-on-failure --timeout 900 -R "^($tsan_tests)\$")
  unset TSAN_OPTIONS
  took build-tsan/ "$t"
fi
