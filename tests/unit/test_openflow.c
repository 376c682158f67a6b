/* Unit tests of testbed/infra/openflow: what we encode is read back by Open vSwitch's own
 * decoder (`ovs-ofctl ofp-print`), the encoder refuses what a switch would, the parser of the
 * switch's bytes rejects every bad length, and the connection (handshake, errors matched to
 * requests, echo, timeouts, a dropped connection reopened) against a scripted peer. The real
 * switch is in tests/system/openflow.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "testbed/infra/openflow.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static const uint8_t mac1[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t mac9[6] = { 0x02, 0, 0, 0, 0, 0x09 };

/* Open vSwitch's decoder of our bytes: `ovs-ofctl ofp-print HEX`, its output in 'out'. False
 * when ovs-ofctl is not installed. */
static bool
ofp_print(const struct buf *b, char *out, size_t size)
{
    struct buf cmd = BUF_INITIALIZER;
    size_t n = 0;
    FILE *p;

    if (system("command -v ovs-ofctl >/dev/null 2>&1")) {
        return false;
    }
    buf_printf(&cmd, "ovs-ofctl ofp-print '");
    for (size_t i = 0; i < b->len; i++) {
        buf_printf(&cmd, "%02x", b->data[i]);
    }
    buf_printf(&cmd, "' 2>&1");
    buf_put_u8(&cmd, 0);
    p = popen((char *) cmd.data, "r");
    assert_non_null(p);
    n = fread(out, 1, size - 1, p);
    out[n] = '\0';
    pclose(p);
    buf_uninit(&cmd);
    return true;
}

/* Encodes with 'encode' and expects ofp-print to say exactly 'expected'. */
static void
expect_printed(const struct buf *b, const char *expected)
{
    char out[4096];

    if (!ofp_print(b, out, sizeof out)) {
        skip();
    }
    if (strcmp(out, expected)) {
        fail_msg("ofp-print said:\n%s\nexpected:\n%s", out, expected);
    }
}

static void
test_flow_mod_steering(void **state)
{
    struct of_flow f = { .priority = 200, .cookie = 0xbe };
    struct buf b = BUF_INITIALIZER;

    of_match_in_port(&f.match, 1);
    of_match_ipv4_dst(&f.match, htonl(0x0a0000fa), 32);
    of_actions_output(&f.actions, 2);
    assert_int_equal(of_encode_flow_mod(&b, 7, &f, OF_FC_ADD), 0);
    assert_int_equal(b.len % 8, 0);
    expect_printed(&b, "OFPT_FLOW_MOD (OF1.3) (xid=0x7): ADD priority=200,ip,in_port=1,"
                       "nw_dst=10.0.0.250 cookie:0xbe actions=output:2\n");
    buf_uninit(&b);
}

/* The management bridge's isolation: ARP by sender and by target address, to LOCAL. */
static void
test_flow_mod_arp(void **state)
{
    static const uint8_t mac[6] = { 2, 7, 0, 0, 0, 1 };
    struct of_flow f = { .priority = 100 };
    struct buf b = BUF_INITIALIZER;

    of_match_in_port(&f.match, 31);
    of_match_eth_src(&f.match, mac);
    of_match_arp_spa(&f.match, htonl(0x0afe0001));
    of_actions_output(&f.actions, OF_PORT_LOCAL);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), 0);
    expect_printed(&b, "OFPT_FLOW_MOD (OF1.3) (xid=0x1): ADD priority=100,arp,in_port=31,"
                       "dl_src=02:07:00:00:00:01,arp_spa=10.254.0.1 actions=LOCAL\n");
    buf_clear(&b);
    memset(&f.match, 0, sizeof f.match);
    of_match_in_port(&f.match, OF_PORT_LOCAL);
    of_match_arp_tpa(&f.match, htonl(0x0afe0002));
    assert_int_equal(of_encode_flow_mod(&b, 2, &f, OF_FC_ADD), 0);
    expect_printed(&b, "OFPT_FLOW_MOD (OF1.3) (xid=0x2): ADD priority=100,arp,in_port=LOCAL,"
                       "arp_tpa=10.254.0.2 actions=LOCAL\n");
    /* An ARP field on IP is refused here. */
    buf_clear(&b);
    of_match_eth_type(&f.match, 0x0800);
    assert_int_equal(of_encode_flow_mod(&b, 3, &f, OF_FC_ADD), EINVAL);
    buf_uninit(&b);
}

