# Benchmarks: each program prints its numbers, ratios to a baseline measured in the same run.

# --- store: samples stored per second, median of 5. The schema is embedded in store.o with
# .incbin, which -MMD cannot see, so store.o depends on results/schema.sql here.
build/obj/testbed/store/store.o build/san/testbed/store/store.o: results/schema.sql
BENCH_PROGS += build/bench/bench_store
BENCH_DEPS  += build/bench/bench_store
build/bench/bench_store: build/obj/bench/store.o $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
# --- end store

# --- ovs: private Open vSwitch startup, median of 5.
BENCH_PROGS += bench/ovs-start
BENCH_DEPS  += build/tests/ovs-tool
# --- end ovs

# --- openflow: one steering change (flow_mod + barrier) over the persistent OpenFlow channel
# beside one `ovs-ofctl add-flow` fork, and their ratio (root); with `make libovs` first, also
# through libopenvswitch's vconn (the route not taken), in alternating rounds after a warm-up.
LIBOVS_DIR  := build/libovs/openvswitch
LIBOVS_A    := $(wildcard $(LIBOVS_DIR)/lib/.libs/libopenvswitch.a)
BENCH_PROGS += bench/openflow.sh
BENCH_DEPS  += build/tests/ovs-tool build/bench/of-tool $(if $(LIBOVS_A),build/bench/openflow_libovs)
build/bench/of-tool: build/obj/tests/system/of_tool.o $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
.PHONY: libovs
libovs:
	bench/libovs-build.sh
	@$(MAKE) --no-print-directory build/bench/openflow_libovs
build/bench/openflow_libovs: bench/openflow_libovs.c $(LIBOVS_DIR)/lib/.libs/libopenvswitch.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -I$(LIBOVS_DIR) -I$(LIBOVS_DIR)/include -I$(LIBOVS_DIR)/lib -o $@ $< \
	    $(LIBOVS_DIR)/lib/.libs/libopenvswitch.a -latomic -lm -lpthread -lrt
# --- end openflow

# --- fn: DNS codec (ours vs ldns), parse a padded query + build the answer.
BENCH_PROGS += build/bench/bench_dns
BENCH_DEPS  += build/bench/bench_dns
build/bench/bench_dns: build/obj/bench/dns.o $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
# --- end fn

# --- fn: per-packet cost of each network function (ratio to bare fwd); state export/import.
BENCH_PROGS += build/bench/bench_fn
BENCH_DEPS  += build/bench/bench_fn
build/bench/bench_fn: build/obj/bench/fn.o $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
# --- end fn

# --- ftc_head: FTC's multithreaded head alone, 1-8 threads, batches of 1, 4, 64 (tx/s, CPU).
BENCH_PROGS += build/bench/bench_ftc_head
BENCH_DEPS  += build/bench/bench_ftc_head
build/bench/bench_ftc_head: build/obj/bench/ftc_head.o $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
# --- end ftc_head

# --- dataplane: bare path vs chains of 1, 2, 4 fwd VNFs (RTT p50/p99, max pps, ratios; root).
BENCH_PROGS += bench/dataplane.sh
BENCH_DEPS  += bin/sfcd
# --- end dataplane

# --- bench: the data path through the real testbed (private OVS, deploy): bare path vs fwd
# chains of 1, 2, 4 and the 1-VNF DNS chain; RTT p50/p99, pps, OVS traversals, per-hop split;
# in three modes: afxdp (the headline, as `sfclab run`), system on CPU 0, system unpinned.
BENCH_PROGS += build/bench/bench_chain
BENCH_DEPS  += build/bench/bench_chain bin/sfcd
build/bench/bench_chain: build/obj/bench/bench_chain.o $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS) -lm
# --- end bench

# --- ftvnf: scheme ftvnf through `sfclab run`: DNS p50 RTT against none per chain length (Table
# 1's 95 us VNFs) as ratios, and a nat master's recovery time at the default manager period.
BENCH_PROGS += bench/ftvnf.sh
BENCH_DEPS  += bin/sfclab bin/sfcd
# --- end ftvnf

# --- infratest: star32 up and down (total, per guest), median of 5, against the same guests
# made with one `ip` process per step.
BENCH_PROGS += bench/bench_infra.sh
# star32 up+down against Mininet's single,32 (lxbr), side by side, same CPUs (skipped without mn).
BENCH_PROGS += bench/bench_mininet.sh
BENCH_DEPS  += bin/sfclab bin/sfcd
# --- end infratest

# --- impair: per-packet cost of tbf, the eBPF loss filter and the link stage (pass-through and
# delaying) against a bare link; TCP through the stage; the highest rate a shaped rate holds
# within 10%, egress (tbf) and ingress (stage + tbf) (root).
BENCH_PROGS += bench/impair.sh
BENCH_DEPS  += bin/sfclab bin/sfcd
# --- end impair
# --- libvirt: per provider (netns, lxc, kvm when `make images` was done): up/down per guest,
# start/destroy through the provider API, the 1-VNF DNS chain's p50 RTT; ratios to netns.
BENCH_PROGS += bench/providers.sh
BENCH_DEPS  += bin/sfclab bin/sfcd build/tests/system/test_libvirt
# --- end libvirt
# --- fitsfc: DNS through FIT-SFC f=0 and f=1 beside nmr f=1 and none (p50, mean, ratios), and
# the highest dnsperf rate under 1% loss through the wrapper against none (root).
BENCH_PROGS += bench/fitsfc.sh
BENCH_DEPS  += bin/sfclab bin/sfcd
# --- end fitsfc
# --- nham: recovery per mechanism split into detection and repair (10 crashes each), and the
# fault-free capacity of a chain of 4 against none (the highest paced rate lost at most 0.1%
# over 2 s, searched by the client), as ratios: the median of 3 rounds of none and each
# mechanism, each ratio against its own round's none (root).
BENCH_PROGS += bench/nham.sh
BENCH_DEPS  += bin/sfclab bin/sfcd
# --- end nham
# --- ftc: FTC f=1 beside none and ftmb on Monitor chains of length 2-5: flat-out goodput and
# closed-loop echo p50, ratios FTC/none and FTC/ftmb, FTC's drop with length (root).
BENCH_PROGS += bench/ftc.sh
BENCH_DEPS  += bin/sfclab bin/sfcd
# --- end ftc
# --- ftc_chain: FTC's per-packet path through a ring of 5, or of its argument (2-8) (callgrind:
#     --toggle-collect=step_middle).
BENCH_DEPS  += build/bench/bench_ftc_chain
build/bench/bench_ftc_chain: build/obj/bench/ftc_chain.o $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
# --- end ftc_chain
