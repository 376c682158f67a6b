#!/usr/bin/env bash
# The `lxc` provider end to end (issue 16), on libvirt's LXC driver:
#  0. the provider API itself (build/tests/system/test_libvirt lxc): two containers created,
#     wired with a type='ethernet' interface, pinged, paused, resumed, exec'd, found again,
#     stopped and destroyed, with their timings printed;
#  1. `up` of line3 as containers (with the instance's own libvirtd when the host runs none):
#     traffic between guests through the instance's switch, exec, hostname, status (stats through
#     libvirt), pause/resume through the freezer, then `down` leaves nothing: no domain, no
#     libvirtd of ours, no namespace, no state directory.
#     Confinement as a netns guest's (init confines the container itself): no repository,
#     results, host /tmp, instance key or OVS socket, read-only /usr, no CAP_SYS_ADMIN.
#  2. `sfclab run experiments/baseline-dns.yaml --quick --set provider=lxc`: the same chain as
#     netns, the run complete in its own database with provider lxc recorded; then the crash
#     and DNS-spoofing experiments and the nmr scheme's on lxc guests, faults injected; and
#     fitsfc-fig5-dns (f=0 and f=1 in one sweep: a second point's libvirtd is a new daemon).
#  3. SIGKILL of `up` after it finished, a foreign domain (not named after the instance) on the
#     same daemon, then `clean`: the instance's domains are gone and the foreign one survives.
#  4. SIGKILL of the instance's own libvirtd, then `clean`: no container, cgroup or state left.
# Exit 0 pass, 77 skip (not root, or libvirt's LXC driver not installed), anything else fail.
set -u
cd "$(dirname "$0")/../.." || exit 1
sfclab=${SFCLAB:-bin/sfclab}
state_dir=${SFCLAB_STATE_DIR:-/run/sfclab}
. tests/system/infra-lib.sh
infra_require_root virsh
[ -x /usr/sbin/libvirtd ] || { echo "skip: libvirtd not installed (make deps)"; exit 77; }
ls /usr/lib/*/libvirt/connection-driver/libvirt_driver_lxc.so >/dev/null 2>&1 || {
    echo "skip: libvirt's LXC driver not installed (make deps)"; exit 77; }

tmp=$(mktemp -d /tmp/sfct-lxc-XXXXXX)
names=()
# The foreign domain of part 3: its name, the daemon it was made on, its libvirt_lxc
# controller and the container's init (both by pid, checked against their command lines).
foreign= foreign_uri= foreign_pid= foreign_init=
# A pid that is still the process we mean: its command line holds 'want'.
still() { [ -n "$1" ] && { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null | grep -qF -- "$2"; }
# Removes the foreign domain, and only it, whether `clean` stopped its daemon or not: the
# daemon destroys it while it runs; otherwise its init is killed (the container's PID
# namespace dies with it), then its controller if it lingers, then the cgroups libvirt made
# for it. Each run used to leave the container's `sh` behind, and its cgroups.
foreign_destroy() {
    [ -n "$foreign" ] || return 0
    if [ -n "$foreign_uri" ] && virsh -c "$foreign_uri" domstate "$foreign" >/dev/null 2>&1; then
        virsh -c "$foreign_uri" destroy "$foreign" >/dev/null 2>&1
    fi
    still "$foreign_init" "$foreign" && kill -KILL "$foreign_init" 2>/dev/null
    for _ in $(seq 50); do still "$foreign_pid" "--name $foreign " || break; sleep 0.1; done
    if still "$foreign_pid" "--name $foreign "; then
        kill -TERM "$foreign_pid" 2>/dev/null; sleep 1
        still "$foreign_pid" "--name $foreign " && kill -KILL "$foreign_pid" 2>/dev/null
    fi
    for _ in $(seq 20); do
        left=0
        for d in /sys/fs/cgroup/*/machine/lxc-*-"$foreign".libvirt-lxc; do
            [ -d "$d" ] && { rmdir "$d" 2>/dev/null || left=1; }
        done
        [ "$left" = 0 ] && break
        sleep 0.1
    done
    foreign=
}
cleanup() {
    for i in "${names[@]}"; do
        "$sfclab" -i "$i" clean >/dev/null 2>&1
    done
    foreign_destroy
    rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

sed 's/^provider: netns/provider: lxc/; s/^name: line3/name: line3-lxc/' topologies/line3.yaml \
    >"$tmp/line3-lxc.yaml"
root_links >"$tmp/links-before"
uri_of() {
    local sock="$state_dir/$1/libvirt/sock/libvirt-sock"
    if [ -S "$sock" ]; then echo "lxc:///system?socket=$sock"; else echo "lxc:///system"; fi
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- 0. the provider API.
if build/tests/system/test_libvirt lxc >"$tmp/api.out" 2>&1; then
    ok "provider API: $(grep -c '^ok' "$tmp/api.out") checks"
    grep '^timing' "$tmp/api.out"
else
    fail "provider API (test_libvirt lxc)"; grep -v '^ok' "$tmp/api.out" | tail -20
fi

# --- 1. up, traffic, exec, status, pause/resume, down.
name=sfct-lx-$$
names+=("$name")
t0=$(now_ms)
if "$sfclab" -i "$name" up "$tmp/line3-lxc.yaml" >"$tmp/up.out" 2>&1; then
    ok "up of line3 on lxc in $(( $(now_ms) - t0 )) ms ($(grep -o 'in [0-9]* ms' "$tmp/up.out"))"
else
    fail "up of line3 on lxc"; cat "$tmp/up.out"; exit 1
fi
save_manifest "$name" "$tmp/$name.manifest"
uri=$(uri_of "$name")
n_dom=$(virsh -c "$uri" list --name 2>/dev/null | grep -c "^sfclab-$name-")
[ "$n_dom" = 3 ] && ok "3 domains sfclab-$name-* on $uri" || fail "$n_dom domains of $name on $uri"
grep -q "^domain " "$tmp/$name.manifest" && ok "domains recorded in the manifest" \
    || fail "no domain in the manifest"
"$sfclab" -i "$name" exec h1 ping -c 3 -i 0.2 -W 1 10.0.0.3 >"$tmp/ping" 2>&1 \
    && ok "h1 pings h3 through the switch" || { fail "h1 cannot ping h3"; cat "$tmp/ping"; }
[ "$("$sfclab" -i "$name" exec h2 hostname 2>&1)" = h2 ] && ok "exec: hostname h2" \
    || fail "exec hostname in h2"
init=$("$sfclab" -i "$name" exec h2 cat /proc/1/cmdline | tr '\0' ' ')
case $init in *"sfcd init"*) ok "h2's PID 1 is sfcd init";; *) fail "h2's PID 1: $init";; esac
"$sfclab" -i "$name" exec h3 sh -c 'exit 7'; [ $? = 7 ] && ok "exec passes the exit status" \
    || fail "exec lost the exit status"