static void
test_flow_mod_every_match_and_action(void **state)
{
    struct of_flow f = { .priority = 20, .table_id = 0 };
    struct buf b = BUF_INITIALIZER;
    struct of_match *set;

    of_match_eth_dst(&f.match, mac1);
    of_match_eth_src(&f.match, mac9);
    of_match_nsh_spi(&f.match, 5);
    of_match_nsh_si(&f.match, 255);
    set = of_actions_set_field(&f.actions);
    of_match_nsh_si(set, 254);
    of_match_eth_dst(set, mac9);
    of_actions_group(&f.actions, 3);
    of_actions_output(&f.actions, OF_PORT_IN_PORT);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), 0);
    /* The implied eth_type is matched but never set. */
    expect_printed(&b, "OFPT_FLOW_MOD (OF1.3) (xid=0x1): ADD priority=20,dl_src=02:00:00:00:00:09,"
                       "dl_dst=02:00:00:00:00:01,dl_type=0x894f,nsh_spi=0x5,nsh_si=255 "
                       "actions=set_field:02:00:00:00:00:09->eth_dst,set_field:254->nsh_si,"
                       "group:3,IN_PORT\n");

    memset(&f, 0, sizeof f);
    f.priority = 21;
    of_match_in_port(&f.match, 2);
    of_match_ipv4_src(&f.match, htonl(0x0a000063), 24);
    of_match_udp_dst(&f.match, 53);
    of_match_udp_src(&f.match, 5353);
    set = of_actions_set_field(&f.actions);
    of_match_ipv4_dst(set, htonl(0x0a000002), 32);
    of_actions_output(&f.actions, OF_PORT_CONTROLLER);
    buf_clear(&b);
    assert_int_equal(of_encode_flow_mod(&b, 2, &f, OF_FC_ADD), 0);
    expect_printed(&b, "OFPT_FLOW_MOD (OF1.3) (xid=0x2): ADD priority=21,udp,in_port=2,"
                       "nw_src=10.0.0.0/24,tp_src=5353,tp_dst=53 "
                       "actions=set_field:10.0.0.2->ip_dst,CONTROLLER:65535\n");
    buf_uninit(&b);
}

static void
test_flow_mod_modify_delete(void **state)
{
    struct of_flow f = { .priority = 50, .cookie = 0xbe, .cookie_mask = UINT64_MAX };
    struct buf b = BUF_INITIALIZER;

    of_match_eth_dst(&f.match, mac1);
    of_actions_output(&f.actions, 4);
    assert_int_equal(of_encode_flow_mod(&b, 3, &f, OF_FC_MODIFY_STRICT), 0);
    expect_printed(&b, "OFPT_FLOW_MOD (OF1.3) (xid=0x3): MOD_STRICT priority=50,"
                       "dl_dst=02:00:00:00:00:01 cookie:0xbe/0xffffffffffffffff "
                       "actions=output:4\n");
    /* Delete carries no instructions, whatever the actions say. */
    buf_clear(&b);
    assert_int_equal(of_encode_flow_mod(&b, 4, &f, OF_FC_DELETE_STRICT), 0);
    expect_printed(&b, "OFPT_FLOW_MOD (OF1.3) (xid=0x4): DEL_STRICT priority=50,"
                       "dl_dst=02:00:00:00:00:01 cookie:0xbe/0xffffffffffffffff actions=drop\n");
    /* Everything, in every table. */
    memset(&f, 0, sizeof f);
    f.table_id = OF_TABLE_ALL;
    buf_clear(&b);
    assert_int_equal(of_encode_flow_mod(&b, 5, &f, OF_FC_DELETE), 0);
    expect_printed(&b, "OFPT_FLOW_MOD (OF1.3) (xid=0x5): DEL table:255 priority=0 "
                       "actions=drop\n");
    buf_uninit(&b);
}

