#include "testbed/infra/shaper.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "testbed/infra/instance.h"
#include "testbed/infra/link.h"
#include "testbed/infra/manifest.h"
#include "testbed/infra/provider.h"
#include "testbed/model/impair.h"
#include "testbed/model/topology.h"
#include "testbed/model/yaml.h"
#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

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

/* What a link has, saved in DIR/links/GUEST-IFNAME for `sfclab link set`:
 *   stage GSIDE SSIDE PID STARTTIME      ("stage - - 0 0" without one)
 *   netem 0|1
 *   egress rate=1mbit delay=10ms         ("none" when zero)
 *   ingress none
 * and, for the stage, DIR/links/GUEST-IFNAME.stage: its egress spec and its ingress spec, one
 * line each, re-read on SIGHUP. */
struct shaper_state {
    struct impair imp;
    bool stage, netem;
    char gside[16], sside[16];
    pid_t pid;
    uint64_t start;
};

static char *
state_path(const struct shaper_env *env, const struct shaper_port *p, const char *suffix)
{
    return xasprintf("%s/links/%s-%s%s", env->dir, p->guest, p->ifname, suffix);
}

static int
write_recorded(const struct shaper_env *env, const char *path, const struct buf *b)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f;
    int error = 0;

    if (access(path, F_OK)) {
        error = manifest_record_file(env->manifest, path);
        if (!error) {
            error = manifest_record_file(env->manifest, tmp);
        }
    }
    if (!error && !(f = fopen(tmp, "w"))) {
        error = errno;
    } else if (!error) {
        fwrite(b->data, 1, b->len, f);
        error = fclose(f) ? errno : 0;
        if (!error && rename(tmp, path)) {
            error = errno;
        }
    }
    free(tmp);
    return error;
}

static int
save_state(const struct shaper_env *env, const struct shaper_port *p,
           const struct shaper_state *st)
{
    struct buf b = BUF_INITIALIZER;
    char *path = state_path(env, p, ""), *dir = xasprintf("%s/links", env->dir);
    int error = 0;

    if (access(dir, F_OK)) {
        error = manifest_record_dir(env->manifest, dir);
        if (!error && mkdir(dir, 0755) && errno != EEXIST) {
            error = errno;
        }
    }
    if (st->stage) {
        buf_printf(&b, "stage %s %s %d %llu\n", st->gside, st->sside, (int) st->pid,
                   (unsigned long long) st->start);
    } else {
        buf_printf(&b, "stage - - 0 0\n");
    }
    buf_printf(&b, "netem %d\negress ", st->netem);
    impair_format_dir(&st->imp.egress, &b);
    buf_printf(&b, "\ningress ");
    impair_format_dir(&st->imp.ingress, &b);
    buf_printf(&b, "\n");
    if (!error) {
        error = write_recorded(env, path, &b);
    }
    buf_uninit(&b);
    free(path);
    free(dir);
    return error;
}

static int
load_state(const struct shaper_env *env, const struct shaper_port *p, struct shaper_state *st)
{
    char *path = state_path(env, p, ""), *text = NULL, *save = NULL;
    int error = read_file(path, &text, NULL);

    memset(st, 0, sizeof *st);
    if (error == ENOENT) {
        error = 0;              /* A bare link: nothing was shaped. */
    }
    for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        char *err = NULL, *tok, *save2 = NULL;
        unsigned long long start = 0;
        int pid = 0, netem = 0;

        if (sscanf(line, "stage %15s %15s %d %llu", st->gside, st->sside, &pid, &start) == 4) {
            st->stage = strcmp(st->gside, "-");
            st->pid = pid;
            st->start = start;
        } else if (sscanf(line, "netem %d", &netem) == 1) {
            st->netem = netem;
        } else if (!strncmp(line, "egress ", 7) || !strncmp(line, "ingress ", 8)) {
            const char *dir = line[0] == 'e' ? "egress" : "ingress";
            strtok_r(line, " ", &save2);
            while ((tok = strtok_r(NULL, " ", &save2)) != NULL) {
                char *kv = xasprintf("%s.%s", dir, tok);
                if (strcmp(tok, "none") && impair_set_kv(&st->imp, kv, &err)) {
                    free(err);
                    error = EINVAL;
                }
                free(kv);
            }
        }
    }
    free(text);
    free(path);
    return error;
}

