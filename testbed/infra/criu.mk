# CRIU >= 4.2 for NHAM's `criu` checkpoint backend, built inside build/ (never over the system's
# criu). On this kernel (6.18) Debian 12's criu 3.17 fails with a vDSO error and trixie's 4.1
# passes `criu check` but cannot dump a socket (it reads SO_PASSCRED of every socket, which
# Linux >= 6.16 answers only for unix and netlink sockets: EOPNOTSUPP); sid's 4.2.1 dumps and
# restores a VNF. So the upstream tarball of Debian sid's source package is fetched through apt
# with a private source list and state directory (the system's sources stay untouched; the
# .orig.tar.xz arrives even when the .debian.tar.xz does not), the bookworm build dependencies
# are installed, and `make criu lib` builds build/criu/criu-*/criu/criu and lib/c/libcriu.so.
# `criu check` then decides (DESIGN §3), with nham_criu.c's version floor.
#
#   make criu          fetch, build, and run `criu check`
CRIU_DIR      := build/criu
CRIU_MIRROR   ?= http://deb.debian.org/debian
CRIU_SUITE    ?= sid
CRIU_DEPS_DEB := libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler \
                 python3-protobuf libnl-3-dev libnl-route-3-dev libnet1-dev libcap-dev \
                 libbsd-dev uuid-dev iptables pkg-config
CRIU_APT       = apt-get -o Dir::Etc::sourcelist=$(abspath $(CRIU_DIR))/apt/sources.list \
                 -o Dir::Etc::sourceparts=/dev/null -o Dir::State::Lists=$(abspath $(CRIU_DIR))/apt/lists

# `make check` builds CRIU when it can. Its source comes through apt, so without the network
# the criu test says so and skips, instead of make stopping every other test with it.
.PHONY: criu criu-try
criu-try:
	-@$(MAKE) --no-print-directory criu

criu: $(CRIU_DIR)/.built
	@$$(ls -dv $(CRIU_DIR)/criu-*/ | tail -1)criu/criu check

$(CRIU_DIR)/.built:
	@mkdir -p $(CRIU_DIR)/apt/lists/partial $(CRIU_DIR)/src
	echo "deb-src $(CRIU_MIRROR) $(CRIU_SUITE) main" > $(CRIU_DIR)/apt/sources.list
	$(CRIU_APT) -q update
	cd $(CRIU_DIR)/src && $(CRIU_APT) source --download-only criu || \
	    ls criu_*.orig.tar.xz >/dev/null
	@missing=$$(for p in $(CRIU_DEPS_DEB); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi
	tar xf $$(ls -v $(CRIU_DIR)/src/criu_*.orig.tar.xz | tail -1) -C $(CRIU_DIR)
	$(MAKE) -C $$(ls -dv $(CRIU_DIR)/criu-*/ | tail -1) -j2 criu lib
	touch $@