static void
test_group_mod(void **state)
{
    struct of_group g = { .group_id = 1, .type = OF_GROUP_TYPE_FAST_FAILOVER };
    struct buf b = BUF_INITIALIZER;
    struct of_bucket *bk;

    bk = of_group_add_bucket(&g);
    bk->watch_port = 1;
    of_actions_output(&bk->actions, 1);
    bk = of_group_add_bucket(&g);
    bk->watch_port = 2;
    of_actions_output(&bk->actions, 2);
    assert_int_equal(of_encode_group_mod(&b, 9, &g, OF_GC_ADD), 0);
    expect_printed(&b, "OFPT_GROUP_MOD (OF1.3) (xid=0x9):\n ADD group_id=1,type=ff,"
                       "bucket=watch_port:1,actions=output:1,"
                       "bucket=watch_port:2,actions=output:2\n");

    g.type = OF_GROUP_TYPE_SELECT;
    g.buckets[1].weight = 3;
    of_match_eth_dst(of_actions_set_field(&g.buckets[0].actions), mac9);
    buf_clear(&b);
    assert_int_equal(of_encode_group_mod(&b, 10, &g, OF_GC_MODIFY), 0);
    expect_printed(&b, "OFPT_GROUP_MOD (OF1.3) (xid=0xa):\n MOD group_id=1,type=select,"
                       "bucket=actions=output:1,set_field:02:00:00:00:00:09->eth_dst,"
                       "bucket=weight:3,actions=output:2\n");

    g.group_id = OF_GROUP_ALL;
    buf_clear(&b);
    assert_int_equal(of_encode_group_mod(&b, 11, &g, OF_GC_DELETE), 0);
    expect_printed(&b, "OFPT_GROUP_MOD (OF1.3) (xid=0xb):\n DEL group_id=4294967292,type=all\n");
    buf_uninit(&b);
}

static void
test_group_helpers(void **state)
{
    static const uint32_t ports[] = { 4, 7, 9 };
    struct of_group *g = xmalloc(sizeof *g);
    struct buf b = BUF_INITIALIZER;

    of_group_fast_failover(g, 5, ports, 3);
    assert_int_equal(of_encode_group_mod(&b, 1, g, OF_GC_ADD), 0);
    expect_printed(&b, "OFPT_GROUP_MOD (OF1.3) (xid=0x1):\n ADD group_id=5,type=ff,"
                       "bucket=watch_port:4,actions=output:4,bucket=watch_port:7,"
                       "actions=output:7,bucket=watch_port:9,actions=output:9\n");
    of_group_select(g, 6, ports, 2);
    buf_clear(&b);
    assert_int_equal(of_encode_group_mod(&b, 2, g, OF_GC_ADD), 0);
    expect_printed(&b, "OFPT_GROUP_MOD (OF1.3) (xid=0x2):\n ADD group_id=6,type=select,"
                       "bucket=actions=output:4,bucket=actions=output:7\n");
    buf_uninit(&b);
    free(g);
}

static void
test_encoder_refuses(void **state)
{
    struct buf b = BUF_INITIALIZER;
    struct of_flow f;
    struct of_group g;

    buf_put(&b, "keep", 4);     /* What was queued before a refusal stays. */

    memset(&f, 0, sizeof f);
    of_match_eth_type(&f.match, 0x0806);
    of_match_ipv4_dst(&f.match, 1, 32);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), EINVAL);

    memset(&f, 0, sizeof f);
    of_match_ip_proto(&f.match, 6);
    of_match_udp_dst(&f.match, 53);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), EINVAL);

    memset(&f, 0, sizeof f);
    of_match_eth_type(&f.match, 0x0800);
    of_match_nsh_si(&f.match, 3);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), EINVAL);

    memset(&f, 0, sizeof f);
    of_match_nsh_spi(&f.match, 1 << 24);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), EINVAL);

    memset(&f, 0, sizeof f);
    of_actions_set_field(&f.actions);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), EINVAL);

    memset(&f, 0, sizeof f);
    of_match_in_port(of_actions_set_field(&f.actions), 3);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), EINVAL);

    memset(&f, 0, sizeof f);
    f.table_id = OF_TABLE_ALL;
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, OF_FC_ADD), EINVAL);
    assert_int_equal(of_encode_flow_mod(&b, 1, &f, 9), EINVAL);

    memset(&g, 0, sizeof g);
    g.type = OF_GROUP_TYPE_FAST_FAILOVER;
    of_actions_output(&of_group_add_bucket(&g)->actions, 1);
    assert_int_equal(of_encode_group_mod(&b, 1, &g, OF_GC_ADD), EINVAL);

    memset(&g, 0, sizeof g);
    g.type = OF_GROUP_TYPE_INDIRECT;
    of_group_add_bucket(&g);
    of_group_add_bucket(&g);
    assert_int_equal(of_encode_group_mod(&b, 1, &g, OF_GC_ADD), EINVAL);

    memset(&g, 0, sizeof g);
    g.group_id = OF_GROUP_ALL;
    assert_int_equal(of_encode_group_mod(&b, 1, &g, OF_GC_ADD), EINVAL);

    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "keep", 4);
    buf_uninit(&b);
}

