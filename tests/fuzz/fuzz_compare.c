/* Fuzz target: the comparison's TSV tables (testbed/report/compare.h), which `sfclab compare
 * --from` reads from whatever file it is given. What the header promises, asserted on every
 * input (abort() is a finding):
 *  - a read either succeeds, or fails with EINVAL and at least one line of complaint;
 *  - a table that was read renders, and written out and read back renders the same text. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/report/compare.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

static char *
render(const struct compare_table *t)
{
    char *text = NULL;
    size_t len;
    FILE *f = open_memstream(&text, &len);

    CHECK(f);
    compare_render_scorecards(f, t);
    compare_render_summary(f, t);
    fclose(f);
    return text;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct compare_table t, back;
    char *err = NULL, *tsv = NULL, *one, *two;
    size_t err_len = 0, tsv_len = 0;
    FILE *in, *errf, *out;
    int error;

    if (!size || size > (1 << 20)) {
        return 0;
    }
    in = fmemopen((void *) data, size, "r");
    errf = open_memstream(&err, &err_len);
    CHECK(in && errf);
    error = compare_table_read(in, "fuzz.tsv", errf, &t);
    fclose(in);
    fclose(errf);
    CHECK(error ? error == EINVAL && err_len > 0 : 1);
    free(err);
    if (error) {
        return 0;
    }
    one = render(&t);
    out = open_memstream(&tsv, &tsv_len);
    CHECK(out && !compare_table_write(out, &t));
    fclose(out);
    in = fmemopen(tsv, tsv_len, "r");
    errf = fopen("/dev/null", "w");
    CHECK(in && errf);
    CHECK(!compare_table_read(in, "back.tsv", errf, &back));
    fclose(in);
    fclose(errf);
    two = render(&back);
    CHECK(!strcmp(one, two));
    free(one);
    free(two);
    free(tsv);
    compare_table_uninit(&back);
    compare_table_uninit(&t);
    return 0;
}
