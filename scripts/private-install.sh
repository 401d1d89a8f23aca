#!/usr/bin/env bash
#
# scripts/private-install.sh DIR [DEB]: install this checkout of sipcall
# (or, given DEB, the files of that Debian package, extracted with dpkg-deb
# -x) into a private copy of the PostgreSQL tree under DIR, and print the
# bin folder of that copy.  PostgreSQL finds its share and lib folders relative to
# its binaries, so servers started from DIR load this build of sipcall
# (and pg_cron, pgcrypto from the system), whatever is installed system-wide.
# Used by the tests, the demo and the benchmark.
set -euo pipefail

dest=$1
deb=${2:-}
top=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}

rm -rf "$dest"
mkdir -p "$dest"
for d in "$($PG_CONFIG --bindir)/.." "$($PG_CONFIG --sharedir)"; do
    d=$(cd "$d" && pwd)
    mkdir -p "$dest$(dirname "$d")"
    cp -a "$d" "$dest$(dirname "$d")/"
done
if [ -n "$deb" ]; then
    dpkg-deb -x "$deb" "$dest"
elif ! make -s -C "$top" install DESTDIR="$dest" >"$dest/install.log" 2>&1; then
    cat "$dest/install.log" >&2
    exit 1
fi
echo "$dest$($PG_CONFIG --bindir)"
