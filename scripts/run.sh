#!/usr/bin/env bash
# Installs what is missing, builds a Release servreg, and runs it in the foreground.
# Arguments pass on to servreg (default database: sqlite:///servreg.db in the current folder).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_packages "${SERVREG_BUILD_PACKAGES[@]}"
build_servreg "$SERVREG_ROOT/build/release" Release -DSERVREG_BUILD_TESTS=OFF
exec "$SERVREG_ROOT/build/release/servreg" "$@"
