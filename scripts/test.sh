#!/usr/bin/env bash
# Installs what is missing, builds servreg with its tests, and runs the whole suite through
# CTest: unit tests, black-box tests against the real binary, and real third-party clients.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${SERVREG_BUILD_PACKAGES[@]}" \
    python3 python3-tinyrpc python3-gevent-websocket python3-requests curl
# Node.js for the jayson client: Debian's, unless a Node.js with npm is already installed
# (Debian's npm package conflicts with other Node.js distributions).
command -v npm >/dev/null 2>&1 || ensure_packages nodejs npm

# npm's jayson client, pinned by tests/clients/package-lock.json.
if [ ! -d "$SERVREG_ROOT/tests/clients/node_modules/jayson" ]; then
    echo "==> installing the jayson client from npm"
    (cd "$SERVREG_ROOT/tests/clients" && npm ci --no-audit --no-fund --loglevel=error)
fi

build_dir="$SERVREG_ROOT/build/test"
build_servreg "$build_dir" RelWithDebInfo -DSERVREG_BUILD_TESTS=ON

cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 300

# The operator's view with promtool, a real Prometheus and headless Chromium.
bash "$SERVREG_ROOT/scripts/test-ops.sh" "$build_dir/servreg"

# Several servreg processes on throwaway PostgreSQL and MariaDB servers, with outages.
bash "$SERVREG_ROOT/scripts/test-databases.sh" "$build_dir"

# The benchmark's smoke run (bench/run.sh --smoke, on the binary just built rather than a
# second Release build): it keeps the benchmark working and never judges speed.
ensure_packages wrk nginx-light etcd-server etcd-client python3-matplotlib
/usr/bin/python3 "$SERVREG_ROOT/bench/bench.py" --servreg "$build_dir/servreg" --smoke

# Hardening: the suite under ASan+UBSan, the concurrency tests under TSan, every fuzz target
# for a short run, the one-minute soak (docs/security.md). Not yet part of the default run:
# SERVREG_HARDENING=1 adds it.
if [ "${SERVREG_HARDENING:-0}" = 1 ]; then
    bash "$SERVREG_ROOT/scripts/test-hardening.sh"
fi
