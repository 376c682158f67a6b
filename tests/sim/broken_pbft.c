/* The deliberately broken PBFT replica: vnfs/ft/fitsfc/pbft.c compiled again with PBFT_BROKEN,
 * which is prepared on f prepares and commits on f+1 commits instead of 2f and 2f+1. Linked only
 * into test binaries, so the simulator can show it catches it. */
#define PBFT_BROKEN 1
#include "vnfs/ft/fitsfc/pbft.c"
