# System tests: run as root; each builds its own namespaces and undoes them.

# --- ovs: a private Open vSwitch in its own namespace, two guests pinging through a bridge.
build/tests/ovs-tool: build/san/tests/system/ovs_tool.o $(LIBSFCLAB_SAN) $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)
CHECK_PROGS += tests/system/ovs.sh
CHECK_DEPS  += build/tests/ovs-tool
# --- end ovs

# --- openflow: the persistent OpenFlow channel (testbed/infra/openflow) against a private Open
# vSwitch: every match and action deploy uses, refusals in the switch's words, groups, and a
# fast-failover group moving traffic to the backup when the primary's link goes down (root).
build/tests/of-tool: build/san/tests/system/of_tool.o $(LIBSFCLAB_SAN) $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)
CHECK_PROGS += tests/system/openflow.sh
CHECK_DEPS  += build/tests/ovs-tool build/tests/of-tool
# --- end openflow

# --- ff-group: the instance's OpenFlow groups (instance_group_add()) on the real switch: a
# fast-failover group moves a's traffic from p to s when p's link goes down, with no message
# from us, and back; a control flow without the group loses it instead (root).
build/tests/system/ff-group: build/obj/tests/system/ff_group.o $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
CHECK_PROGS += build/tests/system/ff-group
CHECK_DEPS  += build/tests/system/ff-group bin/sfcd
# --- end ff-group

# --- cli: `sfclab COMMAND --help` and global options after the command, for every command of
# the table (no root needed).
CHECK_PROGS += tests/system/cli-help.sh
CHECK_DEPS  += bin/sfclab
# --- end cli

# --- capture: `capture: true` keeps a pcap per run, `sfclab capture` of a component (every
# replica of a replicated one) and of a guest through an OVS mirror on AF_XDP ports, tcpdump
# decodes the NSH, nothing left after a capture or a SIGKILLed one plus down (root).
CHECK_PROGS += tests/system/capture.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end capture

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

# --- guests at run time: add-guest/remove-guest on a running line3, then down (and clean on a
# second instance) leave nothing (root).
CHECK_PROGS += tests/system/infra-guests.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end guests at run time

# --- adapter: `sfcd ft` on five guests: three `none` replicas and a `voter` core, exactly-once
# delivery of the majority value with 0, 1 and 2 Byzantine replicas, then down (root).
CHECK_PROGS += tests/system/ft-voter.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end adapter

# --- ftvnf: FTvNF's cores through `sfcd ft` on eight guests (sequencer, three journaled
# loggers, manager, master and slave of a random-port nat); the master killed under UDP load:
# nothing lost, no flow's mapping changed, a logger rebuilt from its journal (root).
CHECK_PROGS += tests/system/ftvnf.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end ftvnf

# --- run-ftvnf: scheme ftvnf through `sfclab run`: a random-port nat's master killed by the
# fault plan under numbered UDP echo; stored lost_packets = 0 and a recovery time, the new
# master holds the dead one's mappings port for port (root).
CHECK_PROGS += tests/system/run-ftvnf.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end run-ftvnf

# --- experiments: every experiments/*.yaml runs end to end with --quick (root); the
# comparisons (setups:) in a test of their own.
CHECK_PROGS += tests/system/experiments-quick.sh tests/system/compare-quick.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end experiments

# --- impair: every link impairment measured end to end within +-10% (rate by iperf3, delay
# and jitter fitted to ping percentiles, loss/duplication/reordering over 10,000 numbered packets) (root).
CHECK_PROGS += tests/system/impair.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end impair

# --- impair-pops: points of presence joined by a WAN: delay between PoPs and none inside one,
# WAN loss counted over numbered packets (root).
CHECK_PROGS += tests/system/impair-pops.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end impair-pops

# --- link-sweep: experiments/link-sweep.yaml at 0, 1 and 5 ms per link: each point's p50 RTT
# exceeds the undelayed one by the 10 delayed links a query crosses, within 10% (root).
CHECK_PROGS += tests/system/link-sweep.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end link-sweep

