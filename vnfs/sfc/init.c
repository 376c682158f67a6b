#include "vnfs/sfc/roles.h"

#include <unistd.h>

/* Placeholder until the guest engineer's init lands: sleeps as PID 1. */
int
role_init(int argc, char *argv[])
{
    for (;;) {
        pause();
    }
}
