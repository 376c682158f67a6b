#!/usr/bin/env bash
# NHAM's criu route (issue 13), by hand: the VSM does not drive CRIU yet, this shows what it
# would drive. A chain of one stateful VNF (0R, 512 KB of state) under numbered UDP load; its
# running process (`sfcd nham-vnf`) is checkpointed N times with CRIU (build/criu, >= 4.2,
# `make criu`) and keeps processing, then N times dumped (killed) and restored in its guest:
# each restored process is the same pid of the guest, its counters continue from the dump and
# it processes on (tests/system/criu-vnf.py says what each step needs). The times go to
# $CRIU_TIMES (default: printed only). The FMS sees the first kill and restarts the VNF as 0R
# does: the restored process runs beside that copy, so the run's loss and duplication say
# nothing here and are not checked. No timing is asserted: the machine is shared.
set -u
[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
cd "$(dirname "$0")/../.."
criu=$(ls -dv build/criu/criu-*/criu/criu 2>/dev/null | tail -1)
[ -n "$criu" ] || { echo "skip: no CRIU built (make criu)"; exit 77; }
"$criu" check >/dev/null 2>&1 || { echo "skip: $criu check fails here"; exit 77; }

. tests/system/infra-lib.sh
run_test_init nhc
n=${CRIU_N:-5}

cat >"$tmp/nham-criu.yaml" <<EOY
experiment: nham-criu
provider: netns
scheme: nham
params: {mechanism: 0R, state_bytes: 524288, suspect_min: 5s}
chain:
  length: 1
  fill: {fn: fwd}
  vnfs: []
  rules: ["udp"]
workload: {kind: udp, size: 1024, duration: $((20 + 2 * n))s, rate: 500, timeout: 5s}
repetitions: 1
seed: 1
EOY

run_experiment "$tmp/run.log" "$tmp/nham-criu.yaml" &
runner=$!
# The VNF's guest directory, once its process has run a while under the load.
gdir=
for _ in $(seq 300); do
    key=$(pgrep -af "sfcd nham-vnf .*/run/sfclab/$inst/" | grep -o -- "--key [^ ]*" | head -1)
    [ -n "$key" ] && { gdir=$(dirname "${key#--key }"); break; }
    sleep 0.1
done
[ -n "$gdir" ] || { echo "FAIL: no nham-vnf started"; cat "$tmp/run.log"; exit 1; }
sleep 3
status=0
python3 tests/system/criu-vnf.py "$criu" "$gdir" "$n" "$tmp/times.json" || status=1
wait "$runner" || { echo "FAIL: the run failed"; tail -20 "$tmp/run.log"; status=1; }
if [ $status = 0 ]; then
    python3 - "$tmp/times.json" "$n" <<'EOP'
import json, statistics, sys
t = json.load(open(sys.argv[1]))
print("criu on a running nham-vnf (%s each, load %s): " % (sys.argv[2], open("/proc/loadavg").read().split()[0])
      + ", ".join("%s p50 %.1f ms" % (k, statistics.median(v)) for k, v in t.items() if k.endswith("_ms"))
      + ", image %.1f MiB" % (statistics.median(t["image_bytes"]) / 1048576))
EOP
    [ -n "${CRIU_TIMES:-}" ] && cp "$tmp/times.json" "$CRIU_TIMES"
    echo "PASS: nham-criu"
fi
exit $status
