/* yaml — the small layer every descriptor parser (topology, chain, experiment) stands on.
 *
 * It loads one YAML file into a libfyaml document, turns libfyaml's own syntax errors into
 * "file:line:col: message" entries of a struct diag (never stderr), and offers typed getters
 * that report a wrong type, a missing required key, an unknown key or a malformed value at the
 * offending node's location and keep going, so a parser can collect every problem of a file in
 * one pass. It knows nothing about what a descriptor means: ranges and cross references are the
 * caller's. Aliases are refused (a descriptor has no use for them, and expanding them lets a
 * tiny file grow without bound); so is a second document in one file, which would otherwise be
 * silently ignored.
 *
 * Main types: struct yaml_doc (one parsed file, its file name and its diag), and libfyaml's
 * struct fy_node for values. Strings handed out point into the document: they live as long as
 * the yaml_doc does. */
#ifndef SFC_YAML_H
#define SFC_YAML_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "testbed/model/diag.h"

struct buf;
struct fy_document;
struct fy_node;
struct fy_parser;

struct yaml_doc {
    char *file;                 /* Name used in diagnostics. */
    struct fy_document *fyd;
    struct fy_node *root;       /* NULL for an empty file. */
    struct diag *diag;          /* Not owned: where problems go. */

    /* Private. */
    char *text;                 /* The bytes libfyaml parsed; they outlive the document. */
    struct fy_parser *fyp;
};

/* The largest descriptor accepted: the biggest real one is a few KB, and a parse of this much
 * takes milliseconds and a few MB. */
#define YAML_MAX_BYTES (1024 * 1024)
/* The longest list yaml_get_list() hands out (a sweep has its own bound, EXP_MAX_POINTS). */
#define YAML_MAX_ITEMS 4096

/* Loading. Both refuse more than YAML_MAX_BYTES and bytes that are not UTF-8 text (NUL,
 * control characters, invalid sequences), at the first bad byte's file:line:col. Both report
 * every problem (unreadable file, syntax error, alias, second document)
 * through 'diag' and return EINVAL (or the errno of reading) with '*docp' untouched, or 0 with
 * a document the caller frees with yaml_doc_free(). 'name' is the file name diagnostics use. */
int yaml_doc_load(const char *file, struct diag *, struct yaml_doc **docp);
int yaml_doc_load_string(const char *name, const char *data, size_t len, struct diag *,
                         struct yaml_doc **docp);
void yaml_doc_free(struct yaml_doc *);

/* Where a node starts in the file (1-based). A NULL node gives the file alone. */
void yaml_node_loc(struct yaml_doc *, struct fy_node *, struct loc *);
/* Reports a problem at 'node' (at the file when 'node' is NULL). */
void yaml_error(struct yaml_doc *, struct fy_node *, const char *fmt, ...) PRINTF_FORMAT(3, 4);

/* True for YAML's null: no node, "~", "null" or an empty plain scalar. */
bool yaml_node_is_null(struct fy_node *);

/* What a node is, in the words diagnostics use: "a mapping", "a list", "a string", "nothing". */
const char *yaml_node_kind(struct fy_node *);

/* Reports unless 'node' is a mapping (a list) and says what 'what' should have been
 * ("'guests' must be a list, not a mapping"). */
bool yaml_expect_map(struct yaml_doc *, struct fy_node *, const char *what);
bool yaml_expect_list(struct yaml_doc *, struct fy_node *, const char *what);

/* Reports every key of 'map' not in the NULL-terminated 'keys' ("unknown key 'cpu' (expected one
 * of: name, provider, cpus, memory)") and every key that is not a string. Returns true if all
 * keys are known. */
bool yaml_map_check_keys(struct yaml_doc *, struct fy_node *map, const char *const keys[]);

/* The value of 'key' in 'map', or NULL when absent or null ("key:" with nothing after it). */
struct fy_node *yaml_map_get(struct fy_node *map, const char *key);
/* The key node of 'key' in 'map' (for locating "missing value" problems), or NULL. */
struct fy_node *yaml_map_get_key(struct fy_node *map, const char *key);
/* True if 'map' has 'key' at all, even with a null value. */
bool yaml_map_has(struct fy_node *map, const char *key);

/* Iterates a list: 'node' starts NULL; a NULL 'list' is an empty list. */
struct fy_node *yaml_list_next(struct fy_node *list, struct fy_node *node, void **iter);
size_t yaml_list_count(struct fy_node *list);

/* Typed getters of map[key]. Each returns:
 *   0       the value was there and valid, and is stored in '*out';
 *   0       the key is absent and YAML_OPTIONAL: '*out' is untouched (so it can hold a default);
 *   ENOENT  the key is absent and YAML_REQUIRED ("missing required key 'name'", reported at 'map');
 *   EINVAL  the value has the wrong type or is malformed (reported at the value).
 * A key present with a null value counts as absent, except for lists, where it is an empty
 * list. On any error '*out' is untouched. */
enum yaml_need { YAML_OPTIONAL, YAML_REQUIRED };

int yaml_get_string(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                    const char **out);
int yaml_get_number(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                    double *out);
int yaml_get_uint(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                  uint64_t *out);
int yaml_get_bool(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                  bool *out);
/* "256M", "1G", "4096": bytes (parse_size). */
int yaml_get_size(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                  uint64_t *out);
/* "250ms", "1.5s", "30us": nanoseconds (parse_duration). */
int yaml_get_duration(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                      uint64_t *out);
/* "100mbit", "1gbit": bits per second (parse_rate). */
int yaml_get_rate(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                  uint64_t *out);
/* "0.1%": a fraction (0.001). The '%' is required, so "loss: 1" cannot mean 1% and 100% at once.
 * Range is the caller's. */
int yaml_get_percent(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                     double *out);
/* A list (or null: an empty list, '*out' set to NULL). */
int yaml_get_list(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                  struct fy_node **out);
int yaml_get_map(struct yaml_doc *, struct fy_node *map, const char *key, enum yaml_need,
                 struct fy_node **out);

/* The string of a scalar node, or NULL (reported as "'what' must be a string, not a list") when
 * it is not one or holds a NUL byte. */
const char *yaml_scalar(struct yaml_doc *, struct fy_node *, const char *what);

/* Canonical spellings of values the getters accept, so dumps read back to the same values. */
void yaml_format_number(struct buf *, double);
void yaml_format_size(struct buf *, uint64_t bytes);
void yaml_format_duration(struct buf *, uint64_t ns);
void yaml_format_rate(struct buf *, uint64_t bps);
void yaml_format_percent(struct buf *, double fraction);

#endif
