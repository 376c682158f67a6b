# System tests: run as root; each builds its own namespaces and undoes them.

# --- ovs: a private Open vSwitch in its own namespace, two guests pinging through a bridge.
build/tests/ovs-tool: build/san/tests/system/ovs_tool.o $(LIBSFCLAB_SAN) $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)
CHECK_PROGS += tests/system/ovs.sh
CHECK_DEPS  += build/tests/ovs-tool
# --- end ovs

# guest: the netns provider, cgroups and links (root; skips otherwise), and the start-up bench.
CHECK_PROGS += build/tests/system/test_guest
CHECK_DEPS  += build/tests/system/test_guest bin/sfcd
BENCH_PROGS += build/bench/bench_guest
BENCH_DEPS  += build/bench/bench_guest bin/sfcd
build/tests/system/test_guest: build/obj/tests/system/test_guest.o $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka
build/bench/bench_guest: build/obj/tests/system/bench_guest.o $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

# --- dataplane: client -> classifier -> sff -> vnf (fwd, dns) -> echo/client over a kernel
# bridge in namespaces of its own, plus the agent's JSON-RPC (root; skips otherwise).
CHECK_PROGS += tests/system/dataplane.sh
CHECK_DEPS  += bin/sfcd
# --- end dataplane

# --- model: `sfclab check` end to end (no root needed).
CHECK_PROGS += tests/system/model-check.sh
CHECK_DEPS  += bin/sfclab
# --- end model

# --- inject: every fault kind and its heal on a line3-sized instance of its own, and targets
# that do not exist refused before anything runs (root; skips otherwise).
CHECK_PROGS += tests/system/inject-line3.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end inject

# --- run: `sfclab run` of the baseline DNS chain end to end, dig through it, the history in
# SQLite, plots and report, SIGKILL of the runner and resume (root; skips otherwise).
CHECK_PROGS += tests/system/run-baseline.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end run

# --- faults: man-in-the-middle DNS spoofing and a VNF crash through `sfclab run` (root).
CHECK_PROGS += tests/system/run-faults.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end faults

# --- infratest: the foundation end to end (root; skip otherwise): up/traffic/exec/status/two
# instances/down on line3, and SIGKILL/Ctrl-C of `up star32` at several points then clean.
CHECK_PROGS += tests/system/infra-updown.sh tests/system/infra-kill.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end infratest

# --- adapter: `sfcd ft` on five guests: three `none` replicas and a `voter` core, exactly-once
# delivery of the majority value with 0, 1 and 2 Byzantine replicas, then down (root).
CHECK_PROGS += tests/system/ft-voter.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end adapter

# --- experiments: every experiments/*.yaml runs end to end with --quick (root).
CHECK_PROGS += tests/system/experiments-quick.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end experiments

# --- impair: every link impairment measured end to end within +-20% (rate by iperf3, delay
# and jitter by ping, loss/duplication/reordering over 10,000 numbered packets) (root).
CHECK_PROGS += tests/system/impair.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end impair

# --- impair-pops: points of presence joined by a WAN: delay between PoPs and none inside one,
# WAN loss counted over numbered packets (root).
CHECK_PROGS += tests/system/impair-pops.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end impair-pops
# --- nmr: scheme nmr (f=1) on real guests survives a flip MITM and a crash of one replica of
# each VNF with every answer right; scheme none under the same faults does not (root).
CHECK_PROGS += tests/system/run-nmr.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end nmr

# --- isolation: every attack of issue 11 replayed from an attacker guest and a VNF guest must
# fail (agents' RPC, host files, /etc/shadow, results, OVS sockets, namespaces, memory flood,
# stalls, role table), and rounds of two simultaneous `up` of one instance (root).
CHECK_PROGS += tests/system/isolation.sh tests/system/up-race.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end isolation
