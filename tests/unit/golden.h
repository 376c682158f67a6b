/* golden — the golden-fixture runner of the unit tests: every DIR/NAME.yaml is turned into text
 * by the test's own function (its diagnostics, or a dump when it is valid) and compared with
 * DIR/NAME.expected. With REGENERATE=1 in the environment the .expected files are rewritten
 * instead, for review. Run from the repository root.
 *
 * Header-only, every function static: each tests/unit/test_*.c is a binary of its own and links
 * nothing else. It knows nothing of what a fixture describes. Main type: golden_output_fn. */
#ifndef TESTS_UNIT_GOLDEN_H
#define TESTS_UNIT_GOLDEN_H 1

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

/* What fixture 'path' produces, as a string the caller frees; '*validp' says whether it loaded.
 * It may fail the test itself (cmocka asserts) when the loader breaks its contract. */
typedef char *golden_output_fn(const char *path, bool *validp);

/* Ends 'b' with a NUL and hands its bytes over as a string. */
static inline char *
golden_buf_string(struct buf *b)
{
    buf_put_u8(b, '\0');
    return (char *) buf_steal(b, NULL);
}

/* A list of names a registry generates (the providers, the schemes...), as error messages
 * print it: "(expected one of: LIST)". The .expected files hold "(expected one of: @NAME@)"
 * instead, so that a new provider or scheme is a file and a registry line, not also a
 * regeneration of every fixture that names them all. Only the registry's exact list is
 * replaced: a message with another list still differs. */
struct golden_list {
    const char *name;                   /* "PROVIDERS". */
    const char *list;                   /* guest_provider_names(). */
};

static const struct golden_list *golden_lists;
static size_t golden_n_lists;

/* Sets the lists golden_check() replaces (the array must outlive the checks). */
static inline void
golden_set_lists(const struct golden_list *lists, size_t n)
{
    golden_lists = lists;
    golden_n_lists = n;
}

/* 'text' with every registry list replaced by its placeholder, as a new string. */
static inline char *
golden_replace_lists(const char *text)
{
    char *out = xstrdup(text);

    for (size_t i = 0; i < golden_n_lists; i++) {
        char *needle = xasprintf("expected one of: %s)", golden_lists[i].list);
        char *with = xasprintf("expected one of: @%s@)", golden_lists[i].name);
        struct buf b;
        const char *at, *from = out;

        buf_init(&b);
        while ((at = strstr(from, needle))) {
            buf_put(&b, from, at - from);
            buf_put(&b, with, strlen(with));
            from = at + strlen(needle);
        }
        buf_put(&b, from, strlen(from));
        free(out);
        out = golden_buf_string(&b);
        free(needle);
        free(with);
    }
    return out;
}

/* Compares 'actual', what fixture 'path' produced, with the file 'expected_path'; with
 * REGENERATE=1 in the environment rewrites that file instead. Reports a difference or a
 * missing file and returns false. Registry lists are compared as placeholders
 * (golden_set_lists()). */
static inline bool
golden_check(const char *path, const char *expected_path, const char *actual_)
{
    const char *regenerate = getenv("REGENERATE");
    char *actual = golden_replace_lists(actual_);
    char *expected = NULL;
    bool ok = true;

    if (regenerate && !strcmp(regenerate, "1")) {
        FILE *f = fopen(expected_path, "w");

        assert_non_null(f);
        fputs(actual, f);
        assert_int_equal(fclose(f), 0);
    } else if (read_file(expected_path, &expected, NULL)) {
        print_error("%s: missing (run with REGENERATE=1 and review)\n", expected_path);
        ok = false;
    } else if (strcmp(expected, actual)) {
        print_error("%s: output differs\n--- expected\n%s--- actual\n%s", path, expected,
                    actual);
        ok = false;
    }
    free(expected);
    free(actual);
    return ok;
}

/* Runs 'output' on every .yaml file of 'dir' (sorted), compares each with its .expected and fails the
 * test after reporting every difference. With 'named', a fixture's name also says what it is:
 * valid ones are named valid-NAME.yaml, and one that loads otherwise fails. Stores how many were valid and
 * invalid. */
static inline void
golden_run(const char *dir, golden_output_fn *output, bool named, size_t *n_validp,
           size_t *n_invalidp)
{
    size_t n_valid = 0, n_invalid = 0, n_failed = 0;
    char *pattern = xasprintf("%s/*.yaml", dir);
    char *valid_prefix = xasprintf("%s/valid-", dir);
    glob_t g;

    assert_int_equal(glob(pattern, 0, NULL, &g), 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *path = g.gl_pathv[i];
        char *expected_path = xasprintf("%.*s.expected", (int) (strlen(path) - 5), path);
        bool valid;
        char *actual = output(path, &valid);

        if (valid) {
            n_valid++;
        } else {
            n_invalid++;
        }
        if (named && valid != !strncmp(path, valid_prefix, strlen(valid_prefix))) {
            print_error("%s: %s\n%s", path, valid ? "unexpectedly valid" : "invalid", actual);
            n_failed++;
        }
        n_failed += !golden_check(path, expected_path, actual);
        free(actual);
        free(expected_path);
    }
    globfree(&g);
    free(pattern);
    free(valid_prefix);
    print_message("%zu valid and %zu invalid fixtures\n", n_valid, n_invalid);
    assert_int_equal(n_failed, 0);
    *n_validp = n_valid;
    *n_invalidp = n_invalid;
}

#endif
