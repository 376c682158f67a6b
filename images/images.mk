# `make images`: what a `kvm` guest boots, under build/images/ (never installed on the host).
#   vmlinuz      the kernel of Debian's linux-image package (the one linux-image-amd64 names),
#                fetched with `apt-get download` and unpacked with dpkg-deb -x: not installed
#   vmlinux      that bzImage's xz payload, unpacked: an ELF with a PVH entry note that QEMU
#                boots directly (no xz decompression and no real-mode setup under TCG: the
#                first kernel line 2 s after QEMU starts instead of 25 s on a loaded host)
#   initrd.img   a newc cpio holding a static sfcd as /sfcd, the virtio modules of that same
#                kernel and their load order; the kernel runs `/sfcd vminit` (rdinit=). Made
#                for a boot under TCG, where the kernel's own work is what a guest start costs
#                (counted in guest instructions, -icount, to channel ready: 1.27 G before,
#                0.94 G after the three changes): not compressed (inflating it was 0.12 G),
#                sfcd without its debug information, and the modules without their signatures
#                (checking them in software was 0.21 G; the kernel then says it is tainted)
#   sfcd         the static sfcd itself (images/nosystemd.c: see there why)
#   busybox      Debian's busybox-static, downloaded and unpacked the same way: the guest's
#                sh, ip, ping, cat... for `sfclab exec` and a user debugging a VM
IMAGES_DIR   := build/images
# The virtio modules a guest needs (PCI transport, net, the console for the control channel,
# rng for entropy, 9p for the agent's directory shared with the host),
# in dependency order: Debian's kernel builds them as modules, and there is no modprobe inside.
IMAGES_MODULES := drivers/virtio/virtio_ring.ko drivers/virtio/virtio.ko \
    drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci_legacy_dev.ko \
    drivers/virtio/virtio_pci.ko net/core/failover.ko drivers/net/net_failover.ko \
    drivers/net/virtio_net.ko drivers/char/virtio_console.ko drivers/char/hw_random/virtio-rng.ko \
    fs/netfs/netfs.ko fs/fscache/fscache.ko net/9p/9pnet.ko net/9p/9pnet_virtio.ko fs/9p/9p.ko
STATIC_LIBS  := -ljansson -lpcap -ldbus-1 -lsodium -lm -lpthread
# Cuts a module's appended signature off: the module, the PKCS#7 signature, a 12-byte
# struct module_signature whose last 4 bytes are the signature's length (big-endian), then
# the 28-byte marker. A module without the marker is left as it is.
IMAGES_UNSIGN = sh -c 'f=$$1; n=$$(stat -c %s "$$f"); \
    [ "$$(tail -c 28 "$$f")" = "~Module signature appended~" ] || exit 0; \
    len=$$(od -An -tu1 -j $$((n - 32)) -N 4 "$$f" | awk "{print ((\$$1 * 256 + \$$2) * 256 + \$$3) * 256 + \$$4}"); \
    truncate -s $$((n - 28 - 12 - len)) "$$f"' unsign

.PHONY: images
images: $(IMAGES_DIR)/vmlinuz $(IMAGES_DIR)/vmlinux $(IMAGES_DIR)/initrd.img