/* Parsing. */

static void
test_frame(void **state)
{
    uint8_t two[16] = { 4, OF_BARRIER_REPLY, 0, 8, 0, 0, 0, 1,
                        4, OF_ECHO_REQUEST, 0, 8, 0, 0, 0, 2 };
    uint8_t bad[8] = { 4, 0, 0, 7 };
    size_t len = 99;

    for (size_t i = 0; i < 8; i++) {
        assert_int_equal(of_msg_frame(two, i, &len), EAGAIN);
    }
    assert_int_equal(len, 99);
    assert_int_equal(of_msg_frame(two, 16, &len), 0);
    assert_int_equal(len, 8);
    assert_int_equal(of_msg_frame(bad, 8, &len), EPROTO);
}

static void
test_parse_hello(void **state)
{
    uint8_t with_bitmap[16] = { 6, OF_HELLO, 0, 16, 0, 0, 0, 5, 0, 1, 0, 8, 0, 0, 0, 0x72 };
    uint8_t plain[8] = { 3, OF_HELLO, 0, 8, 0, 0, 0, 5 };
    uint8_t bad_elem[12] = { 6, OF_HELLO, 0, 12, 0, 0, 0, 5, 0, 1, 0, 2 };
    uint8_t long_elem[16] = { 6, OF_HELLO, 0, 16, 0, 0, 0, 5, 0, 1, 0, 12, 0, 0, 0, 0x72 };
    uint8_t short_bitmap[12] = { 6, OF_HELLO, 0, 12, 0, 0, 0, 5, 0, 1, 0, 4 };
    struct of_msg m;

    assert_int_equal(of_msg_parse(with_bitmap, 16, &m), 0);
    assert_int_equal(m.u.hello_versions, 0x72);
    assert_int_equal(of_msg_parse(plain, 8, &m), 0);
    assert_int_equal(m.u.hello_versions, 0xe);  /* 1.0 (1) to 1.2 (3). */
    assert_int_equal(of_msg_parse(bad_elem, 12, &m), EPROTO);
    assert_int_equal(of_msg_parse(long_elem, 16, &m), EPROTO);
    assert_int_equal(of_msg_parse(short_bitmap, 12, &m), EPROTO);
    /* The header's length must be the length given. */
    assert_int_equal(of_msg_parse(with_bitmap, 15, &m), EPROTO);
}

static void
test_parse_error(void **state)
{
    uint8_t err[20] = { 4, OF_ERROR, 0, 20, 0, 0, 0, 9, 0, 2, 0, 9,
                        4, OF_FLOW_MOD, 0, 104, 0, 0, 0, 9 };
    uint8_t exp[16] = { 4, OF_ERROR, 0, 16, 0, 0, 0, 3, 0xff, 0xff, 0, 7, 0, 0, 0x23, 0x20 };
    uint8_t group[12] = { 4, OF_ERROR, 0, 12, 0, 0, 0, 4, 0, 6, 0, 0 };
    uint8_t unknown[12] = { 4, OF_ERROR, 0, 12, 0, 0, 0, 4, 0, 99, 0, 0 };
    uint8_t truncated[10] = { 4, OF_ERROR, 0, 10, 0, 0, 0, 4, 0, 6 };
    struct of_msg m;
    char text[128];

    assert_int_equal(of_msg_parse(err, sizeof err, &m), 0);
    assert_int_equal(m.u.error.failed_type, OF_FLOW_MOD);
    assert_int_equal(m.u.error.failed_xid, 9);
    assert_int_equal(of_error_describe(&m.u.error, text, sizeof text), ENOENT);
    assert_string_equal(text, "OFPBAC_BAD_OUT_GROUP: output to a group that does not exist");

    assert_int_equal(of_msg_parse(exp, sizeof exp, &m), 0);
    assert_int_equal(m.u.error.experimenter, 0x2320);
    assert_int_equal(m.u.error.failed_type, -1);
    assert_int_equal(of_error_describe(&m.u.error, text, sizeof text), EINVAL);
    assert_string_equal(text, "experimenter error: experimenter 0x00002320, type 7");

    assert_int_equal(of_msg_parse(group, sizeof group, &m), 0);
    assert_int_equal(of_error_describe(&m.u.error, text, sizeof text), EEXIST);
    assert_int_equal(of_msg_parse(unknown, sizeof unknown, &m), 0);
    assert_int_equal(of_error_describe(&m.u.error, text, sizeof text), EINVAL);
    assert_string_equal(text, "unknown error type 99, code 0");
    assert_int_equal(of_msg_parse(truncated, sizeof truncated, &m), EPROTO);
}

