#include "testbed/model/yaml.h"

#include <errno.h>
#include <libfyaml.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vnfs/lib/buf.h"

/* libfyaml 0.7 exports no node start mark, but its diagnostics know where a node starts: asking
 * a collecting fy_diag to "report" the node and reading back the collected entry is the public
 * way to learn a node's line and column. */
static struct fy_diag *
collecting_diag_create(void)
{
    struct fy_diag_cfg cfg;
    struct fy_diag *fdiag;

    fy_diag_cfg_default(&cfg);
    cfg.fp = NULL;
    cfg.output_fn = NULL;
    cfg.level = FYET_ERROR;
    cfg.colorize = false;
    fdiag = fy_diag_create(&cfg);
    if (!fdiag) {
        sfc_abort("libfyaml: cannot create a diagnostic object");
    }
    fy_diag_set_collect_errors(fdiag, true);
    return fdiag;
}

/* Moves libfyaml's collected syntax errors, past the first 'skip', into 'diag'. Returns how many
 * errors were collected in all (an iterator that ran off the end restarts, so count instead). */
static size_t
report_fy_errors(struct fy_diag *fdiag, size_t skip, const char *file, struct diag *diag)
{
    struct fy_diag_error *err;
    void *iter = NULL;
    size_t n = 0;

    while ((err = fy_diag_errors_iterate(fdiag, &iter)) != NULL) {
        struct loc loc = { file, err->line > 0 ? err->line : 0, err->column > 0 ? err->column : 0 };

        if (err->type < FYET_ERROR) {
            continue;
        }
        if (n++ >= skip) {
            diag_error(diag, &loc, "%s", err->msg && err->msg[0] ? err->msg : "syntax error");
        }
    }
    return n;
}

/* A descriptor has no use for aliases, and expanding them lets a few lines grow without bound. */
static void
reject_aliases(struct yaml_doc *doc, struct fy_node *node)
{
    struct fy_node_pair *pair;
    struct fy_node *item;
    void *iter = NULL;

    if (!node) {
        return;
    }
    switch (fy_node_get_type(node)) {
    case FYNT_SCALAR:
        if (fy_node_is_alias(node)) {
            yaml_error(doc, node, "aliases are not supported");
        }
        break;
    case FYNT_SEQUENCE:
        while ((item = fy_node_sequence_iterate(node, &iter)) != NULL) {
            reject_aliases(doc, item);
        }
        break;
    case FYNT_MAPPING:
        while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
            reject_aliases(doc, fy_node_pair_key(pair));
            reject_aliases(doc, fy_node_pair_value(pair));
        }
        break;
    }
}

/* Reports every key of a mapping that an earlier key of it already has (scalar keys, by
 * text), anywhere under 'node': a hash set per mapping, so a hostile file of 100,000 keys takes
 * milliseconds. */