/* Appends "h1 eth1 egress rate=1mbit loss=1%: tbf+bpf" to the record and to 'mech'. */
static void
record(const struct shaper_env *env, const struct shaper_port *p, const char *dir,
       const struct impair_dir *d, const char *how, const char *when, struct buf *mech)
{
    struct buf line = BUF_INITIALIZER;
    char *path = xasprintf("%s/shaping", env->dir);
    FILE *f;

    buf_printf(&line, "%s %s %s ", p->guest, p->ifname, dir);
    impair_format_dir(d, &line);
    buf_printf(&line, ": %s%s\n", how, when);
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
set_loss(struct link_ns *gns, const char *ifname, bool ingress, double loss)
{
    int fd = -1, error;

    if (!loss) {
        return link_tc_bpf(gns, ifname, ingress, -1, NULL);
    }
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
write_stage_control(const struct shaper_env *env, const struct shaper_port *p,
                    const char *egress, const char *ingress)
{
    struct buf b = BUF_INITIALIZER;
    char *path = state_path(env, p, ".stage");
    int error;

    buf_printf(&b, "%s\n%s\n", egress, ingress);
    error = write_recorded(env, path, &b);
    buf_uninit(&b);
    free(path);
    return error;
}

static int
start_stage(const struct shaper_env *env, const struct shaper_port *p,
            struct shaper_state *st, const char *egress, const char *ingress)
{
    char *log_path = xasprintf("%s/guests/link-%s-%s.log", env->dir, p->guest, p->ifname);
    char *name = xasprintf("link-%s-%s", p->guest, p->ifname);
    char *seed = xasprintf("%u", p->id + 1);
    char *control = state_path(env, p, ".stage"), *classes = state_path(env, p, ".classes");
    char *argv[] = { (char *) env->sfcd, "link", "--guest-side", st->gside,
                     "--switch-side", st->sside, "--egress", (char *) egress,
                     "--ingress", (char *) ingress, "--seed", seed, "--control", control,
                     p->by_destination ? "--classes" : NULL, classes, NULL };
    struct stage_exec se = { .netns_fd = -1, .log_fd = -1, .cpu = env->pin_cpu,
                             .sfcd = env->sfcd, .argv = argv };
    pid_t pid;
    int error;

    error = write_stage_control(env, p, egress, ingress);
    if (!error) {
        error = manifest_record_file(env->manifest, log_path);
    }
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
    if (!error) {
        st->pid = pid;
        st->start = proc_starttime(pid);
    }
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
    free(control);
    free(classes);
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

/* The stage's ingress rate (a tbf on the guest side of the stage), brought from 'old' to 'in'
 * unless an earlier step failed ('error', returned then). */
static int
stage_rate(struct link_ns *host, const struct shaper_state *st, const struct impair_dir *old,
           const struct impair_dir *in, int error, struct buf *how)
{
    if (!error && st->stage && (in->rate_bps != old->rate_bps || in->queue != old->queue)) {
        error = in->rate_bps ? link_set_tbf(host, st->gside, in->rate_bps, tbf_limit(in))
                             : link_set_rate(host, st->gside, 0);
    }
    if (in->rate_bps) {
        buf_printf(how, " rate=tbf");
    }
    return error;
}

/* A guest with no network namespace the host can enter (a kvm VM: its interface is inside
 * the VM, its host end a tap in 'host'): everything goes on the host side, mirrored. Egress
 * (the guest sends) is the tap's ingress: loss on its clsact ingress hook, the rate a tbf on
 * the stage's switch side (after the delay line); ingress is the tap's egress: loss on its
 * egress hook, the rate on the stage's guest side as for every guest. So an egress rate needs
 * the stage here. */
static int
shape_host_end(struct link_ns *host, const struct shaper_port *p,
               const struct shaper_state *st, const struct impair *old,
               const struct impair *new, struct buf how[2])
{
    const struct impair_dir *eg = &new->egress, *in = &new->ingress;
    const char *tap = st->stage ? st->gside : p->port;
    int error = 0;

    if (eg->rate_bps != old->egress.rate_bps || eg->queue != old->egress.queue) {
        if (!st->stage) {
            error = eg->rate_bps ? ENOTSUP : 0;
        } else {
            error = eg->rate_bps ? link_set_tbf(host, st->sside, eg->rate_bps, tbf_limit(eg))
                                 : link_set_rate(host, st->sside, 0);
        }
    }
    if (eg->rate_bps) {
        buf_printf(&how[0], " rate=tbf(host)");
    }
    if (!error && eg->loss != old->egress.loss) {
        error = set_loss(host, tap, true, eg->loss);
    }
    if (eg->loss) {
        buf_printf(&how[0], " loss=bpf(host)");
    }
    if (!error && in->loss != old->ingress.loss) {
        error = set_loss(host, tap, false, in->loss);
    }
    if (in->loss) {
        buf_printf(&how[1], " loss=bpf(host)");
    }
    return stage_rate(host, st, &old->ingress, in, error, &how[1]);
}

/* Brings the kernel's part of a link (tbf, loss filters, netem) from 'old' to 'new', and says
 * what shapes each direction in 'how[0]' (egress) and 'how[1]' (ingress). 'gns' NULL: the
 * guest's end is in 'host' (shape_host_end()). */
static int
shape(struct link_ns *host, struct link_ns *gns, const struct shaper_port *p,
      const struct shaper_state *st, const struct impair *old, const struct impair *new,
      struct buf how[2])
{
    const struct impair_dir *eg = &new->egress, *in = &new->ingress;
    int error = 0;

    if (!gns) {
        return shape_host_end(host, p, st, old, new, how);
    }
    if (st->netem) {
        struct link_netem nm = { eg->rate_bps, eg->delay_ns, eg->jitter_ns, eg->loss,
                                 eg->duplicate, eg->reorder, eg->queue };
        error = link_set_netem(gns, p->ifname, &nm);
        buf_printf(&how[0], " netem%s", eg->rate_bps ? "+tbf" : "");
    } else {
        if (eg->rate_bps != old->egress.rate_bps || eg->queue != old->egress.queue) {
            error = eg->rate_bps ? link_set_tbf(gns, p->ifname, eg->rate_bps, tbf_limit(eg))
                                 : link_set_rate(gns, p->ifname, 0);
        }
        if (eg->rate_bps) {
            buf_printf(&how[0], " rate=tbf");
        }
        if (!error && eg->loss != old->egress.loss) {
            error = set_loss(gns, p->ifname, false, eg->loss);
        }
        if (eg->loss) {
            buf_printf(&how[0], " loss=bpf");
        }
    }
    if (!error && in->loss != old->ingress.loss) {
        error = set_loss(gns, p->ifname, true, in->loss);
    }
    if (in->loss) {
        buf_printf(&how[1], " loss=bpf");
    }
    return stage_rate(host, st, &old->ingress, in, error, &how[1]);
}

/* The stage's part, as its two specs, and how it reads in the record. */
static void
stage_specs(const struct shaper_state *st, const struct impair *imp, char *specs[2],
            struct buf how[2])
{
    specs[0] = st->netem ? xstrdup("") : shaper_stage_spec(&imp->egress);
    specs[1] = shaper_stage_spec(&imp->ingress);
    for (int d = 0; d < 2 && st->stage; d++) {
        if (*specs[d]) {
            buf_printf(&how[d], " %s=stage", specs[d]);
        } else {
            buf_printf(&how[d], " stage (pass-through)");
        }
    }
}

static void
record_both(const struct shaper_env *env, const struct shaper_port *p, const struct impair *imp,
            struct buf how[2], const char *when, struct buf *mech)
{
    for (int d = 0; d < 2; d++) {
        buf_put_u8(&how[d], '\0');
        record(env, p, d ? "ingress" : "egress", d ? &imp->ingress : &imp->egress,
               how[d].len > 1 ? (char *) how[d].data + 1 : "bare", when, mech);
    }
}

int
shaper_apply(const struct shaper_env *env, struct link_ns *host, struct link_ns *gns,
             const struct shaper_port *p, const struct impair *imp, struct buf *mech)
{
    const struct impair_dir *eg = &imp->egress, *in = &imp->ingress;
    struct shaper_state st = { .imp = *imp };
    struct buf how[2] = { BUF_INITIALIZER, BUF_INITIALIZER };
    static const struct impair zero;
    char *specs[2] = { NULL, NULL };
    int error;

    /* netem where the host has it, for what only it or the stage can do. */
    st.netem = (eg->delay_ns || eg->duplicate || eg->reorder)
               && gns && shaper_has_netem(gns, p->ifname);
    snprintf(st.gside, sizeof st.gside, "st%ug", p->id);
    snprintf(st.sside, sizeof st.sside, "st%us", p->id);
    /* An ingress rate needs the stage too: a switch sending with AF_XDP bypasses every qdisc
     * on its own port, so the tbf sits on the stage's guest side. An explicit queue asks for
     * the stage as well, so that its delay can be changed at run time. */
    st.stage = (!st.netem && impair_dir_needs_stage(eg)) || impair_dir_needs_stage(in)
               || in->rate_bps || (!st.netem && eg->queue) || in->queue || p->by_destination
               || (!gns && eg->rate_bps);
    error = st.stage ? insert_stage(host, p, st.gside, st.sside) : 0;
    if (!error) {
        error = shape(host, gns, p, &st, &zero, imp, how);
    }
    stage_specs(&st, imp, specs, how);
    if (!error) {
        error = save_state(env, p, &st);     /* Before the stage: its control file's dir. */
    }
    if (!error && st.stage) {
        error = start_stage(env, p, &st, specs[0], specs[1]);
    }
    if (!error) {
        error = save_state(env, p, &st);
    }
    if (!error) {
        record_both(env, p, imp, how, "", mech);
    } else {
        log_err("%s: cannot impair %s (%s)", p->guest, p->ifname, strerror(error));
    }
    buf_uninit(&how[0]);
    buf_uninit(&how[1]);
    free(specs[0]);
    free(specs[1]);
    return error;
}

int
shaper_update(const struct shaper_env *env, struct link_ns *host, struct link_ns *gns,
              const struct shaper_port *p, char *const assignments[], int n,
              struct buf *mech)
{
    struct buf how[2] = { BUF_INITIALIZER, BUF_INITIALIZER };
    struct shaper_state st;
    char *specs[2] = { NULL, NULL }, *old_specs[2] = { NULL, NULL }, *err = NULL;
    struct impair old;
    int error;

    error = load_state(env, p, &st);
    if (error) {
        log_err("%s:%s: cannot read its impairment state (%s)", p->guest, p->ifname,
                strerror(error));
        return error;
    }
    old = st.imp;
    for (int i = 0; i < n && !error; i++) {
        error = impair_set_kv(&st.imp, assignments[i], &err);
    }
    if (!error) {
        error = impair_check(&st.imp, &err);
    }
    if (error) {
        log_err("%s:%s: %s", p->guest, p->ifname, err);
        free(err);
        return EINVAL;
    }
    stage_specs(&st, &old, old_specs, how);
    buf_clear(&how[0]);
    buf_clear(&how[1]);
    if (!st.stage && ((!st.netem && impair_dir_needs_stage(&st.imp.egress))
                      || impair_dir_needs_stage(&st.imp.ingress) || st.imp.ingress.rate_bps
                      || (!gns && st.imp.egress.rate_bps))) {
        log_err("%s:%s has no stage: delay, jitter, duplicate, reorder and an ingress rate can "
                "change at run time only on links that had one from the start (give the link "
                "`queue: N` in its topology to have one with nothing else)", p->guest,
                p->ifname);
        error = ENOTSUP;
        goto out;
    }
    error = shape(host, gns, p, &st, &old, &st.imp, how);
    stage_specs(&st, &st.imp, specs, how);
    if (!error && st.stage && (strcmp(specs[0], old_specs[0]) || strcmp(specs[1], old_specs[1]))) {
        error = write_stage_control(env, p, specs[0], specs[1]);
        if (!error && (!proc_is(st.pid, st.start) || kill(st.pid, SIGHUP))) {
            log_err("%s:%s: the link stage (pid %d) is gone", p->guest, p->ifname,
                    (int) st.pid);
            error = ESRCH;
        }
    }
    if (!error) {
        error = save_state(env, p, &st);
    }
    if (!error) {
        record_both(env, p, &st.imp, how, " (changed at run time)", mech);
    }
out:
    buf_uninit(&how[0]);
    buf_uninit(&how[1]);
    for (int d = 0; d < 2; d++) {
        free(specs[d]);
        free(old_specs[d]);
    }
    return error;
}

int
shaper_update_instance(struct instance *inst, const char *guest, const char *ifname,
                       char *const assignments[], int n, struct buf *mech)
{
    struct instance_guest *ig = instance_find_guest(inst, guest);
    struct link_ns *host = NULL, *gns = NULL;
    struct manifest *manifest = NULL;
    struct instance_iface *f = NULL;
    int netns_fd = -1, fd, error;

    for (size_t i = 1; ig && i < ig->n_ifaces && !f; i++) {
        if (!ifname || !strcmp(ig->ifaces[i].ifname, ifname)) {
            f = &ig->ifaces[i];
        }
    }
    if (!f || !ig->guest) {
        log_err("no %s '%s' in instance '%s'", ig ? "data interface" : "guest",
                ig ? (ifname ? ifname : "eth1") : guest, inst->name);
        return ENOENT;
    }
    error = guest_netns_fd(ig->guest, &netns_fd);
    if (!error) {
        error = link_ns_open(netns_fd, &gns);
    } else if (error == ENOTSUP) {
        error = 0;              /* A VM: its link is shaped from the host end. */
    }
    if (!error) {
        fd = open(inst->netns_path, O_RDONLY | O_CLOEXEC);
        error = fd < 0 ? errno : link_ns_open(fd, &host);
        if (fd >= 0) {
            close(fd);
        }
    }
    if (!error) {
        error = manifest_open(inst->dir, &manifest);
    }
    if (error) {
        log_err("%s:%s: %s", guest, f->ifname, strerror(error));
    } else {
        struct shaper_env env = { manifest, inst->netns_path, inst->sfcd, inst->dir, -1 };
        struct shaper_port port = { ig->name, f->ifname, f->port, 0, false };

        error = shaper_update(&env, host, gns, &port, assignments, n, mech);
    }
    manifest_close(manifest);
    link_ns_close(gns);
    link_ns_close(host);
    if (netns_fd >= 0) {
        close(netns_fd);
    }
    return error;
}

int
shaper_read(const struct instance *inst, const char *guest, const char *ifname,
            struct impair *imp)
{
    struct shaper_env env = { .dir = inst->dir };
    struct shaper_port port = { .guest = guest, .ifname = ifname };
    struct shaper_state st;
    int error = load_state(&env, &port, &st);

    if (!error) {
        *imp = st.imp;
    }
    return error;
}

/* The stage's spec of a WAN direction: everything, rate and loss included (the kernel's tbf and
 * filter cannot tell one destination from another). */
static char *
wan_spec(const struct impair_dir *d)
{
    char *base = shaper_stage_spec(d);
    struct buf b = BUF_INITIALIZER;
    char *s;

    buf_printf(&b, "%s", base);
    if (d->rate_bps) {
        buf_printf(&b, "%srate=", b.len ? "," : "");
        yaml_format_rate(&b, d->rate_bps);
    }
    if (d->loss) {
        buf_printf(&b, "%sloss=", b.len ? "," : "");
        yaml_format_percent(&b, d->loss);
    }
    buf_put_u8(&b, '\0');
    s = xstrdup((char *) b.data);
    buf_uninit(&b);
    free(base);
    return s;
}

int
shaper_apply_pops(const struct shaper_env *env, const struct instance *inst,
                  const struct topology *topo)
{
    int error = 0;

    for (size_t gi = 0; gi < topo->n_guests && gi < inst->n_guests && !error; gi++) {
        const struct instance_guest *ig = &inst->guests[gi];
        size_t pop = topology_guest_pop(topo, gi), iface = 0;

        for (size_t li = 0; li < topo->n_links && !error; li++) {
            struct buf file = BUF_INITIALIZER;
            struct shaper_port port;

            if (topo->links[li].guest != gi) {
                continue;
            }
            iface++;                            /* ifaces[0] is the management interface. */
            if (!topo->links[li].pop_wan || iface >= ig->n_ifaces) {
                continue;
            }
            port = (struct shaper_port) { ig->name, ig->ifaces[iface].ifname, NULL, li, true };
            for (size_t w = 0; w < topo->n_wans; w++) {
                const struct topo_wan *wan = &topo->wans[w];
                size_t other = wan->a == pop ? wan->b : wan->b == pop ? wan->a : SIZE_MAX;
                const struct impair_dir *d = wan->a == pop ? &wan->impair.egress
                                                           : &wan->impair.ingress;
                char *spec, *how;

                if (other == SIZE_MAX) {
                    continue;
                }
                spec = wan_spec(d);
                buf_printf(&file, "%s", spec);
                for (size_t k = 0; k < topo->pops[other].n_guests; k++) {
                    const struct instance_guest *og = &inst->guests[topo->pops[other].guests[k]];
                    for (size_t j = 1; j < og->n_ifaces; j++) {
                        const uint8_t *m = og->ifaces[j].mac;
                        buf_printf(&file, " %02x:%02x:%02x:%02x:%02x:%02x",
                                   m[0], m[1], m[2], m[3], m[4], m[5]);
                    }
                }
                buf_printf(&file, "\n");
                how = xasprintf("%s=stage (frames to PoP %s)", spec, topo->pops[other].name);
                {
                    char *dir = xasprintf("wan->%s", topo->pops[other].name);
                    record(env, &port, dir, d, how, "", NULL);
                    free(dir);
                }
                free(how);
                free(spec);
            }
            {
                char *path = state_path(env, &port, ".classes");
                error = write_recorded(env, path, &file);
                free(path);
            }
            buf_uninit(&file);
        }
    }
    if (error) {
        log_err("cannot write the PoP classes of the link stages (%s)", strerror(error));
    }
    return error;
}
