#!/usr/bin/env bash
# Scheme ftmb on real guests through `sfclab run`, both layouts, a Monitor chain of 2 under a
# 256-byte UDP stream at 1,000 datagrams/s, snapshots on:
#  - logger: in-line (the default, FTC's paper's FTMB: IL -> M -> OL): each middlebox has its
#    own logger guest (l0, l1), the path's hop for it. Its IL logged every packet it passed to
#    the middlebox, the middlebox sent one PAL per packet, and its OL released exactly the
#    outputs whose PAL was in; the server got the stream; the VNFs stalled (snapshots).
#  - logger: shared: one logger guest; every VNF's records acknowledged, outputs released.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init ftmb
dir=/run/sfclab/$inst
sock() { ls -t "$dir/guests/$1"/role-*.sock 2>/dev/null | head -1; }
js() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
stat() { python3 tests/system/ftc-state.py "$(sock "$1")" stats | js "d.get('$2', 0)"; }

exp() { # NAME LOGGER
    cat >"$tmp/$1.yaml" <<YAML
experiment: $1
provider: netns
scheme: ftmb
params: {logger: $2}
resources: {cpus: 1, memory: 256M}
chain:
  length: 2
  fill: {fn: monitor, params: {sharing: 1}}
  vnfs: []
  rules: ["udp"]
workload: {kind: udp, size: 256, duration: 3s, rate: 1000}
warmup: 0
repetitions: 1
seed: 1
YAML
}

# --- in line
exp ftmb-in-line in-line
if run_experiment "$tmp/in-line.log" "$tmp/ftmb-in-line.yaml" --keep; then
    sleep 0.3
    run_id=$(q "select max(id) from runs where experiment='ftmb-in-line'")
    rx=$(run_summary "$run_id" rx_pps)
    [ -n "$rx" ] && awk -v r="$rx" 'BEGIN { exit !(r > 800) }' \
        && ok "in-line: the server got $rx datagrams/s of 1000" || fail "in-line: rx_pps '$rx'"
    for i in 0 1; do
        il=$(stat "l$i" il_logged)
        rel=$(stat "l$i" ol_released)
        held=$(stat "l$i" ol_held)
        pals=$(stat "l$i" records)
        out=$(stat "v$i" ftmb_released)
        recs=$(stat "v$i" ftmb_records)
        snaps=$(stat "v$i" ftmb_snapshots)
        [ "$il" -gt 2000 ] && ok "in-line: l$i's IL logged $il packets" || fail "in-line: l$i's IL logged '$il'"
        [ "$recs" = "$out" ] && [ "$pals" = "$recs" ] \
            && ok "in-line: v$i sent $recs PALs, one per output, and l$i's OL got them all" \
            || fail "in-line: v$i PALs $recs, outputs $out; l$i got $pals"
        [ "$rel" = "$out" ] && [ "$il" -ge "$rel" ] \
            && ok "in-line: l$i's OL released the $rel outputs ($held waited for their PAL)" \
            || fail "in-line: l$i released '$rel' of '$out' outputs (IL '$il')"
        [ "$snaps" -ge 40 ] && ok "in-line: v$i stalled $snaps times" || fail "in-line: v$i stalled '$snaps' times"
    done
    [ -z "$(sock logger)" ] && ok "in-line: no shared logger" || fail "in-line: a shared logger runs"
    bin/sfclab -i "$inst" down >/dev/null 2>&1 || fail "in-line: down after --keep"
else
    fail "in-line run: $(tail -5 "$tmp/in-line.log")"
fi

# --- shared
exp ftmb-shared shared
if run_experiment "$tmp/shared.log" "$tmp/ftmb-shared.yaml" --keep; then
    sleep 0.3
    run_id=$(q "select max(id) from runs where experiment='ftmb-shared'")
    rx=$(run_summary "$run_id" rx_pps)
    [ -n "$rx" ] && awk -v r="$rx" 'BEGIN { exit !(r > 800) }' \
        && ok "shared: the server got $rx datagrams/s of 1000" || fail "shared: rx_pps '$rx'"
    recs=$(stat logger records)
    sum=$(( $(stat v0 ftmb_released) + $(stat v1 ftmb_released) ))
    [ "$recs" -gt 4000 ] && [ "$recs" = "$sum" ] \
        && ok "shared: the logger logged the $recs records the VNFs released" \
        || fail "shared: the logger logged '$recs', the VNFs released '$sum'"
    [ -z "$(sock l0)" ] && ok "shared: no logger per middlebox" || fail "shared: l0 runs"
    bin/sfclab -i "$inst" down >/dev/null 2>&1 || fail "shared: down after --keep"
else
    fail "shared run: $(tail -5 "$tmp/shared.log")"
fi

echo "run-ftmb: $failures failure(s)"
[ "$failures" -eq 0 ]
