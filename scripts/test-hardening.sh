#!/usr/bin/env bash
# The hardening stage of the test command (scripts/test.sh runs it after ctest): the whole
# suite under ASan+UBSan, the concurrency tests under TSan, a short run of every libFuzzer
# target, and the one-minute soak. Every sanitizer report fails the stage; so does a fuzzer
# crash, whose input is then copied into fuzz/corpus/<target>/ to be committed.
#
# SERVREG_HARDENING_PARTS picks parts (default "asan tsan fuzz soak"); SERVREG_FUZZ_SECONDS
# sets the time per fuzz target (default 45); SERVREG_SOAK_MINUTES the soak's (default 1).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

parts="${SERVREG_HARDENING_PARTS:-asan tsan fuzz soak}"
fuzz_seconds="${SERVREG_FUZZ_SECONDS:-45}"
soak_minutes="${SERVREG_SOAK_MINUTES:-1}"
jobs="$(nproc)"

ensure_packages "${SERVREG_BUILD_PACKAGES[@]}" clang-16 libclang-rt-16-dev wrk python3
ensure_test_clients  # the suite under ASan includes the client tests

cd "$SERVREG_ROOT"
reports="$SERVREG_ROOT/build/sanitizer-reports"
failed=()
stage_start=$SECONDS

# Runs "$@" as part $1 of the stage, timing it; a failure is recorded, not fatal, so that
# every part reports.
part() {
    local name="$1"
    shift
    local start=$SECONDS
    echo "==> hardening: $name"
    if "$@"; then
        echo "==> hardening: $name passed in $((SECONDS - start)) s"
    else
        echo "==> hardening: $name FAILED after $((SECONDS - start)) s"
        failed+=("$name")
    fi
}

# Sanitizer reports go to files, from the test binary and from every servreg it starts; any
# file there after a run is a failure, whatever the exit statuses said.
fresh_reports() {
    rm -rf "$reports/$1"
    mkdir -p "$reports/$1"
}
no_reports() {
    local files
    files=$(find "$reports/$1" -type f 2>/dev/null | head -20)
    [ -z "$files" ] && return 0
    echo "sanitizer reports in $reports/$1:"
    for f in $files; do
        echo "--- $f"
        head -60 "$f"
    done
    return 1
}

configure_and_build() {
    local preset="$1"
    shift
    cmake --preset "$preset" "$@" >/dev/null
    cmake --build "build/$preset" -j "$jobs" --target "${build_targets[@]}"
}

fuzz_targets=(glob db_url address dispatcher http)

# One build (clang, ASan+UBSan, coverage-instrumented) for the suite and the fuzz targets.
run_asan() {
    build_targets=(servreg servreg_tests "${fuzz_targets[@]/#/fuzz_}")
    configure_and_build asan -DSERVREG_TEST_GLOB='test_*.cpp' || return 1
    fresh_reports asan
    local common="log_path=$reports/asan/report:print_stacktrace=1"
    export ASAN_OPTIONS="$common:detect_leaks=1" UBSAN_OPTIONS="$common:halt_on_error=1"
    local status=0
    ctest --test-dir build/asan --output-on-failure -j "$jobs" --timeout 600 || status=1
    # The tests that need PostgreSQL and MariaDB servers, which their own stage starts.
    bash scripts/test-databases.sh build/asan || status=1
    unset ASAN_OPTIONS UBSAN_OPTIONS
    no_reports asan || status=1
    return "$status"
}

# The concurrency tests: group commit, the index under readers and writers, many connections,
# shutdown while busy, the dispatcher's batches.
tsan_sources='test_storage_*.cpp;test_registry_index.cpp;test_registry_service.cpp;test_registry_watch_hub.cpp;test_daemon_watch.cpp;test_jsonrpc_dispatcher.cpp;test_daemon_durability.cpp;test_daemon_http.cpp;test_faults_*.cpp'
tsan_tests='^(Writer|WriterOnSqlite|Dispatcher|ServiceTest|DaemonDurability|FaultsShutdown|FaultsConnections|WatchHub|DaemonWatchShutdown)\.|^DaemonWatch\.(AWaiting|TheEventStream)|Concurrent|^DaemonHttp\.(Pipelined|TwoHundred)|^FaultsHostile\.(TenThousand|SlowReader|Slowloris)|^SociStore\.(Checkpoint|AReader)'

