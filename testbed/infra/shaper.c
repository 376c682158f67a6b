#include "testbed/infra/shaper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/model/impair.h"
#include "testbed/model/yaml.h"
#include "vnfs/core/buf.h"
#include "vnfs/core/util.h"

#define SHAPER_FRAME 1514       /* Bytes a queued packet is counted as in a tbf limit. */

int
shaper_loss_prog(double loss, int *fdp)
{
    /* drop if prandom_u32() < loss * 2^32: "r0 = rand; if r0 >= thr goto pass; return SHOT;
     * pass: return OK". thr is a 64-bit immediate so that 100% (2^32) drops everything. */
    uint64_t thr = loss >= 1 ? 1ull << 32 : (uint64_t) (loss * 4294967296.0);
    struct bpf_insn prog[] = {
        { .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_get_prandom_u32 },
        { .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .imm = (uint32_t) thr },
        { .imm = (int32_t) (uint32_t) (thr >> 32) },
        { .code = BPF_JMP | BPF_JGE | BPF_X, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1,
          .off = 2 },
        { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = TC_ACT_SHOT },
        { .code = BPF_JMP | BPF_EXIT },
        { .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = TC_ACT_OK },
        { .code = BPF_JMP | BPF_EXIT },
    };
    static char log[4096];
    union bpf_attr attr;
    int fd;

    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_SCHED_CLS;
    attr.insns = (uintptr_t) prog;
    attr.insn_cnt = ARRAY_SIZE(prog);
    attr.license = (uintptr_t) "GPL";
    attr.log_buf = (uintptr_t) log;
    attr.log_size = sizeof log;
    attr.log_level = 1;
    strncpy(attr.prog_name, "sfc_loss", sizeof attr.prog_name - 1);
    fd = syscall(__NR_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    if (fd < 0) {
        int error = errno;
        log_err("shaper: the kernel refused the loss classifier (%s): %s", strerror(error),
                log);
        return error;
    }
    *fdp = fd;
    return 0;
}

bool
shaper_has_netem(struct link_ns *ns, const char *ifname)
{
    static int has = -1;

    if (has < 0) {
        has = link_qdisc_supported(ns, ifname, "netem");
    }
    return has;
}

char *
shaper_stage_spec(const struct impair_dir *d)
{
    struct buf b = BUF_INITIALIZER;
    char *s;

    if (d->delay_ns) {
        buf_printf(&b, ",delay=");
        yaml_format_duration(&b, d->delay_ns);
    }
    if (d->jitter_ns) {
        buf_printf(&b, ",jitter=");
        yaml_format_duration(&b, d->jitter_ns);
    }
    if (d->duplicate) {
        buf_printf(&b, ",duplicate=");
        yaml_format_percent(&b, d->duplicate);
    }
    if (d->reorder) {
        buf_printf(&b, ",reorder=");
        yaml_format_percent(&b, d->reorder);
    }
    if (b.len && d->queue) {
        buf_printf(&b, ",queue=%u", d->queue);
    }
    buf_put_u8(&b, '\0');
    s = xstrdup((char *) b.data + (b.len > 1));
    buf_uninit(&b);
    return s;
}

/* Appends "h1 eth1 egress rate=1mbit loss=1%: tbf+bpf" to the record and to 'mech'. */
static void
record(const struct shaper_env *env, const struct shaper_port *p, const char *dir,
       const struct impair_dir *d, const char *how, struct buf *mech)
{
    struct buf line = BUF_INITIALIZER;
    char *path = xasprintf("%s/shaping", env->dir);
    FILE *f;

    buf_printf(&line, "%s %s %s ", p->guest, p->ifname, dir);
    impair_format_dir(d, &line);
    buf_printf(&line, ": %s\n", how);
    if (access(path, F_OK)) {
        manifest_record_file(env->manifest, path);
    }
    f = fopen(path, "a");
    if (f) {
        fwrite(line.data, 1, line.len, f);
        fclose(f);
    }
    if (mech) {
        buf_put(mech, line.data, line.len);
    }
    log_debug("shaper: %.*s", (int) line.len - 1, (char *) line.data);
    free(path);
    buf_uninit(&line);
}

static int
attach_loss(struct link_ns *gns, const char *ifname, bool ingress, double loss)
{
    int fd = -1, error;

    error = link_tc_clsact(gns, ifname, true);
    if (!error) {
        error = shaper_loss_prog(loss, &fd);
    }
    if (!error) {
        error = link_tc_bpf(gns, ifname, ingress, fd, "sfc_loss");
    }
    if (fd >= 0) {
        close(fd);
    }
    return error;
}

struct stage_exec {
    int netns_fd;
    int log_fd;
    int cpu;
    const char *sfcd;
    char **argv;
};

static int
stage_child(void *aux)
{
    struct stage_exec *se = aux;

    if (setns(se->netns_fd, CLONE_NEWNET)) {
        return 126;
    }
    if (se->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(se->cpu, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    setsid();
    if (dup2(se->log_fd, 1) < 0 || dup2(se->log_fd, 2) < 0) {
        return 126;
    }
    close_range(3, ~0U, 0);
    execv(se->sfcd, se->argv);
    return 127;
}

static int
start_stage(const struct shaper_env *env, const struct shaper_port *p, const char *gside,
            const char *sside, const char *egress, const char *ingress)
{
    char *log_path = xasprintf("%s/guests/link-%s-%s.log", env->dir, p->guest, p->ifname);
    char *name = xasprintf("link-%s-%s", p->guest, p->ifname);
    char *seed = xasprintf("%u", p->id + 1);
    char *argv[] = { (char *) env->sfcd, "link", "--guest-side", (char *) gside,
                     "--switch-side", (char *) sside, "--egress", (char *) egress,
                     "--ingress", (char *) ingress, "--seed", seed, NULL };
    struct stage_exec se = { .netns_fd = -1, .log_fd = -1, .cpu = env->pin_cpu,
                             .sfcd = env->sfcd, .argv = argv };
    pid_t pid;
    int error;

    error = manifest_record_file(env->manifest, log_path);
    if (error) {
        goto out;
    }
    se.log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    se.netns_fd = open(env->netns_path, O_RDONLY | O_CLOEXEC);
    if (se.log_fd < 0 || se.netns_fd < 0) {
        error = errno;
        goto out;
    }
    error = manifest_spawn(env->manifest, "process", name, 0, stage_child, &se, &pid);
out:
    if (error) {
        log_err("%s: cannot start the link stage (%s)", name, strerror(error));
    }
    if (se.log_fd >= 0) {
        close(se.log_fd);
    }
    if (se.netns_fd >= 0) {
        close(se.netns_fd);
    }
    free(seed);
    free(name);
    free(log_path);
    return error;
}

/* Puts a stage between the guest's veth and the switch port: the host end of the guest's veth
 * becomes 'gside', and a new veth pair 'sside' <-> 'port' gives the switch its port back. */
static int
insert_stage(struct link_ns *host, const struct shaper_port *p, const char *gside,
             const char *sside)
{
    struct link_veth veth = { .name = p->port, .peer_name = sside };
    int error;

    error = link_set_up(host, p->port, false);
    if (!error) {
        error = link_rename(host, p->port, gside);
    }
    if (!error) {
        error = link_veth_add(host, host, &veth);
    }
    if (!error) {
        error = link_offload_off(host, p->port);
    }
    if (!error) {
        error = link_offload_off(host, sside);
    }
    if (!error) {
        error = link_set_up(host, gside, true);
    }
    if (!error) {
        error = link_set_up(host, sside, true);
    }
    if (!error) {
        error = link_set_up(host, p->port, true);
    }
    return error;
}

static uint32_t
tbf_limit(const struct impair_dir *d)
{
    return d->queue ? d->queue * SHAPER_FRAME : 0;
}

int
shaper_apply(const struct shaper_env *env, struct link_ns *host, struct link_ns *gns,
             const struct shaper_port *p, const struct impair *imp, struct buf *mech)
{
    const struct impair_dir *eg = &imp->egress, *in = &imp->ingress;
    char *gside = xasprintf("st%ug", p->id), *sside = xasprintf("st%us", p->id);
    char *egress_spec = NULL, *ingress_spec = NULL;
    struct buf how = BUF_INITIALIZER;
    bool netem = false, stage;
    int error = 0;

    /* Egress. */
    if (!impair_dir_is_zero(eg) && (eg->delay_ns || eg->duplicate || eg->reorder)
        && shaper_has_netem(gns, p->ifname)) {
        struct link_netem nm = { eg->rate_bps, eg->delay_ns, eg->jitter_ns, eg->loss,
                                 eg->duplicate, eg->reorder, eg->queue };
        error = link_set_netem(gns, p->ifname, &nm);
        netem = !error;
        buf_printf(&how, "netem%s", eg->rate_bps ? "+tbf" : "");
    }
    if (!error && !netem && eg->rate_bps) {
        error = link_set_tbf(gns, p->ifname, eg->rate_bps, tbf_limit(eg));
        buf_printf(&how, "%srate=tbf", how.len ? " " : "");
    }
    if (!error && !netem && eg->loss) {
        error = attach_loss(gns, p->ifname, false, eg->loss);
        buf_printf(&how, "%sloss=bpf", how.len ? " " : "");
    }
    egress_spec = netem ? xstrdup("") : shaper_stage_spec(eg);
    ingress_spec = shaper_stage_spec(in);
    /* An ingress rate needs the stage too: a switch sending with AF_XDP bypasses every qdisc
     * on its own port, so the tbf sits on the stage's guest side. */
    stage = *egress_spec || *ingress_spec || in->rate_bps;
    if (!error && *egress_spec) {
        buf_printf(&how, "%s%s=stage", how.len ? " " : "", egress_spec);
    } else if (!error && stage) {
        buf_printf(&how, "%sstage (pass-through)", how.len ? " " : "");
    }
    if (error) {
        goto out;
    }
    buf_put_u8(&how, '\0');
    record(env, p, "egress", eg, how.len > 1 ? (char *) how.data : "bare", mech);
    buf_clear(&how);

    /* Ingress: the guest's clsact ingress hook for loss. */
    if (in->loss) {
        error = attach_loss(gns, p->ifname, true, in->loss);
        buf_printf(&how, "loss=bpf");
    }
    if (!error && stage) {
        error = insert_stage(host, p, gside, sside);
    }
    if (!error && in->rate_bps) {
        error = link_set_tbf(host, gside, in->rate_bps, tbf_limit(in));
        buf_printf(&how, "%srate=tbf", how.len ? " " : "");
    }
    if (!error && *ingress_spec) {
        buf_printf(&how, "%s%s=stage", how.len ? " " : "", ingress_spec);
    } else if (!error && stage) {
        buf_printf(&how, "%sstage (pass-through)", how.len ? " " : "");
    }
    if (!error && stage) {
        error = start_stage(env, p, gside, sside, egress_spec, ingress_spec);
    }
    if (error) {
        goto out;
    }
    buf_put_u8(&how, '\0');
    record(env, p, "ingress", in, how.len > 1 ? (char *) how.data : "bare", mech);

out:
    if (error) {
        log_err("%s: cannot impair %s (%s)", p->guest, p->ifname, strerror(error));
    }
    buf_uninit(&how);
    free(egress_spec);
    free(ingress_spec);
    free(gside);
    free(sside);
    return error;
}
