/* openflow_libovs — the other route to a persistent OpenFlow channel, measured: the same
 * steering change as `of-tool bench` (a flow re-pointed from PORT_A to PORT_B and back, confirmed
 * by a barrier), through libopenvswitch's own vconn and flow_mod encoder, linked statically from
 * build/libovs (bench/libovs-build.sh). Built and run only by bench/openflow.sh when that
 * library exists; sfclab itself does not link it (see testbed/infra/openflow.h for why).
 *
 * usage: openflow_libovs SOCKET N PORT_A PORT_B ; prints the median in microseconds. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "openvswitch/ofp-flow.h"
#include "openvswitch/ofp-protocol.h"
#include "openvswitch/ofpbuf.h"
#include "openvswitch/vconn.h"
#include "openvswitch/vlog.h"
#include "openvswitch/util.h"
#include "util.h"

static double
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int
compare_double(const void *a_, const void *b_)
{
    double a = *(const double *) a_, b = *(const double *) b_;
    return a < b ? -1 : a > b;
}

int
main(int argc, char *argv[])
{
    struct ofputil_flow_mod fms[2];
    enum ofputil_protocol usable;
    struct vconn *vconn;
    double *us, t0, open_us;
    char *target;
    int n, error;

    if (argc != 5 || (n = atoi(argv[2])) < 1) {
        fprintf(stderr, "usage: %s SOCKET N PORT_A PORT_B\n", argv[0]);
        return 2;
    }
    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_WARN);
    for (int i = 0; i < 2; i++) {
        char flow[160];
        char *err;

        snprintf(flow, sizeof flow, "priority=300,cookie=0xbe,in_port=%s,ip,"
                 "nw_dst=10.0.0.250,actions=output:%s", argv[3], argv[3 + i]);
        err = parse_ofp_flow_mod_str(&fms[i], flow, NULL, NULL, OFPFC_ADD, &usable);
        if (err) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    target = xasprintf("unix:%s", argv[1]);
    t0 = now_us();
    error = vconn_open_block(target, 1u << OFP13_VERSION, 0, 5000, &vconn);
    open_us = now_us() - t0;
    if (error) {
        fprintf(stderr, "vconn_open_block %s: %s\n", target, ovs_strerror(error));
        return 1;
    }
    us = xcalloc(n, sizeof *us);
    for (int i = 0; i < n; i++) {
        struct ovs_list requests;
        struct ofpbuf *reply = NULL;

        t0 = now_us();
        ovs_list_init(&requests);
        ovs_list_push_back(&requests,
                           &ofputil_encode_flow_mod(&fms[i % 2], OFPUTIL_P_OF13_OXM)->list_node);
        error = vconn_transact_multiple_noreply(vconn, &requests, &reply);
        us[i] = now_us() - t0;
        if (error || reply) {
            fprintf(stderr, "flow_mod failed: %s\n", error ? ovs_strerror(error) : "refused");
            return 1;
        }
    }
    qsort(us, n, sizeof *us, compare_double);
    printf("%.1f %.1f\n", n % 2 ? us[n / 2] : (us[n / 2 - 1] + us[n / 2]) / 2, open_us);
    vconn_close(vconn);
    free(us);
    free(target);
    return 0;
}