static void
test_parse_features_and_port_status(void **state)
{
    uint8_t feat[32] = { 4, OF_FEATURES_REPLY, 0, 32, 0, 0, 0, 1,
                         0, 0, 0, 0, 0, 0, 0x12, 0x34, 0, 0, 0, 0, 254 };
    uint8_t ps[80] = { 4, OF_PORT_STATUS, 0, 80, 0, 0, 0, 0, 2 };
    struct of_msg m;

    assert_int_equal(of_msg_parse(feat, 32, &m), 0);
    assert_int_equal(m.u.features.datapath_id, 0x1234);
    assert_int_equal(m.u.features.n_tables, 254);
    feat[3] = 31;
    assert_int_equal(of_msg_parse(feat, 31, &m), EPROTO);

    ps[8 + 8 + 3] = 7;                  /* port_no */
    memcpy(ps + 8 + 8 + 16, "sfct-p7-with-a-long-name", 16);
    ps[8 + 8 + 36 + 3] = 1;             /* state: LINK_DOWN */
    assert_int_equal(of_msg_parse(ps, 80, &m), 0);
    assert_int_equal(m.u.port_status.reason, 2);
    assert_int_equal(m.u.port_status.port_no, 7);
    assert_string_equal(m.u.port_status.name, "sfct-p7-with-a-");
    assert_true(m.u.port_status.link_down);
    ps[3] = 79;
    assert_int_equal(of_msg_parse(ps, 79, &m), EPROTO);
}

/* The connection against a scripted switch on the other end of a socket. */

enum peer_script {
    PEER_OK,            /* Handshake, then answer: refuse FLOW_MODs to port 666, echo. */
    PEER_OLD,           /* Offers OpenFlow 1.0 only. */
    PEER_SILENT,        /* Handshake, then never answers a barrier. */
    PEER_HANGUP,        /* Handshake, then closes. */
};

struct peer {
    int fd;                     /* Connected socket, or -1 with 'listen_fd'. */
    int listen_fd;
    int n_accepts;
    enum peer_script script;
    int n_flow_mods, n_barriers, n_echo_replies;
};

static void
peer_send(int fd, uint8_t type, uint32_t xid, const void *body, size_t body_len)
{
    struct buf b = BUF_INITIALIZER;

    of_encode_simple(&b, xid, type, body, body_len);
    b.data[0] = 4;
    assert_int_equal(write_fully(fd, b.data, b.len), 0);
    buf_uninit(&b);
}

/* Reads one message; false at EOF. */
static bool
peer_recv(int fd, uint8_t *msg, size_t *lenp)
{
    size_t have = 0, need = 8;

    while (have < need) {
        ssize_t n = read(fd, msg + have, need - have);
        if (n <= 0) {
            return false;
        }
        have += n;
        if (have >= 4) {
            need = msg[2] << 8 | msg[3];
        }
    }
    *lenp = have;
    return true;
}

