/* vmchan — the line protocol of a kvm guest's control channel (a virtio-serial port between
 * the host's kvm provider and the guest's `sfcd vminit`), parsed strictly on both sides.
 *
 * Requests (host -> guest), one per line:
 *   iface MAC IFNAME ADDR/LEN|-    configure a hot-plugged NIC
 *   link IFNAME up|down
 *   neigh IFNAME IPV4 MAC
 *   stats
 *   halt
 *   key HEX                        the agent's key (VMCHAN_KEY_BYTES, 64 lowercase hex digits),
 *                                  once, at boot: vminit hands it to init on a pipe
 *   file NAME HEX                  a file for the guest's roles (a key): NAME, 1-63 bytes of
 *                                  [A-Za-z0-9_.-] not starting with '.', in the agent's
 *                                  directory; HEX its 1-VMCHAN_FILE_MAX_BYTES bytes, lowercase.
 *                                  vminit writes it there, mode 0600, and on the host's 9p
 *                                  export (where QEMU's user owns it) covers it with a copy
 *                                  of the guest's root: the file is the guest's either way
 * Replies (guest -> host): "ok", "ok N N" (stats: CPU ns, memory bytes) or "err ERRNO TEXT".
 * The host treats every reply as untrusted input (the guest may be anything): a reply that is
 * not one of these is an error, never a value. Pure parsing: no I/O. Main types: struct
 * vmchan_request, struct vmchan_reply. */
#ifndef SFC_VMCHAN_H
#define SFC_VMCHAN_H 1

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VMCHAN_MAX_LINE 255
#define VMCHAN_KEY_BYTES 32
#define VMCHAN_FILE_MAX_BYTES 64

enum vmchan_cmd {
    VMCHAN_IFACE,
    VMCHAN_LINK,
    VMCHAN_NEIGH,
    VMCHAN_STATS,
    VMCHAN_HALT,
    VMCHAN_KEY,
    VMCHAN_FILE,
};

struct vmchan_request {
    enum vmchan_cmd cmd;
    uint8_t mac[6];             /* iface, neigh. */
    char ifname[16];            /* iface, link, neigh: 1-15 bytes of [A-Za-z0-9_.-]. */
    bool has_addr;              /* iface: false for "-". */
    struct in_addr addr;        /* iface (with prefix_len), neigh. */
    int prefix_len;
    bool up;                    /* link. */
    uint8_t key[VMCHAN_KEY_BYTES];  /* key. */
    char file_name[64];         /* file. */
    uint8_t file_data[VMCHAN_FILE_MAX_BYTES];
    size_t file_len;
};

struct vmchan_reply {
    int error;                  /* 0 for "ok", else the errno the guest reported (> 0). */
    size_t n_values;            /* "ok N N": 2. */
    uint64_t values[2];
};

/* Parses one request line (without its newline). EINVAL if it is not exactly one of the
 * forms above. */
int vmchan_parse_request(const char *line, size_t len, struct vmchan_request *);
/* Parses one reply line (without its newline); EPROTO if it is malformed. */
int vmchan_parse_reply(const char *line, size_t len, struct vmchan_reply *);

#endif