static void
reject_duplicates(struct yaml_doc *doc, struct fy_node *node)
{
    struct fy_node_pair *pair;
    struct fy_node *item;
    void *iter = NULL;

    if (!node || fy_node_is_alias(node)) {
        return;
    }
    if (fy_node_is_sequence(node)) {
        while ((item = fy_node_sequence_iterate(node, &iter)) != NULL) {
            reject_duplicates(doc, item);
        }
        return;
    }
    if (!fy_node_is_mapping(node)) {
        return;
    }
    size_t n = fy_node_mapping_item_count(node), cap = 16;
    struct fy_node **slots;

    while (cap < 2 * n) {
        cap *= 2;
    }
    slots = xcalloc(cap, sizeof *slots);
    while ((pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        struct fy_node *key = fy_node_pair_key(pair);
        const char *text;
        size_t len;
        uint64_t h = 14695981039346656037ull;

        reject_duplicates(doc, fy_node_pair_value(pair));
        if (!key || !fy_node_is_scalar(key) || fy_node_is_alias(key)
            || !(text = fy_node_get_scalar(key, &len))) {
            continue;
        }
        for (size_t i = 0; i < len; i++) {
            h = (h ^ (uint8_t) text[i]) * 1099511628211ull;
        }
        for (size_t i = h & (cap - 1); ; i = (i + 1) & (cap - 1)) {
            const char *other;
            size_t other_len;

            if (!slots[i]) {
                slots[i] = key;
                break;
            }
            other = fy_node_get_scalar(slots[i], &other_len);
            if (other_len == len && !memcmp(other, text, len)) {
                struct loc first;

                yaml_node_loc(doc, slots[i], &first);
                yaml_error(doc, key, "duplicate key '%.*s' (first at line %d)", (int) MIN(len, 64),
                           text, first.line);
                break;
            }
        }
    }
    free(slots);
}

static void
doc_destroy(struct yaml_doc *doc)
{
    if (doc->fyd) {
        fy_parse_document_destroy(doc->fyp, doc->fyd);
    }
    if (doc->fyp) {
        fy_parser_destroy(doc->fyp);
    }
    free(doc->text);
    free(doc->file);
    free(doc);
}

/* Refuses what is not a descriptor before the parser sees it: more than YAML_MAX_BYTES, or
 * bytes that are not UTF-8 text (a NUL, a control character other than tab and line ends,
 * an invalid or overlong sequence, a surrogate), reported at the first bad byte's line and
 * column (in characters). libfyaml would call a binary file empty, or take it for a document
 * with a missing key. */
static bool
check_text(const char *name, const uint8_t *p, size_t len, struct diag *diag)
{
    int line = 1, col = 1;
    size_t i = 0;

    if (len > YAML_MAX_BYTES) {
        diag_error(diag, &(struct loc) { name, 0, 0 }, "%zu bytes: a descriptor may have at "
                   "most %d (1 MiB)", len, YAML_MAX_BYTES);
        return false;
    }
    while (i < len) {
        uint8_t c = p[i];
        size_t n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
                   : (c & 0xf8) == 0xf0 ? 4 : 0;
        uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
        struct loc loc = { name, line, col };

        if (!c) {
            diag_error(diag, &loc, "NUL byte: a descriptor is UTF-8 text, and this looks "
                       "like a binary file");
            return false;
        }
        if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
            diag_error(diag, &loc, "control character 0x%02x: a descriptor is UTF-8 text, and "
                       "this looks like a binary file", c);
            return false;
        }
        for (size_t k = 1; k < n; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80) {
                n = 0;
                break;
            }
            cp = cp << 6 | (p[i + k] & 0x3f);
        }
        if (!n || (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)
            || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            diag_error(diag, &loc, "invalid UTF-8 (byte 0x%02x): a descriptor is UTF-8 text (is this a "
                       "binary file, or another encoding?)", c);
            return false;
        }
        if (c == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
        i += n;
    }
    return true;
}

int
yaml_doc_load_string(const char *name, const char *data, size_t len, struct diag *diag,
                     struct yaml_doc **docp)
{
    struct fy_document *extra = NULL;
    struct fy_diag *parse_diag;
    struct fy_parse_cfg cfg;
    struct yaml_doc *doc;
    size_t n_before = diag->n;
    size_t n_fy_errors;
    int error = 0;

    if (!check_text(name, (const uint8_t *) data, len, diag)) {
        return EINVAL;
    }
    doc = xzalloc(sizeof *doc);
    doc->file = xstrdup(name);
    doc->diag = diag;
    doc->text = xmalloc(len + 1);
    memcpy(doc->text, data, len);
    doc->text[len] = '\0';

    parse_diag = collecting_diag_create();
    memset(&cfg, 0, sizeof cfg);
    /* libfyaml's own duplicate-key check is quadratic in a mapping's size (20,000 keys: 55 s);
     * reject_duplicates() does it in linear time. */
    cfg.flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_JSON_NONE | FYPCF_ALLOW_DUPLICATE_KEYS;
    cfg.diag = parse_diag;
    doc->fyp = fy_parser_create(&cfg);
    if (!doc->fyp || fy_parser_set_string(doc->fyp, doc->text, len)) {
        diag_error(diag, &(struct loc) { name, 0, 0 }, "cannot start the YAML parser");
        error = ENOMEM;
        goto out;
    }

