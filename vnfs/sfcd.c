/* sfcd — the guest binary: one program, its role chosen on the command line. */

#include <stdio.h>
#include <string.h>

#include "vnfs/core/util.h"

int
main(int argc, char *argv[])
{
    log_set_program("sfcd");
    if (argc < 2) {
        fprintf(stderr, "usage: sfcd ROLE [ARG...]\n");
        return 2;
    }
    fprintf(stderr, "sfcd: unknown role '%s'\n", argv[1]);
    return 2;
}
