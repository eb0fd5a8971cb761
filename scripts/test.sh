#!/usr/bin/env bash
# Installs what is missing, builds servreg with its tests, and runs the whole suite through
# CTest: unit tests, black-box tests against the real binary, and real third-party clients.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${SERVREG_BUILD_PACKAGES[@]}" \
    python3 python3-tinyrpc python3-gevent-websocket python3-requests nodejs npm curl

# npm's jayson client, pinned by tests/clients/package-lock.json.
if [ ! -d "$SERVREG_ROOT/tests/clients/node_modules/jayson" ]; then
    echo "==> installing the jayson client from npm"
    (cd "$SERVREG_ROOT/tests/clients" && npm ci --no-audit --no-fund --loglevel=error)
fi

build_dir="$SERVREG_ROOT/build/test"
build_servreg "$build_dir" RelWithDebInfo -DSERVREG_BUILD_TESTS=ON

cd "$build_dir"
ctest --output-on-failure -j "$(nproc)" --timeout 300
