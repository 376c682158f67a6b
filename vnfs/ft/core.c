#include "vnfs/ft/core.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
ft_core_create(const struct ft_core_class *class, const struct ft_config *cfg,
               struct ft_core **corep, char **errp)
{
    struct ft_core *core = NULL;
    int error = class->create(cfg, &core, errp);

    if (!error) {
        core->class = class;
        *corep = core;
    }
    return error;
}

void
ft_core_destroy(struct ft_core *core)
{
    if (core) {
        core->class->destroy(core);
    }
}

/* An action whose data is the core's own (ft_emit_forward_ref()), not in the arena. */
#define FT_DATA_REF SIZE_MAX

/* Arena growth moves the bytes, so pointers are fixed up only once the step is over. */
static void
ft_actions_seal(struct ft_actions *out)
{
    for (size_t i = out->n_sealed; i < out->n; i++) {
        struct ft_action *a = &out->v[i];
        if (a->data_ofs_ != FT_DATA_REF) {
            a->data = a->len ? out->arena.data + a->data_ofs_ : NULL;
        }
    }
    out->n_sealed = out->n;
}

int
ft_core_step(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    int error = core->class->step(core, ev, out);
    ft_actions_seal(out);
    return error;
}

int
ft_core_export_state(const struct ft_core *core, struct buf *b)
{
    return core->class->export_state ? core->class->export_state(core, b) : EOPNOTSUPP;
}

int
ft_core_import_state(struct ft_core *core, const uint8_t *data, size_t len)
{
    return core->class->import_state ? core->class->import_state(core, data, len) : EOPNOTSUPP;
}

bool
ft_core_state_event(struct ft_core *core, const struct ft_event *ev, struct ft_actions *out)
{
    struct buf image = BUF_INITIALIZER;

    switch (ev->kind) {
    case FT_EV_STATE_REQUEST:
        if (!ft_core_export_state(core, &image)) {
            ft_emit_state(out, ev->from, image.data, image.len);
        }
        buf_uninit(&image);
        return true;
    case FT_EV_STATE:
        if (ft_core_import_state(core, ev->data, ev->len)) {
            ft_emit_drop(out, FT_DROP_MALFORMED, ev->data, ev->len);
        }
        return true;
    default:
        return false;
    }
}

void
ft_actions_init(struct ft_actions *out)
{
    memset(out, 0, sizeof *out);
    buf_init(&out->arena);
}

void
ft_actions_uninit(struct ft_actions *out)
{
    free(out->v);
    buf_uninit(&out->arena);
    memset(out, 0, sizeof *out);
}

void
ft_actions_clear(struct ft_actions *out)
{
    out->n = out->n_sealed = 0;
    buf_clear(&out->arena);
}

static struct ft_action *
ft_actions_add(struct ft_actions *out, enum ft_action_kind kind, uint32_t to,
               const void *data, size_t len)
{
    struct ft_action *a;

    if (out->n >= out->cap) {
        out->v = x2nrealloc(out->v, &out->cap, sizeof *out->v);
    }
    a = &out->v[out->n++];
    memset(a, 0, sizeof *a);
    a->kind = kind;
    a->to = to;
    a->len = len;
    a->data_ofs_ = out->arena.len;
    buf_put(&out->arena, data, len);
    return a;
}

void
ft_emit_forward(struct ft_actions *out, uint32_t to, const void *data, size_t len)
{
    ft_actions_add(out, FT_ACT_FORWARD, to, data, len);
}

uint8_t *
ft_emit_forward_space(struct ft_actions *out, uint32_t to, size_t len)
{
    uint8_t *room = out->space ? out->space(out->space_aux, to, len) : NULL;
    struct ft_action *a;

    if (room) {
        ft_emit_forward_ref(out, to, room, len);
        return room;
    }
    a = ft_actions_add(out, FT_ACT_FORWARD, to, NULL, 0);
    a->len = len;
    return buf_put_uninit(&out->arena, len);
}

static void
ft_actions_add_ref(struct ft_actions *out, enum ft_action_kind kind, uint32_t to,
                   const void *data, size_t len)
{
    struct ft_action *a = ft_actions_add(out, kind, to, NULL, 0);

    a->len = len;
    a->data = len ? data : NULL;
    a->data_ofs_ = FT_DATA_REF;
}

void
ft_emit_forward_ref(struct ft_actions *out, uint32_t to, const void *data, size_t len)
{
    ft_actions_add_ref(out, FT_ACT_FORWARD, to, data, len);
}

void
ft_emit_send(struct ft_actions *out, uint32_t to, const void *data, size_t len)
{
    ft_actions_add(out, FT_ACT_SEND, to, data, len);
}

void
ft_emit_deliver(struct ft_actions *out, const void *data, size_t len)
{
    ft_actions_add(out, FT_ACT_DELIVER, FT_ENDPOINT_NONE, data, len);
}

void
ft_emit_drop(struct ft_actions *out, enum ft_drop_reason reason, const void *data, size_t len)
{
    ft_actions_add(out, FT_ACT_DROP, FT_ENDPOINT_NONE, data, len)->reason = reason;
}

