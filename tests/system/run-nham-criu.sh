#!/usr/bin/env bash
# NHAM's checkpoint backend criu on netns guests (issue 13): for 0R and 1R-AS, a chain of two
# stateful VNFs (512 KB of state each) under numbered UDP load loses its VNFs' processes three
# times (both VNFs at once, then the first one twice); each is recovered by restoring its
# process from its last CRIU image in its guest (libcriu, build/criu: `make criu`). From the
# stored results: the run recorded backend criu, checkpoints were taken and timed, every crash
# was recovered by a restore (criu-restore, timed) and the restored processes took over (their
# `restored` counter), nothing lost and nothing duplicated end to end, and every VNF stamp at
# the egress equals the SFF's counter id: each restored state went on from its checkpoint,
# neither skipping nor repeating a packet. No timing is asserted: the machine is shared.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."
criu=$(ls -dv build/criu/criu-*/criu/criu 2>/dev/null | tail -1)
[ -n "$criu" ] || { echo "skip: no CRIU built here (make criu)"; exit 77; }
"$criu" check >/dev/null 2>&1 || { echo "skip: \`$criu check\` fails here"; exit 77; }

. tests/system/infra-lib.sh
run_test_init nhc

write() {   # name, mechanism
    cat >"$tmp/$1.yaml" <<EOY
experiment: $1
provider: netns
scheme: nham
params: {mechanism: $2, checkpoint_backend: criu, state_bytes: 524288, suspect_min: 5s}
chain:
  length: 2
  fill: {fn: fwd}
  vnfs: []
  rules: ["udp"]
workload: {kind: udp, size: 1024, duration: 8s, rate: 500, timeout: 5s}
repetitions: 1
seed: 1
faults:
  - {kind: crash, target: "vnf[0]", mode: kill, at: 1500ms}
  - {kind: crash, target: "vnf[1]", mode: kill, at: 1500ms}
  - {kind: crash, target: "vnf[0]", mode: kill, at: 3500ms}
  - {kind: crash, target: "vnf[0]", mode: kill, at: 5500ms}
EOY
}

counter() { # run, component, counter: its largest sample
    q "select cast(max(s.value) as integer) from samples s join series se on s.series = se.id
       where se.run = $1 and se.metric = 'role_counter'
       and se.labels = '{\"component\":\"$2\",\"counter\":\"$3\"}'"
}
summary() { # run, metric: "mean (n)"
    q "select printf('%.1f ms (n %d)', mean, n) from summaries where run = $1 and metric = '$2'
       and (labels is null or labels = '')"
}

for m in 0R 1R-AS; do
    name=nham-criu-$(echo "$m" | tr A-Z a-z)
    write "$name" "$m"
    run_experiment "$tmp/$name.log" "$tmp/$name.yaml" \
        || { fail "$name run: $(grep -v 'not running' "$tmp/$name.log" | tail -5)"; continue; }
    run=$(q "select max(id) from runs where experiment='$name' and status='complete'")
    [ -n "$run" ] || { fail "$name: no complete run"; continue; }
    backend=$(q "select detail from events where run=$run and kind='checkpoint-backend'")
    ckpts=$(q "select count(*) from events where run=$run and kind='criu-checkpoint'")
    [ "$backend" = criu ] && [ "$ckpts" -gt 0 ] \
        && ok "$name: backend criu recorded, $ckpts checkpoints ($(summary "$run" criu_checkpoint_ms))" \
        || fail "$name: backend '$backend', $ckpts criu checkpoints: $(q "select detail from events where run=$run and kind='criu-checkpoint-failed' limit 1")"
    faults=$(q "select count(*) from events where run=$run and kind='fault-injected'")
    rec=$(q "select count(*) from samples s join series se on s.series = se.id
             where se.run=$run and se.metric='recovery_total_ms' and se.labels != ''")
    restores=$(q "select count(*) from events where run=$run and kind='criu-restore'")
    failed=$(q "select count(*) from events where run=$run and kind='recovery-failed'")
    [ "$faults" = 4 ] && [ "$rec" = 4 ] && [ "$restores" = 4 ] && [ "$failed" = 0 ] \
        && ok "$name: 4 crashes, 4 recovered by a CRIU restore ($(summary "$run" criu_restore_ms))" \
        || fail "$name: $faults crashes, $rec recovered, $restores restores, $failed recoveries failed: $(q "select detail from events where run=$run and kind='criu-restore-failed' limit 1")"
    r0=$(counter "$run" 'vnf[0].replica[0]' restored)
    r1=$(counter "$run" 'vnf[1].replica[0]' restored)
    [ "${r0:-0}" -ge 1 ] && [ "${r1:-0}" -ge 1 ] \
        && ok "$name: the restored processes took over (restored: vnf[0] $r0, vnf[1] $r1)" \
        || fail "$name: restored counters vnf[0] '$r0', vnf[1] '$r1'"
    lost=$(q "select cast(mean as integer) from summaries where run=$run and metric='lost_packets'")
    dup=$(q "select cast(mean as integer) from summaries where run=$run and metric='duplicate_packets'")
    ingress=$(counter "$run" 'sff[0]' ingress)
    egress=$(counter "$run" 'sff[0]' egress)
    [ -n "$ingress" ] && [ "$ingress" = "$egress" ] && [ "$dup" = 0 ] \
        && ok "$name: the chain lost and duplicated nothing ($ingress in, $egress out; client: $lost lost, $dup duplicated)" \
        || fail "$name: chain $ingress in, $egress out; client $lost lost, $dup duplicated"
    mism=$(counter "$run" 'sff[0]' stamp_mismatch)
    [ "$mism" = 0 ] && ok "$name: every VNF state saw every packet once" \
        || fail "$name: $mism packets left the chain with a VNF count unequal to their id"
done
echo "run-nham-criu: $failures failure(s)"
[ "$failures" -eq 0 ]
