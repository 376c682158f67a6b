/* Tests of domain XML generation: every guest of each topology in tests/fixtures/domain/ as
 * the lxc and kvm providers describe it (golden files; REGENERATE=1 rewrites them), escaping,
 * and the refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/infra/domxml.h"
#include "testbed/model/diag.h"
#include "testbed/model/topology.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"
#include "tests/unit/golden.h"

#define FIXTURES "tests/fixtures/domain"

/* What a topology's guests become, with the paths an instance "fx" would give them. */
static char *
fixture_output(const char *path, bool *validp)
{
    struct buf out = BUF_INITIALIZER;
    struct topology *topo = NULL;
    struct diag diag;

    diag_init(&diag);
    assert_int_equal(topology_load(path, &diag, &topo), 0);
    for (size_t i = 0; i < topo->n_guests; i++) {
        const struct topo_guest *tg = &topo->guests[i];
        char *dom = xasprintf("sfclab-fx-%s", tg->name);
        char *title = xasprintf("sfclab instance fx, guest %s", tg->name);
        char *log = xasprintf("/run/sfclab/fx/guests/%s.log", tg->name);
        char *dir = xasprintf("/run/sfclab/fx/guests/%s", tg->name);
        char *port = xasprintf("%s-eth0", tg->name);
        char *agent[] = { "agent", "--listen", "0.0.0.0:7070", "--dir", dir, NULL };
        uint8_t mac[6] = { 0x02, 0xfe, 0, 0, (uint8_t) i, 1 };
        struct domxml_iface mgmt = { .port = port, .guest_dev = "eth0", .mac = mac };
        char **args = domxml_lxc_init_args(tg->name, log, agent);
        struct domxml_guest dg = {
            .name = dom, .title = title, .cpus = tg->cpus, .period_us = tg->cpu_period_us,
            .memory = tg->memory,
            .init = "/opt/sfclab/bin/sfcd", .init_args = args,
            .emulator = "/usr/bin/qemu-system-x86_64",
            .kernel = "/opt/sfclab/build/images/vmlinuz",
            .initrd = "/opt/sfclab/build/images/initrd.img",
            .cmdline = "console=ttyS0 quiet",
            .console_log = log, .channel = "org.sfclab.ctl", .share_dir = dir,
            .share_tag = "sfcdir", .ifaces = &mgmt, .n_ifaces = 1,
        };

        buf_printf(&out, "<!-- guest %s, provider %s -->\n", tg->name, tg->provider);
        if (!strcmp(tg->provider, "lxc")) {
            assert_int_equal(domxml_lxc(&dg, &out), 0);
        } else if (!strcmp(tg->provider, "kvm")) {
            assert_int_equal(domxml_kvm(&dg, &out), 0);
        } else {
            buf_printf(&out, "(no libvirt domain)\n");
        }
        free(args);
        free(dom);
        free(title);
        free(log);
        free(dir);
        free(port);
    }
    topology_free(topo);
    diag_uninit(&diag);
    *validp = true;
    return golden_buf_string(&out);
}

static void
test_fixtures(void **state)
{
    size_t n_valid, n_invalid;

    golden_run(FIXTURES, fixture_output, false, &n_valid, &n_invalid);
    assert_true(n_valid >= 2);
}

static void
test_escaping(void **state)
{
    struct buf out = BUF_INITIALIZER;
    char *args[] = { "sh", "-c", "a<b && echo 'x' \"y\"", NULL };
    struct domxml_guest dg = { .name = "a&b", .init = "/bin/sh", .init_args = args };

    assert_int_equal(domxml_lxc(&dg, &out), 0);
    buf_put_u8(&out, 0);
    assert_non_null(strstr((char *) out.data, "<name>a&amp;b</name>"));
    assert_non_null(strstr((char *) out.data,
                           "<initarg>a&lt;b &amp;&amp; echo &apos;x&apos; &quot;y&quot;</initarg>"));
    assert_null(strstr((char *) out.data, "<cputune>"));
    buf_uninit(&out);
}

static size_t
count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = hay; (p = strstr(p, needle)); p++) {
        n++;
    }
    return n;
}

/* A VM that will have NICs hot-plugged: q35 with one root port per device libvirt places
 * (a NIC, the channel's virtio-serial, rng) and the spare ones after them. Without spares,
 * libvirt adds the ports itself and the XML names none. */
static void
test_spare_ports(void **state)
{
    static const uint8_t mac[6] = { 2, 0, 0, 0, 0, 1 };
    struct domxml_iface nic = { .port = "p0", .mac = mac };
    struct domxml_guest dg = { .name = "vm", .emulator = "/usr/bin/qemu-system-x86_64",
                               .kernel = "/k", .initrd = "/i", .channel = "org.sfclab.ctl",
                               .ifaces = &nic, .n_ifaces = 1, .spare_ports = 2 };
    struct buf out = BUF_INITIALIZER;

    assert_int_equal(domxml_kvm(&dg, &out), 0);
    buf_put_u8(&out, 0);
    assert_non_null(strstr((char *) out.data, "machine='q35'"));
    assert_int_equal(count((char *) out.data, "<controller type='pci' index='0' "
                           "model='pcie-root'/>"), 1);
    assert_int_equal(count((char *) out.data, "model='pcie-root-port'"), 5);
    assert_non_null(strstr((char *) out.data, "index='5' model='pcie-root-port'"));
    buf_uninit(&out);
    dg.spare_ports = 0;
    dg.machine = "pc";
    assert_int_equal(domxml_kvm(&dg, &out), 0);
    buf_put_u8(&out, 0);
    assert_non_null(strstr((char *) out.data, "machine='pc'"));
    assert_int_equal(count((char *) out.data, "model='pcie-root"), 0);
    buf_uninit(&out);
}

/* What the kvm provider sets once a VM has booted: the quota per vCPU, per the guest's period
 * (the kernel's 100 ms without one). */
static void
test_vcpu_quota(void **state)
{
    unsigned long long period;
    long long quota;

    domxml_vcpu_quota(1.5, 25000, &period, &quota);
    assert_int_equal(period, 25000);
    assert_int_equal(quota, 18750);
    domxml_vcpu_quota(0.04, 0, &period, &quota);
    assert_int_equal(period, 100000);
    assert_int_equal(quota, 4000);
}

static void
test_refusals(void **state)
{
    struct buf out = BUF_INITIALIZER;
    struct domxml_guest no_name = { .init = "/bin/true" };
    struct domxml_guest relative = { .name = "x", .init = "sfcd" };
    struct domxml_guest no_kernel = { .name = "x", .emulator = "/usr/bin/qemu-system-x86_64",
                                      .initrd = "/i" };
    struct domxml_guest bad_cpus = { .name = "x", .init = "/bin/true", .cpus = -1 };

    assert_int_equal(domxml_lxc(&no_name, &out), EINVAL);
    assert_int_equal(domxml_lxc(&relative, &out), EINVAL);
    assert_int_equal(domxml_kvm(&no_kernel, &out), EINVAL);
    assert_int_equal(domxml_lxc(&bad_cpus, &out), EINVAL);
    assert_int_equal(out.len, 0);               /* Nothing written on a refusal. */
    buf_uninit(&out);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fixtures),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_spare_ports),
        cmocka_unit_test(test_vcpu_quota),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