    doc->fyd = fy_parse_load_document(doc->fyp);
    n_fy_errors = report_fy_errors(parse_diag, 0, name, diag);
    if (doc->fyd && !n_fy_errors) {
        /* A second document would be silently ignored otherwise. */
        extra = fy_parse_load_document(doc->fyp);
        report_fy_errors(parse_diag, n_fy_errors, name, diag);
    }
    if (extra) {
        struct fy_node *extra_root = fy_document_root(extra);

        if (extra_root) {
            yaml_error(doc, extra_root, "only one YAML document per file is allowed");
        } else {
            yaml_error(doc, NULL, "only one YAML document per file is allowed");
        }
        fy_parse_document_destroy(doc->fyp, extra);
    }
    if (diag->n == n_before && doc->fyd) {
        doc->root = fy_document_root(doc->fyd);
        reject_aliases(doc, doc->root);
        reject_duplicates(doc, doc->root);
    }
    if (diag->n != n_before) {
        error = EINVAL;
    }

out:
    fy_diag_destroy(parse_diag);
    if (error) {
        doc_destroy(doc);
    } else {
        *docp = doc;
    }
    return error;
}

int
yaml_doc_load(const char *file, struct diag *diag, struct yaml_doc **docp)
{
    struct stat st;
    char *data;
    size_t len;
    int error;

    /* Never read more than a descriptor may hold: a huge file is refused unread. */
    if (!stat(file, &st) && S_ISREG(st.st_mode) && st.st_size > YAML_MAX_BYTES) {
        diag_error(diag, &(struct loc) { file, 0, 0 }, "%lld bytes: a descriptor may have at "
                   "most %d (1 MiB)", (long long) st.st_size, YAML_MAX_BYTES);
        return EINVAL;
    }
    error = read_file(file, &data, &len);
    if (error) {
        diag_error(diag, &(struct loc) { file, 0, 0 }, "cannot read: %s", strerror(error));
        return error;
    }
    error = yaml_doc_load_string(file, data, len, diag, docp);
    free(data);
    return error;
}

void
yaml_doc_free(struct yaml_doc *doc)
{
    if (doc) {
        doc_destroy(doc);
    }
}

/* The first child of a collection, to locate a collection libfyaml cannot. */
static struct fy_node *
first_child(struct fy_node *node)
{
    struct fy_node_pair *pair;
    void *iter = NULL;

    if (fy_node_is_sequence(node)) {
        return fy_node_sequence_iterate(node, &iter);
    }
    if (fy_node_is_mapping(node) && (pair = fy_node_mapping_iterate(node, &iter)) != NULL) {
        return fy_node_pair_key(pair) ? fy_node_pair_key(pair) : fy_node_pair_value(pair);
    }
    return NULL;
}

/* What libfyaml's report of a node says: its first line, "FILE:LINE:COL: error: here". */
struct node_report {
    int line, col;
    bool placed, seen;
};

static void
node_report_output(struct fy_diag *fdiag, void *user, const char *buf, size_t len)
{
    struct node_report *r = user;
    const char *end = memmem(buf, len, ": error: here", 13);
    const char *p;
    int line, col;

    if (r->seen || !end) {
        return;
    }
    r->seen = true;
    /* Back over ":LINE:COL" to the file name. A collection the sweep appended a pair to
     * (experiment.c's set_path()) is re-emitted by libfyaml as text of no file, "(null)":
     * where it says is not in the user's file. */
    for (p = end; p > buf && p[-1] != ' ' && p[-1] != '\n'; p--) {
        continue;
    }
    while (p < end && !(p[0] == ':' && sscanf(p, ":%d:%d: error: here", &line, &col) == 2)) {
        p++;
    }
    if (p < end && !(p - buf >= 6 && !strncmp(p - 6, "(null)", 6))) {
        r->line = line;
        r->col = col;
        r->placed = true;
    }
}

/* Where libfyaml places 'node', through a report of its own (an output callback, not error
 * collection: collecting a report on a node of no file crashes libfyaml). False if it cannot
 * say. */
