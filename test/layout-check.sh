#!/usr/bin/env bash
#
# test/layout-check.sh: the README's "Source layout" names every source
# file of the tree (src/*.c, src/*.h, src/sql/*.sql) and no file that is
# gone.  "src/x.[ch]" names both src/x.c and src/x.h.  Prints what is
# missing or stale; exits non-zero if anything is.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
layout=$(sed -n '/^## Source layout/,/^## /p' README.md)
named=$(grep -oE 'src/[A-Za-z0-9_./]+(\[ch\])?' <<<"$layout" |
    sed -E 's/^(.*)\.\[ch\]$/\1.c\n\1.h/' | grep -E '\.(c|h|sql)$' | sort -u)
actual=$(ls src/*.c src/*.h src/sql/*.sql | sort -u)
rc=0
for f in $(comm -23 <(echo "$actual") <(echo "$named")); do echo "not in the README's source layout: $f"; rc=1; done
for f in $(comm -13 <(echo "$actual") <(echo "$named")); do echo "in the README's source layout, not in the tree: $f"; rc=1; done
[ $rc -eq 0 ] && echo "source layout: $(wc -l <<<"$actual") files, all named"
exit $rc
