/* dl_pcap: see dl_pcap.h. */

#include "vnfs/lib/dl_pcap.h"

struct dl_pcap dl_pcap;

#ifdef DYNLIB_STATIC
int
dl_pcap_load(void)
{
    struct dl_pcap *table = &dl_pcap;

    DL_PCAP_FUNCS(DYNLIB_RESOLVE)
    return 0;
}
#else
static int
resolve(struct dynlib *lib, void *handle, void *table_)
{
    struct dl_pcap *table = table_;
    int error = 0;

    DL_PCAP_FUNCS(DYNLIB_RESOLVE)
    return error;
}

int
dl_pcap_load(void)
{
    static struct dynlib lib = DYNLIB_INIT("libpcap.so.0.8", "libpcap0.8");

    return dynlib_load(&lib, resolve, &dl_pcap);
}
#endif
