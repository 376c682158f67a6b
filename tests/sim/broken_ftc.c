/* The deliberately broken FTC buffer: vnfs/ft/ftc/ends.c compiled again with FTC_BROKEN_BUFFER,
 * whose buffer releases every packet as it arrives, before the logs of the groups that wrap
 * around the ring are replicated f+1 times. Linked only into test binaries. */
#define FTC_BROKEN_BUFFER 1
#include "vnfs/ft/ftc/ends.c"
