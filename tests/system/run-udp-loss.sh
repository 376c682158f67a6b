#!/usr/bin/env bash
# The udp workload's numbered datagrams (issue 13): every udp run stores lost_packets,
# duplicate_packets and reordered_packets. On the chain with no fault tolerance, a run without
# faults loses and duplicates nothing; a run whose VNF has every link cut for a second loses
# datagrams (scheme none promises nothing) and still duplicates none. The counts come from the
# client's sequence numbers, so this test fails if the counting cannot see a loss.
# The capacity search (workload `capacity:`) stores the highest rate among its steps that
# passed, from a start rate the chain carries; and 0 when the links are cut for the whole
# search, every step then failing.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init ul

write() {   # name, extra lines
    cat >"$tmp/$1.yaml" <<EOY
experiment: $1
provider: netns
scheme: none
chain:
  length: 2
  fill: {fn: fwd}
  vnfs: []
  rules: ["udp"]
workload: {kind: udp, size: 1024, duration: ${3:-3s}, rate: 2000${4:-}}
repetitions: 1
seed: 1
$2
EOY
}
write udp-clean ""
write udp-cut 'faults:
  - {kind: crash, target: "vnf[1]", mode: links, at: 1s, heal_after: 1s}'

cap=", timeout: 300ms, capacity: 0.1%, window: 500ms"
write udp-capacity "" 6s "$cap"
write udp-capacity-cut 'faults:
  - {kind: crash, target: "vnf[1]", mode: links, at: 300ms, heal_after: 30s}' 6s "$cap"

summary() { q "select cast(mean as integer) from summaries where run=$1 and metric='$2'"; }

for name in udp-clean udp-cut; do
    bin/sfclab -i "$inst" --db "$db" run "$tmp/$name.yaml" >"$tmp/$name.log" 2>&1 \
        || { fail "$name run: $(tail -5 "$tmp/$name.log")"; continue; }
    run=$(q "select max(id) from runs where experiment='$name' and status='complete'")
    lost=$(summary "$run" lost_packets)
    dup=$(summary "$run" duplicate_packets)
    reo=$(summary "$run" reordered_packets)
    [ -n "$lost" ] && [ -n "$dup" ] && [ -n "$reo" ] && ok "$name: summaries stored (lost $lost, duplicated $dup, reordered $reo)" \
        || { fail "$name: summaries missing (lost '$lost' dup '$dup' reordered '$reo')"; continue; }
    [ "$dup" = 0 ] && ok "$name: nothing duplicated" || fail "$name: $dup duplicated"
    if [ "$name" = udp-clean ]; then
        [ "$lost" = 0 ] && ok "$name: nothing lost" || fail "$name: $lost lost without a fault"
    else
        # A second of 2000/s cut: about 2000 lost; never all (the other two seconds get through).
        [ "$lost" -gt 500 ] && [ "$lost" -lt 5000 ] && ok "$name: $lost lost while the links were cut" \
            || fail "$name: $lost lost (expected about 2000)"
    fi
done

# The steps' rates that passed, highest first.
passed() {
    q "select cast(json_extract(se.labels, '\$.rate_pps') as integer) from samples s
       join series se on s.series = se.id where se.run = $1 and se.metric = 'capacity_step'
       and json_extract(se.labels, '\$.pass') = '1' order by 1 desc"
}
for name in udp-capacity udp-capacity-cut; do
    bin/sfclab -i "$inst" --db "$db" run "$tmp/$name.yaml" >"$tmp/$name.log" 2>&1 \
        || { fail "$name run: $(tail -5 "$tmp/$name.log")"; continue; }
    run=$(q "select max(id) from runs where experiment='$name' and status='complete'")
    # Rounded as the steps' labels are (%.0f), not truncated.
    c=$(q "select cast(round(mean) as integer) from summaries where run=$run
           and metric='capacity_pps'")
    steps=$(q "select count(*) from samples s join series se on s.series = se.id
               where se.run = $run and se.metric = 'capacity_step'")
    best=$(passed "$run" | head -1)
    [ -n "$c" ] && [ "$steps" -ge 2 ] && ok "$name: capacity $c/s stored after $steps steps" \
        || { fail "$name: capacity '$c' after '$steps' steps"; continue; }
    if [ "$name" = udp-capacity ]; then
        [ "$c" -ge 2000 ] && [ "$c" = "$best" ] && ok "$name: the highest passing step, $best/s" \
            || fail "$name: capacity $c/s, highest passing step '$best'/s, start 2000/s"
    else
        [ "$c" = 0 ] && [ -z "$best" ] && ok "$name: links cut, no step passed, capacity 0" \
            || fail "$name: links cut, capacity $c/s, a step passed at '$best'/s"
    fi
done

echo "run-udp-loss: $failures failure(s)"
[ "$failures" -eq 0 ]
