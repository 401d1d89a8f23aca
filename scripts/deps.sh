#!/usr/bin/env bash
#
# scripts/deps.sh: install the Debian 12 packages sipcall needs to build,
# test, demonstrate and benchmark, if any are missing.
#
# As root it runs apt-get itself; as any other user it prints the exact
# command to run and stops, so that nothing is ever installed behind a
# user's back.
set -euo pipefail

packages=(
    build-essential
    postgresql-15
    postgresql-contrib
    postgresql-server-dev-15
    postgresql-15-cron
    libssl-dev
    libipc-run-perl
    clang
    libclang-rt-14-dev
    valgrind
    gnuplot-nox
    util-linux
    debhelper
    dpkg-dev
    postgresql-server-dev-all
    lintian
    unzip
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
    echo "sipcall needs these Debian packages: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "    sudo sh -c '$cmd'" >&2
    exit 1
fi

echo "installing: ${missing[*]}"
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
