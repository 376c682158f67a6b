#!/usr/bin/env bash
# Guests added and removed on a running instance (what a scheme's recovery does when it starts a
# new VNF guest): `sfclab add-guest` on line3 plugs a new guest into the data bridge (it pings
# h1 through the switch, and h1 pings it), `status` lists it, `remove-guest` destroys it and
# takes its port away, a guest of the same name can be added again, and `down` afterwards, or
# `clean` on a second instance, leaves nothing: no namespace, recorded process, cgroup, state
# directory or root-namespace link (infra-lib.sh's check, with the manifest as it stood after
# the additions).
# Exit 0 pass, 77 skip (not root, no Open vSwitch), anything else fail.
set -u
cd "$(dirname "$0")/../.." || exit 1
sfclab=${SFCLAB:-bin/sfclab}
state_dir=${SFCLAB_STATE_DIR:-/run/sfclab}
. tests/system/infra-lib.sh
infra_require_root ping

a=sfct-ig-$$ b=sfct-ig2-$$
tmp=$(mktemp -d /tmp/sfct-ig-XXXXXX)
cleanup() {
    for i in "$b" "$a"; do
        "$sfclab" -i "$i" clean >/dev/null 2>&1
    done
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sl() { local i=$1; shift; "$sfclab" -i "$i" "$@"; }
# The init pid of guest $2 of instance $1, from instance.json (the netns handle is "PID START").
init_pid() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print([g for g in d["guests"] if g["name"]==sys.argv[2]][0]["handle"].split()[0])' \
        "$state_dir/$1/instance.json" "$2" 2>/dev/null
}

root_links >"$tmp/links-before"
must sl "$a" up topologies/line3.yaml >/dev/null

if sl "$a" add-guest spare --cpus 0.5 --period 20ms --memory 64M --link data=10.0.0.9/24 >"$tmp/add" 2>&1; then
    ok "add-guest spare: $(cat "$tmp/add")"
else
    fail "add-guest spare"; cat "$tmp/add"
fi
sl "$a" exec spare ping -c 2 -i 0.2 -W 2 10.0.0.1 >/dev/null 2>&1 && ok "spare pings h1 through the switch" ||
    fail "spare cannot ping h1"
sl "$a" exec h1 ping -c 2 -i 0.2 -W 2 10.0.0.9 >/dev/null 2>&1 && ok "h1 pings spare" ||
    fail "h1 cannot ping spare"
# Its agent answers the orchestrator on the management network, as a new VNF guest's must.
mgmt=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print([g for g in d["guests"] if g["name"]=="spare"][0]["mgmt"])' "$state_dir/$a/instance.json" 2>/dev/null)
for ((k = 0; k < 50; k++)); do
    # Through `sfclab agent`: the agent answers only callers that hold its key.
    r=$(sl "$a" agent spare roles 2>/dev/null | tr -d ' \n') && break
    sleep 0.1
done
[ -n "$mgmt" ] && [ "$r" = "[]" ] && ok "spare's agent answers at $mgmt" ||
    fail "spare's agent at '$mgmt' does not answer ('$r')"
sl "$a" status >"$tmp/status" 2>&1
grep -q '^spare .*eth1@data=10.0.0.9/24' "$tmp/status" && ok "status lists spare" ||
    { fail "status does not list spare"; cat "$tmp/status"; }
sl "$a" add-guest spare --link data >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "a second guest named spare refused (exit 2)" || fail "second spare: exit $rc"
sl "$a" add-guest other --link nosuch >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "a link to an unknown bridge refused (exit 2)" || fail "unknown bridge: exit $rc"
sl "$a" add-guest other --cpus 0.04 --period 10ms --link data >"$tmp/add" 2>&1; rc=$?
[ $rc = 2 ] && grep -q "under the kernel's least" "$tmp/add" &&
    ok "a 400us quota refused (exit 2): $(cat "$tmp/add")" || fail "400us quota: exit $rc"
