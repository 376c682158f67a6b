/* Unit tests of the chain components' logic: classifier rules, SFF path lookup, and the
 * JSON-RPC framing and dispatch the agent and the roles' control sockets speak. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vnfs/lib/nsh.h"
#include "vnfs/lib/packet.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/sfc/ftmb.h"
#include "vnfs/sfc/path.h"
#include "vnfs/sfc/rule.h"

static struct packet_flow
flow(const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t proto)
{
    struct in_addr s, d;
    struct packet_flow f;

    inet_pton(AF_INET, src, &s);
    inet_pton(AF_INET, dst, &d);
    packet_flow_init(&f, ntohl(s.s_addr), ntohl(d.s_addr), sport, dport, proto);
    return f;
}

static void
test_rule_match(void **state)
{
    struct packet_flow dns = flow("10.0.0.1", "10.0.0.53", 40000, 53, IPPROTO_UDP);
    struct packet_flow web = flow("10.0.0.1", "192.168.1.9", 40000, 80, IPPROTO_TCP);
    struct packet_flow ping = flow("10.0.0.1", "10.0.0.53", 0, 0, IPPROTO_ICMP);
    char *err = NULL;
    struct rule r;

    assert_int_equal(rule_parse("udp,dport=53", &r, &err), 0);
    assert_true(rule_match(&r, &dns));
    assert_false(rule_match(&r, &web));
    assert_false(rule_match(&r, &ping));
    assert_int_equal(r.spi, 0);

    assert_int_equal(rule_parse("tcp,dst=192.168.0.0/16,dport=80-88,spi=7", &r, &err), 0);
    assert_true(rule_match(&r, &web));
    assert_false(rule_match(&r, &dns));
    assert_int_equal(r.spi, 7);

    assert_int_equal(rule_parse("src=10.0.0.0/24", &r, &err), 0);
    assert_true(rule_match(&r, &dns));
    assert_true(rule_match(&r, &ping));
    assert_int_equal(rule_parse("src=10.0.1.0/24", &r, &err), 0);
    assert_false(rule_match(&r, &dns));

    /* Ports without a protocol match UDP and TCP only. */
    assert_int_equal(rule_parse("dport=53", &r, &err), 0);
    assert_true(rule_match(&r, &dns));
    assert_false(rule_match(&r, &ping));
    assert_int_equal(rule_parse("sport=1-39999", &r, &err), 0);
    assert_false(rule_match(&r, &dns));
}

static void
test_rule_errors(void **state)
{
    static const char *const bad[] = {
        "udp,dport=70000", "udp,dport=", "udp,dport=9-3", "udpp", "tcp,src=10.0.0.1/33",
        "src=10.0.0", "spi=0", "spi=8388608", "icmp,dport=1", "proto=0", "color=red",
    };
    struct rule r;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *err = NULL;
        memset(&r, 0x5a, sizeof r);
        assert_int_equal(rule_parse(bad[i], &r, &err), EINVAL);
        assert_non_null(err);
        assert_int_equal(r.proto, 0x5a);          /* Untouched. */
        free(err);
    }
}

