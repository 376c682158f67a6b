#include "vnfs/sfc/ftstage.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/loop.h"
#include "vnfs/lib/util.h"

#define FTSTAGE_REPLAY_WINDOW 64

/* What one sender's messages have shown so far: the highest sequence number and which of the
 * 64 below it were seen (bit i: top - i). */
struct ftstage_window {
    uint32_t from;
    uint64_t top;
    uint64_t seen;
};

struct ftstage_timer {
    uint64_t id;
    uint64_t at_ns;
};

struct ftstage {
    struct ft_core *core;
    uint32_t self;
    struct ftstage_ops ops;
    void *aux;
    struct loop *loop;
    bool has_key;
    /* The MAC's state once the key is in: each message's seal or check starts from a copy of
     * it, not from the key again. FTC's commit round trip seals and checks two messages on its
     * way: HMAC-SHA-512-256 (crypto_auth) cost 1.5-1.8 us a tag of 80-200 bytes here, 0.7-1.0
     * from a keyed state; keyed BLAKE2b from its keyed state 0.3-0.5. */
    crypto_generichash_state keyed;
    uint64_t next_seq;
    uint32_t incarnation;
    size_t max_payload;
    struct ftstage_window *windows;
    size_t n_windows;
    struct ftstage_timer *timers;
    size_t n_timers;
    uint64_t loop_timer;            /* 0: none armed. */
    uint64_t loop_timer_at;
    struct ft_actions actions;
    struct buf msg;
    struct ftstage_stats stats;
    bool quiet;                     /* ftstage_set_quiet(). */
};

static bool
msg_kind_valid(enum ft_event_kind kind)
{
    return kind == FT_EV_PEER_MSG || kind == FT_EV_STATE || kind == FT_EV_STATE_REQUEST;
}

/* A state keyed with 'key', for keyed_tag(). */
static void
keyed_init(crypto_generichash_state *k, const uint8_t key[FTSTAGE_KEY_LEN])
{
    crypto_generichash_init(k, key, FTSTAGE_KEY_LEN, FTSTAGE_TAG_LEN);
}

/* The tag of 'data' under the key 'k' was initialised with. */
static void
keyed_tag(const crypto_generichash_state *k, const uint8_t *data, size_t len,
          uint8_t tag[FTSTAGE_TAG_LEN])
{
    crypto_generichash_state st = *k;

    crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, tag, FTSTAGE_TAG_LEN);
    sodium_memzero(&st, sizeof st);
}

static void
msg_seal(struct buf *b, const crypto_generichash_state *k, const struct ftstage_msg *m)
{
    size_t start = b->len;

    buf_put_be32(b, FTSTAGE_MSG_MAGIC);
    buf_put_be32(b, m->from);
    buf_put_be32(b, m->to);
    buf_put_be64(b, m->seq);
    buf_put_u8(b, m->kind);
    buf_put_u8(b, 0);
    buf_put_u8(b, 0);
    buf_put_u8(b, 0);
    buf_put_be32(b, m->len);
    buf_put(b, m->payload, m->len);
    uint8_t *tag = buf_put_uninit(b, FTSTAGE_TAG_LEN);
    keyed_tag(k, b->data + start, b->len - FTSTAGE_TAG_LEN - start, tag);
}

void
ftstage_msg_seal(struct buf *b, const uint8_t key[FTSTAGE_KEY_LEN], const struct ftstage_msg *m)
{
    crypto_generichash_state k;

    keyed_init(&k, key);
    msg_seal(b, &k, m);
    sodium_memzero(&k, sizeof k);
}

int
ftstage_msg_open(const uint8_t *data, size_t len, const uint8_t key[FTSTAGE_KEY_LEN],
                 struct ftstage_msg *m)
{
    return ftstage_msg_open_max(data, len, key, FTSTAGE_MAX_PAYLOAD, m);
}

static int
msg_open(const uint8_t *data, size_t len, const crypto_generichash_state *k,
         size_t max_payload, struct ftstage_msg *m)
{
    uint8_t tag[FTSTAGE_TAG_LEN];
    size_t body;
    uint32_t plen;

    if (len < FTSTAGE_MSG_HDR_LEN + FTSTAGE_TAG_LEN || get_be32(data) != FTSTAGE_MSG_MAGIC
        || data[21] || data[22] || data[23] || !msg_kind_valid(data[20])) {
        return EINVAL;
    }
    plen = get_be32(data + 24);
    body = len - FTSTAGE_TAG_LEN;
    if (plen > max_payload || plen != body - FTSTAGE_MSG_HDR_LEN) {
        return EINVAL;
    }
    keyed_tag(k, data, body, tag);
    if (crypto_verify_32(tag, data + body)) {
        return EBADMSG;
    }
    m->from = get_be32(data + 4);
    m->to = get_be32(data + 8);
    m->seq = get_be64(data + 12);
    m->kind = data[20];
    m->payload = data + FTSTAGE_MSG_HDR_LEN;
    m->len = plen;
    return 0;
}

