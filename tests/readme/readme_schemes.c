/* readme-schemes — prints the README's table of which schemes run, from the registries, so the
 * README never claims more than the code does. tests/readme/readme-claims.sh checks README.md
 * against it (REGENERATE=1 rewrites the block).
 *
 * One function, readme_schemes(), reads the registries: the scheme names a descriptor accepts,
 * the protocol cores of vnfs/ft (a scheme has one when a core class carries its name or
 * "NAME-..."), and the schemes testbed/deploy can deploy. When the scheme registry of
 * testbed/schemes/ lands (`sfclab schemes`), this function reads it instead. */
#include <stdio.h>
#include <string.h>

#include "testbed/deploy/deploy.h"
#include "testbed/model/experiment.h"
#include "vnfs/ft/core.h"

static bool
has_core(const char *scheme)
{
    char prefixed[64];
    static const char *const suffixes[] = { "", "-voter", "-replica", "-pbft", "-sequencer" };

    for (size_t i = 0; i < sizeof suffixes / sizeof *suffixes; i++) {
        snprintf(prefixed, sizeof prefixed, "%s%s", scheme, suffixes[i]);
        if (ft_core_class_find(prefixed)) {
            return true;
        }
    }
    return false;
}

static void
readme_schemes(FILE *out)
{
    const char *const *names = experiment_scheme_names();
    bool first = true;

    fprintf(out, "| scheme | protocol core (`vnfs/ft`, checked in `tests/sim`) | `sfclab run` deploys it |\n");
    fprintf(out, "|---|---|---|\n");
    for (size_t i = 0; names[i]; i++) {
        bool core = has_core(names[i]), runs = deploy_scheme_find(names[i]) != NULL;

        fprintf(out, "| `%s` | %s | %s |\n", names[i],
                !strcmp(names[i], "none") ? "none needed" : core ? "yes" : "not yet",
                runs ? "yes" : "not yet: refused, never run as another scheme");
    }
    fprintf(out, "\nDoes not run yet:");
    for (size_t i = 0; names[i]; i++) {
        if (!deploy_scheme_find(names[i])) {
            fprintf(out, "%s `%s`", first ? "" : ",", names[i]);
            first = false;
        }
    }
    fprintf(out, "%s\n", first ? " nothing" : ".");
}

int
main(void)
{
    readme_schemes(stdout);
    return 0;
}
