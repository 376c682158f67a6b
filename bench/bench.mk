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

# --- fn: DNS codec (ours vs ldns), parse a padded query + build the answer.
BENCH_PROGS += build/bench/bench_dns
BENCH_DEPS  += build/bench/bench_dns
build/bench/bench_dns: build/obj/bench/dns.o $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
# --- end fn
