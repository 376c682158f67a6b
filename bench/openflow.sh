#!/usr/bin/env bash
# The cost of one steering change at run time: a flow re-pointed at another port and confirmed
# by a barrier, over sfclab's persistent OpenFlow channel (testbed/infra/openflow.c) beside one
# `ovs-ofctl add-flow` fork (what ovs.c's wrappers do), medians of N on the same private Open
# vSwitch in a namespace of its own; and, when build/libovs holds libopenvswitch (make libovs,
# about a minute), the same change through OVS's own vconn library, the route not taken.
set -u
n=${OPENFLOW_BENCH_N:-200}
ovs_tool=${OVS_TOOL:-build/tests/ovs-tool}
of_tool=${OF_TOOL:-build/bench/of-tool}
libovs=build/bench/openflow_libovs
[ "$(id -u)" = 0 ] || { echo "openflow: skipped (needs root)"; exit 0; }
ns=sfct-ofb-$$
tmp=$(mktemp -d /tmp/sfct-ofb-XXXXXX)
run=$tmp/run
ip netns add "$ns" || exit 1
trap '"$ovs_tool" stop "$run" >/dev/null 2>&1; rm -rf -- "$tmp"; ip netns del "$ns"' EXIT
"$ovs_tool" start "$run" /run/netns/"$ns" >/dev/null &&
    "$ovs_tool" add-br "$run" data secure ofb1 internal ofb2 internal || exit 1
read -r a b <<<"$("$ovs_tool" ofports "$run" ofb1 ofb2)" || exit 1
"$of_tool" bench "$run" data "$n" "$a" "$b" || exit 1
if [ -x "$libovs" ]; then
    read -r us open_us <<<"$("$libovs" "$run/data.mgmt" "$n" "$a" "$b")" || exit 1
    printf '  libopenvswitch vconn          %9.1f us  (connection opened once: %.1f us)\n' \
        "$us" "$open_us"
    printf '  binary size: libopenvswitch route %s bytes of text+data, openflow.o %s\n' \
        "$(size "$libovs" | awk 'NR==2 {print $1 + $2}')" \
        "$(size build/obj/testbed/infra/openflow.o | awk 'NR==2 {print $1 + $2}')"
else
    echo "  (libopenvswitch route not measured: make libovs builds it, about a minute)"
fi
