#!/usr/bin/env bash
# The package stage: builds the Debian package (scripts/package.sh), runs lintian on it,
# installs it with dpkg -i, checks its files, its user and its unit, starts the installed
# servreg as the unit would (its user, its environment; the machine's init need not be
# systemd) and talks to it with the installed client, then removes and purges the package and
# checks that nothing is left. A trap purges the package and removes what the stage made on
# every way out, failures included.
# Usage: scripts/test-package.sh [servreg_VERSION_ARCH.deb]   (without one, it builds one)
# It needs root for dpkg (through sudo otherwise), and leaves alone a machine that already has
# a servreg package, user or state.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
started_at=$SECONDS

if [ $# -eq 0 ]; then
    deb="$("$SERVREG_ROOT/scripts/package.sh" | tail -n 1)"
else
    deb="$(realpath "$1")"
fi
[ -f "$deb" ] || { echo "test-package: no package at '$deb'" >&2; exit 1; }
# The build runs as the caller; installing needs root.
[ "$(id -u)" -eq 0 ] || exec sudo --preserve-env=PATH bash "$0" "$deb"

# lintian; systemd for systemd-analyze; logrotate to run the package's rotation; util-linux's
# setpriv to run servreg as its user; curl for a request between rotations.
ensure_packages lintian systemd logrotate util-linux curl >&2

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "not ok - $*"; }
# check DESCRIPTION COMMAND...: runs COMMAND, passes when it exits 0.
check() {
    local what="$1"
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}
# quietly LOG COMMAND...: runs COMMAND with its output in LOG, shown when it fails.
quietly() {
    local log="$1"
    shift
    "$@" >"$log" 2>&1 && return 0
    sed 's/^/    /' "$log"
    return 1
}

unit=/lib/systemd/system/servreg.service
default_file=/etc/default/servreg
state_dir=/var/lib/servreg
log_dir=/var/log/servreg

# Everything named servreg in the places a package, its maintainer scripts or systemd's
# helpers write to, with the user and group: the same before the install and after the purge.
footprint() {
    find /etc /lib/systemd /usr/bin /usr/sbin /usr/share/man /usr/share/doc \
        /usr/share/bash-completion /usr/share/lintian /var/lib /var/log /var/cache \
        -xdev -name '*servreg*' 2>/dev/null | sort -u
    getent passwd servreg || true
    getent group servreg || true
    dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' servreg 2>/dev/null || true
}

# Removes what man-db cached of servreg(1) during the stage.
forget_man_cache() {
    local page
    while IFS= read -r page; do
        grep -qxF "$page" <<<"$before" || rm -f "$page"
    done < <(find /var/cache/man -name 'servreg.*' 2>/dev/null)
}

# dpkg ARGS...: dpkg, waiting up to 5 minutes for another apt or dpkg on the machine to finish.
dpkg() {
    local deadline=$((SECONDS + 300)) out status
    while :; do
        status=0
        out="$(command dpkg "$@" 2>&1)" || status=$?
        if [ "$status" -ne 0 ] && [ $SECONDS -lt $deadline ] &&
            grep -q 'dpkg frontend lock\|dpkg status database is locked' <<<"$out"; then
            sleep 2
            continue
        fi
        [ -z "$out" ] || printf '%s\n' "$out"
        return "$status"
    done
}

installed_status() { dpkg-query -W -f='${Status}' servreg 2>/dev/null || true; }

# --- refuse a machine that has servreg already: this stage would remove it -----------------------
if [ -n "$(installed_status)" ] && [ "$(installed_status)" != "unknown ok not-installed" ]; then
    echo "test-package: servreg is on this machine ($(installed_status)); not touching it" >&2
    exit 1
fi
for path in "$default_file" "$state_dir" "$log_dir"; do
    if [ -e "$path" ]; then
        echo "test-package: $path exists; not touching this machine" >&2
        exit 1
    fi
done
if getent passwd servreg >/dev/null || getent group servreg >/dev/null; then
    echo "test-package: a servreg user or group exists; not touching this machine" >&2
    exit 1
fi