# The package is named once, from the metapackage: a kernel ABI bump is a re-download.
$(IMAGES_DIR)/kernel.stamp:
	@mkdir -p $(IMAGES_DIR)/deb
	@pkg=$$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $$2; exit}'); \
	if [ -z "$$pkg" ]; then apt-get update -q >/dev/null; \
	    pkg=$$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $$2; exit}'); fi; \
	[ -n "$$pkg" ] || { echo "images: cannot find the package linux-image-amd64 names"; exit 1; }; \
	echo "images: $$pkg (downloaded and unpacked, not installed)"; \
	rm -rf $(IMAGES_DIR)/deb/* $(IMAGES_DIR)/kernel && \
	(cd $(IMAGES_DIR)/deb && apt-get download -q $$pkg >/dev/null) && \
	dpkg-deb -x $(IMAGES_DIR)/deb/$$pkg*.deb $(IMAGES_DIR)/kernel && \
	rm -f $(IMAGES_DIR)/deb/$$pkg*.deb && echo $$pkg >$@

$(IMAGES_DIR)/busybox:
	@mkdir -p $(IMAGES_DIR)/deb
	@rm -rf $(IMAGES_DIR)/bb && cd $(IMAGES_DIR)/deb && apt-get download -q busybox-static >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get download -q busybox-static >/dev/null; }
	dpkg-deb -x $(IMAGES_DIR)/deb/busybox-static_*.deb $(IMAGES_DIR)/bb
	cp $(IMAGES_DIR)/bb/bin/busybox $@ && rm -rf $(IMAGES_DIR)/bb $(IMAGES_DIR)/deb/busybox-static_*.deb

$(IMAGES_DIR)/vmlinuz: $(IMAGES_DIR)/kernel.stamp
	cp $(IMAGES_DIR)/kernel/boot/vmlinuz-* $@

# The payload starts at the first xz stream magic (FD 37 7A 58 5A 00) in the bzImage; the
# kernel is refused if it lacks the PVH entry note (Xen note type 18, CONFIG_PVH).
$(IMAGES_DIR)/vmlinux: $(IMAGES_DIR)/vmlinuz
	@off=$$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' $< | head -1 | cut -d: -f1); \
	[ -n "$$off" ] || { echo "images: no xz payload in $< (a kernel built without CONFIG_KERNEL_XZ)"; exit 1; }; \
	tail -c +$$((off + 1)) $< | xz -dc --single-stream >$@.tmp && \
	LC_ALL=C readelf -n $@.tmp | grep -q 'Xen.*0x00000012' || \
	    { echo "images: $< has no PVH entry point (CONFIG_PVH)"; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@
	@echo "images: $@ (PVH ELF, $$(($$(stat -c %s $@) / 1048576)) MiB)"

# A static binary cannot dlopen: its libpcap table holds the linked functions (DYNLIB_STATIC),
# an object linked before the archive, whose dynamic dl_pcap.o is then not pulled in.
build/obj/images/dl_pcap_static.o: vnfs/lib/dl_pcap.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -DDYNLIB_STATIC -c $< -o $@
$(IMAGES_DIR)/sfcd: $(call obj,vnfs/sfcd.c images/nosystemd.c) build/obj/images/dl_pcap_static.o $(LIBSFCD)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -static -o $@ $^ $(STATIC_LIBS) 2>&1 | \
	    { grep -v "Using 'get.*' in statically linked\|in function" || true; }
	@test -x $@

$(IMAGES_DIR)/initrd.img: $(IMAGES_DIR)/sfcd $(IMAGES_DIR)/busybox $(IMAGES_DIR)/kernel.stamp \
                          images/images.mk
	@rm -rf $(IMAGES_DIR)/root && mkdir -p $(IMAGES_DIR)/root/lib/modules $(IMAGES_DIR)/root/dev \
	    $(IMAGES_DIR)/root/bin
	strip -o $(IMAGES_DIR)/root/sfcd $(IMAGES_DIR)/sfcd
	ln -s ../sfcd $(IMAGES_DIR)/root/bin/sfcd
	cp $(IMAGES_DIR)/busybox $(IMAGES_DIR)/root/bin/busybox
	@for t in $$($(IMAGES_DIR)/busybox --list); do \
	    [ -e $(IMAGES_DIR)/root/bin/$$t ] || ln -s busybox $(IMAGES_DIR)/root/bin/$$t; done
	@# The kernel opens /dev/console for init before anything is mounted.
	mknod -m 600 $(IMAGES_DIR)/root/dev/console c 5 1
	@: >$(IMAGES_DIR)/root/lib/modules/order; \
	for m in $(IMAGES_MODULES); do \
	    ko=$(IMAGES_DIR)/root/lib/modules/$$(basename $$m); \
	    cp $(IMAGES_DIR)/kernel/lib/modules/*/kernel/$$m $$ko || exit 1; \
	    $(IMAGES_UNSIGN) $$ko || exit 1; \
	    basename $$m >>$(IMAGES_DIR)/root/lib/modules/order; \
	done
	cd $(IMAGES_DIR)/root && find . | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0 >../initrd.img.tmp
	mv $(IMAGES_DIR)/initrd.img.tmp $@
