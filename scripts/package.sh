#!/usr/bin/env bash
# Builds the Debian package servreg_VERSION_ARCH.deb: a Release servreg in build/package, its
# manual page, and the files under packaging/, put together by CPack (cmake/packaging.cmake).
# Installs the Debian packages it needs first. Prints the .deb's path last, alone on stdout.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# dpkg-dev: dpkg-shlibdeps computes Depends:; file: CPack finds the binaries to inspect with it;
# help2man: servreg(1) from servreg --help.
ensure_packages "${SERVREG_BUILD_PACKAGES[@]}" dpkg-dev file help2man >&2

build_dir="$SERVREG_ROOT/build/package"
# Debian's hardening flags, as a Debian build has them (dpkg-buildflags, with bindnow), less
# -g and -O2: the binary is stripped, and Release's -O3 applies.
export DEB_BUILD_MAINT_OPTIONS=hardening=+all
cd "$SERVREG_ROOT"  # dpkg-buildflags maps the current folder to "." in the debug paths
cxxflags="$(dpkg-buildflags --get CPPFLAGS) $(dpkg-buildflags --get CXXFLAGS)"
cxxflags=$(printf '%s\n' "$cxxflags" | sed -e 's/\(^\| \)-g\( \|$\)/ /' -e 's/\(^\| \)-O2\( \|$\)/ /')
ldflags=$(dpkg-buildflags --get LDFLAGS)
echo "==> building a Release servreg in $build_dir" >&2
build_servreg "$build_dir" Release -DSERVREG_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX=/usr \
    -DSERVREG_MANPAGE=ON -DCMAKE_CXX_FLAGS="$cxxflags" -DCMAKE_EXE_LINKER_FLAGS="$ldflags" >&2

rm -f "$build_dir"/servreg_*.deb
if ! (cd "$build_dir" && cpack -G DEB >cpack.log 2>&1); then
    cat "$build_dir/cpack.log" >&2
    exit 1
fi
debs=("$build_dir"/servreg_*.deb)
[ -f "${debs[0]}" ] || { echo "package: cpack made no servreg_*.deb" >&2; exit 1; }
echo "${debs[0]}"
