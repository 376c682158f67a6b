#!/usr/bin/env bash
# Capture where the host cannot see (AF_XDP data ports, the runner's default): an experiment
# with `capture: true` keeps a pcap per run beside the database, `sfclab capture COMPONENT` and
# `sfclab capture GUEST` write one on demand, tcpdump (and tshark, where installed) decodes
# the NSH in them, and the mirror and its port are gone afterwards; a capture killed with
# SIGKILL leaves them recorded in the manifest, and `sfclab down` removes them with the rest;
# `capture vnf[0]` of a replicated (nmr) chain covers every replica (root; skips otherwise).
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."
command -v tcpdump >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
command -v tcpdump >/dev/null 2>&1 || { echo "skip: tcpdump not installed"; exit 77; }

inst=sfct-cap-$$
tmp=$(mktemp -d /tmp/sfct-cap-XXXXXX)
sfclab="bin/sfclab -i $inst --db $tmp/results.db"
run_dir=/run/sfclab/$inst/ovs
failures=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
cleanup() {
    [ -n "${cap_pid:-}" ] && kill -9 "$cap_pid" 2>/dev/null
    [ -n "${digs_pid:-}" ] && kill "$digs_pid" 2>/dev/null
    bin/sfclab -i "$inst" clean >/dev/null 2>&1
    rm -rf -- "$tmp"
}
trap cleanup EXIT
vsctl() { ovs-vsctl --db="unix:$run_dir/db.sock" "$@"; }
# The NSH frames tcpdump decodes in a pcap, on one line each.
nsh_lines() { tcpdump -nr "$1" 2>/dev/null | grep -c "NSH, flags \[none\], service-path-id 0x000001, service-index 0xff: IP .* A? www.example.com"; }
digs() {
    while :; do
        $sfclab exec client dig +short +time=1 +tries=1 @10.0.0.250 www.example.com >/dev/null 2>&1
        sleep 0.1
    done
}

# 1. An experiment with capture: true, run the way users run it (AF_XDP data ports).
sed 's/^seed:.*/&\ncapture: true/' experiments/baseline-dns.yaml >"$tmp/capture-dns.yaml"
grep -q '^capture: true' "$tmp/capture-dns.yaml" || echo "capture: true" >>"$tmp/capture-dns.yaml"
if $sfclab run "$tmp/capture-dns.yaml" --quick --keep >"$tmp/run.log" 2>&1; then
    ok "run with capture: true"
else
    fail "run with capture: true: $(tail -5 "$tmp/run.log")"
fi
pcap=$(ls "$tmp"/pcaps/baseline-dns-run*.pcap 2>/dev/null | head -1)
if [ -n "$pcap" ] && [ "$(nsh_lines "$pcap")" -ge 50 ]; then
    ok "the run's pcap $(basename "$pcap"): $(nsh_lines "$pcap") NSH-encapsulated DNS queries decoded"
else
    fail "no pcap with NSH under $tmp/pcaps: $(ls "$tmp"/pcaps 2>&1)"
fi
# Wireshark's dissector too, where it is installed (tshark is not among the dependencies).
if command -v tshark >/dev/null 2>&1 && [ -n "$pcap" ]; then
    fields=$(tshark -r "$pcap" -Y "nsh && dns.flags.response == 0" -T fields -e nsh.spi \
             -e nsh.si -e dns.qry.name 2>/dev/null | sort | uniq -c | sort -rn | head -1)
    grep -qP "^ *\d+ 1\t255\twww.example.com$" <<<"$fields" \
        && ok "tshark decodes NSH: $(tr '\t' ' ' <<<"$fields" | tr -s ' ')" \
        || fail "tshark: '$fields'"
fi
sqlite3 "$tmp/results.db" "select detail from events where kind = 'capture'" | grep -q "\.pcap$" \
    && ok "the pcap's path is in the run's history" || fail "no capture event in the history"
[ -z "$(vsctl --columns=name list Mirror)" ] && ! vsctl list-ports data | grep -q '^cap' \
    && ok "mirror and capture port removed after the run" \
    || fail "left after the run: $(vsctl --columns=name list Mirror) $(vsctl list-ports data)"