# --- 1b. confined like a netns guest (testbed/infra/confine.h; init confines the container):
# no repository, results, host /tmp, instance key or OVS socket; its own agent directory its
# only view of the instance; no CAP_SYS_ADMIN for init or for what exec starts.
echo marker >"$tmp/host-tmp-marker"
ex() { "$sfclab" -i "$name" exec h2 "$@"; }
ex test -e "$PWD/Makefile" && fail "h2 sees the repository" || ok "h2: no repository"
ex test -e "$PWD/results" && fail "h2 sees results/" || ok "h2: no results/"
ex test -e "$tmp/host-tmp-marker" && fail "h2 sees the host's /tmp" || ok "h2: its own /tmp"
ex test -e "$state_dir/$name/key" && fail "h2 sees the instance key" || ok "h2: no instance key"
ex test -e "$state_dir/$name/ovs/db.sock" && fail "h2 sees the OVSDB socket" ||
    ok "h2: no OVS socket"
ex test -e /run/openvswitch && fail "h2 sees the system's OVS" || ok "h2: no system OVS"
r=$(ex cat /etc/shadow 2>/dev/null)
grep -q '^root:' <<<"$r" && fail "h2 read /etc/shadow" || ok "h2: /etc/shadow is empty"
r=$(ex ls "$state_dir/$name/guests" 2>&1)
[ "$r" = h2 ] && ok "h2: sees its own agent directory only" ||
    fail "h2 sees in $state_dir/$name/guests: $r"