sl "$a" add-guest other --period 2s --link data >/dev/null 2>&1; rc=$?
[ $rc = 2 ] && ok "a 2s period refused (exit 2)" || fail "2s period: exit $rc"

pid=$(init_pid "$a" spare)
port=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
print([g for g in d["guests"] if g["name"]=="spare"][0]["ifaces"][1]["port"])' \
    "$state_dir/$a/instance.json" 2>/dev/null)
[ -n "$pid" ] && [ -d "/proc/$pid" ] || fail "spare has no running init ($pid)"
# --cpus 0.5 --period 20ms: 10 ms of CPU every 20 ms, read back from the kernel.
cg=$(awk '$3 == "cgroup" && ("," $4 ",") ~ /,cpu,/ {print $2; exit}' /proc/self/mounts)
if [ -n "$cg" ]; then
    cg=$cg$(awk -F: '("," $2 ",") ~ /,cpu,/ {print $3; exit}' "/proc/$pid/cgroup")
    limit="$(cat "$cg/cpu.cfs_quota_us") $(cat "$cg/cpu.cfs_period_us")"
else
    limit=$(cat "/sys/fs/cgroup$(awk -F: '$1 == 0 {print $3; exit}' "/proc/$pid/cgroup")/cpu.max")
fi
[ "$limit" = "10000 20000" ] && ok "spare's quota 10000us per 20000us" ||
    fail "spare's quota and period: '$limit'"
if sl "$a" remove-guest spare; then
    ok "remove-guest spare"
else
    fail "remove-guest spare"
fi
[ -n "$pid" ] && { [ ! -d "/proc/$pid" ] || grep -q '^State:.*Z' "/proc/$pid/status"; } &&
    ok "spare's init $pid is gone" || fail "spare's init $pid still runs"
[ ! -e "$state_dir/$a/guests/spare" ] && ok "spare's agent directory is gone" ||
    fail "spare's agent directory is left"
for ((k = 0; k < 100; k++)); do
    ip -n "sfclab-$a" link show "$port" >/dev/null 2>&1 || break
    sleep 0.05
done
ip -n "sfclab-$a" link show "$port" >/dev/null 2>&1 && fail "host end $port is left" ||
    ok "host end $port is gone"
sl "$a" status 2>&1 | grep -q '^spare ' && fail "status still lists spare" || ok "status no longer lists spare"
sl "$a" exec h1 ping -c 1 -W 2 10.0.0.3 >/dev/null 2>&1 && ok "h1 still pings h3" ||
    fail "h1 cannot ping h3 after the removal"

# The same name again, left running for `down`.
sl "$a" add-guest spare --link data=10.0.0.9/24 >/dev/null 2>&1 && ok "spare added again" ||
    fail "spare cannot be added again"
sl "$a" exec spare ping -c 1 -W 2 10.0.0.3 >/dev/null 2>&1 && ok "the new spare pings h3" ||
    fail "the new spare cannot ping h3"
save_manifest "$a" "$tmp/manifest-a"
grep -q '^guest [0-9]* [0-9]* spare' "$tmp/manifest-a" && ok "the manifest records spare" ||
    fail "the manifest does not record spare"
must sl "$a" down >/dev/null
check_nothing_left "$a" "$tmp/manifest-a" "$tmp/links-before" &&
    ok "nothing of $a left after down" || fail "$a left something after down"

# A guest added at run time is undone by `clean` too (as after a crash of the orchestrator).
must sl "$b" up topologies/line3.yaml >/dev/null
sl "$b" add-guest extra --link data=10.0.0.8/24 >/dev/null 2>&1 || fail "add-guest extra on $b"
save_manifest "$b" "$tmp/manifest-b"
must sl "$b" clean
check_nothing_left "$b" "$tmp/manifest-b" "$tmp/links-before" &&
    ok "nothing of $b left after clean" || fail "$b left something after clean"

echo "infra-guests: $failures failure(s)"
[ "$failures" = 0 ]
