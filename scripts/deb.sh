#!/usr/bin/env bash
#
# scripts/deb.sh [OUT]: build the Debian package postgresql-15-sipcall from
# this checkout, the way Debian builds PostgreSQL extensions (debian/:
# pg_buildext, dh --with pgxs), from Debian's own packages, and run lintian
# on it.  The build happens in a copy of the source under OUT (default
# build/deb), so the checkout stays clean; the .deb lands in OUT.
#
# The package's tests are not run at build time (nocheck): pg_regress and
# the TAP clusters refuse to run as root, which is what CI is.  test/run's
# "deb" suite tests the built package instead: it extracts the .deb into a
# private copy of the PostgreSQL tree and runs make installcheck there as
# the postgres user.  debian/tests/ runs the same installcheck under
# autopkgtest.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/build/deb}
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)

rm -rf "$out"
mkdir -p "$out/sipcall-$version"
# the tracked files (and new ones not ignored), or the whole folder when
# this is no git checkout (an unpacked release archive)
if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$top" && git ls-files -z -co --exclude-standard | grep -zv '^build/' |
        xargs -0 cp --parents -t "$out/sipcall-$version")
else
    (cd "$top" && tar -c --exclude=./build --exclude='*.o' --exclude='*.so' --exclude='*.bc' . ) |
        tar -x -C "$out/sipcall-$version"
fi

cd "$out/sipcall-$version"
DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b >"$out/build.log" 2>&1 || {
    tail -n 50 "$out/build.log" >&2; exit 1; }
deb=$(ls "$out"/postgresql-15-sipcall_*.deb)
echo "built $deb"
# lintian: errors fail the build; warnings and the tags explained in
# debian/source/lintian-overrides are printed
lintian --fail-on error "$deb" | tee "$out/lintian.log"