ex sh -c "echo x >$state_dir/$name/guests/h2/written" && [ -e "$state_dir/$name/guests/h2/written" ] &&
    ok "h2: its agent directory is writable, at its host path" || fail "h2 cannot write its directory"
ex sh -c "echo x >/usr/sfct-lx-$$" 2>/dev/null && fail "h2 wrote into /usr" || ok "h2: /usr read-only"
ex mount -t tmpfs none /mnt 2>/dev/null && fail "h2 mounted" || ok "h2: cannot mount"
for p in self 1; do
    caps=$(ex sed -n 's/^CapBnd:\t//p' /proc/$p/status)
    [ -n "$caps" ] && [ $(( 0x$caps & (1 << 21) )) = 0 ] &&
        ok "h2 /proc/$p: no CAP_SYS_ADMIN (bounding $caps)" || fail "h2 /proc/$p bounding set '$caps'"
done
"$sfclab" -i "$name" status >"$tmp/status" 2>&1
# GUEST HANDLE... STATE CPU MEM: an lxc handle is "DOMAIN PID STARTTIME".
awk '$1 == "h1" { for (i = 2; i < NF; i++) if ($i == "running" && $(i + 2) > 0) found = 1 }
     END {exit !found}' "$tmp/status" \
    && ok "status: h1 running, memory from libvirt" || { fail "status"; cat "$tmp/status"; }
if "$sfclab" -i "$name" inject h2 pause >"$tmp/pause" 2>&1; then
    st=$(virsh -c "$uri" domstate "sfclab-$name-h2" 2>&1)
    [ "$st" = paused ] && ok "pause: libvirt says paused" || fail "pause: libvirt says '$st'"
    # The freezer stops processes, not the kernel's network stack (pings are still answered):
    # look at the container's freezer cgroup itself.
    pid=$(awk '$1 == "h2" {print $3}' "$tmp/status")
    fz=$(awk -F: '$2 == "freezer" {print $3}' /proc/"$pid"/cgroup 2>/dev/null)
    fst=$(cat /sys/fs/cgroup/freezer"$fz"/freezer.state 2>&1)
    [ "$fst" = FROZEN ] && ok "h2's init $pid is in a FROZEN cgroup ($fz)" \
        || fail "h2's freezer cgroup '$fz' is '$fst'"
    "$sfclab" -i "$name" inject h2 pause --heal >>"$tmp/pause" 2>&1
    st=$(virsh -c "$uri" domstate "sfclab-$name-h2" 2>&1)
    [ "$st" = running ] && ok "resume: running again" || fail "resume: libvirt says '$st'"
    "$sfclab" -i "$name" exec h1 ping -c 1 -W 2 10.0.0.2 >/dev/null 2>&1 \
        && ok "h2 answers after resume" || fail "h2 silent after resume"
else
    fail "inject pause"; cat "$tmp/pause"
fi
t0=$(now_ms)
"$sfclab" -i "$name" down >"$tmp/down.out" 2>&1 && ok "down in $(( $(now_ms) - t0 )) ms" \
    || { fail "down"; cat "$tmp/down.out"; }
if bad=$(check_nothing_left "$name" "$tmp/$name.manifest" "$tmp/links-before" 2>&1); then
    ok "down left nothing"
else
    fail "down left: $bad"
fi
[ -S /run/libvirt/libvirt-sock ] && virsh -c lxc:///system list --name 2>/dev/null \
    | grep -q "^sfclab-$name-" && fail "domains of $name left on the host's libvirtd"

