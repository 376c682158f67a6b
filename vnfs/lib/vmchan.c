#include "vnfs/lib/vmchan.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 5

/* Splits a copy of the line at single spaces. Returns the number of words, or -1 if the line
 * is too long, holds a byte outside printable ASCII, or has empty words. */
static int
split(const char *line, size_t len, char buf[VMCHAN_MAX_LINE + 1], char *words[MAX_WORDS])
{
    int n = 0;

    if (len == 0 || len > VMCHAN_MAX_LINE) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        if (line[i] < 0x20 || line[i] > 0x7e) {
            return -1;
        }
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    for (char *p = buf;;) {
        char *sp = strchr(p, ' ');
        if (n == MAX_WORDS || !*p || sp == p) {
            return -1;
        }
        words[n++] = p;
        if (!sp) {
            return n;
        }
        *sp = '\0';
        p = sp + 1;
    }
}

static bool
parse_ifname(const char *s, char ifname[16])
{
    size_t n = strlen(s);

    if (!n || n > 15) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    memcpy(ifname, s, n + 1);
    return true;
}

static int
hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* 'n' bytes from exactly 2n lowercase hex digits (one spelling per value). */
static bool
parse_hex(const char *s, size_t n, uint8_t *out)
{
    if (strlen(s) != 2 * n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hex(s[2 * i]), lo = hex(s[2 * i + 1]);
        if (hi < 0 || lo < 0 || isupper((unsigned char) s[2 * i])
            || isupper((unsigned char) s[2 * i + 1])) {
            return false;
        }
        out[i] = (uint8_t) (hi << 4 | lo);
    }
    return true;
}

/* A file name that stays in its directory: no '/', no ".", "..", or hidden file. */
static bool
parse_file_name(const char *s, char name[64])
{
    size_t n = strlen(s);

    if (!n || n > 63 || s[0] == '.') {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || c == '-' || c == '_' || c == '.')) {
            return false;
        }
    }
    memcpy(name, s, n + 1);
    return true;
}

/* Exactly "xx:xx:xx:xx:xx:xx". */
static bool
parse_mac(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17) {
        return false;
    }
    for (int i = 0; i < 6; i++) {
        int hi = hex(s[3 * i]), lo = hex(s[3 * i + 1]);
        if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':')) {
            return false;
        }
        mac[i] = (uint8_t) (hi << 4 | lo);
    }
    return true;
}

/* A decimal number without sign, leading zeros (but "0") or overflow, at most 'max'. */
static bool
parse_uint(const char *s, uint64_t max, uint64_t *v)
{
    uint64_t x = 0;

    if (!*s || (s[0] == '0' && s[1])) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || x > (max - (uint64_t) (*s - '0')) / 10) {
            return false;
        }
        x = x * 10 + (uint64_t) (*s - '0');
    }
    *v = x;
    return true;
}

int
vmchan_parse_request(const char *line, size_t len, struct vmchan_request *req)
{
    char buf[VMCHAN_MAX_LINE + 1], *w[MAX_WORDS];
    int n = split(line, len, buf, w);

    memset(req, 0, sizeof *req);
    if (n < 1) {
        return EINVAL;
    }
    if (!strcmp(w[0], "iface") && n == 4) {
        req->cmd = VMCHAN_IFACE;
        if (!parse_mac(w[1], req->mac) || !parse_ifname(w[2], req->ifname)) {
            return EINVAL;
        }
        if (strcmp(w[3], "-")) {
            char *slash = strchr(w[3], '/');
            uint64_t plen;
            if (!slash) {
                return EINVAL;
            }
            *slash = '\0';
            if (inet_pton(AF_INET, w[3], &req->addr) != 1 || !parse_uint(slash + 1, 32, &plen)) {
                return EINVAL;
            }
            req->has_addr = true;
            req->prefix_len = (int) plen;
        }
        return 0;
    } else if (!strcmp(w[0], "link") && n == 3) {
        req->cmd = VMCHAN_LINK;
        if (!parse_ifname(w[1], req->ifname) || (strcmp(w[2], "up") && strcmp(w[2], "down"))) {
            return EINVAL;
        }
        req->up = !strcmp(w[2], "up");
        return 0;
    } else if (!strcmp(w[0], "neigh") && n == 4) {
        req->cmd = VMCHAN_NEIGH;
        if (!parse_ifname(w[1], req->ifname) || inet_pton(AF_INET, w[2], &req->addr) != 1
            || !parse_mac(w[3], req->mac)) {
            return EINVAL;
        }
        return 0;
    } else if (!strcmp(w[0], "stats") && n == 1) {
        req->cmd = VMCHAN_STATS;
        return 0;
    } else if (!strcmp(w[0], "halt") && n == 1) {
        req->cmd = VMCHAN_HALT;
        return 0;
    } else if (!strcmp(w[0], "key") && n == 2) {
        req->cmd = VMCHAN_KEY;
        if (!parse_hex(w[1], VMCHAN_KEY_BYTES, req->key)) {
            memset(req->key, 0, sizeof req->key);
            return EINVAL;
        }
        return 0;
    } else if (!strcmp(w[0], "file") && n == 3) {
        size_t hex_len = strlen(w[2]);
        req->cmd = VMCHAN_FILE;
        if (!parse_file_name(w[1], req->file_name) || !hex_len || hex_len % 2
            || hex_len / 2 > VMCHAN_FILE_MAX_BYTES
            || !parse_hex(w[2], hex_len / 2, req->file_data)) {
            memset(req->file_data, 0, sizeof req->file_data);
            return EINVAL;
        }
        req->file_len = hex_len / 2;
        return 0;
    }
    return EINVAL;
}

int
vmchan_parse_reply(const char *line, size_t len, struct vmchan_reply *reply)
{
    char buf[VMCHAN_MAX_LINE + 1], *w[MAX_WORDS];
    int n;

    memset(reply, 0, sizeof *reply);
    /* "err N TEXT": the text may hold any number of spaces; only N matters. */
    if (len > 4 && !memcmp(line, "err ", 4)) {
        char num[16];
        size_t i = 4, j = 0;
        uint64_t code;
        while (i < len && line[i] != ' ' && j < sizeof num - 1) {
            num[j++] = line[i++];
        }
        num[j] = '\0';
        if (!parse_uint(num, 4095, &code) || !code || (i < len && line[i] != ' ')) {
            return EPROTO;
        }
        reply->error = (int) code;
        return 0;
    }
    n = split(line, len, buf, w);
    if (n < 1 || strcmp(w[0], "ok") || (n != 1 && n != 3)) {
        return EPROTO;
    }
    for (int i = 1; i < n; i++) {
        if (!parse_uint(w[i], UINT64_MAX, &reply->values[i - 1])) {
            return EPROTO;
        }
    }
    reply->n_values = (size_t) n - 1;
    return 0;
}
