#include "vnfs/lib/nsh.h"

#include <errno.h>
#include <string.h>

#include "vnfs/lib/byteorder.h"

const char *
nsh_field_name(enum nsh_field field)
{
    switch (field) {
    case NSH_FIELD_NONE: return "none";
    case NSH_FIELD_TRUNCATED: return "truncated header";
    case NSH_FIELD_VERSION: return "version";
    case NSH_FIELD_TTL: return "ttl";
    case NSH_FIELD_LENGTH: return "length";
    case NSH_FIELD_MD_TYPE: return "md type";
    case NSH_FIELD_NEXT_PROTO: return "next protocol";
    case NSH_FIELD_TLV_HEADER: return "context header";
    case NSH_FIELD_TLV_LENGTH: return "context header length";
    }
    return "unknown";
}

static enum nsh_field
check_tlvs(const uint8_t *md, size_t md_len)
{
    size_t ofs = 0;

    while (ofs < md_len) {
        if (md_len - ofs < NSH_TLV_HDR_LEN) {
            return NSH_FIELD_TLV_HEADER;
        }
        if (nsh_tlv_wire_len(md[ofs + 3] & 0x7f) > md_len - ofs) {
            return NSH_FIELD_TLV_LENGTH;
        }
        ofs += nsh_tlv_wire_len(md[ofs + 3] & 0x7f);
    }
    return NSH_FIELD_NONE;
}

static enum nsh_field
check_header(const uint8_t *p, size_t len)
{
    size_t hlen;
    uint8_t md_type, np;

    if (len < NSH_BASE_LEN) {
        return NSH_FIELD_TRUNCATED;
    }
    if (p[0] >> 6) {
        return NSH_FIELD_VERSION;
    }
    md_type = p[2] & 0x0f;
    if (md_type != NSH_MD_TYPE_1 && md_type != NSH_MD_TYPE_2) {
        return NSH_FIELD_MD_TYPE;
    }
    hlen = (size_t) (get_be16(p) & 0x3f) * 4;
    if (md_type == NSH_MD_TYPE_1 ? hlen != 24 : hlen < NSH_BASE_LEN) {
        return NSH_FIELD_LENGTH;
    }
    if (hlen > len) {
        return NSH_FIELD_TRUNCATED;
    }
    if (!((get_be16(p) >> 6) & 0x3f)) {
        return NSH_FIELD_TTL;
    }
    np = p[3];
    if ((np < NSH_NP_IPV4 || np > NSH_NP_MPLS) && np != NSH_NP_EXPERIMENT1
        && np != NSH_NP_EXPERIMENT2) {
        return NSH_FIELD_NEXT_PROTO;
    }
    if (md_type == NSH_MD_TYPE_2) {
        return check_tlvs(p + NSH_BASE_LEN, hlen - NSH_BASE_LEN);
    }
    return NSH_FIELD_NONE;
}

int
nsh_decode(const uint8_t *p, size_t len, struct nsh_hdr *hdr, enum nsh_field *badp)
{
    enum nsh_field bad = check_header(p, len);

    if (bad != NSH_FIELD_NONE) {
        if (badp) {
            *badp = bad;
        }
        return EINVAL;
    }
    hdr->oam = p[0] & 0x20;
    hdr->ttl = (get_be16(p) >> 6) & 0x3f;
    hdr->len = (size_t) (get_be16(p) & 0x3f) * 4;
    hdr->md_type = p[2] & 0x0f;
    hdr->next_proto = p[3];
    hdr->spi = get_be32(p + 4) >> 8;
    hdr->si = p[7];
    hdr->md = p + NSH_BASE_LEN;
    hdr->md_len = hdr->len - NSH_BASE_LEN;
    return 0;
}

bool
nsh_tlv_next(const struct nsh_hdr *hdr, size_t *ofs, struct nsh_tlv *tlv)
{
    const uint8_t *p;

    if (hdr->md_type != NSH_MD_TYPE_2 || *ofs + NSH_TLV_HDR_LEN > hdr->md_len) {
        return false;
    }
    p = hdr->md + *ofs;
    tlv->md_class = get_be16(p);
    tlv->type = p[2];
    tlv->len = p[3] & 0x7f;
    tlv->value = p + NSH_TLV_HDR_LEN;
    *ofs += nsh_tlv_wire_len(tlv->len);
    return true;
}

bool
nsh_tlv_find(const struct nsh_hdr *hdr, uint16_t md_class, uint8_t type, struct nsh_tlv *out)
{
    struct nsh_tlv tlv;
    size_t ofs = 0;

    while (nsh_tlv_next(hdr, &ofs, &tlv)) {
        if (tlv.md_class == md_class && tlv.type == type) {
            *out = tlv;
            return true;
        }
    }
    return false;
}

size_t
nsh_tlv_count(const struct nsh_hdr *hdr, uint16_t md_class, uint8_t type)
{
    struct nsh_tlv tlv;
    size_t ofs = 0, n = 0;

    while (nsh_tlv_next(hdr, &ofs, &tlv)) {
        n += tlv.md_class == md_class && tlv.type == type;
    }
    return n;
}

static void
put_base(uint8_t *p, size_t hlen, uint32_t spi, uint8_t si, uint8_t ttl, uint8_t next_proto)
{
    uint16_t w = (uint16_t) (ttl & 0x3f) << 6 | (uint16_t) (hlen / 4);

    p[0] = w >> 8;
    p[1] = w;
    p[2] = NSH_MD_TYPE_2;
    p[3] = next_proto;
    put_be32(p + 4, spi << 8 | si);
}