static void
test_path_lookup(void **state)
{
    struct path_table t = { NULL, 0 };
    const uint8_t *mac = NULL;
    char *err = NULL;
    struct path p;

    assert_int_equal(path_parse("5:02:00:00:00:00:01,02:00:00:00:00:02", &p, &err), 0);
    assert_int_equal(p.n_hops, 2);
    assert_int_equal(path_table_add(&t, &p), 0);
    assert_int_equal(path_table_add(&t, &p), EEXIST);
    assert_int_equal(path_lookup(&t, 5, 255, &mac), PATH_FORWARD);
    assert_int_equal(mac[5], 1);
    assert_int_equal(path_lookup(&t, 5, 254, &mac), PATH_FORWARD);
    assert_int_equal(mac[5], 2);
    assert_int_equal(path_lookup(&t, 5, 253, &mac), PATH_END);
    assert_int_equal(path_lookup(&t, 5, 252, &mac), PATH_BAD_SI);
    assert_int_equal(path_lookup(&t, 6, 255, &mac), PATH_UNKNOWN_SPI);
    /* A reply on the reverse path without a path of its own: decapsulate at once. */
    assert_int_equal(path_lookup(&t, 5 | NSH_SPI_REVERSE, 255, &mac), PATH_END);
    assert_int_equal(path_lookup(&t, 5 | NSH_SPI_REVERSE, 250, &mac), PATH_UNKNOWN_SPI);
    /* A configured reverse path is followed like any other. */
    assert_int_equal(path_parse("0x800005:02:00:00:00:00:09", &p, &err), 0);
    assert_int_equal(path_table_add(&t, &p), 0);
    assert_int_equal(path_lookup(&t, 5 | NSH_SPI_REVERSE, 255, &mac), PATH_FORWARD);
    assert_int_equal(mac[5], 9);
    /* An empty path decapsulates at once. */
    assert_int_equal(path_parse("9:", &p, &err), 0);
    assert_int_equal(p.n_hops, 0);
    path_table_destroy(&t);

    static const char *const bad[] = { "0:02:00:00:00:00:01", "x:02:00:00:00:00:01",
                                       "5:02:00:00:00:00", "5", "16777216:", ":02:00:00:00:00:01",
                                       "5:02:00:00:00:00:01,zz" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err = NULL;
        assert_int_equal(path_parse(bad[i], &p, &err), EINVAL);
        assert_non_null(err);
        free(err);
    }
}

static int
echo_method(void *aux, json_t *params, json_t **result, char **errmsg)
{
    (*(int *) aux)++;
    *result = json_incref(params ? params : json_null());
    return 0;
}

static int
failing_method(void *aux, json_t *params, json_t **result, char **errmsg)
{
    *errmsg = strdup("it broke");
    return EIO;
}

static json_t *
answer(const char *line, int *calls)
{
    static const struct rpc_method methods[] = {
        { "echo", echo_method }, { "fail", failing_method },
    };
    struct buf reply = BUF_INITIALIZER;
    json_t *j = NULL;

    rpc_handle_line(methods, 2, calls, line, strlen(line), &reply);
    if (reply.len) {
        assert_int_equal(reply.data[reply.len - 1], '\n');
        j = json_loadb((const char *) reply.data, reply.len, 0, NULL);
        assert_non_null(j);
    }
    buf_uninit(&reply);
    return j;
}

static int
error_code(json_t *j)
{
    return json_integer_value(json_object_get(json_object_get(j, "error"), "code"));
}

static void
test_rpc_dispatch(void **state)
{
    int calls = 0;
    json_t *j;

    j = answer("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":{\"a\":1}}", &calls);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), 7);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "result"), "a")), 1);
    json_decref(j);
    assert_int_equal(calls, 1);

    /* A notification (no id) runs but gets no answer. */
    assert_null(answer("{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}", &calls));
    assert_int_equal(calls, 2);

    j = answer("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}", &calls);
    assert_int_equal(error_code(j), RPC_METHOD_NOT_FOUND);
    json_decref(j);
    j = answer("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"fail\"}", &calls);
    assert_int_equal(error_code(j), RPC_SERVER_ERROR);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"),
                                                          "message")), "it broke");
    json_decref(j);
    j = answer("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo", &calls);
    assert_int_equal(error_code(j), RPC_PARSE_ERROR);
    json_decref(j);
    j = answer("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"echo\"}", &calls);
    assert_int_equal(error_code(j), RPC_INVALID_REQUEST);
    json_decref(j);
    j = answer("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":3}", &calls);
    assert_int_equal(error_code(j), RPC_INVALID_REQUEST);
    json_decref(j);
    j = answer("[1,2]", &calls);
    assert_int_equal(error_code(j), RPC_INVALID_REQUEST);
    json_decref(j);
    assert_int_equal(calls, 2);
}

