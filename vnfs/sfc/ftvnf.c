/* ftvnf — one of FTvNF's cores (vnfs/ft/ftvnf: sequencer, loggers, master or slave VNF,
 * manager) on the NSH path of a guest, through the stage of vnfs/sfc/ftstage.h: the same core
 * code tests/sim runs.
 *
 *   sfcd ftvnf --iface IF --core ftvnf_vnf --self 10 --endpoint 2=MAC ... --next 11
 *              --peers 2,3,4,5 --param role=master --key FILE --spi 1
 *
 * One process may host two cores (--core given twice; the options after each describe it):
 * the packet logger and the ID sequencer, so that a packet goes from the classifier into the
 * chain through one guest, not two (each visit is a crossing of the switch). A frame with no
 * packet id goes to the sequencer, one with an id to the other core, a peer message to the
 * core it is for; what one core sends the other (the sequencer's packets for the logger, its
 * log records and their acknowledgements) is handed over in the process, after the step that
 * made it, with no seal and no frame. The two die together: the scheme restarts the process,
 * the logger from its journal, the sequencer as its next incarnation (a fresh sequencer id).
 *
 * Carrier. A data packet between FTvNF's stages (sequencer -> master 0 -> ... -> last master)
 * is an NSH frame (MD type 2, next protocol Ethernet) sent straight to the next stage's MAC,
 * the packet id in NSH_TLV_PACKET_ID (8 bytes, big-endian: the core's 36-bit id) and the
 * inner frame after it. The sequencer is the only hop of the SFF's path: it receives the
 * classifier's frames (no packet id), sent to it straight. A log carrier (a packet on its way
 * through the loggers with its log records, vnfs/ft/ftvnf/ftvnf.h) has the carrier flag in
 * that TLV and next protocol NSH_NP_EXPERIMENT2. Data for an --egress endpoint (the SFF)
 * leaves as NSH at SI 254, the end of that one-hop path, so the SFF decapsulates it toward the
 * server; data for a --reply endpoint (the SFF again) leaves on the reverse path (SPI |
 * NSH_SPI_REVERSE, SI 255), so a dns master's answer goes back to the client. Peer messages
 * (log records, acknowledgements, the manager's orders, the packet logger's replays to a
 * slave) are sealed ftstage messages (ethertype FTSTAGE_ETHERTYPE, one frame each) under the
 * instance's key. An --endpoint MAC may be a virtual one the switch maps to whichever copy is
 * the stage's master (the scheme's controller re-points it at a takeover).
 *
 * Persistence (--journal FILE, for the loggers): every packet and every peer message is
 * appended to FILE, as it came, before the core sees it, so nothing the core acknowledges or
 * sends on is lost when the process dies: a restarted logger steps its core through the
 * journal (quietly: nothing is sent again) before it takes new frames. A torn last record is
 * cut off. --journal-sync: "periodic" (default) fdatasyncs every 10 ms, so a host crash loses
 * at most that, a process crash nothing (the page cache has every record write(2) took);
 * "always" fdatasyncs each record before the core sees it; "none" leaves it to the kernel.
 * The journal is never compacted: it grows with the run (instance directories live on tmpfs
 * here, so a host crash takes them anyway).
 *
 * The control socket adds export_state (base64 of the core's export: a VNF's function state),
 * peer_down {peer} (the failure notice the scheme's controller gives the manager), peer_up
 * {peer} (a new slave at endpoint 'peer', to the manager), ftvnf_image (a master's image for a
 * new slave), ftvnf_join {image} (a new slave takes it) and ftvnf_stages (the manager's view
 * of every stage). Never blocks; single-threaded. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vnfs/lib/nsh.h"
#include "vnfs/lib/pktio.h"
#include "vnfs/lib/rpc.h"
#include "vnfs/lib/util.h"
#include "vnfs/ft/ftvnf/ftvnf.h"
#include "vnfs/sfc/ftstage.h"
#include "vnfs/sfc/hop.h"
#include "vnfs/sfc/role.h"
#include "vnfs/sfc/roles.h"

#define FTVNF_ROLE_MAX_IDS 64
#define FTVNF_ROLE_MAX_PARAMS 32
#define FTVNF_ROLE_FRAME 1514           /* One frame of the data network's MTU. */
#define FTVNF_SI_END (NSH_SI_START - 1) /* After the SFF path's only hop (the sequencer). */
#define FTVNF_JOURNAL_SYNC_NS 10000000ull   /* --journal-sync periodic. */
#define FTVNF_ROLE_MAX_STAMPS 12        /* Timestamps a frame takes on (NSH_MAX_LEN bounds it). */
#define FTVNF_ROLE_MAX_CORES 2          /* The packet logger and the ID sequencer. */

enum ftvnf_journal_sync { JOURNAL_PERIODIC, JOURNAL_ALWAYS, JOURNAL_NONE };

enum ftvnf_ep_kind { EP_CORE, EP_EGRESS, EP_REPLY };

struct ftvnf_ep {
    uint32_t id;
    uint8_t mac[6];
    enum ftvnf_ep_kind kind;
};

struct ftvnf_ids {
    uint32_t v[FTVNF_ROLE_MAX_IDS];
    size_t n;
};

struct ftvnf_role;

/* One core the process hosts. */
struct ftvnf_core {
    struct ftvnf_role *r;
    struct ftstage *stage;
    struct ftstage_config cfg;
    struct ftvnf_ids group, next, peers;
    struct ft_param params[FTVNF_ROLE_MAX_PARAMS];
    size_t n_params;
    bool self_set;
};