int
ftstage_msg_open_max(const uint8_t *data, size_t len, const uint8_t key[FTSTAGE_KEY_LEN],
                     size_t max_payload, struct ftstage_msg *m)
{
    crypto_generichash_state k;
    int error;

    keyed_init(&k, key);
    error = msg_open(data, len, &k, max_payload, m);
    sodium_memzero(&k, sizeof k);
    return error;
}

bool
ftstage_msg_peek_to(const uint8_t *data, size_t len, uint32_t *to)
{
    if (len < FTSTAGE_MSG_HDR_LEN || get_be32(data) != FTSTAGE_MSG_MAGIC) {
        return false;
    }
    *to = get_be32(data + 8);
    return true;
}

int
ftstage_key_load(const char *path, uint8_t key[FTSTAGE_KEY_LEN], char **errp)
{
    uint8_t tmp[FTSTAGE_KEY_LEN + 1];
    struct stat st;
    ssize_t n;
    int fd, error = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        error = errno;
        *errp = xasprintf("%s: %s", path, strerror(error));
        return error;
    }
    if (fstat(fd, &st)) {
        error = errno;
        *errp = xasprintf("%s: %s", path, strerror(error));
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO) || st.st_uid != geteuid()) {
        *errp = xasprintf("%s: a key must be ours and readable by nobody else (mode %04o)", path,
                          (unsigned) (st.st_mode & 07777));
        error = EPERM;
        goto out;
    }
    n = read(fd, tmp, sizeof tmp);
    if (n != FTSTAGE_KEY_LEN) {
        *errp = xasprintf("%s: a key is exactly %d bytes", path, FTSTAGE_KEY_LEN);
        error = EINVAL;
        goto out;
    }
    memcpy(key, tmp, FTSTAGE_KEY_LEN);
out:
    sodium_memzero(tmp, sizeof tmp);
    close(fd);
    return error;
}

/* True (and remembered) if (from, seq) is new: above the window or unseen inside it. */
static bool
window_accept(struct ftstage *st, uint32_t from, uint64_t seq)
{
    struct ftstage_window *w = NULL;

    for (size_t i = 0; i < st->n_windows; i++) {
        if (st->windows[i].from == from) {
            w = &st->windows[i];
        }
    }
    if (!w) {
        st->windows = xrealloc(st->windows, (st->n_windows + 1) * sizeof *st->windows);
        w = &st->windows[st->n_windows++];
        *w = (struct ftstage_window) { from, seq, 1 };
        return true;
    }
    if (seq > w->top) {
        uint64_t shift = seq - w->top;
        w->seen = shift >= FTSTAGE_REPLAY_WINDOW ? 1 : w->seen << shift | 1;
        w->top = seq;
        return true;
    }
    if (w->top - seq >= FTSTAGE_REPLAY_WINDOW || w->seen & (1ull << (w->top - seq))) {
        return false;
    }
    w->seen |= 1ull << (w->top - seq);
    return true;
}

static int run_step(struct ftstage *, const struct ft_event *);

static void
timers_rearm(struct ftstage *st);

static void
on_loop_timer(struct loop *loop, uint64_t id, void *st_)
{
    struct ftstage *st = st_;
    uint64_t now = time_mono_ns();

    st->loop_timer = 0;
    for (size_t i = 0; i < st->n_timers; ) {
        if (st->timers[i].at_ns <= now) {
            struct ft_event ev = { .kind = FT_EV_TIMER, .now_ns = now,
                                   .from = FT_ENDPOINT_NONE, .timer = st->timers[i].id };
            st->timers[i] = st->timers[--st->n_timers];
            st->stats.timers_fired++;
            run_step(st, &ev);
            i = 0;      /* The step may have changed the array. */
        } else {
            i++;
        }
    }
    timers_rearm(st);
}

/* One loop timer follows the earliest deadline. */
static void
timers_rearm(struct ftstage *st)
{
    uint64_t earliest = UINT64_MAX, now;

    for (size_t i = 0; i < st->n_timers; i++) {
        earliest = MIN(earliest, st->timers[i].at_ns);
    }
    if (st->loop_timer && st->loop_timer_at == earliest) {
        return;
    }
    if (st->loop_timer) {
        loop_cancel_timer(st->loop, st->loop_timer);
        st->loop_timer = 0;
    }
    if (earliest == UINT64_MAX || !st->loop) {
        return;
    }
    now = time_mono_ns();
    st->loop_timer = loop_add_timer(st->loop, earliest > now ? earliest - now : 0, 0,
                                    on_loop_timer, st);
    st->loop_timer_at = earliest;
}