work="$(mktemp -d /tmp/servreg-package.XXXXXX)"
# The summary goes to this stdout even if a signal lands while a command substitution runs.
exec 3>&1
before="$(footprint)"
daemon_pid=""
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ -n "$daemon_pid" ]; then
        kill -KILL "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    if [ -n "$(installed_status)" ] && [ "$(installed_status)" != "unknown ok not-installed" ]; then
        dpkg --purge servreg >/dev/null 2>&1 ||
            dpkg --purge --force-remove-reinstreq servreg >/dev/null 2>&1 || true
    fi
    # What a purge that failed halfway may have left; none of it was there before the stage.
    rm -rf "$state_dir" "$log_dir" "$default_file" "$default_file.dpkg-"*
    getent passwd servreg >/dev/null && userdel servreg 2>/dev/null
    getent group servreg >/dev/null && groupdel servreg 2>/dev/null
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper purge servreg.service >/dev/null 2>&1 || true
        deb-systemd-helper unmask servreg.service >/dev/null 2>&1 || true
    fi
    forget_man_cache
    rm -rf "$work"
    echo "==> package stage took $((SECONDS - started_at)) s" >&3
    echo "package: $passed passed, $failed failed" >&3
    [ "$status" -ne 0 ] || [ "$failed" -eq 0 ] || status=1
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the package file ----------------------------------------------------------------------------
echo "==> $deb"
version="$(dpkg-deb -f "$deb" Version)"
arch="$(dpkg-deb -f "$deb" Architecture)"
check "file name is servreg_VERSION_ARCH.deb ($(basename "$deb"))" \
    test "$(basename "$deb")" = "servreg_${version}_${arch}.deb"
depends="$(dpkg-deb -f "$deb" Depends)"
echo "    Depends: $depends"
check "Depends: from the shared libraries (dpkg-shlibdeps)" \
    grep -q 'libsoci-core.*libsqlite3.*libstdc++' <<<"$depends"
check "Depends: adduser" grep -qw adduser <<<"$depends"
for field in Maintainer Section Priority Description; do
    check "control field $field" test -n "$(dpkg-deb -f "$deb" "$field")"
done

echo "==> lintian"
if lintian --info --fail-on error,warning "$deb" 2>&1 | tee "$work/lintian.log" | sed 's/^/    /'; then
    pass "lintian: no error or warning"
else
    fail "lintian: errors or warnings"
fi

# --- install -------------------------------------------------------------------------------------
if quietly "$work/dpkg-i.log" dpkg -i "$deb"; then
    pass "dpkg -i"
else
    fail "dpkg -i"
    exit 1
fi
check "dpkg: install ok installed" test "$(installed_status)" = "install ok installed"
for path in /usr/bin/servreg "$unit" "$default_file" /etc/logrotate.d/servreg \
    /usr/share/man/man1/servreg.1.gz /usr/share/bash-completion/completions/servreg \
    /usr/share/doc/servreg/copyright /usr/share/doc/servreg/changelog.Debian.gz; do
    check "installed: $path" test -f "$path"
done
check "/usr/bin/servreg runs: $(/usr/bin/servreg --version 2>&1)" \
    test "$(/usr/bin/servreg --version)" = "servreg ${version%-*}"
check "conffiles: $default_file and /etc/logrotate.d/servreg" \
    test "$(dpkg-query -W -f='${Conffiles}' servreg | awk 'NF { print $1 }' | sort | tr '\n' ' ')" \
    = "$default_file /etc/logrotate.d/servreg "
check "$default_file: root, mode 600" test "$(stat -c '%U %a' "$default_file")" = "root 600"

# The user: a system account, no login, its home the state folder.
IFS=: read -r _ _ uid _ _ home shell <<<"$(getent passwd servreg || echo)"
check "user servreg: system uid ($uid), home $home, shell $shell" \
    test -n "$uid" -a "${uid:-1000}" -lt 1000 -a "$home" = "$state_dir" -a "$shell" = /usr/sbin/nologin
check "group servreg" quietly "$work/getent" getent group servreg
for dir in "$state_dir" "$log_dir"; do
    check "$dir: servreg:servreg, mode 750" test "$(stat -c '%U:%G %a' "$dir")" = "servreg:servreg 750"
done

