/* Tests of the kvm control channel's line protocol (vnfs/lib/vmchan.c): every request form,
 * the replies, and the malformed lines both sides must refuse. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "vnfs/lib/vmchan.h"

static int
req(const char *line, struct vmchan_request *r)
{
    return vmchan_parse_request(line, strlen(line), r);
}

static int
rep(const char *line, struct vmchan_reply *r)
{
    return vmchan_parse_reply(line, strlen(line), r);
}

static void
test_requests(void **state)
{
    static const uint8_t mac[6] = { 0x02, 0x5f, 0x00, 0xab, 0xCD, 0x01 };
    struct vmchan_request r;

    assert_int_equal(req("iface 02:5f:00:ab:cd:01 eth0 10.254.0.2/16", &r), 0);
    assert_int_equal(r.cmd, VMCHAN_IFACE);
    assert_memory_equal(r.mac, mac, 6);
    assert_string_equal(r.ifname, "eth0");
    assert_true(r.has_addr);
    assert_int_equal(r.addr.s_addr, inet_addr("10.254.0.2"));
    assert_int_equal(r.prefix_len, 16);
    assert_int_equal(req("iface 02:5F:00:AB:CD:01 eth1 -", &r), 0);
    assert_false(r.has_addr);
    assert_memory_equal(r.mac, mac, 6);
    assert_int_equal(req("link eth1 down", &r), 0);
    assert_int_equal(r.cmd, VMCHAN_LINK);
    assert_false(r.up);
    assert_int_equal(req("link eth1 up", &r), 0);
    assert_true(r.up);
    assert_int_equal(req("neigh eth1 10.0.0.3 02:5f:00:ab:cd:01", &r), 0);
    assert_int_equal(r.cmd, VMCHAN_NEIGH);
    assert_int_equal(req("stats", &r), 0);
    assert_int_equal(r.cmd, VMCHAN_STATS);
    assert_int_equal(req("halt", &r), 0);
    assert_int_equal(r.cmd, VMCHAN_HALT);
    assert_int_equal(req("key 000102030405060708090a0b0c0d0e0f"
                         "101112131415161718191a1b1c1d1e1f", &r), 0);
    assert_int_equal(r.cmd, VMCHAN_KEY);
    for (int i = 0; i < VMCHAN_KEY_BYTES; i++) {
        assert_int_equal(r.key[i], i);
    }
    assert_int_equal(req("file ft.key 00ff10", &r), 0);
    assert_int_equal(r.cmd, VMCHAN_FILE);
    assert_string_equal(r.file_name, "ft.key");
    assert_int_equal(r.file_len, 3);
    assert_int_equal(r.file_data[0], 0x00);
    assert_int_equal(r.file_data[1], 0xff);
    assert_int_equal(r.file_data[2], 0x10);
    /* The largest file a line carries. */
    {
        char line[8 + 2 * VMCHAN_FILE_MAX_BYTES + 4] = "file k ";
        for (int i = 0; i < 2 * VMCHAN_FILE_MAX_BYTES; i++) {
            strcat(line, "a");
        }
        assert_int_equal(req(line, &r), 0);
        assert_int_equal(r.file_len, VMCHAN_FILE_MAX_BYTES);
        strcat(line, "aa");
        assert_int_equal(req(line, &r), EINVAL);
    }
}

static void
test_bad_requests(void **state)
{
    static const char *const bad[] = {
        "", " ", "stats ", " stats", "halt now", "reboot", "iface", "link eth1",
        "link eth1 sideways", "iface 02:5f:00:ab:cd eth0 -", "iface 02:5f:00:ab:cd:0g eth0 -",
        "iface 02-5f-00-ab-cd-01 eth0 -", "iface 02:5f:00:ab:cd:01 eth0 10.0.0.1",
        "iface 02:5f:00:ab:cd:01 eth0 10.0.0.1/33", "iface 02:5f:00:ab:cd:01 eth0 10.0.0.1/016",
        "iface 02:5f:00:ab:cd:01 eth0 10.0.0.256/24", "iface 02:5f:00:ab:cd:01 eth0 10.0.0.1/",
        "iface 02:5f:00:ab:cd:01 a-name-of-16-chr -", "iface 02:5f:00:ab:cd:01 eth/0 -",
        "iface 02:5f:00:ab:cd:01  eth0 -", "neigh eth1 10.0.0.3", "neigh eth1 ::1 02:5f:00:ab:cd:01",
        "stats\n", "link eth1 up\r", "key", "key 00",
        "key 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1",
        "key 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00",
        "key 000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        "key 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g",
        "key 000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f",
        "file", "file ft.key", "file ft.key 0", "file ft.key 0G", "file ft.key 0A",
        "file ft.key ", "file ../ft.key 00", "file a/b 00", "file .. 00", "file . 00",
        "file .hidden 00", "file ft.key 00 11", "file " "a-file-name-of-64-bytes-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx 00",
    };
    struct vmchan_request r;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (req(bad[i], &r) != EINVAL) {
            fail_msg("accepted '%s'", bad[i]);
        }
    }
    /* Embedded NUL: the length is what counts. */
    assert_int_equal(vmchan_parse_request("stats\0x", 7, &r), EINVAL);
}

static void
test_replies(void **state)
{
    struct vmchan_reply r;

    assert_int_equal(rep("ok", &r), 0);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.n_values, 0);
    assert_int_equal(rep("ok 5350000000 28364800", &r), 0);
    assert_int_equal(r.n_values, 2);
    assert_true(r.values[0] == 5350000000ULL && r.values[1] == 28364800ULL);
    assert_int_equal(rep("ok 0 18446744073709551615", &r), 0);
    assert_true(r.values[1] == UINT64_MAX);
    assert_int_equal(rep("err 19 No such device", &r), 0);
    assert_int_equal(r.error, 19);
    assert_int_equal(rep("err 22", &r), 0);
    assert_int_equal(r.error, 22);
}

static void
test_bad_replies(void **state)
{
    static const char *const bad[] = {
        "", "OK", "ok ", "ok 1", "ok 1 2 3", "ok -1 2", "ok 1 18446744073709551616",
        "ok 01 2", "err", "err ", "err 0 none", "err -5 x", "err 99999 x", "err 5x y",
        "okay", "ok\t1 2",
    };
    struct vmchan_reply r;

    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (rep(bad[i], &r) != EPROTO) {
            fail_msg("accepted reply '%s'", bad[i]);
        }
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_replies),
        cmocka_unit_test(test_bad_replies),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