run_tsan() {
    build_targets=(servreg servreg_tests)
    configure_and_build tsan -DSERVREG_TEST_GLOB="$tsan_sources" || return 1
    fresh_reports tsan
    TSAN_OPTIONS="log_path=$reports/tsan/report:suppressions=$SERVREG_ROOT/tests/tsan.supp:second_deadlock_stack=1" \
        ctest --test-dir build/tsan --output-on-failure -j "$jobs" --timeout 600 -R "$tsan_tests" || {
        no_reports tsan
        return 1
    }
    no_reports tsan
}

declare -A fuzz_max_len=([glob]=700 [db_url]=512 [address]=8192 [dispatcher]=4096 [http]=8192)

# One target: the committed corpus first (every regression input must pass), then new inputs
# for $fuzz_seconds. A crash's input goes into the corpus, to be committed with its fix.
fuzz_one() {
    local t="$1" work="build/asan/fuzz/work/$1" artifacts="build/asan/fuzz/artifacts/$1"
    mkdir -p "$work" "$artifacts"
    if ! "build/asan/fuzz/fuzz_$t" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
        -max_len="${fuzz_max_len[$t]}" -dict="fuzz/dict/$t.dict" -use_value_profile=1 \
        -print_final_stats=1 -artifact_prefix="$artifacts/" "$work" "fuzz/corpus/$t" \
        >"build/asan/fuzz/$t.log" 2>&1; then
        tail -40 "build/asan/fuzz/$t.log"
        local f
        for f in "$artifacts"/*; do
            [ -f "$f" ] || continue
            cp "$f" "fuzz/corpus/$t/regression-$(basename "$f")"
            echo "fuzz_$t: input saved as fuzz/corpus/$t/regression-$(basename "$f"): commit it with the fix"
        done
        return 1
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "build/asan/fuzz/$t.log" |
        sed "s/^/fuzz_$t: /"
}

run_fuzz() {
    build_targets=("${fuzz_targets[@]/#/fuzz_}")
    configure_and_build asan || return 1  # nothing to do after the asan part
    # As many targets at a time as there are cores.
    local pids=() names=() status=0 i
    for t in "${fuzz_targets[@]}"; do
        fuzz_one "$t" &
        pids+=($!)
        names+=("$t")
        if [ "${#pids[@]}" -ge "$jobs" ]; then
            wait "${pids[0]}" || { echo "fuzz_${names[0]} FAILED"; status=1; }
            pids=("${pids[@]:1}")
            names=("${names[@]:1}")
        fi
    done
    for i in "${!pids[@]}"; do
        wait "${pids[$i]}" || { echo "fuzz_${names[$i]} FAILED"; status=1; }
    done
    return "$status"
}

run_soak() {
    local servreg="$SERVREG_ROOT/build/test/servreg"
    if [ ! -x "$servreg" ]; then
        # Run on its own, without the test command's build: the daemon alone is enough.
        cmake -S "$SERVREG_ROOT" -B "$SERVREG_ROOT/build/test" -G Ninja \
            -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSERVREG_BUILD_TESTS=ON >/dev/null
        cmake --build "$SERVREG_ROOT/build/test" -j "$jobs" --target servreg
    fi
    /usr/bin/python3 bench/soak.py --minutes "$soak_minutes" --servreg "$servreg"
}

for p in $parts; do
    part "$p" "run_$p"
done

echo "==> hardening: $((SECONDS - stage_start)) s in all"
if [ "${#failed[@]}" -gt 0 ]; then
    echo "==> hardening FAILED: ${failed[*]}"
    exit 1
fi
echo "==> hardening passed: $parts"
