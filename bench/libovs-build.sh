#!/usr/bin/env bash
# Builds libopenvswitch (static) from Debian's openvswitch-source package into build/libovs/,
# as DESIGN.md §3 describes, for bench/openflow_libovs.c: the other route to a persistent
# OpenFlow channel, measured against testbed/infra/openflow.c. Cached: a second run prints the
# recorded build time and returns at once. Prints "build_s=... lib_bytes=...".
# Exit 0 built (or cached), 77 openvswitch-source not installed, 1 the build failed.
set -eu
src=/usr/src/openvswitch/openvswitch.tar.gz
dir=${LIBOVS_DIR:-build/libovs}
lib=$dir/openvswitch/lib/.libs/libopenvswitch.a
[ -f "$src" ] || { echo "skip: $src missing (apt-get install openvswitch-source)"; exit 77; }
if [ -f "$lib" ] && [ -f "$dir/build_s" ]; then
    echo "build_s=$(cat "$dir/build_s") lib_bytes=$(stat -c %s "$lib") (cached)"
    exit 0
fi
rm -rf "$dir" && mkdir -p "$dir"
start=$(date +%s.%N)
tar -xzf "$src" -C "$dir"
cd "$dir/openvswitch"
log=../build.log
./configure --disable-ssl --enable-silent-rules >"$log" 2>&1 || { tail "$log"; exit 1; }
# The generated headers first (BUILT_SOURCES and the IDL files), then the library alone.
make -j2 $(make -s -pn 2>/dev/null | sed -n 's/^\(BUILT_SOURCES\|OVSIDL_BUILT\) = //p' \
    | tr ' ' '\n' | grep -E '\.(h|c|def|inc)$' | sort -u) >>"$log" 2>&1 || { tail "$log"; exit 1; }
make -j2 lib/libopenvswitch.la >>"$log" 2>&1 || { tail "$log"; exit 1; }
end=$(date +%s.%N)
cd - >/dev/null
awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f\n", e - s }' >"$dir/build_s"
echo "build_s=$(cat "$dir/build_s") lib_bytes=$(stat -c %s "$lib")"
