#!/usr/bin/env bash
# The adapter end to end (root): five guests on one bridge (client, r0, r1, r2, voter), three
# `none` replica cores forwarding the client's requests to a `voter` core (f = 1) through
# `sfcd ft`, the voter delivering to a file. Checks that the voter delivers every request exactly
# once with the client's value; that it still does with one replica Byzantine (restarted with
# --byzantine corrupt); that with two replicas lying differently (more than f) it delivers
# nothing rather than a wrong value and halts each request; then `down` leaves nothing.
# Exit 0 pass, 77 skip (not root, no Open vSwitch or python3), anything else fail.
set -u
cd "$(dirname "$0")/../.." || exit 1
top=$(pwd)
sfclab=${SFCLAB:-bin/sfclab}
sfcd=$top/bin/sfcd
state_dir=${SFCLAB_STATE_DIR:-/run/sfclab}
. tests/system/infra-lib.sh
infra_require_root python3
[ -x "$sfcd" ] || { echo "FAIL: $sfcd not built"; exit 1; }

guest_test_init ft

cat >"$tmp/ft5.yaml" <<'YAML'
# The adapter's system test: a client, three replicas and a voter on one bridge.
name: ft5
provider: netns
bridges:
  - name: data
guests:
  - name: client
    cpus: 1
    memory: 128M
  - name: r0
    cpus: 1
    memory: 128M
  - name: r1
    cpus: 1
    memory: 128M
  - name: r2
    cpus: 1
    memory: 128M
  - name: voter
    cpus: 1
    memory: 128M
links:
  - guest: client
    bridge: data
    address: 10.0.0.1/24
  - guest: r0
    bridge: data
    address: 10.0.0.2/24
  - guest: r1
    bridge: data
    address: 10.0.0.3/24
  - guest: r2
    bridge: data
    address: 10.0.0.4/24
  - guest: voter
    bridge: data
    address: 10.0.0.5/24
YAML

# Endpoint ids: client 0, r0..r2 1..3, voter 4; every core listens on port 7000.
peers=(--peer 0=10.0.0.1:7000 --peer 1=10.0.0.2:7000 --peer 2=10.0.0.3:7000
       --peer 3=10.0.0.4:7000 --peer 4=10.0.0.5:7000)
# Guests see only their own directory of the instance (at the same path as on the host): the
# voter delivers there, its endpoint table goes there, control sockets are made there.
out=$(gdir voter)/voter.out
# The voter reads the same table from a file (--endpoints), the replicas from --peer.
printf '# id=address:port\n0=10.0.0.1:7000\n1=10.0.0.2:7000  # r0\n2=10.0.0.3:7000\n3=10.0.0.4:7000\n4=10.0.0.5:7000\n' \
    >"$tmp/endpoints"

# start GUEST ARGS...: guest_ft_start (infra-lib.sh).
start() { guest_ft_start "$@"; }

# stop GUEST: SIGTERM, inside the guest, to the pid our sfcd there reports on its control
# socket (the guest's own pid namespace, if it has one), then waits for our `sfclab exec`.
stop() {
    local g=$1 pid
    pid=$(counter "$g" pid)
    [ -n "$pid" ] && "$sfclab" -i "$inst" exec "$g" kill -TERM "$pid"
    wait "${pids[$g]}" 2>/dev/null
    unset "pids[$g]"
}

# counter GUEST NAME: a counter from the control socket's stats ('pid': the process's).
counter() {
    python3 - "$(gdir "$1")/ft.ctl" "$2" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"stats"}\n')
data = b''
while not data.endswith(b'\n'):
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
r = json.loads(data)['result']
print(r['pid'] if sys.argv[2] == 'pid' else r['counters'][sys.argv[2]])
PY
}

# The test's client runs in the client guest's network namespace only: it reads what the
# voter delivered, which no guest may read from another.
client() {
    local pid
    # A netns guest's handle is "PID STARTTIME": its init's pid first.
    pid=$(python3 -c 'import json,sys; print([g for g in json.load(open(sys.argv[1]))["guests"]
        if g["name"] == "client"][0]["handle"].split()[0])' "/run/sfclab/$inst/instance.json")
    nsenter -t "$pid" -n python3 "$top/tests/system/ft-client.py" "$@" \
        --out "$out" --bind 10.0.0.1:7000 --self 0 \
        --to 1=10.0.0.2:7000 --to 2=10.0.0.3:7000 --to 3=10.0.0.4:7000
}

root_links >"$tmp/links-before"
must "$sfclab" -i "$inst" up "$tmp/ft5.yaml"
save_manifest "$inst" "$tmp/manifest"

replica() { start "r$1" --core none --self $(($1 + 1)) --next 4 "${peers[@]}" "${@:2}"; }
cp "$tmp/endpoints" "$(gdir voter)/endpoints"
must start voter --endpoints "$(gdir voter)/endpoints" --core voter --self 4 --f 1 --group 1,2,3 --param timeout=300ms --deliver "$out"
for r in 0 1 2; do must replica $r; done

# --- all correct
n=40
client send --first 1 --count $n | sed 's/^/  /'
if client check --first 1 --count $n; then
    ok "all replicas correct: $n requests delivered once each with the client's value"
else
    fail "all replicas correct"
fi

# --- one Byzantine replica (f = 1): r2 restarted, corrupting everything it forwards
stop r2
must replica 2 --byzantine corrupt --incarnation 1
client send --first 1001 --count $n | sed 's/^/  /'
if client check --first 1001 --count $n; then
    ok "r2 Byzantine: $n requests delivered once each with the correct value"
else
    fail "r2 Byzantine"
fi
[ "$(counter voter step_errors)" = 0 ] || fail "the voter's core reported step errors"

# --- two Byzantine replicas lying differently (more than f): never a wrong value, halts
stop r1
must replica 1 --byzantine corrupt --incarnation 1
halted0=$(counter voter drop_no_quorum)
m=10
client send --first 2001 --count $m --no-retry --wait 1 | sed 's/^/  /'
for ((k = 0; k < 50; k++)); do
    halted=$(counter voter drop_no_quorum)
    [ $((halted - halted0)) -ge $m ] && break
    sleep 0.1
done
if client check --first 2001 --count $m --none && [ $((halted - halted0)) -ge $m ]; then
    ok "r1 and r2 Byzantine: nothing delivered, $((halted - halted0)) request(s) halted"
else
    fail "r1 and r2 Byzantine: halted $((halted - halted0)) of $m"
fi
echo "  voter: rx $(counter voter rx), delivered $(counter voter delivered)," \
     "duplicates dropped $(counter voter drop_duplicate), timers fired $(counter voter timers_fired)"

# --- down: nothing left (our sfcd processes included: down stops every guest's processes)
if "$sfclab" -i "$inst" down; then
    for g in "${!pids[@]}"; do
        wait "${pids[$g]}" 2>/dev/null
        unset "pids[$g]"
    done
    if check_nothing_left "$inst" "$tmp/manifest" "$tmp/links-before"; then
        ok "down left nothing"
    else
        fail "down left something"
    fi
else
    fail "down failed"
fi

echo "$((4 - failures)) passed, $failures failed"
[ "$failures" = 0 ]