static void
timer_set(struct ftstage *st, uint64_t id, uint64_t at_ns, bool arm)
{
    for (size_t i = 0; i < st->n_timers; i++) {
        if (st->timers[i].id == id) {
            st->timers[i] = st->timers[--st->n_timers];
            break;
        }
    }
    if (arm) {
        st->timers = xrealloc(st->timers, (st->n_timers + 1) * sizeof *st->timers);
        st->timers[st->n_timers++] = (struct ftstage_timer) { id, at_ns };
    }
}

static void
send_peer(struct ftstage *st, enum ft_event_kind kind, uint32_t to, const uint8_t *data,
          size_t len)
{
    struct ftstage_msg m = { st->self, to, ++st->next_seq, kind, data, len };

    if (!st->has_key || len > st->max_payload) {
        st->stats.send_errors++;
        return;
    }
    if (st->ops.send_unsealed && st->ops.send_unsealed(st->aux, &m)) {
        st->stats.sent++;
        return;
    }
    st->msg.len = 0;
    msg_seal(&st->msg, &st->keyed, &m);
    if (st->ops.send && st->ops.send(st->aux, to, st->msg.data, st->msg.len)) {
        st->stats.sent++;
    } else {
        st->stats.send_errors++;
    }
}

static int
run_step(struct ftstage *st, const struct ft_event *ev)
{
    int error;

    ft_actions_clear(&st->actions);
    st->stats.steps++;
    error = ft_core_step(st->core, ev, &st->actions);
    if (error) {
        st->stats.step_errors++;
    }
    for (size_t i = 0; i < st->actions.n; i++) {
        const struct ft_action *a = &st->actions.v[i];

        if (st->quiet && (a->kind == FT_ACT_FORWARD || a->kind == FT_ACT_DELIVER
                          || a->kind == FT_ACT_SEND || a->kind == FT_ACT_STATE
                          || a->kind == FT_ACT_REQUEST_STATE)) {
            continue;
        }
        switch (a->kind) {
        case FT_ACT_FORWARD:
            st->stats.forwarded++;
            if (st->ops.forward) {
                st->ops.forward(st->aux, a->to, a->data, a->len);
            }
            break;
        case FT_ACT_DELIVER:
            st->stats.delivered++;
            if (st->ops.deliver) {
                st->ops.deliver(st->aux, a->data, a->len);
            }
            break;
        case FT_ACT_SEND:
            send_peer(st, FT_EV_PEER_MSG, a->to, a->data, a->len);
            break;
        case FT_ACT_STATE:
            send_peer(st, FT_EV_STATE, a->to, a->data, a->len);
            break;
        case FT_ACT_REQUEST_STATE:
            send_peer(st, FT_EV_STATE_REQUEST, a->to, NULL, 0);
            break;
        case FT_ACT_DROP:
            if (a->reason < FT_DROP_N_REASONS) {
                st->stats.drops[a->reason]++;
            }
            break;
        case FT_ACT_TIMER_ARM:
            timer_set(st, a->timer, a->at_ns, true);
            break;
        case FT_ACT_TIMER_CANCEL:
            timer_set(st, a->timer, 0, false);
            break;
        case FT_ACT_SUSPECT:
            st->stats.suspects++;
            break;
        case FT_ACT_NOTE:
            st->stats.notes++;
            if (st->ops.note) {
                char *text = xasprintf("%.*s", (int) a->len, (const char *) a->data);
                st->ops.note(st->aux, text);
                free(text);
            }
            break;
        default:
            break;
        }
    }
    timers_rearm(st);
    return error;
}

int
ftstage_create(const struct ftstage_config *cfg, const struct ftstage_ops *ops, void *aux,
               struct ftstage **stp, char **errp)
{
    struct ftstage *st;
    int error;

    if (sodium_init() < 0) {
        *errp = xstrdup("libsodium failed to initialise");
        return EIO;
    }
    st = xzalloc(sizeof *st);
    error = ft_core_create(cfg->class, &cfg->core, &st->core, errp);
    if (error) {
        free(st);
        return error;
    }
    st->self = cfg->core.self;
    st->ops = *ops;
    st->aux = aux;
    st->loop = cfg->loop;
    st->incarnation = cfg->incarnation;
    st->max_payload = cfg->max_payload ? cfg->max_payload : FTSTAGE_MAX_PAYLOAD;
    st->next_seq = cfg->seq_base;
    if (cfg->key) {
        st->has_key = true;
        keyed_init(&st->keyed, cfg->key);
    }
    ft_actions_init(&st->actions);
    st->actions.space = ops->forward_space;
    st->actions.space_aux = aux;
    buf_init(&st->msg);
    *stp = st;
    return 0;
}