/* What one core sent the other, handed over after the step that made it. */
struct ftvnf_local {
    struct ftvnf_core *to;
    uint8_t kind;                   /* 'P' a packet, 'M' a sealed peer message. */
    struct buf data;
};

struct ftvnf_role {
    struct role role;
    struct ftvnf_core cores[FTVNF_ROLE_MAX_CORES];
    size_t n_cores;
    struct ftvnf_local *local;      /* A queue: 'local_head' is the next to hand over. */
    size_t n_local, local_head, cap_local;
    uint64_t local_timer;           /* Hands over what a timer's step sent (0: none armed). */
    bool in_frame;                  /* ftvnf_frame() hands over what it made itself. */
    uint32_t incarnation;           /* --incarnation: every core's. */
    uint64_t n_local_rx;
    struct ftvnf_ep eps[FTVNF_ROLE_MAX_IDS];
    size_t n_eps;
    uint32_t spi;
    uint8_t key[FTSTAGE_KEY_LEN];
    uint8_t frame[FTVNF_ROLE_FRAME];
    struct buf nsh;
    uint64_t n_rx_nsh, n_rx_peer, n_tx_data, n_tx_egress, n_tx_reply, n_tx_peer;
    uint64_t n_no_endpoint, n_too_big, n_malformed, n_ignored, n_misaddressed;
    const char *journal_path;
    struct ftvnf_core *journaled;   /* The core whose input the journal takes. */
    int journal_fd;                 /* -1: no journal. */
    enum ftvnf_journal_sync journal_sync;
    bool journal_dirty;             /* Written since the last fdatasync. */
    uint64_t n_journal, n_journal_replayed, n_journal_errors;
    /* The timestamps of the NSH frame the core is taking now (ftvnf_frame): what it forwards
     * at once carries them on with our own, so the SFF at the path's end traces every FTvNF
     * hop (hop_us/link_us per component) as it does the other schemes'. A packet forwarded
     * later (after a logger's acknowledgement by message) goes unstamped. */
    bool stamping;
    uint64_t stamp_t_in;
    bool stamp_has_rid;
    uint8_t stamp_rid[8];
    uint8_t stamps[FTVNF_ROLE_MAX_STAMPS][NSH_TIMESTAMP_LEN];
    size_t n_stamps;
    uint64_t n_stamp_full;
};

static const struct ftvnf_ep *
ftvnf_ep_find(const struct ftvnf_role *r, uint32_t id)
{
    for (size_t i = 0; i < r->n_eps; i++) {
        if (r->eps[i].id == id) {
            return &r->eps[i];
        }
    }
    return NULL;
}

/* The core of this process at endpoint 'self' (NULL: none). */
static struct ftvnf_core *
ftvnf_core_find(struct ftvnf_role *r, uint32_t self)
{
    for (size_t i = 0; i < r->n_cores; i++) {
        if (r->cores[i].cfg.core.self == self) {
            return &r->cores[i];
        }
    }
    return NULL;
}

static bool
ftvnf_is_sequencer(const struct ftvnf_core *c)
{
    return !strcmp(c->cfg.class->name, "ftvnf_sequencer");
}

/* The core that takes a data packet: with two, the sequencer takes the ones with no packet
 * id yet (the chain's ingress), the other core the rest. */
static struct ftvnf_core *
ftvnf_packet_core(struct ftvnf_role *r, bool has_id)
{
    if (r->n_cores == 1) {
        return &r->cores[0];
    }
    for (size_t i = 0; i < r->n_cores; i++) {
        if (ftvnf_is_sequencer(&r->cores[i]) != has_id) {
            return &r->cores[i];
        }
    }
    return NULL;
}

static void ftvnf_journal(struct ftvnf_role *, const struct ftvnf_core *, uint8_t kind,
                          const uint8_t *, size_t);

/* Hands what the cores sent each other to the core it is for, in the order they sent it
 * (never inside a step: ftstage's steps do not nest). */
static void
ftvnf_local_flush(struct ftvnf_role *r)
{
    while (r->local_head < r->n_local) {
        /* A copy: the step may queue more and move the array. */
        struct ftvnf_local m = r->local[r->local_head++];
        uint64_t now = time_mono_ns();

        r->n_local_rx++;
        ftvnf_journal(r, m.to, m.kind, m.data.data, m.data.len);
        if (m.kind == 'P') {
            ftstage_packet(m.to->stage, FT_ENDPOINT_NONE, m.data.data, m.data.len, now);
        } else {
            ftstage_peer_message(m.to->stage, m.data.data, m.data.len, now);
        }
        buf_uninit(&m.data);
    }
    r->n_local = r->local_head = 0;
}

static void
ftvnf_local_timer(struct loop *loop, uint64_t id, void *r_)
{
    struct ftvnf_role *r = r_;

    r->local_timer = 0;
    ftvnf_local_flush(r);
}

/* 'data' for core 'to' of this process: handed over once the step that made it is done, at
 * the end of the frame being taken, or else (a timer's step, a control call's) at once from
 * the loop. */
static void
ftvnf_local_push(struct ftvnf_role *r, struct ftvnf_core *to, uint8_t kind,
                 const uint8_t *data, size_t len)
{
    struct ftvnf_local *m;

    if (r->n_local >= r->cap_local) {
        r->local = x2nrealloc(r->local, &r->cap_local, sizeof *r->local);
    }
    m = &r->local[r->n_local++];
    m->to = to;
    m->kind = kind;
    buf_init(&m->data);
    buf_put(&m->data, data, len);
    if (!r->in_frame && !r->local_timer) {
        r->local_timer = loop_add_timer(r->role.loop, 0, 0, ftvnf_local_timer, r);
    }
}