static void
test_rpc_framing(void **state)
{
    struct buf in = BUF_INITIALIZER;
    size_t len;

    assert_false(rpc_next_line(&in, &len));
    buf_put(&in, "{\"a\":1}\n{\"b\"", 12);
    assert_true(rpc_next_line(&in, &len));
    assert_int_equal(len, 7);
    rpc_consume_line(&in, len);
    assert_int_equal(in.len, 4);
    assert_false(rpc_next_line(&in, &len));
    buf_put(&in, ":2}\n\n", 5);
    assert_true(rpc_next_line(&in, &len));
    assert_int_equal(len, 7);
    assert_memory_equal(in.data, "{\"b\":2}", 7);
    rpc_consume_line(&in, len);
    assert_true(rpc_next_line(&in, &len));      /* An empty line is a line. */
    assert_int_equal(len, 0);
    rpc_consume_line(&in, len);
    assert_int_equal(in.len, 0);
    buf_uninit(&in);
}

static void
test_base64(void **state)
{
    const uint8_t data[] = { 0, 1, 2, 0xfe, 0xff };
    struct buf out = BUF_INITIALIZER;
    char *s = rpc_base64_encode(data, sizeof data);

    assert_string_equal(s, "AAEC/v8=");
    assert_int_equal(rpc_base64_decode(s, &out), 0);
    assert_int_equal(out.len, sizeof data);
    assert_memory_equal(out.data, data, sizeof data);
    buf_clear(&out);
    assert_int_equal(rpc_base64_decode("AAE*", &out), EINVAL);
    free(s);
    buf_uninit(&out);
}

/* FTMB's in-line OL: a PAL lost on the way costs only the outputs before the next PAL (with
 * PALs counted, every output after it waited for good); a PAL the switch passed ahead of the
 * output before it does not hold that output's successors. */
static void
test_ftmb_ol(void **state)
{
    struct ftmb_ol ol = { 0 };

    ftmb_ol_pal(&ol, 1);
    assert_true(ftmb_ol_output(&ol) <= ol.pals);        /* 1: released. */
    /* PAL 2 lost. */
    assert_false(ftmb_ol_output(&ol) <= ol.pals);       /* 2: held... */
    ftmb_ol_pal(&ol, 3);
    assert_true(2 <= ol.pals);                          /* ...until PAL 3. */
    assert_true(ftmb_ol_output(&ol) <= ol.pals);        /* 3: released. */
    /* PALs 4 and 5 before output 4. */
    ftmb_ol_pal(&ol, 4);
    ftmb_ol_pal(&ol, 5);
    assert_int_equal(ftmb_ol_output(&ol), 4);
    assert_int_equal(ftmb_ol_output(&ol), 5);
    assert_false(ftmb_ol_output(&ol) <= ol.pals);       /* 6: its PAL not in. */
    ftmb_ol_pal(&ol, 3);                                /* Late: no step back. */
    assert_int_equal(ol.pals, 5);
}

/* FTMB's simulated snapshot: nothing read for the stall's length, and under a quota of its
 * own the CPU time the VNF's server would have had meanwhile spent (a sleep alone costs a
 * quota nothing: the VNF spends its budget afterwards); without one it sleeps. */
static void
test_ftmb_stall(void **state)
{
    uint64_t t0 = time_mono_ns(), cpu;

    cpu = ftmb_stall(4000000, 0);                       /* Shared CPUs: a sleep. */
    assert_true(time_mono_ns() - t0 >= 4000000);
    assert_true(cpu < 1000000);
    t0 = time_mono_ns();
    cpu = ftmb_stall(4000000, 0.5);                     /* Half a core: 2 ms of its time. */
    assert_true(time_mono_ns() - t0 >= 4000000);
    assert_true(cpu >= 2000000);
    t0 = time_mono_ns();
    cpu = ftmb_stall(2000000, 3);                       /* One thread: a core at most. */
    assert_true(time_mono_ns() - t0 >= 2000000);
    assert_true(cpu >= 2000000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_match),
        cmocka_unit_test(test_ftmb_ol),
        cmocka_unit_test(test_ftmb_stall),
        cmocka_unit_test(test_rule_errors),
        cmocka_unit_test(test_path_lookup),
        cmocka_unit_test(test_rpc_dispatch),
        cmocka_unit_test(test_rpc_framing),
        cmocka_unit_test(test_base64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
