/* readme-schemes — prints the README's table of which schemes run, from the scheme registry
 * (testbed/schemes), so the README never claims more than the code does.
 * tests/readme/readme-claims.sh checks README.md against it (REGENERATE=1 rewrites the block).
 * One function, readme_schemes(), reads the registry. */
#include <stdio.h>
#include <string.h>

#include "testbed/schemes/scheme.h"

static void
readme_schemes(FILE *out)
{
    bool first = true;

    fprintf(out, "| scheme | what it is | `sfclab run` deploys it |\n|---|---|---|\n");
    for (size_t i = 0; i < scheme_count(); i++) {
        const struct scheme_class *c = scheme_at(i);

        fprintf(out, "| `%s` | %s | %s |\n", c->name, c->summary ? c->summary : "",
                scheme_deployable(c) ? "yes" : "not yet: refused, never run as another scheme");
    }
    fprintf(out, "\nDoes not run yet:");
    for (size_t i = 0; i < scheme_count(); i++) {
        if (!scheme_deployable(scheme_at(i))) {
            fprintf(out, "%s `%s`", first ? "" : ",", scheme_at(i)->name);
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