/* Sends 'len' bytes after an Ethernet header to 'mac' with 'ethertype'. */
static bool
ftvnf_send_frame(struct ftvnf_role *r, const uint8_t mac[6], uint16_t ethertype,
                 const uint8_t *hdr, size_t hdr_len, const uint8_t *body, size_t len)
{
    uint8_t *f = r->frame;

    if (HOP_ETH_LEN + hdr_len + len > sizeof r->frame) {
        r->n_too_big++;
        return false;
    }
    hop_set_header(f, mac, pktio_mac(r->role.io), ethertype);
    memcpy(f + HOP_ETH_LEN, hdr, hdr_len);
    memcpy(f + HOP_ETH_LEN + hdr_len, body, len);
    /* At once: the frame is built in one scratch buffer (pktio_queue keeps pointers). */
    return !pktio_send(r->role.io, f, HOP_ETH_LEN + hdr_len + len);
}

/* FT_ACT_FORWARD: 'data' is id(8) and the inner frame. */
static void
ftvnf_forward(void *c_, uint32_t to, const uint8_t *data, size_t len)
{
    struct ftvnf_core *c = c_, *local = ftvnf_core_find(c->r, to);
    struct ftvnf_role *r = c->r;
    const struct ftvnf_ep *ep = ftvnf_ep_find(r, to);
    struct nsh_tlv tlvs[2 + FTVNF_ROLE_MAX_STAMPS + 1] = { {
        .md_class = NSH_CLASS_SFCLAB, .type = NSH_TLV_PACKET_ID, .len = 8, .value = data,
    } };
    uint8_t own[NSH_TIMESTAMP_LEN];
    size_t n_tlvs = 1;
    uint32_t spi = r->spi;
    uint8_t si = FTVNF_SI_END;
    int error;

    if (local && local != c) {
        /* The packet id and the frame, as ftvnf_frame() gives a core what it receives. */
        ftvnf_local_push(r, local, 'P', data, len);
        return;
    }
    if (!ep) {
        r->n_no_endpoint++;
        return;
    }
    if (len < 8 + HOP_ETH_LEN) {
        r->n_malformed++;
        return;
    }
    if (ep->kind == EP_REPLY) {
        spi |= NSH_SPI_REVERSE;
        si = NSH_SI_START;
    }
    if (r->stamping) {
        struct nsh_timestamp ts = {
            .component = r->role.id, .t_in = r->stamp_t_in, .t_out = time_mono_ns(),
        };
        if (r->stamp_has_rid) {
            tlvs[n_tlvs++] = (struct nsh_tlv) { NSH_CLASS_SFCLAB, NSH_TLV_REQUEST_ID, 8,
                                                r->stamp_rid };
        }
        for (size_t i = 0; i < r->n_stamps; i++) {
            tlvs[n_tlvs++] = (struct nsh_tlv) { NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP,
                                                NSH_TIMESTAMP_LEN, r->stamps[i] };
        }
        nsh_timestamp_put(own, &ts);
        tlvs[n_tlvs++] = (struct nsh_tlv) { NSH_CLASS_SFCLAB, NSH_TLV_TIMESTAMP,
                                            NSH_TIMESTAMP_LEN, own };
    }
    buf_clear(&r->nsh);
    error = nsh_encode(&r->nsh, spi, si, NSH_TTL_DEFAULT, NSH_NP_ETHERNET, tlvs, n_tlvs);
    if (n_tlvs > 1 && (error == EMSGSIZE || (!error && HOP_ETH_LEN + r->nsh.len + len - 8
                                                       > sizeof r->frame))) {
        /* The header is full of timestamps, or they would make the frame too big (a
         * carrier near carry_max): the packet goes on without them. */
        r->n_stamp_full++;
        buf_clear(&r->nsh);
        error = nsh_encode(&r->nsh, spi, si, NSH_TTL_DEFAULT, NSH_NP_ETHERNET, tlvs, 1);
    }
    if (error) {
        r->n_malformed++;
        return;
    }
    if (data[0]) {
        /* A log carrier (ftvnf.h): its records precede the inner frame. */
        r->nsh.data[3] = NSH_NP_EXPERIMENT2;
    }
    if (ftvnf_send_frame(r, ep->mac, NSH_ETHERTYPE, r->nsh.data, r->nsh.len, data + 8,
                         len - 8)) {
        (*(ep->kind == EP_EGRESS ? &r->n_tx_egress : ep->kind == EP_REPLY ? &r->n_tx_reply
                                                                          : &r->n_tx_data))++;
    }
}

static void
ftvnf_deliver(void *c_, const uint8_t *data, size_t len)
{
}

static bool
ftvnf_send(void *c_, uint32_t to, const uint8_t *msg, size_t len)
{
    struct ftvnf_core *c = c_, *local = ftvnf_core_find(c->r, to);
    struct ftvnf_role *r = c->r;
    const struct ftvnf_ep *ep = ftvnf_ep_find(r, to);

    if (local && local != c) {
        ftvnf_local_push(r, local, 'M', msg, len);
        return true;
    }
    if (!ep || ep->kind != EP_CORE) {
        return false;
    }
    if (ftvnf_send_frame(r, ep->mac, FTSTAGE_ETHERTYPE, NULL, 0, msg, len)) {
        r->n_tx_peer++;
    }
    return true;
}

static void
ftvnf_note(void *c_, const char *text)
{
    log_info("%s", text);
}