static bool
fy_node_position(struct fy_node *node, int *line, int *col)
{
    struct node_report r = { 0, 0, false, false };
    struct fy_diag_cfg cfg;
    struct fy_diag *locator;

    fy_diag_cfg_default(&cfg);
    cfg.fp = NULL;
    cfg.output_fn = node_report_output;
    cfg.user = &r;
    cfg.level = FYET_ERROR;
    cfg.colorize = false;
    cfg.show_source = false;
    locator = fy_diag_create(&cfg);
    if (!locator) {
        sfc_abort("libfyaml: cannot create a diagnostic object");
    }
    fy_diag_node_report(locator, node, FYET_ERROR, "here");
    fy_diag_destroy(locator);
    if (r.placed && r.line > 0) {
        *line = r.line;
        *col = r.col > 0 ? r.col : 1;
    }
    return r.placed && r.line > 0;
}

/* Places 'node', or else its first descendant along first children. */
static bool
fy_node_position_down(struct fy_node *node, int *line, int *col)
{
    for (int depth = 0; node && depth < 64; depth++) {
        if (fy_node_position(node, line, col)) {
            if (fy_node_is_alias(node) && *col > 1) {
                (*col)--;       /* libfyaml places an alias at its name, past the '*'. */
            }
            return true;
        }
        node = first_child(node);
    }
    return false;
}

void
yaml_node_loc(struct yaml_doc *doc, struct fy_node *node, struct loc *loc)
{
    loc->file = doc->file;
    loc->line = loc->col = 0;

    /* libfyaml cannot place an empty scalar, nor a collection whose last value is one ("key:" at
     * its end). Such a collection starts where its first child does (the same place in block
     * style); an empty scalar is reported at the nearest ancestor that can be placed. */
    for (int depth = 0; node && depth < 64; depth++) {
        if (fy_node_position_down(node, &loc->line, &loc->col)) {
            return;
        }
        node = fy_node_get_parent(node);
    }
}

void
yaml_error(struct yaml_doc *doc, struct fy_node *node, const char *fmt, ...)
{
    struct loc loc;
    va_list args;
    char *msg;

    if (doc->diag->n >= DIAG_MAX_MSGS) {
        doc->diag->n_dropped++;        /* Not even placed: that costs a libfyaml report. */
        return;
    }
    yaml_node_loc(doc, node, &loc);
    va_start(args, fmt);
    msg = xvasprintf(fmt, args);
    va_end(args);
    diag_error(doc->diag, &loc, "%s", msg);
    free(msg);
}

/* "~", "null" and an empty plain scalar are YAML's null. */
bool
yaml_node_is_null(struct fy_node *node)
{
    const char *s;
    size_t len;

    if (!node) {
        return true;
    }
    if (!fy_node_is_scalar(node) || fy_node_is_alias(node)
        || fy_node_get_style(node) != FYNS_PLAIN) {
        return false;
    }
    s = fy_node_get_scalar(node, &len);
    return (!s || !len || (len == 1 && s[0] == '~')
            || (len == 4 && (!memcmp(s, "null", 4) || !memcmp(s, "Null", 4)
                             || !memcmp(s, "NULL", 4))));
}

const char *
yaml_node_kind(struct fy_node *node)
{
    if (yaml_node_is_null(node)) {
        return "nothing";
    }
    switch (fy_node_get_type(node)) {
    case FYNT_MAPPING:
        return "a mapping";
    case FYNT_SEQUENCE:
        return "a list";
    case FYNT_SCALAR:
    default:
        return fy_node_is_alias(node) ? "an alias" : "a string";
    }
}

bool
yaml_expect_map(struct yaml_doc *doc, struct fy_node *node, const char *what)
{
    if (node && fy_node_is_mapping(node)) {
        return true;
    }
    yaml_error(doc, node, "%s must be a mapping, not %s", what, yaml_node_kind(node));
    return false;
}

bool
yaml_expect_list(struct yaml_doc *doc, struct fy_node *node, const char *what)
{
    if (node && fy_node_is_sequence(node)) {
        return true;
    }
    yaml_error(doc, node, "%s must be a list, not %s", what, yaml_node_kind(node));
    return false;
}

/* The text of a string key, or NULL. */
static const char *
key_text(struct fy_node *key, size_t *lenp)
{
    if (!key || !fy_node_is_scalar(key) || fy_node_is_alias(key)) {
        return NULL;
    }
    return fy_node_get_scalar(key, lenp);
}

