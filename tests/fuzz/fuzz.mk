# Fuzzing (owner: fn). One target per parser of untrusted bytes: tests/fuzz/fuzz_<name>.c
# exports LLVMFuzzerTestOneInput; its seed corpus is tests/fuzz/corpus/<name>/, and inputs
# that once crashed it go in tests/fuzz/crashes/<name>/ (kept as regression tests).
#
#   make check        replays every corpus (and crash) file through each target, built with
#                     gcc + ASan/UBSan against $(LIBSFCD_SAN): one test per target.
#   make fuzz         builds libFuzzer binaries with clang (the guest library too, so the
#                     parsers have coverage feedback) and runs each for FUZZ_SECONDS (60);
#                     new inputs go to build/fuzz/corpus/<name>/, crashes to
#                     build/fuzz/crashes/<name>/.
#   make fuzz-merge   adds to tests/fuzz/corpus/<name>/ only the new inputs that add coverage.
#   FUZZ_TARGETS=dns  limits either to some targets.

FUZZ_NAMES    := $(patsubst tests/fuzz/fuzz_%.c,%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_TARGETS  ?= $(FUZZ_NAMES)
FUZZ_SECONDS  ?= 60
FUZZ_CC       ?= clang
FUZZ_REPLAYS  := $(patsubst %,build/san/fuzz/replay_%,$(FUZZ_NAMES))

CHECK_PROGS   += $(FUZZ_REPLAYS)
CHECK_DEPS    += $(FUZZ_REPLAYS)

build/san/fuzz/replay_%.o: tests/fuzz/replay.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -DFUZZ_NAME='"$*"' -c $< -o $@

build/san/fuzz/replay_%: build/san/tests/fuzz/fuzz_%.o build/san/fuzz/replay_%.o $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)

# The libFuzzer build: everything with coverage, nothing shared with the gcc objects.
FUZZ_CFLAGS := $(filter-out -Werror,$(ALL_CFLAGS)) -O1 -g -fno-omit-frame-pointer \
               -fsanitize=fuzzer-no-link,address,undefined
FUZZ_LIB    := build/fuzz/libsfcd.a

build/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_LIB): $(patsubst %.c,build/fuzz/obj/%.o,$(GUEST_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

build/fuzz/fuzz_%: build/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)

# descriptor parses the host side's files: it links the host library as well.
FUZZ_HOST_LIB := build/fuzz/libsfclab.a
$(FUZZ_HOST_LIB): $(patsubst %.c,build/fuzz/obj/%.o,$(HOST_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
build/fuzz/fuzz_descriptor: build/fuzz/obj/tests/fuzz/fuzz_descriptor.o $(FUZZ_HOST_LIB) $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)
build/san/fuzz/replay_descriptor: build/san/tests/fuzz/fuzz_descriptor.o \
                                  build/san/fuzz/replay_descriptor.o $(LIBSFCLAB_SAN) $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)

# compare reads the comparison's TSV tables, on the host side as well.
build/fuzz/fuzz_compare: build/fuzz/obj/tests/fuzz/fuzz_compare.o $(FUZZ_HOST_LIB) $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)
build/san/fuzz/replay_compare: build/san/tests/fuzz/fuzz_compare.o \
                               build/san/fuzz/replay_compare.o $(LIBSFCLAB_SAN) $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)

.PHONY: fuzz fuzz-merge
fuzz: $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))
	@set -e; for n in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus/$$n build/fuzz/crashes/$$n; \
	    echo "== fuzz_$$n for $(FUZZ_SECONDS)s"; \
	    build/fuzz/fuzz_$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        -artifact_prefix=build/fuzz/crashes/$$n/ \
	        build/fuzz/corpus/$$n tests/fuzz/corpus/$$n 2>&1 | \
	        grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss|==[0-9]+==ERROR|SUMMARY|artifact_prefix|Test unit written)' || true; \
	    if ls build/fuzz/crashes/$$n/* >/dev/null 2>&1; then \
	        echo "fuzz_$$n: crashes in build/fuzz/crashes/$$n/"; exit 1; fi; \
	done

fuzz-merge: $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))
	@set -e; for n in $(FUZZ_TARGETS); do \
	    build/fuzz/fuzz_$$n -merge=1 tests/fuzz/corpus/$$n build/fuzz/corpus/$$n 2>&1 | \
	        grep -E 'MERGE-OUTER: [0-9]+ new files' || true; \
	done

# Targets whose parser lives on the host side link its object too (the replay needs no more
# than the guest library otherwise).
FUZZ_HOST_openflow := testbed/infra/openflow.c
build/san/fuzz/replay_openflow: build/san/tests/fuzz/fuzz_openflow.o build/san/fuzz/replay_openflow.o \
                                $(call sobj,$(FUZZ_HOST_openflow)) $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS)
build/fuzz/fuzz_openflow: build/fuzz/obj/tests/fuzz/fuzz_openflow.o \
                          $(patsubst %.c,build/fuzz/obj/%.o,$(FUZZ_HOST_openflow)) $(FUZZ_LIB)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(PKG_LIBS)