/* Appends one record for core 'c', kind 'P' (a packet as the core takes it) or 'M' (a sealed
 * peer message): kind(1) len(4) bytes, before the core sees it. Only the journaled core's. */
static void
ftvnf_journal(struct ftvnf_role *r, const struct ftvnf_core *c, uint8_t kind,
              const uint8_t *data, size_t len)
{
    uint8_t hdr[5] = { kind, len >> 24, len >> 16, len >> 8, len };
    struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *) data, len } };
    ssize_t n;

    if (r->journal_fd < 0 || c != r->journaled) {
        return;
    }
    n = writev(r->journal_fd, iov, 2);
    if (n != (ssize_t) (sizeof hdr + len)
        || (r->journal_sync == JOURNAL_ALWAYS && fdatasync(r->journal_fd))) {
        r->n_journal_errors++;
        log_err("ftvnf: journal %s: %s", r->journal_path, n < 0 ? strerror(errno) : "short");
        return;
    }
    r->journal_dirty = true;
    r->n_journal++;
}

static void
ftvnf_journal_flush(struct loop *loop, uint64_t id, void *r_)
{
    struct ftvnf_role *r = r_;

    if (r->journal_dirty && fdatasync(r->journal_fd)) {
        r->n_journal_errors++;
    }
    r->journal_dirty = false;
}

/* A restarted logger rebuilds its core from the journal, quietly (its peers had whatever it
 * sent then). A torn tail (the process died mid-write) is cut off. */
static int
ftvnf_journal_replay(struct ftvnf_role *r)
{
    struct ftstage *stage = r->journaled->stage;
    struct buf all = BUF_INITIALIZER;
    size_t ofs = 0;
    int error = 0;

    for (;;) {
        uint8_t *p = buf_put_uninit(&all, 65536);
        ssize_t n = pread(r->journal_fd, p, 65536, all.len - 65536);

        all.len -= 65536 - (n > 0 ? n : 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error = n < 0 ? errno : 0;
            break;
        }
    }
    ftstage_set_quiet(stage, true);
    while (!error && all.len - ofs >= 5) {
        const uint8_t *p = all.data + ofs;
        size_t len = (size_t) p[1] << 24 | p[2] << 16 | p[3] << 8 | p[4];

        if (len > all.len - ofs - 5 || (p[0] != 'P' && p[0] != 'M')) {
            break;
        }
        if (p[0] == 'P') {
            ftstage_packet(stage, FT_ENDPOINT_NONE, p + 5, len, time_mono_ns());
        } else {
            ftstage_peer_message(stage, p + 5, len, time_mono_ns());
        }
        r->n_journal_replayed++;
        ofs += 5 + len;
    }
    ftstage_set_quiet(stage, false);
    if (!error && ofs < all.len) {
        log_warn("ftvnf: journal %s: cutting a torn tail of %zu bytes", r->journal_path,
                 all.len - ofs);
        if (ftruncate(r->journal_fd, ofs)) {
            error = errno;
        }
    }
    if (r->n_journal_replayed) {
        log_info("ftvnf: rebuilt from %"PRIu64" journal records", r->n_journal_replayed);
    }
    buf_uninit(&all);
    return error;
}

static void
ftvnf_frame_take(struct ftvnf_role *r, struct pktio_pkt *pkt, uint64_t t_in)
{
    const uint8_t *own = pktio_mac(r->role.io);
    struct ftvnf_core *c;
    struct nsh_hdr hdr;
    struct nsh_tlv tlv;
    uint32_t to;

    if (pkt->len >= HOP_ETH_LEN && !memcmp(pkt->data, own, 6)
        && hop_ethertype(pkt->data) == FTSTAGE_ETHERTYPE) {
        if (!ftstage_msg_peek_to(pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN, &to)
            || !(c = ftvnf_core_find(r, to))) {
            r->n_misaddressed++;    /* E.g. the dead master's, steered to its slave. */
            return;
        }
        r->n_rx_peer++;
        ftvnf_journal(r, c, 'M', pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN);
        ftstage_peer_message(c->stage, pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN, t_in);
        return;
    }
    if (!hop_is_nsh_for(pkt->data, pkt->len, own)) {
        r->n_ignored++;
        return;
    }
    if (nsh_decode(pkt->data + HOP_ETH_LEN, pkt->len - HOP_ETH_LEN, &hdr, NULL)
        || (hdr.next_proto != NSH_NP_ETHERNET && hdr.next_proto != NSH_NP_EXPERIMENT2)) {
        r->n_malformed++;
        return;
    }
    r->n_rx_nsh++;
    /* Copied out first: the packet id goes over the header's last bytes below. */
    size_t ofs = 0;
    r->n_stamps = 0;
    r->stamp_has_rid = false;
    while (nsh_tlv_next(&hdr, &ofs, &tlv)) {
        if (tlv.md_class != NSH_CLASS_SFCLAB) {
            continue;
        }
        if (tlv.type == NSH_TLV_TIMESTAMP && tlv.len == NSH_TIMESTAMP_LEN
            && r->n_stamps < FTVNF_ROLE_MAX_STAMPS) {
            memcpy(r->stamps[r->n_stamps++], tlv.value, NSH_TIMESTAMP_LEN);
        } else if (tlv.type == NSH_TLV_REQUEST_ID && tlv.len == 8) {
            memcpy(r->stamp_rid, tlv.value, 8);
            r->stamp_has_rid = true;
        }
    }
    r->stamping = r->n_stamps > 0;
    r->stamp_t_in = t_in;
    uint8_t *inner = pkt->data + HOP_ETH_LEN + hdr.len;
    size_t inner_len = pkt->len - HOP_ETH_LEN - hdr.len;
    bool has_id = nsh_tlv_find(&hdr, NSH_CLASS_SFCLAB, NSH_TLV_PACKET_ID, &tlv);
    if (!(c = ftvnf_packet_core(r, has_id))) {
        r->n_ignored++;
        return;
    }
    if (has_id) {
        if (tlv.len != 8) {
            r->n_malformed++;
            return;
        }
        /* The core takes id(8) and the frame: the id goes just before the frame (the NSH
         * header's own bytes, no longer needed). */
        memmove(inner - 8, tlv.value, 8);
        ftvnf_journal(r, c, 'P', inner - 8, inner_len + 8);
        ftstage_packet(c->stage, FT_ENDPOINT_NONE, inner - 8, inner_len + 8, t_in);
    } else {
        /* The chain's ingress: the sequencer gives it an id. */
        ftvnf_journal(r, c, 'P', inner, inner_len);
        ftstage_packet(c->stage, FT_ENDPOINT_NONE, inner, inner_len, t_in);
    }
}

