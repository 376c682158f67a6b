# CRIU >= 4.1 for NHAM's `criu` checkpoint backend, built inside build/ (never over the system's
# criu): Debian 12's criu 3.17 fails on this kernel (a vDSO error), so the upstream tarball of
# Debian trixie's source package is fetched through apt with a private source list and state
# directory (the system's sources stay untouched; the .orig.tar.xz arrives even when the .dsc
# does not), the bookworm build dependencies are installed, and `make criu lib` builds
# build/criu/criu-*/criu/criu and lib/c/libcriu.so. `criu check` then decides (DESIGN §3).
#
#   make criu          fetch, build, and run `criu check`
CRIU_DIR      := build/criu
CRIU_MIRROR   ?= http://deb.debian.org/debian
CRIU_DEPS_DEB := libprotobuf-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler \
                 python3-protobuf libnl-3-dev libnl-route-3-dev libnet1-dev libcap-dev \
                 libbsd-dev uuid-dev iptables pkg-config
CRIU_APT       = apt-get -o Dir::Etc::sourcelist=$(abspath $(CRIU_DIR))/apt/sources.list \
                 -o Dir::Etc::sourceparts=/dev/null -o Dir::State::Lists=$(abspath $(CRIU_DIR))/apt/lists

.PHONY: criu
criu: $(CRIU_DIR)/.built
	@$$(ls -d $(CRIU_DIR)/criu-*/ | head -1)criu/criu check

$(CRIU_DIR)/.built:
	@mkdir -p $(CRIU_DIR)/apt/lists/partial $(CRIU_DIR)/src
	echo "deb-src $(CRIU_MIRROR) trixie main" > $(CRIU_DIR)/apt/sources.list
	$(CRIU_APT) -q update
	cd $(CRIU_DIR)/src && $(CRIU_APT) source --download-only criu || \
	    ls criu_*.orig.tar.xz >/dev/null
	@missing=$$(for p in $(CRIU_DEPS_DEB); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	    grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; fi
	tar xf $$(ls $(CRIU_DIR)/src/criu_*.orig.tar.xz | tail -1) -C $(CRIU_DIR)
	$(MAKE) -C $$(ls -d $(CRIU_DIR)/criu-*/ | tail -1) -j2 criu lib
	touch $@
