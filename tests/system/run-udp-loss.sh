#!/usr/bin/env bash
# The udp workload's numbered datagrams (issue 13): every udp run stores lost_packets,
# duplicate_packets and reordered_packets. On the chain with no fault tolerance, a run without
# faults loses and duplicates nothing; a run whose VNF has every link cut for a second loses
# datagrams (scheme none promises nothing) and still duplicates none. The counts come from the
# client's sequence numbers, so this test fails if the counting cannot see a loss.
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
workload: {kind: udp, size: 1024, duration: 3s, rate: 2000}
repetitions: 1
seed: 1
$2
EOY
}
write udp-clean ""
write udp-cut 'faults:
  - {kind: crash, target: "vnf[1]", mode: links, at: 1s, heal_after: 1s}'

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

echo "run-udp-loss: $failures failure(s)"
[ "$failures" -eq 0 ]