static struct fy_node_pair *
map_lookup(struct fy_node *map, const char *key)
{
    struct fy_node_pair *pair;
    size_t key_len = strlen(key);
    void *iter = NULL;

    if (!map || !fy_node_is_mapping(map)) {
        return NULL;
    }
    while ((pair = fy_node_mapping_iterate(map, &iter)) != NULL) {
        size_t len;
        const char *s = key_text(fy_node_pair_key(pair), &len);

        if (s && len == key_len && !memcmp(s, key, len)) {
            return pair;
        }
    }
    return NULL;
}

bool
yaml_map_check_keys(struct yaml_doc *doc, struct fy_node *map, const char *const keys[])
{
    struct fy_node_pair *pair;
    void *iter = NULL;
    bool ok = true;

    if (!map || !fy_node_is_mapping(map)) {
        return true;
    }
    while ((pair = fy_node_mapping_iterate(map, &iter)) != NULL) {
        struct fy_node *key = fy_node_pair_key(pair);
        const char *s;
        size_t len;
        size_t i;

        s = key_text(key, &len);
        if (!s || yaml_node_is_null(key)) {
            struct loc loc;

            /* A null key has no position of its own: fall back to its mapping's. */
            yaml_node_loc(doc, key, &loc);
            if (!loc.line) {
                yaml_node_loc(doc, map, &loc);
            }
            diag_error(doc->diag, &loc, "keys must be strings, not %s", yaml_node_kind(key));
            ok = false;
            continue;
        }
        for (i = 0; keys[i]; i++) {
            if (strlen(keys[i]) == len && !memcmp(keys[i], s, len)) {
                break;
            }
        }
        if (!keys[i]) {
            struct buf expected = BUF_INITIALIZER;

            for (i = 0; keys[i]; i++) {
                buf_printf(&expected, "%s%s", i ? ", " : "", keys[i]);
            }
            buf_put_u8(&expected, '\0');
            yaml_error(doc, key, "unknown key '%.*s' (expected one of: %s)",
                       (int) MIN(len, 200), s, (char *) expected.data);
            buf_uninit(&expected);
            ok = false;
        }
    }
    return ok;
}

struct fy_node *
yaml_map_get(struct fy_node *map, const char *key)
{
    struct fy_node_pair *pair = map_lookup(map, key);
    struct fy_node *value = pair ? fy_node_pair_value(pair) : NULL;

    return yaml_node_is_null(value) ? NULL : value;
}

struct fy_node *
yaml_map_get_key(struct fy_node *map, const char *key)
{
    struct fy_node_pair *pair = map_lookup(map, key);

    return pair ? fy_node_pair_key(pair) : NULL;
}

bool
yaml_map_has(struct fy_node *map, const char *key)
{
    return map_lookup(map, key) != NULL;
}

struct fy_node *
yaml_list_next(struct fy_node *list, struct fy_node *node, void **iter)
{
    if (!list || !fy_node_is_sequence(list)) {
        return NULL;
    }
    if (!node) {
        *iter = NULL;
    }
    return fy_node_sequence_iterate(list, iter);
}

size_t
yaml_list_count(struct fy_node *list)
{
    int n = list && fy_node_is_sequence(list) ? fy_node_sequence_item_count(list) : 0;

    return n > 0 ? n : 0;
}

const char *
yaml_scalar(struct yaml_doc *doc, struct fy_node *node, const char *what)
{
    const char *s;
    size_t len;

    if (!node || !fy_node_is_scalar(node) || fy_node_is_alias(node)) {
        yaml_error(doc, node, "'%s' must be a string, not %s", what, yaml_node_kind(node));
        return NULL;
    }
    s = fy_node_get_scalar(node, &len);
    if (s && memchr(s, '\0', len)) {
        yaml_error(doc, node, "'%s' must not contain a NUL byte", what);
        return NULL;
    }
    s = fy_node_get_scalar0(node);
    if (!s) {
        sfc_abort("libfyaml: out of memory");
    }
    return s;
}

/* Finds map[key] for a getter: 0 with '*valuep' set, 0 with NULL when absent and optional,
 * ENOENT (reported) when absent and required. */
static int
get_value(struct yaml_doc *doc, struct fy_node *map, const char *key, enum yaml_need need,
          struct fy_node **valuep)
{
    struct fy_node *value = yaml_map_get(map, key);