static void
peer_serve(struct peer *p, int fd)
{
    uint8_t hello[16] = { 0, 1, 0, 8, 0, 0, 0, 0x12 };     /* Versions 1.0 and 1.3. */
    uint8_t feat[24] = { 0, 0, 0, 0, 0, 0, 0xab, 0xcd };
    uint8_t msg[65536];
    size_t len;

    if (p->script == PEER_OLD) {
        uint8_t old[8] = { 0, 1, 0, 8, 0, 0, 0, 0x02 };
        peer_send(fd, OF_HELLO, 77, old, 8);
        peer_recv(fd, msg, &len);
        return;
    }
    peer_send(fd, OF_HELLO, 77, hello, 8);
    while (peer_recv(fd, msg, &len)) {
        uint32_t xid = (uint32_t) msg[4] << 24 | msg[5] << 16 | msg[6] << 8 | msg[7];

        switch (msg[1]) {
        case OF_FEATURES_REQUEST:
            peer_send(fd, OF_FEATURES_REPLY, xid, feat, sizeof feat);
            if (p->script == PEER_HANGUP) {
                return;
            }
            /* Asynchronous messages the client must skip, and an echo it must answer. */
            peer_send(fd, OF_PORT_STATUS, 0, (uint8_t[72]) { 0 }, 72);
            peer_send(fd, OF_ECHO_REQUEST, 4242, "ping", 4);
            break;
        case OF_FLOW_MOD: {
            p->n_flow_mods++;
            /* Output to port 666 is refused. For the flows the tests send (an in_port match,
             * one output) the port is at 76: header and fixed part 48, match 16, instruction
             * header 8, action type and length 4. */
            uint8_t err[4 + 64] = { 0, 2, 0, 4 };
            if (len >= 88 && msg[78] == 0x02 && msg[79] == 0x9a) {
                memcpy(err + 4, msg, 64);
                peer_send(fd, OF_ERROR, xid, err, sizeof err);
            }
            break;
        }
        case OF_BARRIER_REQUEST:
            p->n_barriers++;
            if (p->script != PEER_SILENT) {
                peer_send(fd, OF_BARRIER_REPLY, xid, NULL, 0);
            }
            break;
        case OF_ECHO_REPLY:
            assert_int_equal(xid, 4242);
            assert_memory_equal(msg + 8, "ping", 4);
            p->n_echo_replies++;
            break;
        }
    }
}

static void *
peer_main(void *p_)
{
    struct peer *p = p_;

    if (p->fd >= 0) {
        peer_serve(p, p->fd);
        close(p->fd);
        return NULL;
    }
    while (p->n_accepts < 2) {
        int fd = accept(p->listen_fd, NULL, NULL);
        if (fd < 0) {
            return NULL;
        }
        /* The first connection is dropped after the handshake; later ones are served. */
        p->script = p->n_accepts++ ? PEER_OK : PEER_HANGUP;
        peer_serve(p, fd);
        close(fd);
    }
    return NULL;
}

struct fixture {
    struct peer peer;
    pthread_t thread;
    struct of_conn *conn;
    int open_error;
};

static void
start(struct fixture *x, enum peer_script script, int timeout_ms)
{
    int fds[2];

    memset(x, 0, sizeof *x);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    x->peer.fd = fds[1];
    x->peer.listen_fd = -1;
    x->peer.script = script;
    assert_int_equal(pthread_create(&x->thread, NULL, peer_main, &x->peer), 0);
    x->open_error = of_conn_open_fd(fds[0], timeout_ms, &x->conn);
}

static void
finish(struct fixture *x)
{
    if (!x->open_error) {
        of_conn_close(x->conn);
    }
    pthread_join(x->thread, NULL);
}

static void
flow_to(struct of_flow *f, uint32_t port)
{
    memset(f, 0, sizeof *f);
    f->priority = 10;
    of_match_in_port(&f->match, 1);
    of_actions_output(&f->actions, port);
}

static void
test_conn_requests_and_errors(void **state)
{
    struct fixture x;
    struct of_flow f;

    start(&x, PEER_OK, 2000);
    assert_int_equal(x.open_error, 0);
    assert_int_equal(of_conn_datapath_id(x.conn), 0xabcd);
    /* Three changes, the second refused: the barrier reports it, by type and xid. */
    flow_to(&f, 2);
    assert_int_equal(of_flow_add(x.conn, &f), 0);
    flow_to(&f, 666);
    assert_int_equal(of_flow_add(x.conn, &f), 0);
    flow_to(&f, 3);
    assert_int_equal(of_flow_add(x.conn, &f), 0);
    assert_int_equal(of_barrier(x.conn), EINVAL);
    assert_non_null(strstr(of_conn_error(x.conn), "FLOW_MOD (xid "));
    assert_non_null(strstr(of_conn_error(x.conn), "OFPBAC_BAD_OUT_PORT"));
    /* The refusal is not carried over into the next batch. */
    assert_int_equal(of_flow_add(x.conn, &f), 0);
    assert_int_equal(of_barrier(x.conn), 0);
    assert_int_equal(of_barrier(x.conn), 0);
    /* An encoding refused before sending leaves the connection usable. */
    memset(&f, 0, sizeof f);
    of_actions_set_field(&f.actions);
    assert_int_equal(of_flow_add(x.conn, &f), EINVAL);
    assert_int_equal(of_barrier(x.conn), 0);
    finish(&x);
    assert_int_equal(x.peer.n_flow_mods, 4);
    assert_int_equal(x.peer.n_barriers, 4);
    assert_int_equal(x.peer.n_echo_replies, 1);
}

