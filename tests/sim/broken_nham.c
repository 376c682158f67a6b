/* The deliberately broken Hold/Release: vnfs/ft/nham/sff.c compiled again with
 * NHAM_BROKEN_RELEASE, whose SFF releases a VNF's buffer_rx as soon as it asks for a
 * checkpoint, before the VSM has saved it. Linked only into test binaries. */
#define NHAM_BROKEN_RELEASE 1
#include "vnfs/ft/nham/sff.c"
