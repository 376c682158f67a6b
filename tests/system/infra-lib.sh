# Helpers shared by the infra system tests (sourced, not run): pass/fail counting, and the
# "nothing of instance NAME is left" check that `down` and `clean` must satisfy.
# Callers set: sfclab (path), state_dir (sfclab's state directory).

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
must() { "$@" || { echo "FAIL: $*"; exit 1; }; }

infra_require_root() {
    [ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
    for p in ovsdb-server ovs-vswitchd ip "$@"; do
        command -v "$p" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin
        # `make deps` installs every tool a test needs: a missing one is a failure, never a
        # skip that reads as a pass.
        command -v "$p" >/dev/null 2>&1 || { echo "FAIL: $p not installed (make deps installs it)"; exit 1; }
    done
    [ -x "$sfclab" ] || { echo "FAIL: $sfclab not built"; exit 1; }
}

# The root namespace's links, as `ip -o link` prints them.
root_links() {
    ip -o link show
}

# Copies instance NAME's manifest (it is removed by down/clean) to FILE; an empty FILE if none.
save_manifest() {
    cat "$state_dir/$1/manifest" >"$2" 2>/dev/null || : >"$2"
}

# True if PID is alive and started at STARTTIME (field 22 of /proc/PID/stat), as manifest.c
# checks: a recycled pid is not ours. Zombies count as gone.
proc_alive() {
    local pid=$1 start=$2 stat st
    stat=$(cat /proc/"$pid"/stat 2>/dev/null) || return 1
    st=${stat##*) }
    set -- $st
    [ "$1" != Z ] && [ "${20}" = "$start" ]
}

# Every cgroup hierarchy mounted here, and our own cgroup in it (from /proc/self/cgroup).
cgroup_dirs() {
    local m p
    awk '$3 == "cgroup" || $3 == "cgroup2" {print $2}' /proc/self/mounts | while read -r m; do
        echo "$m"
        cut -d: -f3 /proc/self/cgroup | sort -u | while read -r p; do
            [ "$p" = / ] || echo "$m$p"
        done
    done | sort -u
}

# Checks that nothing of instance NAME is left. MANIFEST is a copy taken while it was up (for its
# pids and paths); LINKS_BEFORE a root_links snapshot. Prints one line per leftover and returns
# the number of problems found.
check_nothing_left() {
    local name=$1 manifest=$2 links_before=$3 what=${4:-} bad=0 kind a b c d
    [ -e /run/netns/sfclab-"$name" ] && { echo "  left: /run/netns/sfclab-$name"; bad=$((bad + 1)); }
    ip netns list 2>/dev/null | grep -qw "sfclab-$name" && {
        echo "  left: ip netns lists sfclab-$name"; bad=$((bad + 1)); }
    [ -e "$state_dir/$name" ] && { echo "  left: state directory $state_dir/$name"; bad=$((bad + 1)); }
    while read -r kind a b c d; do
        case $kind in
            process|guest)
                proc_alive "$a" "$b" && { echo "  left: $kind $c pid $a"; bad=$((bad + 1)); } ;;
            netns|cgroup|mount|dir|tree|file)
                [ -e "$a" ] && { echo "  left: $kind $a"; bad=$((bad + 1)); } ;;
        esac
    done <"$manifest"
    while read -r d; do
        [ -e "$d/sfclab-$name" ] && { echo "  left: cgroup $d/sfclab-$name"; bad=$((bad + 1)); }
    done < <(cgroup_dirs)
    # A daemon or agent of the instance names its state directory on its command line; a child
    # forked by `sfclab up` that has not exec'd yet still has up's command line.
    for d in /proc/[0-9]*/cmdline; do
        c=$( { tr '\0' ' ' <"$d"; } 2>/dev/null) || continue
        case $c in
            *"$state_dir/$name/"*|*" -i $name "*)
                echo "  left: process ${d//[^0-9]/}: $c"; bad=$((bad + 1)) ;;
        esac
    done
    if ! diff -u "$links_before" <(root_links) >/dev/null; then
        echo "  root namespace links changed:"; diff -u "$links_before" <(root_links) | sed 's/^/    /'
        bad=$((bad + 1))
    fi
    return "$bad"
}

