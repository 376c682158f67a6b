#include "vnfs/lib/dns.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"
#include "vnfs/lib/util.h"

/* Compression pointers may be chained, each strictly backwards, so a chain is at most as long
 * as the message; this bounds the work per name anyway (128 labels fill 255 bytes). */
#define MAX_POINTERS 128

/* Reads the name at '*ofsp', following compression pointers, into 'out' (wire form, may be
 * NULL to only check it) and advances '*ofsp' past the name as it appears in place. */
static int
read_name(const uint8_t *msg, size_t len, size_t *ofsp, uint8_t *out, size_t *out_lenp)
{
    size_t ofs = *ofsp;
    size_t end = 0;             /* Where the name ends in place, once a pointer is taken. */
    size_t n = 0;
    int pointers = 0;

    for (;;) {
        if (ofs >= len) {
            return EINVAL;
        }
        uint8_t c = msg[ofs];
        if ((c & 0xc0) == 0xc0) {
            if (ofs + 1 >= len) {
                return EINVAL;
            }
            size_t target = ((c & 0x3f) << 8) | msg[ofs + 1];
            /* Strictly backwards, and not into the header. */
            if (target >= ofs || target < DNS_HEADER_LEN || ++pointers > MAX_POINTERS) {
                return EINVAL;
            }
            if (!end) {
                end = ofs + 2;
            }
            ofs = target;
            continue;
        }
        if (c & 0xc0) {
            return EINVAL;      /* 0x40 extended and 0x80 reserved label types. */
        }
        if (n + 1 + c > DNS_MAX_NAME || ofs + 1 + c > len) {
            return EINVAL;
        }
        if (out) {
            memcpy(out + n, msg + ofs, 1 + c);
        }
        n += 1 + c;
        ofs += 1 + c;
        if (!c) {
            break;
        }
    }
    *ofsp = end ? end : ofs;
    *out_lenp = n;
    return 0;
}

/* Parses the OPT record's fields after its root name: 'ofs' points at TYPE. */
static int
parse_opt(const uint8_t *msg, size_t len, size_t *ofsp, struct dns_query *q)
{
    size_t ofs = *ofsp;

    if (len - ofs < 10) {
        return EINVAL;
    }
    uint16_t udp_size = get_be16(msg + ofs + 2);
    uint8_t version = msg[ofs + 5];
    bool dnssec_ok = msg[ofs + 6] & 0x80;
    size_t rdlen = get_be16(msg + ofs + 8);
    ofs += 10;
    if (len - ofs < rdlen) {
        return EINVAL;
    }

    size_t end = ofs + rdlen;
    bool padded = false, have_token = false;
    uint16_t padding_len = 0, token_len = 0;
    const uint8_t *token = NULL;
    while (ofs < end) {
        if (end - ofs < 4) {
            return EINVAL;
        }
        uint16_t code = get_be16(msg + ofs);
        uint16_t olen = get_be16(msg + ofs + 2);
        ofs += 4;
        if (end - ofs < olen) {
            return EINVAL;
        }
        if (code == DNS_EDNS_PADDING) {
            if (padded) {
                return EINVAL;
            }
            padded = true;
            padding_len = olen;
        } else if (code == DNS_EDNS_TOKEN) {
            if (have_token) {
                return EINVAL;  /* Two tokens: which one would auth check? */
            }
            have_token = true;
            token = msg + ofs;
            token_len = olen;
        }
        ofs += olen;
    }

    if (q) {
        q->edns = true;
        q->edns_udp_size = udp_size;
        q->edns_version = version;
        q->edns_do = dnssec_ok;
        q->padded = padded;
        q->padding_len = padding_len;
        q->token = token;
        q->token_len = token_len;
    }
    *ofsp = ofs;
    return 0;
}

int
dns_parse_query(const uint8_t *msg, size_t len, struct dns_query *qp)
{
    struct dns_query q;
    size_t ofs = DNS_HEADER_LEN;
    size_t name_len;

    if (len < DNS_HEADER_LEN) {
        return EINVAL;
    }
    memset(&q, 0, sizeof q);
    q.id = get_be16(msg);
    q.flags = get_be16(msg + 2);
    if ((q.flags & DNS_FLAG_QR) || get_be16(msg + 4) != 1 || get_be16(msg + 6) || get_be16(msg + 8)
        || get_be16(msg + 10) > 1) {
        return EINVAL;
    }

    if (read_name(msg, len, &ofs, q.qname, &name_len) || len - ofs < 4) {
        return EINVAL;
    }
    q.qname_len = name_len;
    q.qtype = get_be16(msg + ofs);
    q.qclass = get_be16(msg + ofs + 2);
    ofs += 4;

    if (get_be16(msg + 10)) {
        /* The only additional record a query may carry is OPT, owned by the root. */
        if (ofs >= len || msg[ofs] != 0 || len - ofs < 3
            || get_be16(msg + ofs + 1) != DNS_TYPE_OPT) {
            return EINVAL;
        }
        ofs++;
        if (parse_opt(msg, len, &ofs, &q)) {
            return EINVAL;
        }
    }
    if (ofs != len) {
        return EINVAL;
    }
    *qp = q;
    return 0;
}