void
ftstage_destroy(struct ftstage *st)
{
    if (!st) {
        return;
    }
    if (st->loop_timer) {
        loop_cancel_timer(st->loop, st->loop_timer);
    }
    ft_core_destroy(st->core);
    ft_actions_uninit(&st->actions);
    buf_uninit(&st->msg);
    sodium_memzero(&st->keyed, sizeof st->keyed);
    free(st->windows);
    free(st->timers);
    free(st);
}

int
ftstage_start(struct ftstage *st, uint64_t now_ns)
{
    return ftstage_start_incarnation(st, now_ns, st->incarnation);
}

int
ftstage_start_incarnation(struct ftstage *st, uint64_t now_ns, uint32_t incarnation)
{
    struct ft_event ev = { .kind = FT_EV_START, .now_ns = now_ns, .from = FT_ENDPOINT_NONE,
                           .incarnation = incarnation };

    return run_step(st, &ev);
}

int
ftstage_peer_down(struct ftstage *st, uint32_t from, uint64_t now_ns)
{
    struct ft_event ev = { .kind = FT_EV_PEER_DOWN, .now_ns = now_ns, .from = from };

    return run_step(st, &ev);
}

void
ftstage_seq_above(struct ftstage *st, uint64_t seq)
{
    st->next_seq = MAX(st->next_seq, seq);
}

int
ftstage_local_message(struct ftstage *st, uint32_t from, const uint8_t *data, size_t len,
                      uint64_t now_ns)
{
    struct ft_event ev = { .kind = FT_EV_PEER_MSG, .now_ns = now_ns, .from = from,
                           .data = data, .len = len };

    return run_step(st, &ev);
}

int
ftstage_peer_up(struct ftstage *st, uint32_t from, uint64_t now_ns)
{
    struct ft_event ev = { .kind = FT_EV_PEER_UP, .now_ns = now_ns, .from = from };

    return run_step(st, &ev);
}

int
ftstage_state(struct ftstage *st, uint32_t from, const uint8_t *data, size_t len,
              uint64_t now_ns)
{
    struct ft_event ev = { .kind = FT_EV_STATE, .now_ns = now_ns, .from = from,
                           .data = data, .len = len };

    return run_step(st, &ev);
}

int
ftstage_packet(struct ftstage *st, uint32_t from, const uint8_t *data, size_t len,
               uint64_t now_ns)
{
    struct ft_event ev = { .kind = FT_EV_PACKET, .now_ns = now_ns, .from = from,
                           .data = data, .len = len };

    st->stats.packets++;
    return run_step(st, &ev);
}

int
ftstage_peer_message(struct ftstage *st, const uint8_t *data, size_t len, uint64_t now_ns)
{
    return ftstage_peer_message_from(st, data, len, FT_ENDPOINT_NONE, now_ns);
}

int
ftstage_peer_message_from(struct ftstage *st, const uint8_t *data, size_t len, uint32_t sender,
                          uint64_t now_ns)
{
    struct ftstage_msg m;
    int error;

    if (!st->has_key) {
        st->stats.peer_forged++;
        return 0;
    }
    error = msg_open(data, len, &st->keyed, st->max_payload, &m);
    if (error == EBADMSG) {
        st->stats.peer_forged++;
        return 0;
    } else if (error) {
        st->stats.peer_malformed++;
        return 0;
    }
    return ftstage_peer_message_opened(st, &m, sender, now_ns);
}

int
ftstage_peer_message_opened(struct ftstage *st, const struct ftstage_msg *mp, uint32_t sender,
                            uint64_t now_ns)
{
    struct ftstage_msg m = *mp;
    struct ft_event ev;

    if (!st->has_key || m.len > st->max_payload) {
        st->stats.peer_malformed += st->has_key;
        st->stats.peer_forged += !st->has_key;
        return 0;
    }
    if (m.to != st->self) {
        st->stats.peer_misaddressed++;
        return 0;
    }
    /* Every holder of the instance's key can seal any 'from': only the link says who sent. */
    if (sender != FT_ENDPOINT_NONE && m.from != sender) {
        st->stats.peer_impersonated++;
        return 0;
    }
    if (!window_accept(st, m.from, m.seq)) {
        st->stats.peer_replayed++;
        return 0;
    }
    st->stats.peer_rx++;
    ev = (struct ft_event) { .kind = m.kind, .now_ns = now_ns, .from = m.from,
                             .data = m.payload, .len = m.len };
    return run_step(st, &ev);
}

void
ftstage_set_quiet(struct ftstage *st, bool quiet)
{
    st->quiet = quiet;
}

const struct ftstage_stats *
ftstage_stats(const struct ftstage *st)
{
    return &st->stats;
}

uint32_t
ftstage_self(const struct ftstage *st)
{
    return st->self;
}

struct ft_core *
ftstage_core(const struct ftstage *st)
{
    return st->core;
}