# --- An instance of the test's own, with a private state directory (impair*.sh, inject-line3.sh):
# infra_instance_init PREFIX names it $name=sfct-PREFIX-$$, makes $tmp (removed at exit) with the
# state directory $state (= $state_dir) in it, and at exit takes the instance `down` (or
# `clean`s it). sl ARGS... is sfclab on that instance.
infra_instance_init() {
    name=sfct-$1-$$
    tmp=$(mktemp -d "/tmp/sfct-$1-XXXXXX")
    state=$tmp/state
    state_dir=$state
    trap infra_instance_cleanup EXIT
    trap 'exit 130' INT TERM
}
infra_instance_cleanup() {
    "$sfclab" -i "$name" --state-dir "$state" down >/dev/null 2>&1 ||
        "$sfclab" -i "$name" --state-dir "$state" clean >/dev/null 2>&1
    rm -rf -- "$tmp"
}
sl() { "$sfclab" -i "$name" --state-dir "$state" "$@"; }

# --- Tests that start `sfcd` roles on guests themselves (ftvnf.sh, ft-voter.sh), from the
# repository's top directory: guest_test_init PREFIX names the instance $inst=sfct-PREFIX-$$,
# makes $tmp and the map $pids (guest -> pid of what the test started there); at exit those
# are killed, the instance `clean`ed and $tmp removed (KEEP=1 keeps it and says where).
guest_test_init() {
    inst=sfct-$1-$$
    tmp=$(mktemp -d "/tmp/sfct-$1-XXXXXX")
    declare -gA pids=()
    trap guest_test_cleanup EXIT
    trap 'exit 130' INT TERM
}
guest_test_cleanup() {
    local g
    for g in "${!pids[@]}"; do
        kill "${pids[$g]}" 2>/dev/null
    done
    "$sfclab" -i "$inst" clean >/dev/null 2>&1
    [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf -- "$tmp"
}
# gdir GUEST: the guest's directory in the instance's state (where its ft.ctl socket is).
gdir() { echo "/run/sfclab/$inst/guests/$1"; }
# guest_ft_start GUEST ARGS...: `sfcd ft ARGS` in GUEST, in the background (its pid in
# $pids[GUEST], its output in $tmp/GUEST.log), its control socket $(gdir GUEST)/ft.ctl; waits
# (bounded) until the socket is there.
guest_ft_start() {
    local g=$1 k; shift
    rm -f "$(gdir "$g")/ft.ctl"
    "$sfclab" -i "$inst" exec "$g" "$sfcd" ft --ctl "$(gdir "$g")/ft.ctl" "$@" \
        >>"$tmp/$g.log" 2>&1 &
    pids[$g]=$!
    for ((k = 0; k < 200; k++)); do
        [ -S "$(gdir "$g")/ft.ctl" ] && return 0
        kill -0 "${pids[$g]}" 2>/dev/null || break
        sleep 0.05
    done
    fail "sfcd ft in $g did not start"; cat "$tmp/$g.log"
    return 1
}

# --- Tests of `sfclab run` (run-*.sh), from the repository's top directory: run_test_init PREFIX
# checks that sqlite3 (q) is installed, names the instance $inst=sfct-PREFIX-$$ and makes $tmp
# with the results database $db; at exit the instance is `clean`ed and $tmp removed (KEEP=1
# keeps it and says where).
run_test_init() {
    command -v sqlite3 >/dev/null || { echo "FAIL: sqlite3 not installed (make deps installs it)"; exit 1; }
    inst=sfct-$1-$$
    tmp=$(mktemp -d "/tmp/sfct-$1-XXXXXX")
    db=$tmp/results.db
    trap 'bin/sfclab -i "$inst" clean >/dev/null 2>&1; [ -n "${KEEP:-}" ] && echo "kept $tmp" || rm -rf "$tmp"' EXIT
}
# q SQL: one query of the results database.
q() { sqlite3 "$db" "$1"; }
# run_experiment LOG ARGS...: `sfclab run ARGS` into LOG, up to 3 tries when the private switch
# did not come up in time (the machine is shared: under heavy load ovs-vswitchd can miss its 10 s
# start-up deadline). Anything else fails.
run_experiment() {
    local log=$1 try; shift
    for try in 1 2 3; do
        bin/sfclab -i "$inst" --db "$db" run "$@" >"$log" 2>&1 && return 0
        grep -q "did not apply configuration" "$log" || return 1
        echo "note: the switch missed its start-up deadline (try $try)"
        bin/sfclab -i "$inst" clean >/dev/null 2>&1
    done
    return 1
}
# run_summary RUN METRIC: the mean of the run's unlabelled summary of METRIC.
run_summary() {
    q "select mean from summaries where run=$1 and metric='$2' and (labels is null or labels='')"
}