    if (!value && need == YAML_REQUIRED) {
        struct fy_node *key_node = yaml_map_get_key(map, key);

        if (key_node) {
            yaml_error(doc, key_node, "missing value for '%s'", key);
        } else {
            yaml_error(doc, map, "missing required key '%s'", key);
        }
        return ENOENT;
    }
    *valuep = value;
    return 0;
}

/* The scalar text of map[key] for a getter; reports a non-scalar as "must be 'kind'". */
static int
get_text(struct yaml_doc *doc, struct fy_node *map, const char *key, enum yaml_need need,
         const char *kind, struct fy_node **valuep, const char **textp)
{
    struct fy_node *value;
    const char *s;
    size_t len;
    int error;

    error = get_value(doc, map, key, need, &value);
    if (error || !value) {
        *textp = NULL;
        return error;
    }
    if (!fy_node_is_scalar(value) || fy_node_is_alias(value)) {
        yaml_error(doc, value, "'%s' must be %s, not %s", key, kind, yaml_node_kind(value));
        return EINVAL;
    }
    s = fy_node_get_scalar(value, &len);
    if (s && memchr(s, '\0', len)) {
        yaml_error(doc, value, "'%s' must not contain a NUL byte", key);
        return EINVAL;
    }
    s = fy_node_get_scalar0(value);
    if (!s) {
        sfc_abort("libfyaml: out of memory");
    }
    *valuep = value;
    *textp = s;
    return 0;
}

int
yaml_get_string(struct yaml_doc *doc, struct fy_node *map, const char *key, enum yaml_need need,
                const char **out)
{
    struct fy_node *value;
    const char *s;
    int error;

    error = get_text(doc, map, key, need, "a string", &value, &s);
    if (!error && s) {
        *out = s;
    }
    return error;
}

/* strtod() also takes "inf", "nan", hex and leading blanks; a descriptor's number does not. */
static bool
parse_number(const char *s, double *out)
{
    char *end;
    double v;

    if (!*s || strspn(s, "0123456789+-.eE") != strlen(s)) {
        return false;
    }
    errno = 0;
    v = strtod(s, &end);
    if (*end || errno || !isfinite(v)) {
        return false;
    }
    *out = v;
    return true;
}

/* The common shape of a getter whose value is a scalar parsed by 'parse'. */
#define SCALAR_GETTER(NAME, TYPE, KIND, WHAT, PARSE)                                    \
    int                                                                                 \
    NAME(struct yaml_doc *doc, struct fy_node *map, const char *key,                    \
         enum yaml_need need, TYPE *out)                                                \
    {                                                                                   \
        struct fy_node *value;                                                          \
        const char *s;                                                                  \
        TYPE v;                                                                         \
        int error;                                                                      \
                                                                                        \
        error = get_text(doc, map, key, need, KIND, &value, &s);                        \
        if (error || !s) {                                                              \
            return error;                                                               \
        }                                                                               \
        if (!PARSE(s, &v)) {                                                            \
            yaml_error(doc, value, "'%s' must be %s, not '%s'", key, WHAT, s);          \
            return EINVAL;                                                              \
        }                                                                               \
        *out = v;                                                                       \
        return 0;                                                                       \
    }

static bool
parse_uint(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (!*s || strspn(s, "0123456789") != strlen(s)) {
        return false;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end || errno) {
        return false;
    }
    *out = v;
    return true;
}

static bool
parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
        *out = true;
        return true;
    }
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
        *out = false;
        return true;
    }
    return false;
}

static bool
parse_percent(const char *s, double *out)
{
    size_t len = strlen(s);
    char *number;
    double v;
    bool ok;

    if (len < 2 || s[len - 1] != '%') {
        return false;
    }
    number = xmalloc(len);
    memcpy(number, s, len - 1);
    number[len - 1] = '\0';
    ok = parse_number(number, &v);
    free(number);
    if (ok) {
        *out = v / 100.0;
    }
    return ok;
}

SCALAR_GETTER(yaml_get_number, double, "a number", "a number", parse_number)
SCALAR_GETTER(yaml_get_uint, uint64_t, "an integer", "a non-negative integer", parse_uint)
SCALAR_GETTER(yaml_get_bool, bool, "true or false", "true or false", parse_bool)
SCALAR_GETTER(yaml_get_size, uint64_t, "a size", "a size such as 256M or 1G", parse_size)
SCALAR_GETTER(yaml_get_duration, uint64_t, "a duration",
              "a duration such as 250ms or 1.5s", parse_duration)
