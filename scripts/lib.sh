# Shared by the scripts: package installation and the build, both idempotent.
# shellcheck shell=bash

SERVREG_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Paths below the checkout are hashed relative to it, so ccache shares objects between clones
# and build directories.
export CCACHE_BASEDIR="$SERVREG_ROOT"

# Packages needed to build servreg.
SERVREG_BUILD_PACKAGES=(
    build-essential cmake ninja-build ccache pkg-config
    libboost-dev libboost-system-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
    libsoci-dev libsqlite3-dev libgtest-dev libpq-dev libmariadb-dev
)

# Installs the Debian packages given that are missing (as root, or through sudo).
ensure_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$pkg")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "==> installing Debian packages: ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Configures and builds into $1 with build type $2 (extra CMake arguments follow).
build_servreg() {
    local dir="$1" type="$2"
    shift 2
    cmake -S "$SERVREG_ROOT" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" "$@" >/dev/null
    cmake --build "$dir" -j "$(nproc)"
}

# Polls `$1` (a shell command) every 0.2 s for up to $2 seconds.
wait_for() {
    local deadline=$((SECONDS + $2))
    until eval "$1" >/dev/null 2>&1; do
        [ $SECONDS -ge $deadline ] && return 1
        sleep 0.2
    done
}

# What the client tests need: Debian's Python clients, and npm's jayson (pinned by
# tests/clients/package-lock.json) on Debian's Node.js unless a Node.js with npm is already
# installed (Debian's npm package conflicts with other Node.js distributions).
ensure_test_clients() {
    ensure_packages python3 python3-tinyrpc python3-gevent-websocket python3-requests curl
    command -v npm >/dev/null 2>&1 || ensure_packages nodejs npm
    if [ ! -d "$SERVREG_ROOT/tests/clients/node_modules/jayson" ]; then
        echo "==> installing the jayson client from npm"
        (cd "$SERVREG_ROOT/tests/clients" && npm ci --no-audit --no-fund --loglevel=error)
    fi
}