int
dns_build_answer(const struct dns_query *q, uint8_t rcode, const uint32_t *addrs,
                 size_t n_addrs, uint32_t ttl, uint8_t *out, size_t cap, size_t *lenp)
{
    size_t need = DNS_HEADER_LEN + q->qname_len + 4 + n_addrs * 16 + (q->edns ? 11 : 0);

    if (need > cap || n_addrs > 0xffff) {
        return ENOSPC;
    }
    uint16_t flags = DNS_FLAG_QR | DNS_FLAG_AA | (q->flags & (0x7800 | DNS_FLAG_RD))
                     | (rcode & 0xf);
    put_be16(out, q->id);
    put_be16(out + 2, flags);
    put_be16(out + 4, 1);
    put_be16(out + 6, n_addrs);
    put_be16(out + 8, 0);
    put_be16(out + 10, q->edns ? 1 : 0);

    uint8_t *p = out + DNS_HEADER_LEN;
    memcpy(p, q->qname, q->qname_len);
    p += q->qname_len;
    put_be16(p, q->qtype);
    put_be16(p + 2, q->qclass);
    p += 4;
    for (size_t i = 0; i < n_addrs; i++) {
        put_be16(p, 0xc000 | DNS_HEADER_LEN);
        put_be16(p + 2, DNS_TYPE_A);
        put_be16(p + 4, DNS_CLASS_IN);
        put_be32(p + 6, ttl);
        put_be16(p + 10, 4);
        memcpy(p + 12, &addrs[i], 4);
        p += 16;
    }
    if (q->edns) {
        p[0] = 0;
        put_be16(p + 1, DNS_TYPE_OPT);
        put_be16(p + 3, DNS_EDNS_UDP_SIZE);
        put_be32(p + 5, q->edns_do ? 0x8000 : 0);
        put_be16(p + 9, 0);
        p += 11;
    }
    *lenp = p - out;
    return 0;
}

int
dns_name_from_str(const char *s, uint8_t out[DNS_MAX_NAME], size_t *lenp)
{
    uint8_t name[DNS_MAX_NAME];
    size_t n = 0;

    if (!strcmp(s, ".")) {
        s = "";
    }
    while (*s) {
        size_t label = strcspn(s, ".");
        if (!label || label > 63 || n + 1 + label + 1 > DNS_MAX_NAME
            || memchr(s, '\\', label)) {
            return EINVAL;
        }
        name[n] = label;
        memcpy(name + n + 1, s, label);
        n += 1 + label;
        s += label;
        if (*s == '.') {
            s++;
        }
    }
    name[n++] = 0;
    memcpy(out, name, n);
    *lenp = n;
    return 0;
}

void
dns_name_to_str(const uint8_t *name, size_t len, char *out, size_t cap)
{
    size_t ofs = 0, n = 0;

    if (!cap) {
        return;
    }
#define EMIT(...) do {                                          \
        int r_ = snprintf(out + n, cap - n, __VA_ARGS__);       \
        n = r_ < 0 || (size_t) r_ >= cap - n ? cap - 1 : n + r_; \
    } while (0)
    if (len == 1 || !len) {
        EMIT(".");
    }
    while (ofs < len && name[ofs] && ofs + 1 + name[ofs] <= len) {
        for (size_t i = 0; i < name[ofs]; i++) {
            uint8_t c = name[ofs + 1 + i];
            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '_') {
                EMIT("%c", c);
            } else {
                EMIT("\\%03u", c);
            }
        }
        EMIT(".");
        ofs += 1 + name[ofs];
    }
#undef EMIT
}

static uint8_t
lower(uint8_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

bool
dns_name_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    if (a_len != b_len) {
        return false;
    }
    /* Length bytes are at most 63, so lowering them changes nothing. */
    for (size_t i = 0; i < a_len; i++) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}

static int
query_layout(const struct dns_query_spec *spec, uint8_t name[DNS_MAX_NAME], size_t *name_lenp,
             size_t *min_sizep, bool *ednsp)
{
    size_t name_len;

    if (!spec->name || dns_name_from_str(spec->name, name, &name_len)
        || spec->token_len > 0xffff) {
        return EINVAL;
    }
    bool edns = spec->edns || spec->size || spec->token;
    size_t min = DNS_HEADER_LEN + name_len + 4;
    if (edns) {
        min += DNS_OPT_LEN + (spec->token ? 4 + spec->token_len : 0);
        if (spec->size) {
            min += 4;           /* The padding option's header. */
        }
    }
    *name_lenp = name_len;
    *min_sizep = min;
    *ednsp = edns;
    return 0;
}

int
dns_query_min_size(const struct dns_query_spec *spec, size_t *sizep)
{
    struct dns_query_spec s = *spec;
    uint8_t name[DNS_MAX_NAME];
    size_t name_len, min;
    bool edns;

    s.size = 1;                 /* Count the padding option's header. */
    int error = query_layout(&s, name, &name_len, &min, &edns);
    if (!error) {
        *sizep = min;
    }
    return error;
}