static void
test_conn_version_refused(void **state)
{
    struct fixture x;

    start(&x, PEER_OLD, 2000);
    assert_int_equal(x.open_error, EPROTONOSUPPORT);
    finish(&x);
}

static void
test_conn_barrier_timeout(void **state)
{
    struct fixture x;
    struct of_flow f;
    uint64_t t0;

    start(&x, PEER_SILENT, 200);
    assert_int_equal(x.open_error, 0);
    flow_to(&f, 2);
    assert_int_equal(of_flow_add(x.conn, &f), 0);
    t0 = time_mono_ns();
    assert_int_equal(of_barrier(x.conn), ETIMEDOUT);
    assert_true(time_mono_ns() - t0 >= 150 * 1000000ull);
    assert_non_null(strstr(of_conn_error(x.conn), "BARRIER_REPLY"));
    finish(&x);
}

static void
test_conn_hangup_without_path(void **state)
{
    struct fixture x;
    struct of_flow f;

    start(&x, PEER_HANGUP, 2000);
    assert_int_equal(x.open_error, 0);
    pthread_join(x.thread, NULL);       /* The peer has closed its end. */
    flow_to(&f, 2);
    assert_int_equal(of_flow_add(x.conn, &f), ECONNRESET);
    assert_int_equal(of_barrier(x.conn), ECONNRESET);
    of_conn_close(x.conn);
}

/* A switch that dropped an idle connection: the next request reopens it by path. */
static void
test_conn_reopens(void **state)
{
    char dir[] = "/tmp/sfct-of-unit-XXXXXX";
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct peer p = { .fd = -1 };
    struct of_conn *conn;
    struct of_flow f;
    pthread_t thread;

    assert_non_null(mkdtemp(dir));
    snprintf(sun.sun_path, sizeof sun.sun_path, "%s/data.mgmt", dir);
    p.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(p.listen_fd >= 0);
    assert_int_equal(bind(p.listen_fd, (struct sockaddr *) &sun, sizeof sun), 0);
    assert_int_equal(listen(p.listen_fd, 4), 0);
    assert_int_equal(pthread_create(&thread, NULL, peer_main, &p), 0);

    assert_int_equal(of_conn_open(sun.sun_path, 2000, &conn), 0);
    /* Wait until the peer has hung up (its second accept is pending). */
    for (int i = 0; i < 200; i++) {
        struct pollfd pfd = { .fd = of_conn_fd(conn), .events = POLLIN };
        if (poll(&pfd, 1, 10) == 1 && of_conn_run(conn) == ECONNRESET) {
            break;
        }
    }
    assert_int_equal(of_conn_run(conn), ECONNRESET);
    flow_to(&f, 2);
    assert_int_equal(of_flow_add(conn, &f), 0);
    assert_int_equal(of_barrier(conn), 0);
    assert_int_equal(p.n_accepts, 2);
    assert_int_equal(p.n_flow_mods, 1);
    of_conn_close(conn);

    pthread_join(thread, NULL);
    close(p.listen_fd);
    unlink(sun.sun_path);
    rmdir(dir);
}

static void
test_open_missing_socket(void **state)
{
    struct of_conn *conn = NULL;

    assert_int_equal(of_conn_open("/nonexistent/sfct/data.mgmt", 100, &conn), ENOENT);
    assert_null(conn);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flow_mod_steering),
        cmocka_unit_test(test_flow_mod_arp),
        cmocka_unit_test(test_flow_mod_every_match_and_action),
        cmocka_unit_test(test_flow_mod_modify_delete),
        cmocka_unit_test(test_group_mod),
        cmocka_unit_test(test_group_helpers),
        cmocka_unit_test(test_encoder_refuses),
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_parse_hello),
        cmocka_unit_test(test_parse_error),
        cmocka_unit_test(test_parse_features_and_port_status),
        cmocka_unit_test(test_conn_requests_and_errors),
        cmocka_unit_test(test_conn_version_refused),
        cmocka_unit_test(test_conn_barrier_timeout),
        cmocka_unit_test(test_conn_hangup_without_path),
        cmocka_unit_test(test_conn_reopens),
        cmocka_unit_test(test_open_missing_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
