/* dl_pcap — libpcap, loaded on first use (vnfs/lib/dynlib.h): only a man in the middle
 * (vnfs/sfc/mitm.c) and `sfclab capture` (testbed/infra/capture.c) read or write packets with
 * it, and libpcap brings 9 libraries (dbus, systemd, gcrypt...) into every process that links
 * it, every guest's sfcd included.
 *
 * Call dl_pcap_load() first; then dl_pcap.pcap_create(...) is pcap_create(...), checked
 * against <pcap/pcap.h>. Built with DYNLIB_STATIC (the kvm image's static sfcd) the table
 * holds the linked functions. Main type: struct dl_pcap. */
#ifndef SFC_DL_PCAP_H
#define SFC_DL_PCAP_H 1

#include <pcap/pcap.h>

#include "vnfs/lib/dynlib.h"

#define DL_PCAP_FUNCS(F) \
    F(pcap_activate) F(pcap_breakloop) F(pcap_close) F(pcap_compile) F(pcap_create) \
    F(pcap_dispatch) F(pcap_dump) F(pcap_dump_close) F(pcap_dump_flush) F(pcap_dump_open) \
    F(pcap_freecode) F(pcap_get_selectable_fd) F(pcap_geterr) F(pcap_inject) \
    F(pcap_set_immediate_mode) F(pcap_set_promisc) F(pcap_set_snaplen) F(pcap_set_timeout) \
    F(pcap_setdirection) F(pcap_setfilter) F(pcap_setnonblock)

struct dl_pcap {
    DL_PCAP_FUNCS(DYNLIB_MEMBER)
};

extern struct dl_pcap dl_pcap;

/* Returns 0, or an errno (logged) if libpcap cannot be loaded. */
int dl_pcap_load(void);

#endif
