/* Fuzz target: descriptors (testbed/model: yaml, experiment, topology) from untrusted bytes.
 * What their headers promise, asserted on every input (abort() is a finding):
 *  - a load either succeeds with no diagnostic, or fails (EINVAL) with at least one and hands
 *    nothing out;
 *  - bytes that are not UTF-8 text (here: a NUL, or more than YAML_MAX_BYTES) never load, and
 *    are refused with exactly one message. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testbed/model/diag.h"
#include "testbed/model/experiment.h"
#include "testbed/model/topology.h"
#include "testbed/model/yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do { if (!(cond)) { abort(); } } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bool binary = memchr(data, 0, size) != NULL;
    struct experiment *e = NULL;
    struct topology *t = NULL;
    struct diag diag;
    int error;

    if (size > YAML_MAX_BYTES + 16) {
        return 0;
    }
    diag_init(&diag);
    error = experiment_load_string("fuzz.yaml", (const char *) data, size, &diag, &e);
    CHECK(error ? error == EINVAL && diag.n >= 1 && !e : !diag.n && e);
    CHECK(!binary || (error && diag.n == 1));
    experiment_free(e);
    diag_uninit(&diag);

    diag_init(&diag);
    error = topology_load_string("fuzz.yaml", (const char *) data, size, &diag, &t);
    CHECK(error ? error == EINVAL && diag.n >= 1 && !t : !diag.n && t);
    CHECK(!binary || (error && diag.n == 1));
    topology_free(t);
    diag_uninit(&diag);
    return 0;
}
