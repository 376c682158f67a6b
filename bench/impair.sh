#!/usr/bin/env bash
# Link impairment benchmark, side by side in one instance (root):
#   per-packet cost against a bare link of
#     - a tbf at a rate it never reaches (10gbit)
#     - the eBPF loss classifier at 0.0001%, both hooks
#     - the stage as a pass-through (`queue: 1000`, nothing else: delay 0)
#     - an impaired link (delay 1ms each way through the stage), beyond its 2 ms
#   as half the difference of 10th-percentile ping RTTs (each RTT crosses the link twice; on a
#   shared host the median carries other tenants' scheduling, the 10th percentile is the path),
#   and as the ratio of that RTT to the bare link's, measured in the same rounds;
#   TCP throughput (iperf3) of the bare link and of the pass-through stage;
#   the highest rate at which a shaped rate still holds within 10% (tbf egress, and stage +
#   tbf ingress), stepping the rate at run time with `sfclab link set`.
# Numbers from a shared 2-core machine are noisy: read the medians, not the last digit.
set -u
[ "$(id -u)" = 0 ] || { echo "bench/impair.sh: needs root, skipped"; exit 0; }
command -v iperf3 >/dev/null || { echo "bench/impair.sh: no iperf3, skipped"; exit 0; }
sfclab=${SFCLAB:-$PWD/bin/sfclab}
COUNT=${COUNT:-1000}
SECS=${SECS:-2}
RATES=${RATES:-"20mbit 50mbit 70mbit 100mbit 200mbit 500mbit 1gbit"}
name=sfct-imb-$$
tmp=$(mktemp -d /tmp/sfct-imb-XXXXXX)
state=$tmp/state
trap '"$sfclab" -i "$name" --state-dir "$state" down >/dev/null 2>&1 ||
      "$sfclab" -i "$name" --state-dir "$state" clean >/dev/null 2>&1; rm -rf "$tmp"' EXIT
sl() { "$sfclab" -i "$name" --state-dir "$state" "$@"; }

cat > "$tmp/topo.yaml" <<YAML
name: impair-bench
bridges:
  - name: data
guests:
  - {name: h0}
  - {name: bare}
  - {name: tbf}
  - {name: bpf}
  - {name: stage}
  - {name: delay}
  - {name: shaped}
links:
  - {guest: h0, bridge: data, address: 10.0.0.100/24}
  - {guest: bare, bridge: data, address: 10.0.0.1/24}
  - {guest: tbf, bridge: data, address: 10.0.0.2/24, rate: 10gbit}
  - {guest: bpf, bridge: data, address: 10.0.0.3/24, loss: 0.0001%}
  - {guest: stage, bridge: data, address: 10.0.0.4/24, queue: 1000}
  - {guest: delay, bridge: data, address: 10.0.0.5/24, delay: 1ms}
  - {guest: shaped, bridge: data, address: 10.0.0.6/24, queue: 1000}
YAML
sl up "$tmp/topo.yaml" >/dev/null || { echo "bench/impair.sh: up failed"; exit 1; }
for a in 1 2 3 4 5 6; do sl exec h0 ping -n -q -c 2 -W 2 10.0.0.$a >/dev/null 2>&1; done

p10() { sl exec h0 ping -n -c "$1" -i 0.002 "$2" 2>/dev/null |
        sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+9)/10)]}'; }
ROUNDS=${ROUNDS:-5}
echo "== per-packet cost against a bare link: median over $ROUNDS interleaved rounds of the"
echo "   difference of 10th-percentile RTTs ($((COUNT / ROUNDS)) pings each) to the bare link, halved ($(cut -d, -f1 /proc/loadavg | cut -d' ' -f1) load)"
targets="bare:10.0.0.1:0 tbf:10.0.0.2:0 bpf:10.0.0.3:0 stage:10.0.0.4:0 delay:10.0.0.5:2"
for round in $(seq "$ROUNDS"); do
    for t in $targets; do
        IFS=: read -r what addr extra <<<"$t"
        echo "$round $what $(p10 $((COUNT / ROUNDS)) "$addr") $extra"
    done
done > "$tmp/rtt"
python3 - "$tmp/rtt" <<'PY'
import collections, statistics, sys
rounds = collections.defaultdict(dict)
extra = {}
for line in open(sys.argv[1]):
    r, what, v, e = line.split()
    rounds[r][what] = float(v)
    extra[what] = float(e)
labels = {"bare": "bare link", "tbf": "tbf at 10gbit", "bpf": "eBPF loss 0.0001%, both hooks",
          "stage": "stage, pass-through (delay 0)", "delay": "stage, delay 1ms each way"}
base = statistics.median(x["bare"] for x in rounds.values())
print("  %-32s %7.3f ms RTT" % (labels["bare"], base))
for what in ["tbf", "bpf", "stage", "delay"]:
    d = statistics.median((x[what] - extra[what] - x["bare"]) * 1000 / 2 for x in rounds.values())
    rtt = statistics.median(x[what] for x in rounds.values())
    ratio = statistics.median((x[what] - extra[what]) / x["bare"] for x in rounds.values())
    print("  %-32s %7.3f ms RTT, %+6.1f us per packet, RTT (less the asked delay) %.2f x bare"
          % (labels[what], rtt, d, ratio))
PY

tcp() {  # tcp GUEST ADDR [-R] -> Mbit/s received
    sl exec h0 iperf3 -s -1 -p 5301 >/dev/null 2>&1 & local s=$!
    sleep 0.3
    sl exec "$1" iperf3 -c 10.0.0.100 -p 5301 -t "$SECS" -J ${2:-} 2>/dev/null |
        python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e6, 1))'
    wait $s
}
echo "== TCP throughput (iperf3, ${SECS} s)"
bare_tcp=$(tcp bare)
st_e=$(tcp stage)
st_i=$(tcp stage -R)
echo "  bare link:             $bare_tcp Mbit/s"
echo "  stage as pass-through: $st_e Mbit/s egress, $st_i Mbit/s ingress" \
     "($(python3 -c "print(round(${st_e:-0} / ${bare_tcp:-1}, 2), round(${st_i:-0} / ${bare_tcp:-1}, 2))") x bare)"

echo "== highest rate that still holds within 10% (iperf3 TCP, ${SECS} s per step)"
for dir in egress ingress; do
    best=none
    for r in $RATES; do
        sl link shaped set "$dir.rate=$r" >/dev/null || break
        got=$(tcp shaped "$([ $dir = ingress ] && echo -R)")
        asked=$(python3 -c "
import re; v, u = re.match(r'([0-9.]+)(\w+)', '$r').groups()
print(float(v) * {'kbit': 1e-3, 'mbit': 1, 'gbit': 1e3}[u])")
        ratio=$(python3 -c "print(round(${got:-0} / $asked, 3))")
        echo "  $dir $r: $got Mbit/s (ratio $ratio)"
        python3 -c "import sys; sys.exit(0 if $ratio >= 0.9 and $ratio <= 1.1 else 1)" && best=$r
    done
    sl link shaped set "$dir.rate=0" >/dev/null
    echo "  $dir: holds within 10% up to $best (the bare link carries $bare_tcp Mbit/s here:" \
         "no shaped rate above what the host forwards can hold)"
done