SCALAR_GETTER(yaml_get_rate, uint64_t, "a rate", "a rate such as 100mbit or 1gbit", parse_rate)
SCALAR_GETTER(yaml_get_percent, double, "a percentage", "a percentage such as 0.1%",
              parse_percent)

int
yaml_get_list(struct yaml_doc *doc, struct fy_node *map, const char *key, enum yaml_need need,
              struct fy_node **out)
{
    struct fy_node *value;
    int error;

    if (yaml_map_has(map, key) && !yaml_map_get(map, key)) {
        *out = NULL;            /* "key:" with nothing after it: an empty list. */
        return 0;
    }
    error = get_value(doc, map, key, need, &value);
    if (error || !value) {
        return error;
    }
    if (!fy_node_is_sequence(value)) {
        yaml_error(doc, value, "'%s' must be a list, not %s", key, yaml_node_kind(value));
        return EINVAL;
    }
    if (yaml_list_count(value) > YAML_MAX_ITEMS) {
        /* Said once, before a check of each item: 100,000 of them took minutes. */
        yaml_error(doc, value, "'%s' has %zu items: a descriptor's list may have at most %d",
                   key, yaml_list_count(value), YAML_MAX_ITEMS);
        return EINVAL;
    }
    *out = value;
    return 0;
}

int
yaml_get_map(struct yaml_doc *doc, struct fy_node *map, const char *key, enum yaml_need need,
             struct fy_node **out)
{
    struct fy_node *value;
    int error;

    error = get_value(doc, map, key, need, &value);
    if (error || !value) {
        return error;
    }
    if (!fy_node_is_mapping(value)) {
        yaml_error(doc, value, "'%s' must be a mapping, not %s", key, yaml_node_kind(value));
        return EINVAL;
    }
    *out = value;
    return 0;
}

/* The fewest decimals (up to 15) that read back as 'v', without an exponent, so 0.1 prints as
 * "0.1", 100 as "100", and a product such as 0.001 * 100 without its rounding noise. */
void
yaml_format_number(struct buf *b, double v)
{
    char s[400];

    for (int decimals = 0; decimals <= 15; decimals++) {
        snprintf(s, sizeof s, "%.*f", decimals, v);
        if (strtod(s, NULL) == v) {
            buf_printf(b, "%s", s);
            return;
        }
    }
    buf_printf(b, "%.15g", v);     /* Tiny values or noise past 15 decimals. */
}

struct unit {
    const char *name;
    uint64_t mult;
};

/* The largest unit that divides 'v' exactly. */
static void
format_units(struct buf *b, uint64_t v, const struct unit *units, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (v && !(v % units[i].mult)) {
            buf_printf(b, "%llu%s", (unsigned long long) (v / units[i].mult), units[i].name);
            return;
        }
    }
    buf_printf(b, "%llu%s", (unsigned long long) v, units[n - 1].name);
}

void
yaml_format_size(struct buf *b, uint64_t bytes)
{
    static const struct unit units[] = {
        { "G", 1ull << 30 }, { "M", 1ull << 20 }, { "K", 1ull << 10 }, { "", 1 },
    };
    format_units(b, bytes, units, ARRAY_SIZE(units));
}

void
yaml_format_duration(struct buf *b, uint64_t ns)
{
    static const struct unit units[] = {
        { "s", 1000000000ull }, { "ms", 1000000ull }, { "us", 1000ull }, { "ns", 1 },
    };
    format_units(b, ns, units, ARRAY_SIZE(units));
}

void
yaml_format_rate(struct buf *b, uint64_t bps)
{
    static const struct unit units[] = {
        { "gbit", 1000000000ull }, { "mbit", 1000000ull }, { "kbit", 1000ull }, { "bit", 1 },
    };
    format_units(b, bps, units, ARRAY_SIZE(units));
}

void
yaml_format_percent(struct buf *b, double fraction)
{
    yaml_format_number(b, fraction * 100.0);
    buf_put_u8(b, '%');
}