int
dns_build_query(const struct dns_query_spec *spec, uint8_t *out, size_t cap, size_t *lenp)
{
    uint8_t name[DNS_MAX_NAME];
    size_t name_len, min;
    bool edns;

    int error = query_layout(spec, name, &name_len, &min, &edns);
    if (error) {
        return error;
    }
    size_t total = spec->size ? spec->size : min;
    if (total < min || total > 0xffff) {
        return EINVAL;
    }
    if (total > cap) {
        return ENOSPC;
    }

    put_be16(out, spec->id);
    put_be16(out + 2, spec->rd ? DNS_FLAG_RD : 0);
    put_be16(out + 4, 1);
    put_be16(out + 6, 0);
    put_be16(out + 8, 0);
    put_be16(out + 10, edns ? 1 : 0);
    uint8_t *p = out + DNS_HEADER_LEN;
    memcpy(p, name, name_len);
    p += name_len;
    put_be16(p, spec->qtype);
    put_be16(p + 2, DNS_CLASS_IN);
    p += 4;
    if (edns) {
        size_t rdlen = total - (p - out) - DNS_OPT_LEN;
        p[0] = 0;
        put_be16(p + 1, DNS_TYPE_OPT);
        put_be16(p + 3, DNS_EDNS_UDP_SIZE);
        put_be32(p + 5, 0);
        put_be16(p + 9, rdlen);
        p += DNS_OPT_LEN;
        if (spec->token) {
            put_be16(p, DNS_EDNS_TOKEN);
            put_be16(p + 2, spec->token_len);
            memcpy(p + 4, spec->token, spec->token_len);
            p += 4 + spec->token_len;
        }
        if (spec->size) {
            size_t pad = total - (p - out) - 4;
            put_be16(p, DNS_EDNS_PADDING);
            put_be16(p + 2, pad);
            memset(p + 4, 0, pad);
            p += 4 + pad;
        }
    }
    *lenp = p - out;
    return 0;
}

int
dns_parse_response(const uint8_t *msg, size_t len, struct dns_response *rp)
{
    struct dns_response r;
    size_t ofs = DNS_HEADER_LEN;
    size_t name_len;

    if (len < DNS_HEADER_LEN) {
        return EINVAL;
    }
    memset(&r, 0, sizeof r);
    r.id = get_be16(msg);
    r.flags = get_be16(msg + 2);
    r.rcode = r.flags & 0xf;
    uint16_t qdcount = get_be16(msg + 4);
    r.ancount = get_be16(msg + 6);
    uint16_t nscount = get_be16(msg + 8);
    uint16_t arcount = get_be16(msg + 10);
    if (!(r.flags & DNS_FLAG_QR) || qdcount > 1) {
        return EINVAL;
    }
    if (qdcount) {
        if (read_name(msg, len, &ofs, r.qname, &name_len) || len - ofs < 4) {
            return EINVAL;
        }
        r.qname_len = name_len;
        r.qtype = get_be16(msg + ofs);
        ofs += 4;
    }

    size_t n_records = (size_t) r.ancount + nscount + arcount;
    for (size_t i = 0; i < n_records; i++) {
        bool answer = i < r.ancount;
        bool additional = i >= (size_t) r.ancount + nscount;
        size_t owner_ofs = ofs;

        if (read_name(msg, len, &ofs, NULL, &name_len) || len - ofs < 10) {
            return EINVAL;
        }
        uint16_t type = get_be16(msg + ofs);
        uint16_t class = get_be16(msg + ofs + 2);
        uint32_t ttl = get_be32(msg + ofs + 4);
        size_t rdlen = get_be16(msg + ofs + 8);
        ofs += 10;
        if (len - ofs < rdlen) {
            return EINVAL;
        }
        if (type == DNS_TYPE_OPT) {
            /* One OPT, owned by the root, in the additional section only. */
            if (!additional || r.edns || msg[owner_ofs] != 0) {
                return EINVAL;
            }
            size_t opt_ofs = ofs - 10;
            struct dns_query dummy;
            if (parse_opt(msg, ofs + rdlen, &opt_ofs, &dummy)) {
                return EINVAL;
            }
            r.edns = true;
            r.rcode |= (ttl >> 24) << 4;
        } else if (class == DNS_CLASS_IN && type == DNS_TYPE_A) {
            if (rdlen != 4) {
                return EINVAL;
            }
            if (answer && r.n_addrs < DNS_MAX_ADDRS) {
                memcpy(&r.addrs[r.n_addrs], msg + ofs, 4);
                r.ttls[r.n_addrs] = ttl;
                r.n_addrs++;
            }
        } else if (type == DNS_TYPE_CNAME) {
            size_t name_ofs = ofs;
            if (read_name(msg, ofs + rdlen, &name_ofs, NULL, &name_len)
                || name_ofs != ofs + rdlen) {
                return EINVAL;
            }
        }
        ofs += rdlen;
    }
    if (ofs != len) {
        return EINVAL;
    }
    *rp = r;
    return 0;
}
