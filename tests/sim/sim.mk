# Deterministic simulation of protocol cores (tests/sim/README.md).
#   build/sim/sim                 optimised CLI: replays, `make soak SEEDS=N`
#   build/sim/bench_sim           optimised throughput benchmark (make bench)
#   build/san/tests/sim/test_sim  cmocka, ASan+UBSan: every scenario over >= 1,000 seeds (make check)

SIM_LIB_SRC := $(filter-out tests/sim/main.c tests/sim/test_sim.c tests/sim/bench_sim.c,\
                 $(sort $(wildcard tests/sim/*.c)))
SIM_BIN     := build/sim/sim
SIM_BENCH   := build/sim/bench_sim
SIM_TEST    := build/san/tests/sim/test_sim
SEEDS       ?= 10000
SOAK_FIRST  ?= 1

$(SIM_BIN): $(call obj,$(SIM_LIB_SRC) tests/sim/main.c) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(SIM_BENCH): $(call obj,$(SIM_LIB_SRC) tests/sim/bench_sim.c) $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

$(SIM_TEST): $(call sobj,$(SIM_LIB_SRC) tests/sim/test_sim.c) $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

CHECK_PROGS += $(SIM_TEST)
CHECK_DEPS  += $(SIM_TEST) $(SIM_BIN)
BENCH_PROGS += $(SIM_BENCH)
BENCH_DEPS  += $(SIM_BENCH)

soak: $(SIM_BIN)
	$(SIM_BIN) --seeds $(SEEDS) --seed $(SOAK_FIRST)
