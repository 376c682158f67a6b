#!/usr/bin/env bash
# The CLI's grammar for every command of the table (no root needed): `sfclab COMMAND --help`
# and `-h` print that command's usage and exit 0, and the global options (-i, --db,
# --state-dir, in every spelling) are accepted after the command name with the same effect as
# before it. Each command runs with arguments that fail early on an instance and a database
# that do not exist, so nothing is created. A command added to the table without a case here
# fails the test.
set -u
cd "$(dirname "$0")/../.."
sfclab=bin/sfclab
[ -x "$sfclab" ] || { echo "FAIL: $sfclab not built"; exit 1; }

tmp=$(mktemp -d /tmp/sfct-cli-XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
inst=sfct-cli-$$
db=$tmp/none.db
state=$tmp/state
failures=0
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# Arguments that make each command fail early without touching anything.
declare -A args=(
    [check]=/nonexistent/sfct.yaml [up]=/nonexistent/sfct.yaml [down]= [status]= [clean]=
    [exec]="h1 true" [run]=/nonexistent/sfct.yaml [compare]=/nonexistent/sfct.yaml
    [inject]="h1 crash" [runs]= [report]= [plot]=999 [export]=999
    [capture]="h1 -w /nonexistent/sfct.pcap"
    # Commands other branches add (cases for a command not in the table are not used).
    [schemes]= [add-guest]=sfct-g1 [remove-guest]=sfct-g1 [agent]="h1 ping" [link]="h1 show"
)
# Commands that read neither an instance nor the database: nothing to show which was used.
declare -A no_state=([check]=1 [clean]=1 [schemes]=1)

# The commands, from the table as `sfclab --help` prints it.
commands=$("$sfclab" --help | awk '/^Commands/ {on = 1; next} /^$/ {on = 0}
    on && /^  [a-z]/ {print $1}')
[ "$(wc -w <<<"$commands")" -ge 10 ] || fail "cannot read the command table: $commands"

for cmd in $commands; do
    if [ -z "${args[$cmd]+set}" ]; then
        fail "$cmd: no case in tests/system/cli-help.sh (add one)"
        continue
    fi
    for h in --help -h; do
        out=$("$sfclab" "$cmd" $h 2>&1) && rc=0 || rc=$?
        if [ "$rc" = 0 ] && [ "$(head -1 <<<"$out" | cut -d' ' -f1-4)" = "usage: sfclab [OPTIONS] $cmd" ] \
            && grep -q -- "--db FILE" <<<"$out"; then
            :
        else
            fail "sfclab $cmd $h: exit $rc: $(head -2 <<<"$out")"
        fi
    done
    # Help after the arguments too (and after a global option).
    out=$("$sfclab" "$cmd" ${args[$cmd]} -i "$inst" --help 2>&1) && rc=0 || rc=$?
    [ "$rc" = 0 ] && grep -q "^usage: sfclab \[OPTIONS\] $cmd" <<<"$out" \
        || [ "$cmd" = exec ] || fail "sfclab $cmd ARGS -i NAME --help: exit $rc"

    before=$("$sfclab" -i "$inst" --db "$db" --state-dir "$state" "$cmd" ${args[$cmd]} 2>&1)
    rc_before=$?
    for form in "-i $inst --db $db --state-dir $state" "--instance=$inst --db=$db --state-dir=$state" \
                "-i$inst --db $db --state-dir=$state"; do
        # Options between the command and its arguments, and after them (not for exec, whose
        # argument tail is another program's).
        after1=$("$sfclab" "$cmd" $form ${args[$cmd]} 2>&1)
        rc1=$?
        if [ "$cmd" = exec ]; then
            after2=$after1 rc2=$rc1
        else
            after2=$("$sfclab" "$cmd" ${args[$cmd]} $form 2>&1)
            rc2=$?
        fi
        if [ "$after1" != "$before" ] || [ "$rc1" != "$rc_before" ] \
            || [ "$after2" != "$before" ] || [ "$rc2" != "$rc_before" ]; then
            fail "sfclab $cmd with '$form' after it differs from before it:" \
                 "before ($rc_before): $before / after ($rc1, $rc2): $after1 / $after2"
        fi
    done
    # The options took effect: the instance or the database named is the one used.
    case "$before" in
        *"$inst"*|*"$db"*|*nonexistent*) ;;
        *) [ -n "${no_state[$cmd]+set}" ] || fail "sfclab $cmd: '$before' names neither the instance nor the db" ;;
    esac
    ok "$cmd: --help, -h, and global options after the command"
done

# exec's tail is the guest command's: its --help is not ours.
out=$("$sfclab" exec -i "$inst" h1 ls --help 2>&1)
grep -q "^usage:" <<<"$out" && fail "exec took the guest command's --help" \
    || ok "exec leaves the guest command's --help alone"
out=$("$sfclab" status -i 2>&1) && fail "a global option with no value was accepted" \
    || { [ $? = 2 ] && ok "an option missing its value: $out" || fail "-i with no value: $out"; }
[ -e "$db" ] && fail "a database was created at $db"
[ -e "$state/$inst" ] && fail "instance state was created"

if [ "$failures" -gt 0 ]; then
    echo "$failures failure(s)"
    exit 1
fi
echo "all ok"
