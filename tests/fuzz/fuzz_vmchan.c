/* Fuzz target for the kvm control channel's line protocol (vnfs/lib/vmchan.c): the host
 * parses what a guest (anything at all) replies; the guest parses the host's requests. Every
 * input is tried as both, whole and line by line. A request accepted must carry a valid
 * interface name and prefix where it names one, none elsewhere, and a file request a name that
 * stays in its directory and 1..VMCHAN_FILE_MAX_BYTES bytes; a reply accepted is either an error code > 0 or "ok" with 0 or 2
 * values. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/vmchan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_line(const char *line, size_t len)
{
    struct vmchan_request req;
    struct vmchan_reply reply;

    if (!vmchan_parse_request(line, len, &req)) {
        size_t n = strnlen(req.ifname, sizeof req.ifname);
        size_t fn = strnlen(req.file_name, sizeof req.file_name);
        bool named = req.cmd == VMCHAN_IFACE || req.cmd == VMCHAN_LINK
                     || req.cmd == VMCHAN_NEIGH;
        if (n == sizeof req.ifname || (named && !n) || (!named && n)
            || req.prefix_len < 0 || req.prefix_len > 32 || req.cmd > VMCHAN_FILE) {
            abort();
        }
        /* A file request names a file of its directory, never a path out of it. */
        if (req.cmd == VMCHAN_FILE
            && (!fn || fn == sizeof req.file_name || req.file_name[0] == '.'
                || memchr(req.file_name, '/', fn) || !req.file_len
                || req.file_len > VMCHAN_FILE_MAX_BYTES)) {
            abort();
        }
        if (req.cmd != VMCHAN_FILE && (fn || req.file_len)) {
            abort();
        }
    }
    if (!vmchan_parse_reply(line, len, &reply)) {
        if (reply.error < 0 || (!reply.error && reply.n_values != 0 && reply.n_values != 2)) {
            abort();
        }
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *) data, *end = p + size;

    check_line(p, size);
    while (p < end) {
        const char *nl = memchr(p, '\n', end - p);
        size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);
        check_line(p, len);
        p += len + 1;
    }
    return 0;
}
