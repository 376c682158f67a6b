#!/usr/bin/env bash
# FIT-SFC's cost in one run (issue 12's bench): DNS through the replicated chain with f=0 and
# f=1 (scheme fitsfc: the same code with one or four replicas of the classifier, the SFF and the
# DNS VNF), beside nmr f=1 (2f+1 DNS replicas, one classifier and SFF) and none: p50 and mean
# RTT of closed-loop queries, and the ratios f=1/f=0 and f=1/none. Then the highest rate
# dnsperf keeps under 1% loss through the client's wrapper (f=1) and through none, stepping the
# offered rate up, and their ratio. Numbers from the stored summaries; root only.
#
# Placement: every point runs with --no-pin (RUN_OPTS), its guests free to use both CPUs. Pinned
# (sfclab run's default: every guest on CPU 0, which every instance on this host shares), f=1's
# 3f+1 replicas of a stage wait for one another's turn on that one loaded CPU: fig5-dns --quick
# at load 13-16, f=1 p50 2.5-3.4 ms pinned (2.6-2.9x f=0, three runs); this bench unpinned at
# load 12-13: f=1 1.06 ms, 1.42x f=0. On a quiet host (load 1-3) both placements give f=1
# 1.06-1.11 ms (1.17-1.46x f=0). f=0 and none, one process per stage, barely change. RUN_OPTS=
# (empty) measures the pinned placement.
#
# The switch: `sfclab run` lowers the PMD's sleep to 20 us while a workload runs (100 when idle,
# and throughout when its CPU has no time to spare: cmd_run.c says why). A closed
# loop keeps in step with the PMD's wake-ups, so each switch traversal costs one whole sleep
# plus ~30 us of wake-up: at 100 us, 5 traversals of ~160 us each made none's 859 us p50 on
# the quiet host. The table says which sleep each point got; RUN_OPTS="--no-pin --pmd-sleep
# 100" measures the old behaviour. Load 11, --pmd-sleep 100 against 20: none 820-901 ->
# 394-484 us, f=1 1205 -> 840 us; bench at load 12-13: none 771 -> 445, f=0 744 -> 445, nmr
# 823 -> 492, but f=1 1138 -> 1445 (CPU-bound there). The dnsperf steps run after the workload (the idle sleep),
# where the rate, not the wake-up, bounds them.
#
# Rate: f=1 is bounded by CPU. A query is 56 frames through the switch at f=1 (4 to the
# classifiers, 16 to the SFFs, 16 to the VNFs, 16 back, 4 to the wrapper) against about 8 for
# none. CPU per completed query from /proc of the instance's processes, load 9-14: f=1 at
# 2000 q/s offered 0.43 ms in ovs-vswitchd and 0.52-0.59 ms in the roles (both cores at that
# rate); none at 16000 q/s 35 + 37 us; f=0 at 8000 q/s 50 + 91 us. Three runs of this bench,
# load 8.6-13.9: f=1 / none 0.096, 0.079, 0.118 (none 18650, 18047, 8272 q/s).
set -u
[ "$(id -u)" = 0 ] || { echo "bench/fitsfc.sh: needs root, skipped"; exit 0; }
cd "$(dirname "$0")/.."
COUNT=${COUNT:-3000}
RUN_OPTS=${RUN_OPTS---no-pin}
inst=sfct-bf-$$
tmp=$(mktemp -d /tmp/sfct-bf-XXXXXX)
db=$tmp/bench.db
trap 'bin/sfclab -i "$inst" clean >/dev/null 2>&1; rm -rf "$tmp"' EXIT
q() { sqlite3 "$db" "$1"; }

point() { # NAME SCHEME PARAMS -> experiment file
    cat >"$tmp/$1.yaml" <<YAML
experiment: bench-$1
provider: netns
scheme: $2
params: $3
chain:
  vnfs:
    - {fn: dns, params: {zone: "www.example.com=10.0.0.80"}}
  rules: ["udp,dport=53"]
workload: {kind: dns, count: $COUNT, size: 512, timeout: 1s}
warmup: 100
repetitions: 1
seed: 1
YAML
    sed -i '/^params: {}$/d' "$tmp/$1.yaml"
}
point none none '{}'
point f0 fitsfc '{f: 0}'
point f1 fitsfc '{f: 1}'
point nmr1 nmr '{f: 1}'
for p in none f0 f1 nmr1; do
    bin/sfclab -i "$inst" --db "$db" run $RUN_OPTS "$tmp/$p.yaml" >"$tmp/$p.log" 2>&1 \
        || { echo "bench/fitsfc.sh: $p failed: $(tail -3 "$tmp/$p.log")"; exit 1; }
done
stat() { q "select printf('%.1f', $2) from summaries s join runs r on r.id = s.run where r.experiment='bench-$1' and s.metric='rtt_us' and (s.labels is null or s.labels = '')"; }
printf '%-28s %10s %10s\n' "DNS, 512 B, closed loop" "p50 us" "mean us"
pmd() { q "select coalesce(group_concat(e.detail, '; '), 'as RUN_OPTS set it') from events e join runs r on r.id = e.run where r.experiment='bench-$1' and e.kind='pmd-sleep'"; }
for p in none f0 f1 nmr1; do
    printf '%-28s %10s %10s   PMD sleep: %s\n' "$p" "$(stat $p p50)" "$(stat $p mean)" "$(pmd $p)"
done
awk -v a="$(stat f1 p50)" -v b="$(stat f0 p50)" -v c="$(stat none p50)" -v d="$(stat nmr1 p50)" \
    'BEGIN { printf "p50 ratios: fitsfc f=1 / f=0 %.2fx, f=1 / none %.2fx, f=1 / nmr f=1 %.2fx\n", a / b, a / c, a / d }'

# The highest offered rate with under 1% loss, through a kept chain, 4 s per step (steps about
# 1.5x apart, so the answer is within a third of the true one).
max_rate() { # SCHEME-FILE
    local best=0 rate out lost
    bin/sfclab -i "$inst" --db "$db" run $RUN_OPTS "$tmp/$1.yaml" --keep --fresh >/dev/null 2>&1 || { echo 0; return; }
    for rate in 250 500 1000 1500 2000 3000 4000 6000 8000 12000 16000 24000 32000 48000 64000; do
        out=$(bin/sfclab -i "$inst" exec client sh -c "printf 'www.example.com A\n' > /tmp/q; \
              dnsperf -s 10.0.0.250 -d /tmp/q -c 8 -q 1000 -Q $rate -l 4 -t 1" 2>&1)
        lost=$(echo "$out" | sed -n 's/.*Queries lost: *[0-9]* (\([0-9.]*\)%).*/\1/p')
        awk -v l="${lost:-100}" 'BEGIN { exit !(l < 1) }' || break
        best=$(echo "$out" | sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p')
    done
    bin/sfclab -i "$inst" down >/dev/null 2>&1
    echo "${best:-0}"
}
if command -v dnsperf >/dev/null; then
    n=$(max_rate none); f=$(max_rate f1)
    awk -v n="$n" -v f="$f" 'BEGIN { r = n ? f / n : 0; printf "dnsperf, < 1%% loss: none %.0f q/s, fitsfc f=1 %.0f q/s, ratio %.3f\n", n, f, r }'
else
    echo "dnsperf not installed (make deps): rate skipped"
fi
