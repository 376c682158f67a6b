#!/usr/bin/env bash
# The cost of one steering change at run time: a flow re-pointed at another port and confirmed
# by a barrier, over sfclab's persistent OpenFlow channel (testbed/infra/openflow.c), and the same
# through a fast-failover group (its buckets' order swapped: GROUP_MOD and a barrier), beside one
# `ovs-ofctl add-flow` fork (what ovs.c's wrappers do), on the same private Open vSwitch in a
# namespace of its own; and, when build/libovs holds libopenvswitch (make libovs, about a
# minute), the same change through OVS's own vconn library, the route not taken. The channels
# are measured in alternating rounds after a warm-up (the switch is still settling right after
# its ports are added, and the machine is shared): each figure is the median of the rounds'
# medians of N changes.
set -u
n=${OPENFLOW_BENCH_N:-200}
rounds=${OPENFLOW_BENCH_ROUNDS:-5}
n_fork=${OPENFLOW_BENCH_FORKS:-50}
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
median() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

"$of_tool" bench "$run" data 100 "$a" "$b" channel >/dev/null || exit 1     # warm-up
: >"$tmp/channel"; : >"$tmp/libovs"; : >"$tmp/open"; : >"$tmp/group"
for _ in $(seq 1 "$rounds"); do
    read -r us open_us <<<"$("$of_tool" bench "$run" data "$n" "$a" "$b" channel)" || exit 1
    echo "$us" >>"$tmp/channel"; echo "$open_us" >>"$tmp/open"
    read -r us _ <<<"$("$of_tool" bench "$run" data "$n" "$a" "$b" group)" || exit 1
    echo "$us" >>"$tmp/group"
    if [ -x "$libovs" ]; then
        "$libovs" "$run/data.mgmt" "$n" "$a" "$b" | cut -d' ' -f1 >>"$tmp/libovs" || exit 1
    fi
done
read -r fork_us _ <<<"$("$of_tool" bench "$run" data "$n_fork" "$a" "$b" fork)" || exit 1
channel_us=$(median <"$tmp/channel")
printf 'steering change (flow_mod + barrier): median of %d rounds of %d changes\n' "$rounds" "$n"
printf '  persistent OpenFlow channel   %9.1f us  (rounds: %s; connection opened in %.0f us)\n' \
    "$channel_us" "$(tr '\n' ' ' <"$tmp/channel" | sed 's/ $//')" "$(median <"$tmp/open")"
printf '  fast-failover group re-ordered %8.1f us  (group_mod + barrier, same channel; rounds: %s)\n' \
    "$(median <"$tmp/group")" "$(tr '\n' ' ' <"$tmp/group" | sed 's/ $//')"
printf '  ovs-ofctl add-flow fork       %9.1f us  (median of %d)\n' "$fork_us" "$n_fork"
awk -v c="$channel_us" -v f="$fork_us" \
    'BEGIN { printf "  ratio channel/fork            %9.4f  (a fork costs %.0f changes)\n", c / f, f / c }'
if [ -s "$tmp/libovs" ]; then
    printf '  libopenvswitch vconn          %9.1f us  (rounds: %s)\n' "$(median <"$tmp/libovs")" \
        "$(tr '\n' ' ' <"$tmp/libovs" | sed 's/ $//')"
    printf '  code linked: libopenvswitch route %s bytes of text+data, openflow.o %s\n' \
        "$(size "$libovs" | awk 'NR==2 {print $1 + $2}')" \
        "$(size build/obj/testbed/infra/openflow.o | awk 'NR==2 {print $1 + $2}')"
else
    echo "  (libopenvswitch route not measured: make libovs builds it, about a minute)"
fi
