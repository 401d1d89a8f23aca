#!/usr/bin/env bash
#
# scripts/private-install.sh DIR: install this checkout of sipcall into a
# private copy of the PostgreSQL tree under DIR, and print the bin folder
# of that copy.  PostgreSQL finds its share and lib folders relative to
# its binaries, so servers started from DIR load this build of sipcall
# (and pg_cron, pgcrypto from the system), whatever is installed system-wide.
# Used by the tests, the demo and the benchmark.
set -euo pipefail

dest=$1
top=$(cd "$(dirname "$0")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-pg_config}

rm -rf "$dest"
mkdir -p "$dest"
for d in "$($PG_CONFIG --bindir)/.." "$($PG_CONFIG --sharedir)"; do
    d=$(cd "$d" && pwd)
    mkdir -p "$dest$(dirname "$d")"
    cp -a "$d" "$dest$(dirname "$d")/"
done
make -s -C "$top" install DESTDIR="$dest" >"$dest/install.log" 2>&1 || {
    cat "$dest/install.log" >&2
    exit 1
}
echo "$dest$($PG_CONFIG --bindir)"
