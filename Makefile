# sfclab — one Makefile for the host CLI, the guest binary, tests and benchmarks.
#
# Sources are found by directory, so adding a module is adding a file:
#   vnfs/{lib,sfc,fn,ft,ft/*}/*.c      -> build/libsfcd.a   (guest side, also linked by the host)
#   testbed/*/*.c (but cli), injectors/ -> build/libsfclab.a (host side)
#   testbed/cli/*.c                     -> bin/sfclab
#   vnfs/sfcd.c                         -> bin/sfcd
#   tests/unit/test_*.c                 -> build/san/tests/test_*  (cmocka, ASan+UBSan)
# Areas with their own rules keep them in a fragment: tests/sim/sim.mk, tests/fuzz/fuzz.mk,
# tests/system/system.mk, bench/bench.mk.

CC       ?= gcc
PKGS     := libfyaml jansson sqlite3 libnl-3.0 libnl-route-3.0 libsodium ldns
# Loaded with dlopen where they are used, not linked (vnfs/lib/dynlib.h): their headers only.
PKGS_DL  := libpcap libvirt libvirt-lxc
DEPS_DEB := build-essential pkg-config clang libclang-rt-14-dev \
            openvswitch-switch iproute2 iputils-ping iperf3 bind9-dnsutils dnsperf tcpdump sqlite3 python3 \
            libfyaml-dev libjansson-dev libsqlite3-dev libnl-3-dev libnl-route-3-dev \
            libpcap-dev libsodium-dev libldns-dev libplot-dev libcmocka-dev \
            libvirt-dev libvirt-clients libvirt-daemon libvirt-daemon-driver-lxc \
            libvirt-daemon-driver-qemu qemu-system-x86 cpio xz-utils

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) $(PKGS_DL) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -lpthread

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wformat=2
CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -D_GNU_SOURCE -I. $(PKG_CFLAGS) -MMD -MP
SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

# confine.c is in both worlds: the netns provider confines a guest from the host, and an LXC
# guest's init (vnfs/sfc/init.c) confines itself.
GUEST_SRC := $(sort $(wildcard vnfs/lib/*.c vnfs/sfc/*.c vnfs/fn/*.c vnfs/ft/*.c vnfs/ft/*/*.c) \
                    testbed/infra/confine.c)
HOST_SRC  := $(sort $(filter-out testbed/cli/% testbed/infra/confine.c,$(wildcard testbed/*/*.c)) \
                    $(wildcard injectors/*.c))
CLI_SRC   := $(sort $(wildcard testbed/cli/*.c))
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))

obj  = $(patsubst %.c,build/obj/%.o,$(1))
sobj = $(patsubst %.c,build/san/%.o,$(1))

LIBSFCD      := build/libsfcd.a
LIBSFCLAB    := build/libsfclab.a
LIBSFCD_SAN  := build/san/libsfcd.a
LIBSFCLAB_SAN:= build/san/libsfclab.a
UNIT_BINS    := $(patsubst tests/unit/%.c,build/san/tests/%,$(UNIT_SRC))

# What `make check` runs, in order; fragments append to these.
CHECK_PROGS  := $(UNIT_BINS)
CHECK_DEPS   := $(UNIT_BINS)
CHECK_SLOW_PROGS :=
CHECK_SLOW_DEPS  :=
# What `make bench` runs, in order; each prints its own numbers.
BENCH_PROGS  :=
BENCH_DEPS   :=

.PHONY: all deps check check-slow bench run clean-build soak images
.SECONDARY:
all: bin/sfclab bin/sfcd

build/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

build/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(LIBSFCD): $(call obj,$(GUEST_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIBSFCLAB): $(call obj,$(HOST_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIBSFCD_SAN): $(call sobj,$(GUEST_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(LIBSFCLAB_SAN): $(call sobj,$(HOST_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

bin/sfclab: $(call obj,$(CLI_SRC)) $(LIBSFCLAB) $(LIBSFCD)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
bin/sfcd: $(call obj,vnfs/sfcd.c) $(LIBSFCD)
	@mkdir -p bin
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)

build/san/tests/%: build/san/tests/unit/%.o $(LIBSFCLAB_SAN) $(LIBSFCD_SAN)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -o $@ $^ $(PKG_LIBS) -lcmocka

-include tests/sim/sim.mk tests/fuzz/fuzz.mk tests/system/system.mk bench/bench.mk images/images.mk \
         testbed/infra/criu.mk

# Installs only what is missing, and says nothing when everything is there.
deps:
	@missing=$$(for p in $(DEPS_DEB); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing:" $$missing; \
	    if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root to install packages" >&2; exit 1; fi; \
	    (apt-get install -y -q $$missing >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null)) || exit 1; \
	fi

# The two commands of the README: each installs what it needs and builds first.
check: deps
	@$(MAKE) --no-print-directory all $(CHECK_DEPS)
	@tests/run-tests $(CHECK_PROGS)

# Tests that take minutes (VMs booting under TCG): not in `make check`; .ci/run runs both.
check-slow: deps
	@$(MAKE) --no-print-directory all images $(CHECK_SLOW_DEPS)
	@tests/run-tests $(CHECK_SLOW_PROGS)

run: deps
	@$(MAKE) --no-print-directory all
	bin/sfclab run experiments/baseline-dns.yaml

bench: deps
	@$(MAKE) --no-print-directory all $(BENCH_DEPS)
	@set -e; for p in $(BENCH_PROGS); do echo "== $$p"; $$p; done

clean-build:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