static void
ftvnf_frame(void *r_, struct pktio_pkt *pkt, uint64_t t_in)
{
    struct ftvnf_role *r = r_;

    r->in_frame = true;
    ftvnf_frame_take(r, pkt, t_in);
    /* What the frame made for the other core goes on now, with the frame's timestamps. */
    ftvnf_local_flush(r);
    r->in_frame = false;
    r->stamping = false;
}

/* The control calls' stage: the first core's. */
static struct ftstage *
ftvnf_main(const struct ftvnf_role *r)
{
    return r->cores[0].stage;
}

/* peer_down / peer_up {peer}: the endpoint 'peer' failed, or a new process took it (the
 * manager: a new slave joins). */
static int
ctl_peer(void *role_, json_t *params, json_t **result, char **errmsg, bool up)
{
    struct ftvnf_role *r = ((struct role *) role_)->aux;
    uint64_t now = time_mono_ns();
    json_int_t v;
    int error;

    error = role_param_index(params, "peer", FT_ENDPOINT_NONE,
                             "expected {\"peer\": ENDPOINT_ID}", &v, errmsg);
    if (error) {
        return error;
    }
    error = up ? ftstage_peer_up(ftvnf_main(r), v, now)
               : ftstage_peer_down(ftvnf_main(r), v, now);
    if (!error) {
        *result = json_true();
    }
    return error;
}

static int
ctl_peer_down(void *role, json_t *params, json_t **result, char **errmsg)
{
    return ctl_peer(role, params, result, errmsg, false);
}

static int
ctl_peer_up(void *role, json_t *params, json_t **result, char **errmsg)
{
    return ctl_peer(role, params, result, errmsg, true);
}

/* The answer of a method that exports bytes: {KEY: base64}, or 'refusal' when there are none.
 * Frees 'image'. */
static int
reply_base64(int error, struct buf *image, const char *key, const char *refusal,
             json_t **result, char **errmsg)
{
    if (!error) {
        char *b64 = rpc_base64_encode(image->data, image->len);
        *result = json_pack("{s:s}", key, b64);
        free(b64);
    } else {
        *errmsg = xstrdup(refusal);
    }
    buf_uninit(image);
    return error;
}

/* ftvnf_image: a master's image for a new slave (base64 of ftvnf_vnf_image). */
static int
ctl_image(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct ftvnf_role *r = ((struct role *) role_)->aux;
    struct buf image = BUF_INITIALIZER;

    return reply_base64(ftvnf_vnf_image(ftstage_core(ftvnf_main(r)), &image), &image,
                        "image", "not an FTvNF master", result, errmsg);
}

/* ftvnf_join {image}: a new slave (param join=1) takes its master's image. */
static int
ctl_join(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct ftvnf_role *r = ((struct role *) role_)->aux;
    const char *b64 = json_string_value(params ? json_object_get(params, "image") : NULL);
    const struct ftstage_stats *st = ftstage_stats(ftvnf_main(r));
    struct buf image = BUF_INITIALIZER;
    uint64_t malformed = st->drops[FT_DROP_MALFORMED];
    int error;

    if (!b64 || rpc_base64_decode(b64, &image)) {
        *errmsg = xstrdup("expected {\"image\": BASE64}");
        error = EINVAL;
        goto out;
    }
    error = ftstage_state(ftvnf_main(r), FT_ENDPOINT_NONE, image.data, image.len,
                          time_mono_ns());
    if (!error && st->drops[FT_DROP_MALFORMED] != malformed) {
        *errmsg = xstrdup("image refused (no new slave, another stage, or malformed)");
        error = EINVAL;
    }
    if (!error) {
        *result = json_true();
    }
out:
    buf_uninit(&image);
    return error;
}

static int
ctl_export_state(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct ftvnf_role *r = ((struct role *) role_)->aux;
    struct buf image = BUF_INITIALIZER;

    return reply_base64(ft_core_export_state(ftstage_core(ftvnf_main(r)), &image), &image,
                        "state", "this core exports no state", result, errmsg);
}