# --- 2. the baseline DNS chain on lxc guests.
name=sfct-lr-$$
names+=("$name")
if "$sfclab" -i "$name" --db "$tmp/runs.db" run experiments/baseline-dns.yaml --quick \
        --set provider=lxc >"$tmp/run.out" 2>&1; then
    ok "baseline-dns --quick --set provider=lxc"
else
    fail "baseline-dns on lxc"; tail -20 "$tmp/run.out"
fi
row=$(sqlite3 "$tmp/runs.db" "select status, json_extract(params, '\$.provider') from runs" 2>&1)
[ "$row" = "complete|lxc" ] && ok "run recorded: $row" || fail "run recorded as '$row'"
n=$(sqlite3 "$tmp/runs.db" "select count(*) from samples_view where metric = 'rtt_us'" 2>&1)
[ "${n:-0}" -ge 300 ] 2>/dev/null && ok "$n DNS round trips through the chain" \
    || fail "$n rtt samples"
[ -e "$state_dir/$name" ] && fail "run left $state_dir/$name"
# A crash, a man-in-the-middle and a replicated scheme (nmr) on lxc guests: the injectors and
# the scheme's deploy work through the provider too.
for e in baseline-crash-availability baseline-dns-spoof nmr-dns; do
    if "$sfclab" -i "$name" --db "$tmp/runs.db" run "experiments/$e.yaml" --quick \
            --set provider=lxc >"$tmp/$e.out" 2>&1; then
        row=$(sqlite3 "$tmp/runs.db" "select r.status || '|' || json_extract(r.params, '\$.provider')
            || '|' || (select count(*) > 0 from events e where e.run = r.id
                       and e.kind = 'fault-injected')
            from runs r where r.experiment = '$e'" 2>&1)
        [ "$row" = "complete|lxc|1" ] && ok "$e --quick on lxc: complete, faults injected" \
            || fail "$e on lxc recorded as '$row'"
    else
        fail "$e on lxc"; tail -20 "$tmp/$e.out"
    fi
done

# A scheme other than nmr, and a sweep of two points in one process: fitsfc f=0 and f=1
# (13 containers). The second point's `up` must not use the first point's libvirtd connection
# (that daemon is gone: it used to die of SIGPIPE, then crash).
e=fitsfc-fig5-dns
if "$sfclab" -i "$name" --db "$tmp/runs.db" run "experiments/$e.yaml" --quick \
        --set provider=lxc --set workload.count=300 >"$tmp/$e.out" 2>&1; then
    row=$(sqlite3 "$tmp/runs.db" "select group_concat(r.status || '|' ||
            json_extract(r.params, '\$.provider') || '|' || json_extract(r.point, '\$.f') || '|' ||
            (select s.n from summaries s where s.run = r.id and s.metric = 'rtt_us'
             and (s.labels is null or s.labels = '')), ' ')
          from runs r where r.experiment = '$e'" 2>&1)
    [ "$row" = "complete|lxc|0|300 complete|lxc|1|300" ] &&
        ok "$e --quick on lxc: f=0 and f=1 complete, 300 answers each" ||
        fail "$e on lxc recorded as '$row'"
else
    fail "$e on lxc"; tail -20 "$tmp/$e.out"
fi
[ -e "$state_dir/$name" ] && fail "$e left $state_dir/$name"

# --- 3. SIGKILL of up, a foreign domain, clean.
name=sfct-lk-$$
names+=("$name")
setsid "$sfclab" -i "$name" up "$tmp/line3-lxc.yaml" >"$tmp/upk.out" 2>&1 &
up_pid=$!
wait "$up_pid" || { fail "up (kill test)"; cat "$tmp/upk.out"; }
kill -9 "$up_pid" 2>/dev/null
save_manifest "$name" "$tmp/$name.manifest"
uri=$(uri_of "$name")
foreign=sfct-foreign-$$
cat >"$tmp/foreign.xml" <<EOF
<domain type='lxc'>
  <name>$foreign</name>
  <memory unit='MiB'>64</memory>
  <os><type>exe</type><init>/bin/sh</init><initarg>-c</initarg>
    <initarg>trap 'exit 0' TERM; while :; do sleep 1; done; : $foreign</initarg></os>
  <devices><console type='pty'/></devices>
</domain>
EOF
foreign_uri=$uri
if virsh -c "$uri" create "$tmp/foreign.xml" >/dev/null 2>&1; then
    foreign_pid=$(virsh -c "$uri" domid "$foreign" 2>/dev/null | head -1)
    for c in $(cat /proc/"$foreign_pid"/task/*/children 2>/dev/null); do
        still "$c" "$foreign" && foreign_init=$c
    done
    ok "foreign domain $foreign (controller $foreign_pid, init $foreign_init) beside the instance's"
else
    fail "cannot make a foreign domain on $uri"
fi
if "$sfclab" -i "$name" clean >"$tmp/clean.out" 2>&1; then ok "clean after SIGKILL of up"
else fail "clean"; cat "$tmp/clean.out"; fi
if bad=$(check_nothing_left "$name" "$tmp/$name.manifest" "$tmp/links-before" 2>&1); then
    ok "clean left nothing of $name"
else
    fail "clean left: $bad"
fi
for d in /proc/[0-9]*/cmdline; do
    c=$( { tr '\0' ' ' <"$d"; } 2>/dev/null) || continue
    case $c in *libvirt_lxc*"--name sfclab-$name-"*) fail "container left: $c";; esac
done
if still "$foreign_pid" "--name $foreign " && still "$foreign_init" "$foreign"; then
    ok "the foreign domain survives clean (controller and init)"
else
    fail "the foreign domain is gone"
fi
# Ours all the same: removed now, by pid, and checked.
f=$foreign; foreign_destroy
if still "$foreign_pid" "--name $f " || still "$foreign_init" "$f" \
        || ls -d /sys/fs/cgroup/*/machine/lxc-*-"$f".libvirt-lxc >/dev/null 2>&1; then
    fail "the foreign domain $f outlived its removal"
else
    ok "the foreign domain $f removed: no controller, init or cgroup left"
fi

# --- 4. SIGKILL of the instance's own libvirtd too: clean finds its containers from the pid
# files the daemon left and kills them, with their cgroups.
name=sfct-ld-$$
names+=("$name")
"$sfclab" -i "$name" up "$tmp/line3-lxc.yaml" >"$tmp/upd.out" 2>&1 || { fail "up (daemon kill)"; cat "$tmp/upd.out"; }
save_manifest "$name" "$tmp/$name.manifest"
if [ -r "$state_dir/$name/libvirt/libvirtd.pid" ]; then
    kill -9 "$(cat "$state_dir/$name/libvirt/libvirtd.pid")"
    "$sfclab" -i "$name" clean >"$tmp/cleand.out" 2>&1 && ok "clean after SIGKILL of libvirtd" \
        || { fail "clean after SIGKILL of libvirtd"; cat "$tmp/cleand.out"; }
    if bad=$(check_nothing_left "$name" "$tmp/$name.manifest" "$tmp/links-before" 2>&1); then
        ok "clean left nothing of $name"
    else
        fail "clean left: $bad"
    fi
    for d in /proc/[0-9]*/cmdline; do
        c=$( { tr '\0' ' ' <"$d"; } 2>/dev/null) || continue
        case $c in *libvirt_lxc*"--name sfclab-$name-"*) fail "container left: $c";; esac
    done
    ls /sys/fs/cgroup/*/machine 2>/dev/null | grep -q "sfclab-$name-" && fail "cgroups of $name left"
else
    ok "(the host's libvirtd serves this instance: no daemon of ours to kill)"
    "$sfclab" -i "$name" down >/dev/null 2>&1
fi

echo "lxc: $failures failure(s)"
[ "$failures" = 0 ]
