#!/usr/bin/env bash
# NHAM on netns guests (issue 13): for each mechanism (0R, 1R-AS, 1R-AA, MR-AA) a chain of two
# stateful VNFs under numbered UDP load loses its VNFs' processes three times (both VNFs at
# once, then the copy that took over), and the FMS recovers each one. From the stored results:
# every injected crash was suspected and recovered (recovery time stored), nothing lost and
# nothing duplicated end to end (Hold/Release's promise), every VNF stamp at the egress equal
# to the SFF's counter id (no state skipped or repeated a packet), checkpoints were taken and
# a replay's duplicates were suppressed. A pause (the guest frozen past the heartbeat timeout)
# is a false suspicion: the copy is replaced, then found alive and retired; still nothing lost.
# nham-dns: a dns at the chain's end answers in place (its copy runs the function, the SFF sends
# the reply back to the client), through the crash of its active copy: every query answered.
# nham-replay: a man in the middle on the SFF sends each of its frames on, and an old one (one
# of its last 16) again before it: the VNF answers a replayed DATA from its output log and the
# SFF drops that output as a duplicate; the chain goes on (the attacker's replayed answers reach
# the client twice: counted, not lost). It once stopped at the attack: the attacker's frames to
# a hop's virtual MAC were flooded unchanged past the scheme's steering.
# Every recovery's READY moves its hop's frames to the copy that sent it (the SFF's counter
# `readdressed`), and each takeover by another copy is timed as steered from it. 1R-AA and
# MR-AA: the SFF itself takes over from a dead copy (its TAKE to a standby that holds the last
# checkpoint), steered from then.
# No timing is asserted: the machine is shared. A loaded machine drains what the SFF held during
# a recovery slowly: the client waits 5 s for late answers, and a late one is not a lost one.
# 500 datagrams a second and 128 KB of state per VNF keep a chain of two within what this
# shared machine carries (correctness is the point here; experiments/nham-*.yaml measure).
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."

. tests/system/infra-lib.sh
run_test_init nh

write() {   # name, mechanism, params, faults[, duration]
    cat >"$tmp/$1.yaml" <<EOY
experiment: $1
provider: netns
scheme: nham
params: {mechanism: $2, state_bytes: 131072$3}
chain:
  length: 2
  fill: {fn: fwd}
  vnfs: []
  rules: ["udp"]
workload: {kind: udp, size: 1024, duration: ${5:-8s}, rate: 500, timeout: 5s}
repetitions: 1
seed: 1
faults:
$4
EOY
}