# Every daemon option of --help is in the environment file, commented.
missing=""
for option in $(/usr/bin/servreg --help | sed -n 's/^  \(--[a-z-]*\).*/\1/p'); do
    case $option in --help | --version) continue ;; esac
    variable="SERVREG_$(tr 'a-z-' 'A-Z_' <<<"${option#--}")"
    grep -q "^#$variable=" "$default_file" || missing="$missing $variable"
done
check "$default_file: every option of --help, commented${missing:+ (missing:$missing)}" \
    test -z "$missing"
check "$default_file: nothing set, listening on 127.0.0.1" \
    test -z "$(grep -v '^#' "$default_file" | grep .)" \
        -a -n "$(grep '^#SERVREG_HOST=127.0.0.1$' "$default_file")"

# servreg(1): every option of --help and every client command, rendered without a warning
# (from standard input, so that man-db keeps no formatted copy in /var/cache/man).
zcat /usr/share/man/man1/servreg.1.gz | man --warnings -l -P cat - >"$work/man.txt" \
    2>"$work/man.err" || true
missing=""
for word in $(/usr/bin/servreg --help | sed -n 's/^  \(--[a-z-]*\).*/\1/p') \
    $(/usr/bin/servreg --help | sed -n '/^Client commands/,$p' | grep -o 'servreg [a-z-]*' |
        tr ' ' '_'); do
    grep -qF -- "${word//_/ }" "$work/man.txt" || missing="$missing $word"
done
check "servreg(1) has every option and client command${missing:+ (missing:$missing)}" \
    test -s "$work/man.txt" -a -z "$missing"
check "servreg(1) renders without warnings" test ! -s "$work/man.err"

# Bash completion, in a shell of its own, as bash-completion would load it.
completion() {
    bash -c 'source /usr/share/bash-completion/completions/servreg
             COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _servreg; echo "${COMPREPLY[*]}"' _ "$@"
}
check "completion: servreg --ho -> --host" test "$(completion servreg --ho)" = "--host"
check "completion: servreg lo -> locate" test "$(completion servreg lo)" = "locate"
check "completion: servreg ping --re -> --registry" test "$(completion servreg ping --re)" = "--registry"
check "completion: servreg un -> undrain unregister" \
    test "$(completion servreg un)" = "undrain unregister"
check "completion: servreg locate --me -> --meta" test "$(completion servreg locate --me)" = "--meta"
check "completion: servreg list --me -> nothing" test -z "$(completion servreg list --me)"
check "completion: servreg --log-level w -> warn" test "$(completion servreg --log-level w)" = "warn"

# --- the unit ------------------------------------------------------------------------------------
check "systemd-analyze verify $unit" quietly "$work/verify.log" systemd-analyze verify "$unit"
# verify looked servreg(1) up with man, which keeps a formatted copy: the stage's, not the
# package's.
forget_man_cache
# Exposure on systemd's scale of 0 (locked down) to 10; 2.0 and below is rated OK.
systemd-analyze security --offline=true --threshold=20 "$unit" >"$work/security.log" 2>&1 &&
    exposure_ok=1 || exposure_ok=0
check "systemd-analyze security: $(grep -o 'Overall exposure level.*' "$work/security.log")" \
    test "$exposure_ok" = 1
unit_value() { sed -n "s/^$1=//p" "$unit"; }
for setting in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes \
    Restart=on-failure "ReadWritePaths=$state_dir $log_dir"; do
    check "unit: $setting" grep -qxF "$setting" "$unit"
done
check "logrotate -d /etc/logrotate.d/servreg" \
    quietly "$work/logrotate-d.log" logrotate -d /etc/logrotate.d/servreg

# --- started as the unit would start it ---------------------------------------------------------
# Its user and group, its Environment= lines, then its EnvironmentFile (which wins), its
# ExecStart, its UMask, from /. The port is set the way an operator would: in the file.
echo "SERVREG_PORT=0" >>"$default_file"
user="$(unit_value User)"
group="$(unit_value Group)"
env_file="$(unit_value EnvironmentFile)"
env_file="${env_file#-}"
read -r -a exec_start <<<"$(unit_value ExecStart)"
environment=()
while IFS= read -r assignment; do environment+=("$assignment"); done < <(
    unit_value Environment
    grep -E '^[A-Za-z_][A-Za-z0-9_]*=' "$env_file"
)
echo "==> as $user:$group: ${environment[*]} ${exec_start[*]}"
(
    cd /
    umask "$(unit_value UMask)"
    exec setpriv --reuid="$user" --regid="$group" --init-groups \
        env -i "${environment[@]}" "${exec_start[@]}"
) >"$work/daemon.out" 2>"$work/daemon.log" &
daemon_pid=$!
if wait_for "grep -q 'listening on http://' '$work/daemon.log'" 20; then
    pass "the installed servreg listens"
else
    sed 's/^/    /' "$work/daemon.log"
    fail "the installed servreg listens"
    exit 1
fi
port="$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/api.*|\1|p' "$work/daemon.log")"
registry="http://127.0.0.1:$port/api"
check "it listens on 127.0.0.1 ($registry)" test -n "$port"
check "it runs as $user" test "$(ps -o user= -p "$daemon_pid")" = "$user"

if out="$(/usr/bin/servreg ping package.test 127.0.0.1 8001 --registry "$registry" 2>&1)"; then
    pass "servreg ping package.test 127.0.0.1 8001 (installed client)"
else
    fail "servreg ping: exit $?: $out"
fi
if out="$(/usr/bin/servreg locate 'package.*' --json --registry "$registry" 2>&1)" &&
    grep -q '"port": *8001' <<<"$out"; then
    pass "servreg locate 'package.*' answers the instance"
else
    fail "servreg locate 'package.*': $out"
fi
check "database $state_dir/servreg.db, owned by $user" \
    test "$(stat -c %U "$state_dir/servreg.db" 2>&1)" = "$user"
check "access log $log_dir/access.log has the ping" \
    wait_for "grep -q ' ping\$' '$log_dir/access.log'" 5

# The package's logrotate, forced, then the SIGHUP its postrotate sends through systemd.
logrotate -f -s "$work/logrotate.state" /etc/logrotate.d/servreg >"$work/logrotate.log" 2>&1 ||
    sed 's/^/    /' "$work/logrotate.log"
check "logrotate renamed the access log" test -f "$log_dir/access.log.1" -a ! -e "$log_dir/access.log"
kill -HUP "$daemon_pid"
wait_for "curl -fsS -o /dev/null '$registry' -H 'Content-Type: application/json' \
    -d '{\"jsonrpc\":\"2.0\",\"method\":\"locate_service\",\"params\":[\"x\"],\"id\":1}' &&
    grep -q ' locate_service\$' '$log_dir/access.log'" 5 && reopened=1 || reopened=0
check "after SIGHUP, a new access log, owned by $user" \
    test "$reopened" = 1 -a "$(stat -c %U "$log_dir/access.log" 2>&1)" = "$user"

kill -TERM "$daemon_pid"
stop_status=0
wait "$daemon_pid" || stop_status=$?
daemon_pid=""
check "SIGTERM: exit 0 (was $stop_status)" test "$stop_status" -eq 0

# --- the same package again, as an upgrade: the postinst's path with the old version -----------
check "dpkg -i again (an upgrade in place)" quietly "$work/dpkg-i2.log" dpkg -i "$deb"
check "after the upgrade: the operator's change and the database kept" \
    test "$(grep -c '^SERVREG_PORT=0$' "$default_file")" = 1 -a -f "$state_dir/servreg.db"

# --- remove, then purge --------------------------------------------------------------------------
echo "==> dpkg -r"
check "dpkg -r" quietly "$work/dpkg-r.log" dpkg -r servreg
check "dpkg: deinstall ok config-files" test "$(installed_status)" = "deinstall ok config-files"
left=""
for path in $(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed -n 's|^\.\(/.*[^/]\)$|\1|p'); do
    case $path in "$default_file" | /etc/logrotate.d/servreg) continue ;; esac
    [ ! -e "$path" ] || left="$left $path"
done
check "removed: every file of the package but the conffiles${left:+ (left:$left)}" test -z "$left"
check "kept: $default_file, with the operator's change" grep -qx 'SERVREG_PORT=0' "$default_file"
check "kept: $state_dir/servreg.db" test -f "$state_dir/servreg.db"
check "kept: the servreg user" quietly "$work/getent" getent passwd servreg

echo "==> dpkg -P"
check "dpkg -P" quietly "$work/dpkg-p.log" dpkg -P servreg
check "dpkg: servreg not installed" \
    test "$(installed_status)" = "" -o "$(installed_status)" = "unknown ok not-installed"
check "purged: $default_file, $state_dir, $log_dir" \
    test ! -e "$default_file" -a ! -e "$state_dir" -a ! -e "$log_dir"
check "purged: the servreg user and group" test -z "$(getent passwd servreg; getent group servreg)"
after="$(footprint)"
if [ "$after" = "$before" ]; then
    pass "nothing left: the machine is as before"
else
    fail "left behind:"
    diff <(echo "$before") <(echo "$after") | sed 's/^/    /' || true
fi