static int
ctl_stages(void *role_, json_t *params, json_t **result, char **errmsg)
{
    struct ftvnf_role *r = ((struct role *) role_)->aux;
    const struct ft_core *core = ftstage_core(ftvnf_main(r));
    struct ftvnf_stage_info info;
    json_t *stages = json_array();

    for (size_t i = 0; ftvnf_manager_stage(core, i, &info); i++) {
        json_array_append_new(stages, json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "state", info.state,
            "master", (json_int_t) info.master,
            "slave", (json_int_t) (info.slave == FT_ENDPOINT_NONE ? -1 : (json_int_t) info.slave),
            "failed_ns", (json_int_t) info.failed_ns, "promoted_ns", (json_int_t) info.promoted_ns,
            "catchup", (json_int_t) info.catchup, "records", (json_int_t) info.records,
            "last_order", (json_int_t) info.last_order, "lost_ns", (json_int_t) info.lost_ns));
    }
    if (!json_array_size(stages)) {
        json_decref(stages);
        *errmsg = xstrdup("not a manager");
        return EINVAL;
    }
    *result = json_pack("{s:o}", "stages", stages);
    return 0;
}

/* role->on_start: the loop exists, the stages can put their timers on it. */
static int
ftvnf_start(struct role *role)
{
    static const struct ftstage_ops ops = {
        .forward = ftvnf_forward, .deliver = ftvnf_deliver, .send = ftvnf_send,
        .note = ftvnf_note,
    };
    struct ftvnf_role *r = role->aux;
    char *errmsg = NULL;
    int error = 0;

    for (size_t k = 0; k < r->n_cores; k++) {
        struct ftvnf_core *c = &r->cores[k];
        const struct ftstage_stats *st;
        /* The first core's counters by their names; another's after its class's. */
        const char *pfx = k ? c->cfg.class->name + strlen("ftvnf_") : NULL;
#define FTVNF_COUNTER(NAME, VALUE) \
        role_add_counter(role, pfx ? xasprintf("%s_%s", pfx, NAME) : NAME, VALUE)

        c->cfg.loop = role->loop;
        c->cfg.key = r->key;
        c->cfg.seq_base = time_mono_ns();
        c->cfg.max_payload = FTVNF_ROLE_FRAME - HOP_ETH_LEN - FTSTAGE_MSG_HDR_LEN
                             - FTSTAGE_TAG_LEN;
        error = ftstage_create(&c->cfg, &ops, c, &c->stage, &errmsg);
        if (error) {
            log_err("ftvnf: %s", errmsg ? errmsg : strerror(error));
            free(errmsg);
            return error;
        }
        st = ftstage_stats(c->stage);
        FTVNF_COUNTER("packets", &st->packets);
        FTVNF_COUNTER("peer_ok", &st->peer_rx);
        FTVNF_COUNTER("peer_forged", &st->peer_forged);
        FTVNF_COUNTER("peer_replayed", &st->peer_replayed);
        FTVNF_COUNTER("send_errors", &st->send_errors);
        FTVNF_COUNTER("notes", &st->notes);
        FTVNF_COUNTER("drop_malformed", &st->drops[FT_DROP_MALFORMED]);
        FTVNF_COUNTER("drop_duplicate", &st->drops[FT_DROP_DUPLICATE]);
        FTVNF_COUNTER("drop_stale", &st->drops[FT_DROP_STALE]);
        FTVNF_COUNTER("drop_unknown_sender", &st->drops[FT_DROP_UNKNOWN_SENDER]);
#undef FTVNF_COUNTER
    }
    if (r->journal_path) {
        r->journal_fd = open(r->journal_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (r->journal_fd < 0) {
            log_err("ftvnf: --journal %s: %s", r->journal_path, strerror(errno));
            return errno;
        }
        error = ftvnf_journal_replay(r);
        if (error) {
            log_err("ftvnf: journal %s: %s", r->journal_path, strerror(error));
            return error;
        }
        if (r->journal_sync == JOURNAL_PERIODIC) {
            loop_add_timer(role->loop, FTVNF_JOURNAL_SYNC_NS, FTVNF_JOURNAL_SYNC_NS,
                           ftvnf_journal_flush, r);
        }
    }
    for (size_t k = 0; !error && k < r->n_cores; k++) {
        error = ftstage_start_incarnation(r->cores[k].stage, time_mono_ns(), r->incarnation);
    }
    return error;
}

static void
usage(void)
{
    printf("usage: sfcd ftvnf --iface IF --core NAME --self ID --endpoint ID=MAC... "
           "--key FILE [OPTION...]\n"
           "  --core NAME         ftvnf_sequencer, ftvnf_packet_logger, ftvnf_dp_logger,\n"
           "                      ftvnf_progress_logger, ftvnf_vnf or ftvnf_manager; given\n"
           "                      again, a second core in the process (the sequencer beside\n"
           "                      the packet logger): --self, --group, --next, --peers,\n"
           "                      --param and --journal after it are that core's\n"
           "  --self ID           this core's endpoint id\n"
           "  --endpoint ID=MAC   another core (repeat): NSH data and sealed peer messages\n"
           "  --egress ID=MAC     data for ID leaves as NSH at the end of the SFF's path\n"
           "  --reply ID=MAC      data for ID leaves on the SFF's reverse path (answers)\n"
           "  --group/--next/--peers ID,...  the core's endpoints (see vnfs/ft/ftvnf)\n"
           "  --param KEY=VALUE   core parameter (repeat)\n"
           "  --key FILE          the instance's key for peer messages (mode 0600)\n"
           "  --spi N             the chain's service path (default 1)\n"
           "  --incarnation N     restarts so far (a sequencer takes a fresh id)\n"
           "  --seed N            the core's generator (default: random)\n"
           "  --journal FILE      append what the core takes to FILE first; rebuild from it\n"
           "                      at start (the loggers)\n"
           "  --journal-sync MODE periodic (every 10 ms, default), always or none\n"
           ROLE_COMMON_USAGE);
}

static bool
ftvnf_parse_ids(const char *s, struct ftvnf_ids *ids)
{
    const char *p = s;

    ids->n = 0;
    while (*p) {
        char *end;
        unsigned long v = strtoul(p, &end, 10);

        if (end == p || v >= FT_ENDPOINT_NONE || ids->n >= FTVNF_ROLE_MAX_IDS
            || (*end && *end != ',')) {
            return false;
        }
        ids->v[ids->n++] = v;
        p = *end ? end + 1 : end;
    }
    return ids->n > 0;
}

static bool
ftvnf_parse_ep(struct ftvnf_role *r, const char *s, enum ftvnf_ep_kind kind)
{
    struct ftvnf_ep *ep = &r->eps[r->n_eps];
    const char *eq = strchr(s, '=');
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (r->n_eps >= FTVNF_ROLE_MAX_IDS || !eq || end != eq || end == s
        || v >= FT_ENDPOINT_NONE || !pktio_parse_mac(eq + 1, ep->mac)) {
        return false;
    }
    ep->id = v;
    ep->kind = kind;
    r->n_eps++;
    return true;
}

int
role_ftvnf(int argc, char *argv[])
{
    enum { OPT_CORE = 1, OPT_SELF, OPT_ENDPOINT, OPT_EGRESS, OPT_REPLY, OPT_GROUP, OPT_NEXT,
           OPT_PEERS, OPT_PARAM, OPT_KEY, OPT_SPI, OPT_INCARNATION, OPT_SEED, OPT_JOURNAL,
           OPT_JOURNAL_SYNC };
    static const struct option options[] = {
        { "core", required_argument, NULL, OPT_CORE },
        { "self", required_argument, NULL, OPT_SELF },
        { "endpoint", required_argument, NULL, OPT_ENDPOINT },
        { "egress", required_argument, NULL, OPT_EGRESS },
        { "reply", required_argument, NULL, OPT_REPLY },
        { "group", required_argument, NULL, OPT_GROUP },
        { "next", required_argument, NULL, OPT_NEXT },
        { "peers", required_argument, NULL, OPT_PEERS },
        { "param", required_argument, NULL, OPT_PARAM },
        { "key", required_argument, NULL, OPT_KEY },
        { "spi", required_argument, NULL, OPT_SPI },
        { "incarnation", required_argument, NULL, OPT_INCARNATION },
        { "seed", required_argument, NULL, OPT_SEED },
        { "journal", required_argument, NULL, OPT_JOURNAL },
        { "journal-sync", required_argument, NULL, OPT_JOURNAL_SYNC },
        { "help", no_argument, NULL, 'h' },
        ROLE_COMMON_LONGOPTS,
        { NULL, 0, NULL, 0 },
    };
    struct ftvnf_role r;
    struct ftvnf_core *cur;         /* The core the options describe. */
    bool key_set = false;
    uint64_t seed = 0;
    int opt, rc = 2;
    char *errmsg = NULL, *end;

    memset(&r, 0, sizeof r);
    r.journal_fd = -1;
    r.n_cores = 1;
    cur = &r.cores[0];
    buf_init(&r.nsh);
    r.spi = 1;
    role_init_common(&r.role, "ftvnf");
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) {
        seed = time_mono_ns() ^ ((uint64_t) getpid() << 32);
    }
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (opt) {
        case OPT_CORE:
            if (cur->cfg.class) {
                if (r.n_cores >= FTVNF_ROLE_MAX_CORES) {
                    fprintf(stderr, "sfcd ftvnf: --core: %d cores at most\n",
                            FTVNF_ROLE_MAX_CORES);
                    goto out;
                }
                cur = &r.cores[r.n_cores++];
            }
            cur->cfg.class = ft_core_class_find(optarg);
            if (!cur->cfg.class || strncmp(optarg, "ftvnf_", 6)) {
                fprintf(stderr, "sfcd ftvnf: --core: '%s' is not one of FTvNF's cores\n",
                        optarg);
                goto out;
            }
            break;
        case OPT_SELF: {
            unsigned long v = strtoul(optarg, &end, 10);
            if (!*optarg || *end || v >= FT_ENDPOINT_NONE) {
                fprintf(stderr, "sfcd ftvnf: --self: '%s' is not an endpoint id\n", optarg);
                goto out;
            }
            cur->cfg.core.self = v;
            cur->self_set = true;
            break;
        }
        case OPT_ENDPOINT:
        case OPT_EGRESS:
        case OPT_REPLY:
            if (!ftvnf_parse_ep(&r, optarg, opt == OPT_ENDPOINT ? EP_CORE
                                           : opt == OPT_EGRESS ? EP_EGRESS : EP_REPLY)) {
                fprintf(stderr, "sfcd ftvnf: '%s' is not ID=MAC\n", optarg);
                goto out;
            }
            break;
        case OPT_GROUP:
        case OPT_NEXT:
        case OPT_PEERS:
            if (!ftvnf_parse_ids(optarg, opt == OPT_GROUP ? &cur->group
                                         : opt == OPT_NEXT ? &cur->next : &cur->peers)) {
                fprintf(stderr, "sfcd ftvnf: '%s' is not a list of endpoint ids\n", optarg);
                goto out;
            }
            break;
        case OPT_PARAM: {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || cur->n_params >= FTVNF_ROLE_MAX_PARAMS) {
                fprintf(stderr, "sfcd ftvnf: --param: '%s' is not KEY=VALUE\n", optarg);
                goto out;
            }
            *eq = '\0';
            cur->params[cur->n_params++] = (struct ft_param) { optarg, eq + 1 };
            break;
        }
        case OPT_KEY:
            if (ftstage_key_load(optarg, r.key, &errmsg)) {
                fprintf(stderr, "sfcd ftvnf: --key: %s\n", errmsg);
                goto out;
            }
            key_set = true;
            break;
        case OPT_SPI:
            r.spi = strtoul(optarg, &end, 0);
            if (!*optarg || *end || !r.spi || r.spi >= NSH_SPI_REVERSE) {
                fprintf(stderr, "sfcd ftvnf: --spi: '%s' is not a service path\n", optarg);
                goto out;
            }
            break;
        case OPT_INCARNATION:
            r.incarnation = strtoul(optarg, &end, 10);
            if (!*optarg || *end) {
                fprintf(stderr, "sfcd ftvnf: --incarnation: '%s' is not a number\n", optarg);
                goto out;
            }
            break;
        case OPT_JOURNAL:
            if (r.journaled && r.journaled != cur) {
                fprintf(stderr, "sfcd ftvnf: --journal: one core's at most\n");
                goto out;
            }
            r.journal_path = optarg;
            r.journaled = cur;
            break;
        case OPT_JOURNAL_SYNC:
            if (!strcmp(optarg, "periodic")) {
                r.journal_sync = JOURNAL_PERIODIC;
            } else if (!strcmp(optarg, "always")) {
                r.journal_sync = JOURNAL_ALWAYS;
            } else if (!strcmp(optarg, "none")) {
                r.journal_sync = JOURNAL_NONE;
            } else {
                fprintf(stderr, "sfcd ftvnf: --journal-sync: '%s' (expected periodic, always "
                        "or none)\n", optarg);
                goto out;
            }
            break;
        case OPT_SEED:
            seed = strtoull(optarg, &end, 0);
            if (!*optarg || *end) {
                fprintf(stderr, "sfcd ftvnf: --seed: '%s' is not a number\n", optarg);
                goto out;
            }
            break;
        default:
            if (role_parse_option(&r.role, opt, optarg, usage, &rc)) {
                goto out;
            }
        }
    }
    bool ok = optind == argc && key_set;
    for (size_t k = 0; k < r.n_cores; k++) {
        struct ftvnf_core *c = &r.cores[k];

        if (!c->cfg.class || !c->self_set || ftvnf_core_find(&r, c->cfg.core.self) != c) {
            ok = false;
            break;
        }
        c->r = &r;
        c->cfg.core.group = c->group.v;
        c->cfg.core.n_group = c->group.n;
        c->cfg.core.next = c->next.v;
        c->cfg.core.n_next = c->next.n;
        c->cfg.core.peers = c->peers.v;
        c->cfg.core.n_peers = c->peers.n;
        c->cfg.core.params = c->params;
        c->cfg.core.n_params = c->n_params;
        ft_rng_init(&c->cfg.core.rng, seed + k);
    }
    if (!ok) {
        fprintf(stderr, "sfcd ftvnf: --core, --self (a distinct one per core) and --key are "
                "required (see --help)\n");
        goto out;
    }
    if (r.n_cores > 1 && (!ftvnf_packet_core(&r, false) || !ftvnf_packet_core(&r, true))) {
        fprintf(stderr, "sfcd ftvnf: a second core goes with an ftvnf_sequencer only\n");
        goto out;
    }

    rc = 1;
    r.role.aux = &r;
    if (role_open_pktio(&r.role, false)) {
        goto out;
    }
    r.role.on_start = ftvnf_start;
    role_add_counter(&r.role, "rx_nsh", &r.n_rx_nsh);
    role_add_counter(&r.role, "rx_peer", &r.n_rx_peer);
    role_add_counter(&r.role, "tx_data", &r.n_tx_data);
    role_add_counter(&r.role, "tx_egress", &r.n_tx_egress);
    role_add_counter(&r.role, "tx_reply", &r.n_tx_reply);
    role_add_counter(&r.role, "tx_peer", &r.n_tx_peer);
    role_add_counter(&r.role, "no_endpoint", &r.n_no_endpoint);
    role_add_counter(&r.role, "too_big", &r.n_too_big);
    role_add_counter(&r.role, "malformed", &r.n_malformed);
    role_add_counter(&r.role, "misaddressed", &r.n_misaddressed);
    role_add_counter(&r.role, "journal_records", &r.n_journal);
    role_add_counter(&r.role, "journal_replayed", &r.n_journal_replayed);
    role_add_counter(&r.role, "journal_errors", &r.n_journal_errors);
    role_add_counter(&r.role, "stamp_full", &r.n_stamp_full);
    role_add_counter(&r.role, "local", &r.n_local_rx);
    role_add_method(&r.role, "peer_down", ctl_peer_down);
    role_add_method(&r.role, "peer_up", ctl_peer_up);
    role_add_method(&r.role, "ftvnf_image", ctl_image);
    role_add_method(&r.role, "ftvnf_join", ctl_join);
    role_add_method(&r.role, "export_state", ctl_export_state);
    role_add_method(&r.role, "ftvnf_stages", ctl_stages);
    rc = role_serve_pktio(&r.role, ftvnf_frame, NULL);
out:
    if (r.journal_fd >= 0) {
        if (r.journal_dirty) {
            fdatasync(r.journal_fd);
        }
        close(r.journal_fd);
    }
    for (size_t k = 0; k < r.n_cores; k++) {
        ftstage_destroy(r.cores[k].stage);
    }
    for (size_t i = r.local_head; i < r.n_local; i++) {
        buf_uninit(&r.local[i].data);
    }
    free(r.local);
    role_finish(&r.role);
    buf_uninit(&r.nsh);
    free(errmsg);
    return rc;
}