# The crashes are caught by the copies' pidfds; a long heartbeat timeout keeps a loaded
# machine's scheduling stalls from adding false suspicions to the count.
for m in 0R 1R-AS 1R-AA MR-AA; do
    name=nham-$(echo "$m" | tr A-Z a-z)
    second='vnf[0].replica[1]'
    [ "$m" = 0R ] && second='vnf[0].replica[0]'
    write "$name" "$m" ", suspect_min: 5s" "  - {kind: crash, target: \"vnf[0].replica[0]\", mode: kill, at: 1500ms}
  - {kind: crash, target: \"vnf[1].replica[0]\", mode: kill, at: 1500ms}
  - {kind: crash, target: \"$second\", mode: kill, at: 3500ms}"
done
# nham-refused: the SFF refuses the FMS's takeover (no checkpoint saved yet, so no standby holds
# the last one: vnfs/ft/nham/take.c, nham_take_choose()) and the FMS's worker activates a
# standby itself (nham_ctl.c, nham_recover()), which restores no checkpoint and gets the whole
# buffer_rx replayed: the refusal recorded, the crash recovered, nothing lost or repeated.
write nham-refused 1R-AA ", suspect_min: 5s, checkpoint: 60s" '  - {kind: crash, target: "vnf[0].replica[0]", mode: kill, at: 1500ms}' 5s
# nham-standby: a crash of a standby ends when it is a standby again (tens of ms), not at the
# copy's next recovery: the standby (replica[1]) killed, then the active copy (replica[0]), so
# that replica[1] takes over, then the VNF's active copy by its name (replica[1] again). Each
# crash has a recovery time under 2.5 s (tens of ms, with room for a loaded machine); the
# standby's crash paired with the next failover, 3.5 s later, is caught. (compare-crash once
# showed "stalls" of 13.9-38.6 s: standbys' crashes paired so.)
write nham-standby 1R-AA ", suspect_min: 5s" '  - {kind: crash, target: "vnf[0].replica[1]", mode: kill, at: 1500ms}
  - {kind: crash, target: "vnf[0].replica[0]", mode: kill, at: 3000ms}
  - {kind: crash, target: "vnf[0]", mode: kill, at: 5000ms}' 8s
# nham-stall: every copy frozen at once for a second (what a stalled host does to them all): no
# copy is suspected (the FMS hears none of them, so the silence is the host's), nothing lost.
# It used to fail over to standbys as frozen as the copies they replaced.
write nham-stall 1R-AA ", suspect_min: 300ms" '  - {kind: pause, target: "vnf[0].replica[0]", at: 1500ms, heal_after: 1s}
  - {kind: pause, target: "vnf[0].replica[1]", at: 1500ms, heal_after: 1s}
  - {kind: pause, target: "vnf[1].replica[0]", at: 1500ms, heal_after: 1s}
  - {kind: pause, target: "vnf[1].replica[1]", at: 1500ms, heal_after: 1s}'
# The runner's counter sampling waits out a frozen guest's agent (seconds), so the thaw may
# come late: the workload lasts long enough for the beats to come back within it.
write nham-pause 1R-AA ", suspect_min: 300ms" '  - {kind: pause, target: "vnf[1].replica[0]", at: 1500ms, heal_after: 1s}' 16s

counter() { # run, component, counter: its largest sample
    q "select cast(max(s.value) as integer) from samples s join series se on s.series = se.id
       where se.run = $1 and se.metric = 'role_counter'
       and se.labels = '{\"component\":\"$2\",\"counter\":\"$3\"}'"
}

cat >"$tmp/nham-dns.yaml" <<EOY
experiment: nham-dns
provider: netns
scheme: nham
params: {mechanism: 1R-AA, state_bytes: 131072, suspect_min: 5s}
chain:
  length: 1
  vnfs:
    - fn: dns
      params: {zone: "www.example.com=10.0.0.80"}
  rules: ["udp,dport=53"]
workload: {kind: dns, count: 600, size: 512, rate: 200, timeout: 5s}
repetitions: 1
seed: 1
faults:
  - {kind: crash, target: "vnf[0].replica[0]", mode: kill, at: 1500ms}
EOY

sed -e 's/^experiment: nham-dns/experiment: nham-replay/' \
    -e 's/^  - {kind: crash.*/  - {kind: mitm, mode: replay, target: "sff[0]", at: 500ms}/' \
    "$tmp/nham-dns.yaml" >"$tmp/nham-replay.yaml"

for name in ${ONLY:-nham-0r nham-1r-as nham-1r-aa nham-mr-aa nham-pause nham-standby nham-stall nham-dns nham-replay nham-refused}; do
    run_experiment "$tmp/$name.log" "$tmp/$name.yaml" \
        || { fail "$name run: $(grep -v 'not running' "$tmp/$name.log" | tail -5)"; continue; }
    run=$(q "select max(id) from runs where experiment='$name' and status='complete'")
    [ -n "$run" ] || { fail "$name: no complete run"; continue; }
    if [ "$name" = nham-replay ]; then
        unanswered=$(q "select mean from summaries where run=$run and metric='timeout_ratio'")
        wrong=$(q "select mean from summaries where run=$run and metric='wrong_answer_ratio'")
        inj=$(q "select count(*) from events where run=$run and kind='fault-injected' and target='sff[0]'")
        dups=$(counter "$run" 'sff[0]' duplicates_suppressed)
        ingress=$(counter "$run" 'sff[0]' ingress)
        [ "$inj" = 1 ] && [ -n "$unanswered" ] && [ -n "$wrong" ] \
            && awk "BEGIN { exit !($unanswered == 0 && $wrong == 0) }" \
            && [ "${dups:-0}" -gt 0 ] \
            && ok "$name: every query answered through a replaying SFF ($ingress in, ${dups} replayed outputs suppressed as duplicates)" \
            || fail "$name: $inj attack(s), unanswered ratio $unanswered, wrong $wrong, $ingress in, ${dups:-0} duplicates suppressed"
        continue
    fi
    if [ "$name" = nham-dns ]; then
        unanswered=$(q "select mean from summaries where run=$run and metric='timeout_ratio'")
        wrong=$(q "select mean from summaries where run=$run and metric='wrong_answer_ratio'")
        replies=$(counter "$run" 'sff[0]' replies)
        ingress=$(counter "$run" 'sff[0]' ingress)
        [ -n "$unanswered" ] && [ -n "$wrong" ] \
            && awk "BEGIN { exit !($unanswered == 0 && $wrong == 0) }" \
            && [ -n "$ingress" ] && [ "$ingress" -gt 0 ] && [ "$ingress" = "$replies" ] \
            && ok "$name: every query answered in place ($ingress in, $replies replies back to the client; unanswered $unanswered, wrong $wrong)" \
            || fail "$name: $ingress in, $replies replies; unanswered ratio $unanswered, wrong $wrong"
        failed=$(q "select count(*) from events where run=$run and kind='recovery-failed'")
        rec=$(q "select count(*) from samples s join series se on s.series = se.id
                 where se.run=$run and se.metric='recovery_total_ms' and se.labels != ''")
        [ "$failed" = 0 ] && [ "$rec" = 1 ] && ok "$name: the crash was recovered, none failed" \
            || fail "$name: $rec recovered, $failed recoveries failed"
        continue
    fi
    lost=$(q "select cast(mean as integer) from summaries where run=$run and metric='lost_packets'")
    dup=$(q "select cast(mean as integer) from summaries where run=$run and metric='duplicate_packets'")
    # Hold/Release promises the chain (SFF ingress to egress) loses nothing; what a loaded
    # machine drops before the SFF or on the echo's way back is outside it, and is counted.
    ingress=$(counter "$run" 'sff[0]' ingress)
    egress=$(counter "$run" 'sff[0]' egress)
    classified=$(counter "$run" 'classifier[0]' classified)
    echoed=$(counter "$run" 'server[0]' echoed)
    [ -n "$ingress" ] && [ "$ingress" = "$egress" ] && [ "$dup" = 0 ] \
        && ok "$name: the chain lost and duplicated nothing ($ingress in, $egress out; client: $lost lost, $dup duplicated; outside the chain: $((classified - ingress)) before the SFF, $((egress - echoed)) to the server)" \
        || fail "$name: chain $ingress in, $egress out; client $lost lost, $dup duplicated"
    faults=$(q "select count(*) from events where run=$run and kind='fault-injected'")
    failed=$(q "select count(*) from events where run=$run and kind='recovery-failed'")
    [ "$failed" = 0 ] && ok "$name: no recovery failed" || fail "$name: $failed recoveries failed"
    if [ "$name" = nham-stall ]; then
        sus=$(q "select count(*) from events where run=$run and kind='suspected'")
        [ "$faults" = 4 ] && [ "$sus" = 0 ] \
            && ok "$name: every copy frozen at once for a second: none suspected" \
            || fail "$name: $faults copies frozen, $sus suspicions"
        continue
    fi
    if [ "$name" = nham-pause ]; then
        sus=$(q "select count(*) from events where run=$run and kind='suspected' and target='vnf[1].replica[0]'")
        fls=$(q "select count(*) from events where run=$run and kind='false-suspicion' and target='vnf[1].replica[0]'")
        [ "$sus" -ge 1 ] && [ "$fls" -ge 1 ] && ok "$name: the frozen copy was suspected, replaced and found alive" \
            || fail "$name: suspected $sus, false suspicions $fls"
    elif [ "$name" = nham-refused ]; then
        refused=$(q "select group_concat(detail, '; ') from events where run=$run and kind='takeover-refused'")
        rec=$(q "select count(*) from events where run=$run and kind='recovered' and target='vnf[0].replica[0]'
                 and detail like '%vnf[0].replica[1] took over%' and detail not like '%takeover asked%'")
        took=$(counter "$run" 'sff[0]' takeovers)
        unanswered=$(q "select count(*) from events where run=$run and kind='takeover-unanswered'")
        [ -n "$refused" ] && [ "${took:-0}" = 0 ] && [ "$faults" = 1 ] && [ "$rec" = 1 ] \
            && [ "$unanswered" = 0 ] \
            && ok "$name: the SFF refused the takeover ($refused), the FMS activated the standby itself" \
            || fail "$name: $faults crash(es), refusals: ${refused:-none}, SFF takeovers ${took:-none}, $rec recovered by the FMS's activation, $unanswered after waiting for a READY the refused takeover never brings"
    else
        # Each crash is an episode: suspected then recovered, stored as recovery samples.
        rec=$(q "select count(*) from samples s join series se on s.series = se.id
                 where se.run=$run and se.metric='recovery_total_ms' and se.labels != ''")
        det=$(q "select count(*) from samples s join series se on s.series = se.id
                 where se.run=$run and se.metric='recovery_detect_ms' and se.labels != ''")
        [ "$faults" = 3 ] && [ "$rec" = 3 ] && [ "$det" = 3 ] \
            && ok "$name: 3 crashes, 3 detected, 3 recovered ($(q "select group_concat(printf('%.1f', s.value), ' / ') from samples s join series se on s.series = se.id where se.run=$run and se.metric='recovery_total_ms' and se.labels != ''") ms)" \
            || fail "$name: $faults crashes, $det detected, $rec recovered"
        if [ "$name" = nham-standby ]; then
            slow=$(q "select group_concat(json_extract(se.labels, '$.target') || ' ' || printf('%.1f', s.value), ', ')
                      from samples s join series se on s.series = se.id
                      where se.run=$run and se.metric='recovery_total_ms' and se.labels != '' and s.value >= 2500")
            [ "$rec" = 3 ] && [ -z "$slow" ] \
                && ok "$name: the standby's crash and both failovers recovered within 2.5 s each" \
                || fail "$name: $rec of 3 crashes recovered; over 2.5 s: ${slow:-none} (ms)"
            continue
        fi
        # A running standby replaced each dead copy without a hold (failover: fast), and the
        # copies that took over output again (the first packet timed: recovery_resume_ms; a
        # time is read from the copy's counters, which a guest stalled past the run's end
        # cannot give: at least one, not all three).
        if [ "$name" = nham-1r-aa ] || [ "$name" = nham-mr-aa ]; then
            notheld=$(q "select count(*) from events where run=$run and kind='recovered'
                         and target like 'vnf[_].replica[_]' and detail like '%not held%'")
            resumed=$(q "select count(*) from samples s join series se on s.series = se.id
                         where se.run=$run and se.metric='recovery_resume_ms' and se.labels != ''")
            [ "$notheld" = 3 ] && [ "$resumed" -ge 1 ] \
                && ok "$name: 3 failovers without a hold, $resumed timed as served again ($(q "select group_concat(printf('%.2f', s.value), ' / ') from samples s join series se on s.series = se.id where se.run=$run and se.metric='recovery_resume_ms' and se.labels != ''") ms after detection)" \
                || fail "$name: $notheld failovers without a hold (of 3), $resumed timed as resumed"
            # The SFF took over itself (vnfs/sfc/nham.c, "The SFF's takeover"): on the FMS's
            # word that the copy died it sent a standby holding the last saved checkpoint its
            # TAKE and the replay, and that standby became the VNF from the image it held (no
            # restore asked: not a HIT). Split on the host's clock: the SFF asked, TAKE sent,
            # (the replay handed over,) activated, READY. A takeover the SFF refuses (the standby's acknowledgement of
            # the latest image still on its way) goes the FMS's way: at least 2 of 3.
            took=$(counter "$run" 'sff[0]' takeovers)
            split=$(q "select count(*) from events where run=$run and kind='recovered'
                       and target like 'vnf[_].replica[_]' and detail like '%takeover asked %, sent %, activated %, ready %'
                       and detail not like '%checkpoint confirmed%'")
            [ "${took:-0}" -ge 2 ] && [ "$split" -ge 2 ] \
                && ok "$name: the SFF took over $took times itself ($split split: asked, TAKE sent, activated, READY)" \
                || fail "$name: the SFF took over ${took:-no} times, $split takeovers split so (want 2 of 3)"
            # The FMS raised the SFF to SCHED_FIFO for each takeover it asked, and the SFF
            # dropped back once it had answered (nham_ctl.c, nham_rt_raise()); and the standbys
            # it might choose, the chosen one dropping back once it handled its TAKE (counted
            # per process: the largest of each copy's, summed).
            rt=$(counter "$run" 'sff[0]' takeovers_realtime)
            rt_event=$(q "select detail from events where run=$run and kind='sff-realtime'")
            [ "${took:-0}" -ge 1 ] && [ "${rt:-0}" -ge "${took:-0}" ] \
                && ok "$name: the SFF was real-time for ${rt} takeovers ($rt_event)" \
                || fail "$name: the SFF was real-time for ${rt:-no} of ${took:-0} takeovers (${rt_event:-no sff-realtime event})"
            sb_rt=$(q "select cast(sum(m) as integer) from (select max(s.value) as m from samples s join series se
                       on s.series = se.id where se.run = $run and se.metric = 'role_counter'
                       and se.labels like '%\"counter\":\"takes_realtime\"%' group by se.labels)")
            [ "${sb_rt:-0}" -ge 1 ] \
                && ok "$name: a standby was real-time for its TAKE ($sb_rt of its processes)" \
                || fail "$name: no standby was real-time for its TAKE (of $took takeovers)"
        fi
        # The SFF sends a hop's frames to the copy that said READY, at its own MAC: every
        # recovery's READY moved its hop there (the switch's rules, which OVS's datapath
        # follows only after it acknowledged them, fence and carry no replay). A copy that
        # took over was steered to when its READY reached the SFF, before its first output.
        readdr=$(counter "$run" 'sff[0]' readdressed)
        steered=$(q "select count(*) from samples s join series se on s.series = se.id
                     where se.run=$run and se.metric='recovery_steer_ms' and se.labels != ''")
        want_steered=3
        [ "$name" = nham-0r ] && want_steered=0     # Restarted in place: the same address.
        steer_ms=$(q "select group_concat(printf('%.2f', s.value), ' / ') from samples s join series se on s.series = se.id where se.run=$run and se.metric='recovery_steer_ms' and se.labels != ''")
        [ "${readdr:-0}" -ge "$rec" ] && [ "$steered" = "$want_steered" ] \
            && ok "$name: the SFF addressed each recovered copy at its READY ($readdr READYs moved a hop; $steered takeovers steered${steer_ms:+, $steer_ms ms after detection})" \
            || fail "$name: ${readdr:-no} READYs moved a hop's address (of $rec recoveries), $steered takeovers steered (want $want_steered)"
        dups=$(counter "$run" 'sff[0]' duplicates_suppressed)
        [ "${dups:-0}" -gt 0 ] && ok "$name: the replay's duplicates were suppressed ($dups)" \
            || fail "$name: no duplicate suppressed after $faults rollbacks"
    fi
    mism=$(counter "$run" 'sff[0]' stamp_mismatch)
    ckpt=$(counter "$run" 'sff[0]' checkpoints_saved)
    [ "$mism" = 0 ] && ok "$name: every VNF state saw every packet once" \
        || fail "$name: $mism packets left the chain with a VNF count unequal to their id"
    [ "${ckpt:-0}" -gt 0 ] || [ "$name" = nham-refused ] && ok "$name: $ckpt checkpoints stored" \
        || fail "$name: no checkpoint"
    backend=$(q "select detail from events where run=$run and kind='checkpoint-backend'")
    [ "$backend" = app ] && ok "$name: checkpoint backend recorded ($backend)" \
        || fail "$name: checkpoint backend '$backend'"
done

echo "run-nham: $failures failure(s)"
[ "$failures" -eq 0 ]