# --- switch-rx: with VNF CPU quotas the switch's data ports receive on its own CPU (RPS), and
# not with --switch-rx off; the run records it (root).
CHECK_PROGS += tests/system/switch-rx.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end switch-rx
# --- nmr: scheme nmr (f=1) on real guests survives a flip MITM and a crash of one replica of
# each VNF with every answer right; scheme none under the same faults does not (root).
CHECK_PROGS += tests/system/run-nmr.sh
CHECK_PROGS += tests/system/run-ftc.sh
# FTMB's two layouts (in line: a logger per middlebox, IL -> M -> OL; shared) carry the stream,
# each output released once its PAL is in (root).
CHECK_PROGS += tests/system/run-ftmb.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end nmr

# --- isolation: every attack of issue 11 replayed from an attacker guest and a VNF guest must
# fail (agents' RPC, host files, /etc/shadow, results, OVS sockets, namespaces, memory flood,
# stalls, role table), and rounds of two simultaneous `up` of one instance (root).
CHECK_PROGS += tests/system/isolation.sh tests/system/up-race.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end isolation
# --- lxc: guests on libvirt's LXC driver (issue 16): line3 up/traffic/exec/pause/down with the
# instance's own libvirtd, baseline-dns --quick on lxc, SIGKILL + clean beside a foreign domain
# (root and libvirt's LXC driver; skips otherwise).
CHECK_PROGS += tests/system/lxc.sh
CHECK_DEPS  += bin/sfclab bin/sfcd build/tests/system/test_libvirt
# --- end lxc

# --- libvirt: the lxc and kvm providers through the provider API (test_libvirt lxc runs from
# lxc.sh in make check; test_libvirt kvm from kvm.sh in make check-slow).
CHECK_DEPS  += build/tests/system/test_libvirt
build/tests/system/test_libvirt: build/obj/tests/system/test_libvirt.o $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lvirt
CHECK_SLOW_PROGS += tests/system/kvm.sh
CHECK_SLOW_DEPS  += bin/sfclab bin/sfcd build/tests/system/test_libvirt
# --- end libvirt

# --- readme: the README's list of what runs, generated from the registries (no root needed).
build/tests/readme-schemes: build/obj/tests/readme/readme_schemes.o $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
CHECK_PROGS += tests/readme/readme-claims.sh
CHECK_DEPS  += build/tests/readme-schemes
# --- end readme

# --- compare-readme: the README's "Which scheme for which fault?" is generated from the
# committed results/compare-*.tsv by `sfclab compare --from` (no root needed).
CHECK_PROGS += tests/readme/compare-claims.sh
CHECK_DEPS  += bin/sfclab
# --- end compare-readme

# --- udp-loss: the udp workload's numbered datagrams: lost/duplicate/reordered summaries on
# every run; none loses nothing without faults and loses while a VNF's links are cut (root).
CHECK_PROGS += tests/system/run-udp-loss.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end udp-loss
# --- nmr-bft: FIT-SFC's bft_voter on real guests (nmr voter: bft, 3f+1 DNS replicas): no forged
# answer under dns-spoof on one replica, halts on two; scheme none accepts forged ones (root).
CHECK_PROGS += tests/system/run-nmr-bft.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end nmr-bft
# --- fitsfc: scheme fitsfc (f=1) on real guests: a crash of a DNS replica, dns-spoof on an SFF
# replica and flips on a classifier replica at once, under load: every answer right and the
# lies outvoted in the stored counters; none under the same spoof accepts forged answers; dig
# through the client's wrapper (root).
CHECK_PROGS += tests/system/run-fitsfc.sh
CHECK_PROGS += tests/system/run-fitsfc-lb.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end fitsfc
# --- nham: scheme nham on real guests: every mechanism recovers three VNF crashes under
# numbered UDP load (simultaneous and repeated) losing and duplicating nothing; a pause is a
# false suspicion handled without loss (root).
CHECK_PROGS += tests/system/run-nham.sh
CHECK_DEPS  += bin/sfclab bin/sfcd
# --- end nham

# --- nham-criu: NHAM's checkpoint backend criu: 0R and 1R-AS recover four VNF crashes each by
# restoring the VNF's process from its last CRIU image, losing and duplicating nothing (root;
# CRIU >= 4.2 built in build/criu by `make criu`, which fetches its source through apt).
CHECK_PROGS += tests/system/run-nham-criu.sh
CHECK_DEPS  += bin/sfclab bin/sfcd criu-try
# --- end nham-criu
