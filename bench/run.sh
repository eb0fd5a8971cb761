#!/usr/bin/env bash
# servreg's benchmark in one command: installs wrk, nginx and etcd from Debian, builds a Release
# servreg, then runs bench/bench.py, which measures servreg side by side with nginx and etcd.
#
#   bench/run.sh            full run (about 14-20 minutes), the numbers in docs/performance.md
#   bench/run.sh --quick    shorter runs, no 1,000,000-instance scale (about 6 minutes)
#   bench/run.sh --smoke    every scenario once on small data (under 2 minutes): what CI runs;
#                           fails only when something is broken, never on speed
#   bench/run.sh --help     every option of bench.py (--only watch: the 10,000 watchers alone)
#
# Results: the table on stdout, bench/results/latest.json and bench/results/scaling.png.
# SERVREG_BENCH_BUILD_DIR overrides the build directory (default build/bench-release).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

ensure_packages "${SERVREG_BUILD_PACKAGES[@]}" \
    wrk nginx-light etcd-server etcd-client python3 python3-matplotlib

build_dir="${SERVREG_BENCH_BUILD_DIR:-$SERVREG_ROOT/build/bench-release}"
for arg in "$@"; do
    case "$arg" in -h | --help) exec /usr/bin/python3 "$SERVREG_ROOT/bench/bench.py" --help ;; esac
done
echo "==> building a Release servreg in $build_dir"
build_servreg "$build_dir" Release -DSERVREG_BUILD_TESTS=OFF

# Debian's python3, not one earlier on PATH (a pyenv one, say) that lacks Debian's matplotlib.
exec /usr/bin/python3 "$SERVREG_ROOT/bench/bench.py" --servreg "$build_dir/servreg" "$@"