void
ft_emit_timer(struct ft_actions *out, uint64_t timer, uint64_t at_ns)
{
    struct ft_action *a = ft_actions_add(out, FT_ACT_TIMER_ARM, FT_ENDPOINT_NONE, NULL, 0);
    a->timer = timer;
    a->at_ns = at_ns;
}

void
ft_emit_cancel(struct ft_actions *out, uint64_t timer)
{
    ft_actions_add(out, FT_ACT_TIMER_CANCEL, FT_ENDPOINT_NONE, NULL, 0)->timer = timer;
}

void
ft_emit_state(struct ft_actions *out, uint32_t to, const void *data, size_t len)
{
    ft_actions_add(out, FT_ACT_STATE, to, data, len);
}

void
ft_emit_state_ref(struct ft_actions *out, uint32_t to, const void *data, size_t len)
{
    ft_actions_add_ref(out, FT_ACT_STATE, to, data, len);
}

void
ft_emit_request_state(struct ft_actions *out, uint32_t to)
{
    ft_actions_add(out, FT_ACT_REQUEST_STATE, to, NULL, 0);
}

void
ft_emit_suspect(struct ft_actions *out, uint32_t peer)
{
    ft_actions_add(out, FT_ACT_SUSPECT, peer, NULL, 0);
}

void
ft_emit_note(struct ft_actions *out, const char *fmt, ...)
{
    va_list args;
    char *s;

    va_start(args, fmt);
    s = xvasprintf(fmt, args);
    va_end(args);
    ft_actions_add(out, FT_ACT_NOTE, FT_ENDPOINT_NONE, s, strlen(s));
    free(s);
}

const char *
ft_config_param(const struct ft_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n_params; i++) {
        if (!strcmp(cfg->params[i].key, key)) {
            return cfg->params[i].value;
        }
    }
    return NULL;
}

int
ft_config_u64(const struct ft_config *cfg, const char *key, uint64_t dflt, uint64_t *out,
              char **errp)
{
    const char *s = ft_config_param(cfg, key);
    char *end;
    uint64_t v;

    if (!s) {
        *out = dflt;
        return 0;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *end || errno) {
        if (errp) {
            *errp = xasprintf("parameter '%s': '%s' is not a non-negative integer", key, s);
        }
        return EINVAL;
    }
    *out = v;
    return 0;
}

int
ft_config_duration(const struct ft_config *cfg, const char *key, uint64_t dflt,
                   uint64_t *out, char **errp)
{
    const char *s = ft_config_param(cfg, key);
    uint64_t v;

    if (!s) {
        *out = dflt;
        return 0;
    }
    if (!parse_duration(s, &v)) {
        if (errp) {
            *errp = xasprintf("parameter '%s': '%s' is not a duration (e.g. 50ms)", key, s);
        }
        return EINVAL;
    }
    *out = v;
    return 0;
}

bool
ft_config_in_group(const struct ft_config *cfg, uint32_t endpoint)
{
    for (size_t i = 0; i < cfg->n_group; i++) {
        if (cfg->group[i] == endpoint) {
            return true;
        }
    }
    return false;
}

const char *
ft_event_kind_name(enum ft_event_kind kind)
{
    static const char *const names[FT_EV_N_KINDS] = {
        [FT_EV_START] = "start", [FT_EV_PACKET] = "packet", [FT_EV_PEER_MSG] = "msg",
        [FT_EV_TIMER] = "timer", [FT_EV_PEER_DOWN] = "peer-down", [FT_EV_PEER_UP] = "peer-up",
        [FT_EV_STATE_REQUEST] = "state-request", [FT_EV_STATE] = "state",
    };
    return (unsigned) kind < FT_EV_N_KINDS ? names[kind] : "?";
}

const char *
ft_action_kind_name(enum ft_action_kind kind)
{
    static const char *const names[FT_ACT_N_KINDS] = {
        [FT_ACT_FORWARD] = "forward", [FT_ACT_SEND] = "send", [FT_ACT_DELIVER] = "deliver",
        [FT_ACT_DROP] = "drop", [FT_ACT_TIMER_ARM] = "arm", [FT_ACT_TIMER_CANCEL] = "cancel",
        [FT_ACT_STATE] = "state", [FT_ACT_REQUEST_STATE] = "request-state",
        [FT_ACT_SUSPECT] = "suspect", [FT_ACT_NOTE] = "note",
    };
    return (unsigned) kind < FT_ACT_N_KINDS ? names[kind] : "?";
}

const char *
ft_drop_reason_name(enum ft_drop_reason reason)
{
    static const char *const names[FT_DROP_N_REASONS] = {
        [FT_DROP_MALFORMED] = "malformed", [FT_DROP_UNKNOWN_SENDER] = "unknown-sender",
        [FT_DROP_DUPLICATE] = "duplicate", [FT_DROP_NO_QUORUM] = "no-quorum",
        [FT_DROP_STALE] = "stale", [FT_DROP_OVERLOAD] = "overload",
        [FT_DROP_OUTVOTED] = "outvoted",
    };
    return (unsigned) reason < FT_DROP_N_REASONS ? names[reason] : "?";
}