static void
put_tlv(uint8_t *p, uint16_t md_class, uint8_t type, const void *value, size_t len)
{
    size_t wire = nsh_tlv_wire_len(len);

    p[0] = md_class >> 8;
    p[1] = md_class;
    p[2] = type;
    p[3] = len;
    if (len) {
        memcpy(p + NSH_TLV_HDR_LEN, value, len);
    }
    memset(p + NSH_TLV_HDR_LEN + len, 0, wire - NSH_TLV_HDR_LEN - len);
}

int
nsh_encode(struct buf *b, uint32_t spi, uint8_t si, uint8_t ttl, uint8_t next_proto,
           const struct nsh_tlv *tlvs, size_t n_tlvs)
{
    size_t hlen = NSH_BASE_LEN;
    uint8_t *p;

    if (spi > NSH_SPI_MAX || !ttl || ttl > NSH_TTL_MAX
        || next_proto < NSH_NP_IPV4 || next_proto > NSH_NP_MPLS) {
        return EINVAL;
    }
    for (size_t i = 0; i < n_tlvs; i++) {
        if (tlvs[i].len > NSH_TLV_MAX_VALUE) {
            return EINVAL;
        }
        hlen += nsh_tlv_wire_len(tlvs[i].len);
    }
    if (hlen > NSH_MAX_LEN) {
        return EMSGSIZE;
    }
    p = buf_put_uninit(b, hlen);
    put_base(p, hlen, spi, si, ttl, next_proto);
    p += NSH_BASE_LEN;
    for (size_t i = 0; i < n_tlvs; i++) {
        put_tlv(p, tlvs[i].md_class, tlvs[i].type, tlvs[i].value, tlvs[i].len);
        p += nsh_tlv_wire_len(tlvs[i].len);
    }
    return 0;
}

void
nsh_set_spi_si(uint8_t *nsh, uint32_t spi, uint8_t si)
{
    put_be32(nsh + 4, (spi & NSH_SPI_MAX) << 8 | si);
}

bool
nsh_dec_si(uint8_t *nsh)
{
    if (!nsh[7]) {
        return false;
    }
    nsh[7]--;
    return true;
}

bool
nsh_dec_ttl(uint8_t *nsh)
{
    uint16_t w = get_be16(nsh);
    uint8_t ttl = (w >> 6) & 0x3f;

    if (ttl <= 1) {
        return false;
    }
    w = (w & ~(0x3f << 6)) | (uint16_t) (ttl - 1) << 6;
    nsh[0] = w >> 8;
    nsh[1] = w;
    return true;
}

int
nsh_push_tlv(uint8_t **framep, size_t prefix, size_t room,
             uint16_t md_class, uint8_t type, const void *value, size_t len)
{
    uint8_t *frame = *framep;
    uint8_t *nsh = frame + prefix;
    size_t hlen = (size_t) (get_be16(nsh) & 0x3f) * 4;
    size_t wire = nsh_tlv_wire_len(len);
    uint16_t w;

    if (len > NSH_TLV_MAX_VALUE) {
        return EINVAL;
    }
    if (hlen + wire > NSH_MAX_LEN) {
        return EMSGSIZE;
    }
    if (room < wire) {
        return ENOBUFS;
    }
    memmove(frame - wire, frame, prefix + hlen);
    frame -= wire;
    nsh = frame + prefix;
    put_tlv(nsh + hlen, md_class, type, value, len);
    w = (get_be16(nsh) & ~0x3f) | (uint16_t) ((hlen + wire) / 4);
    nsh[0] = w >> 8;
    nsh[1] = w;
    *framep = frame;
    return 0;
}

void
nsh_request_id_put(uint8_t value[8], uint64_t request_id)
{
    put_be64(value, request_id);
}

bool
nsh_request_id_get(const struct nsh_hdr *hdr, uint64_t *request_id)
{
    struct nsh_tlv tlv;

    if (!nsh_tlv_find(hdr, NSH_CLASS_SFCLAB, NSH_TLV_REQUEST_ID, &tlv) || tlv.len != 8) {
        return false;
    }
    *request_id = get_be64(tlv.value);
    return true;
}

void
nsh_timestamp_put(uint8_t value[NSH_TIMESTAMP_LEN], const struct nsh_timestamp *ts)
{
    put_be32(value, ts->component);
    put_be64(value + 4, ts->t_in);
    put_be64(value + 12, ts->t_out);
}

size_t
nsh_timestamps_get(const struct nsh_hdr *hdr, struct nsh_timestamp *ts, size_t max)
{
    struct nsh_tlv tlv;
    size_t ofs = 0, n = 0;

    while (nsh_tlv_next(hdr, &ofs, &tlv)) {
        if (tlv.md_class != NSH_CLASS_SFCLAB || tlv.type != NSH_TLV_TIMESTAMP
            || tlv.len != NSH_TIMESTAMP_LEN) {
            continue;
        }
        if (n < max) {
            ts[n].component = get_be32(tlv.value);
            ts[n].t_in = get_be64(tlv.value + 4);
            ts[n].t_out = get_be64(tlv.value + 12);
        }
        n++;
    }
    return n;
}
