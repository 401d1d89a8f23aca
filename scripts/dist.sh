#!/usr/bin/env bash
#
# scripts/dist.sh: the PGXN release archive sipcall-X.Y.Z.zip of HEAD (git
# archive, so only committed files), after checking that META.json agrees
# with sipcall.control: the distribution's and the extension's version are
# default_version plus ".0", and every file META.json names is in HEAD.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
ext=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" sipcall.control)
read -r meta_version ext_version ext_file < <(python3 -c '
import json, sys
m = json.load(open("META.json"))
p = m["provides"]["sipcall"]
print(m["version"], p["version"], p["file"])')
[ "$meta_version" = "$ext.0" ] && [ "$ext_version" = "$ext.0" ] || {
    echo "META.json says $meta_version / $ext_version, sipcall.control $ext" >&2; exit 1; }
git cat-file -e "HEAD:$ext_file" 2>/dev/null || { echo "META.json names $ext_file, not in HEAD" >&2; exit 1; }
for f in sipcall--*.sql; do   # every frozen script is committed
    git cat-file -e "HEAD:$f" 2>/dev/null || [ "$f" = "sipcall--$ext.sql" ] || {
        echo "$f is not committed" >&2; exit 1; }
done
out=${DIST_OUT:-.}/sipcall-$meta_version.zip
git archive --format zip --prefix "sipcall-$meta_version/" -o "$out" HEAD
echo "$out"
