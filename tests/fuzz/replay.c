/* Corpus replay: feeds every file of tests/fuzz/corpus/FUZZ_NAME/ (and of
 * tests/fuzz/crashes/FUZZ_NAME/ if it exists) to the fuzz target it is linked with, so
 * `make check` runs each target's corpus under gcc's ASan and UBSan without libFuzzer.
 * Run from the top of the tree. Exits 0 if every input ran, 1 if the corpus is missing or
 * empty (a replay of nothing tests nothing); a bug aborts through the sanitizers. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/lib/util.h"

#ifndef FUZZ_NAME
#error "FUZZ_NAME must name the target"
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Replays every regular file in 'dir'; returns how many, or -1 if 'dir' cannot be read. */
static int
replay_dir(const char *dir)
{
    DIR *d = opendir(dir);
    char **names = NULL;
    size_t n = 0, allocated = 0;
    int count = 0;

    if (!d) {
        return -1;
    }
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') {
            continue;
        }
        if (n >= allocated) {
            names = x2nrealloc(names, &allocated, sizeof *names);
        }
        names[n++] = xasprintf("%s/%s", dir, de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, name_cmp);

    for (size_t i = 0; i < n; i++) {
        char *data;
        size_t len;
        int error = read_file(names[i], &data, &len);
        if (error) {
            fprintf(stderr, "%s: %s\n", names[i], strerror(error));
            exit(1);
        }
        /* A copy of exactly 'len' bytes, so ASan sees any read past the end. */
        uint8_t *copy = xmalloc(len);
        memcpy(copy, data, len);
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
        free(data);
        count++;
    }
    for (size_t i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
    return count;
}

int
main(void)
{
    int corpus = replay_dir("tests/fuzz/corpus/" FUZZ_NAME);
    if (corpus <= 0) {
        fprintf(stderr, "replay_%s: no corpus in tests/fuzz/corpus/%s\n", FUZZ_NAME, FUZZ_NAME);
        return 1;
    }
    int crashes = replay_dir("tests/fuzz/crashes/" FUZZ_NAME);
    printf("replay_%s: %d corpus inputs, %d past crashes replayed\n", FUZZ_NAME, corpus,
           crashes < 0 ? 0 : crashes);
    return 0;
}
