#!/usr/bin/env bash
# Installs what is missing, builds servreg with its tests, and runs the whole suite through
# CTest: unit tests, black-box tests against the real binary, and real third-party clients.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${SERVREG_BUILD_PACKAGES[@]}"
ensure_test_clients

build_dir="$SERVREG_ROOT/build/test"
build_servreg "$build_dir" RelWithDebInfo -DSERVREG_BUILD_TESTS=ON

cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 300

# The operator's view with promtool, a real Prometheus and headless Chromium.
bash "$SERVREG_ROOT/scripts/test-ops.sh" "$build_dir/servreg"

# Several servreg processes on throwaway PostgreSQL and MariaDB servers, with outages.
bash "$SERVREG_ROOT/scripts/test-databases.sh" "$build_dir"

# The Debian package: built, checked by lintian, installed, started as its unit would, purged.
bash "$SERVREG_ROOT/scripts/test-package.sh"

# The benchmark's smoke run (bench/run.sh --smoke, on the binary just built rather than a
# second Release build): it keeps the benchmark working and never judges speed.
ensure_packages wrk nginx-light etcd-server etcd-client python3-matplotlib
/usr/bin/python3 "$SERVREG_ROOT/bench/bench.py" --servreg "$build_dir/servreg" --smoke

# Hardening: the suite under ASan+UBSan, the concurrency tests under TSan, every fuzz target
# for a short run, the one-minute soak (docs/security.md). SERVREG_HARDENING=0 leaves it out.
if [ "${SERVREG_HARDENING:-1}" != 0 ]; then
    bash "$SERVREG_ROOT/scripts/test-hardening.sh"
fi
