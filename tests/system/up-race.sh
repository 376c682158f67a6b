#!/usr/bin/env bash
# System test of the instance lock (issue 11): ROUNDS rounds (default 10; 30 by hand) of two
# simultaneous `up` of one instance. Exactly one must win each round, the loser must say why
# and leave the winner intact (its guests answer), and nothing may be left after `down`.
# Exit 0 pass, 77 skip (not root, no Open vSwitch), anything else fail.
set -u

sfclab=${SFCLAB:-$PWD/bin/sfclab}
state_dir=/run/sfclab
. "$PWD/tests/system/infra-lib.sh"
infra_require_root

rounds=${ROUNDS:-10}
inst=sfct-race-$$
tmp=$(mktemp -d /tmp/sfct-race-XXXXXX)
cleanup() {
    "$sfclab" -i "$inst" down >/dev/null 2>&1 || "$sfclab" -i "$inst" clean >/dev/null 2>&1
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat >"$tmp/topo.yaml" <<'YAML'
name: race
provider: netns
bridges:
  - name: data
guests:
  - {name: h1, cpus: 1, memory: 64M}
  - {name: h2, cpus: 1, memory: 64M}
links:
  - {guest: h1, bridge: data, address: 10.0.0.1/24}
  - {guest: h2, bridge: data, address: 10.0.0.2/24}
YAML

root_links >"$tmp/links-before"
one_winner=0
for ((r = 1; r <= rounds; r++)); do
    "$sfclab" -i "$inst" up "$tmp/topo.yaml" >"$tmp/a.out" 2>&1 &
    a=$!
    "$sfclab" -i "$inst" up "$tmp/topo.yaml" >"$tmp/b.out" 2>&1 &
    b=$!
    wait $a; ra=$?
    wait $b; rb=$?
    save_manifest "$inst" "$tmp/manifest"
    if [ $((ra == 0)) -ne $((rb == 0)) ]; then
        loser=$tmp/a.out; [ $ra = 0 ] && loser=$tmp/b.out
        if grep -q "already exists or is being brought up" "$loser" &&
           "$sfclab" -i "$inst" exec h1 ping -c 1 -W 2 10.0.0.2 >/dev/null 2>&1 &&
           "$sfclab" -i "$inst" status | grep -q "h2 .* running  up"; then
            one_winner=$((one_winner + 1))
        else
            fail "round $r: the loser said '$(cat "$loser")', or the winner does not work"
        fi
    else
        fail "round $r: up exited $ra and $rb: $(cat "$tmp/a.out" "$tmp/b.out")"
    fi
    "$sfclab" -i "$inst" down >/dev/null 2>&1 || fail "round $r: down failed"
    left=$(check_nothing_left "$inst" "$tmp/manifest" "$tmp/links-before") ||
        fail "round $r: left after down: $left"
done
# A namespace no manifest lists (what a lost race of an older sfclab left): clean removes it.
ip netns add "sfclab-$inst" || fail "cannot make a stray namespace"
"$sfclab" -i "$inst" clean >/dev/null 2>&1
[ ! -e "/run/netns/sfclab-$inst" ] && ok "clean removed the stray namespace sfclab-$inst" ||
    { fail "clean left the stray namespace sfclab-$inst"; ip netns del "sfclab-$inst"; }

[ "$one_winner" = "$rounds" ] && ok "$rounds rounds of two simultaneous up: exactly one won each time, nothing left after down" ||
    fail "$one_winner of $rounds rounds had exactly one working winner"
echo "up-race: $failures failure(s)"
[ "$failures" = 0 ]