# 2. sfclab capture of a component (the SFF) and of a guest (the client), while queries run.
digs & digs_pid=$!
if $sfclab capture sff -w "$tmp/sff.pcap" -c 12 -t 20 >"$tmp/cap1.log" 2>&1; then
    n=$(nsh_lines "$tmp/sff.pcap")
    [ "$n" -ge 1 ] && ok "capture sff: $(tail -1 "$tmp/cap1.log"), $n NSH queries decoded" \
        || fail "capture sff: no NSH in $(tcpdump -nr "$tmp/sff.pcap" 2>&1 | head -3)"
    [ "$(tcpdump -nr "$tmp/sff.pcap" 2>/dev/null | wc -l)" = 12 ] || fail "capture -c 12 wrote another count"
else
    fail "capture sff: $(cat "$tmp/cap1.log")"
fi
if $sfclab capture client -w "$tmp/client.pcap" -t 2 >"$tmp/cap2.log" 2>&1 \
    && tcpdump -nr "$tmp/client.pcap" 2>/dev/null | grep -q "IP 10.0.0.1.* > 10.0.0.250.53: .* A? www.example.com"; then
    ok "capture client (a guest): plain DNS to the service address"
else
    fail "capture client: $(cat "$tmp/cap2.log")"
fi
kill "$digs_pid" 2>/dev/null; wait "$digs_pid" 2>/dev/null; digs_pid=
$sfclab capture nosuch -w "$tmp/x.pcap" -t 1 >/dev/null 2>&1; rc=$?
[ "$rc" = 2 ] && ok "unknown target refused (exit 2)" || fail "unknown target: exit $rc"
[ -z "$(vsctl --columns=name list Mirror)" ] || fail "mirror left by sfclab capture"

# 3. A capture killed with SIGKILL: its mirror stays, recorded; down removes it with the rest.
$sfclab capture sff -w "$tmp/killed.pcap" -t 60 >/dev/null 2>&1 & cap_pid=$!
for _ in $(seq 1 100); do
    [ -n "$(vsctl --columns=name list Mirror 2>/dev/null)" ] && break
    sleep 0.1
done
kill -9 "$cap_pid"; wait "$cap_pid" 2>/dev/null; cap_pid=
mirror=$(vsctl --bare --columns=name list Mirror)
[ -n "$mirror" ] && grep -q "^mirror $run_dir data $mirror $mirror$" "/run/sfclab/$inst/manifest" \
    && ok "killed capture: mirror $mirror recorded in the manifest" \
    || fail "killed capture: mirror '$mirror' not found or not recorded"
if $sfclab down >"$tmp/down.log" 2>&1 && [ ! -e "/run/sfclab/$inst" ] \
    && ! ip netns list | grep -q "sfclab-$inst"; then
    ok "down removed the instance and the capture's leftovers"
else
    fail "down: $(cat "$tmp/down.log")"
fi

# 4. A replicated component: `capture vnf[0]` of an nmr chain takes every replica's port, and
# sees the SFF's copies of one query go to all three.
if $sfclab run experiments/nmr-dns.yaml --quick --keep >"$tmp/nmr.log" 2>&1; then
    digs & digs_pid=$!
    if $sfclab capture "vnf[0]" -w "$tmp/vnf0.pcap" -c 30 -t 20 >"$tmp/cap3.log" 2>&1 \
        && grep -q "3 ports of guests" "$tmp/cap3.log"; then
        # The most copies of one query id going to the VNF (service index 0xff).
        copies=$(tcpdump -nr "$tmp/vnf0.pcap" 2>/dev/null | grep "service-index 0xff: .* A? www.example.com" \
                 | sed 's/.*> 10.0.0.250.53: \([0-9]*\)+.*/\1/' | sort | uniq -c | sort -rn \
                 | awk 'NR == 1 {print $1}')
        [ "${copies:-0}" -ge 3 ] \
            && ok "capture vnf[0] of nmr: 3 replicas' ports, a query seen $copies times" \
            || fail "capture vnf[0]: no query seen on the three replicas (${copies:-0})"
    else
        fail "capture vnf[0]: $(cat "$tmp/cap3.log")"
    fi
    kill "$digs_pid" 2>/dev/null; wait "$digs_pid" 2>/dev/null; digs_pid=
    $sfclab down >/dev/null 2>&1 || fail "down after nmr"
else
    fail "nmr-dns --quick --keep: $(tail -5 "$tmp/nmr.log")"
fi

if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all ok"
