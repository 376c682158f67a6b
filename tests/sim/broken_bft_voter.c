/* The deliberately broken FIT-SFC voter: vnfs/ft/fitsfc/bft_voter.c compiled again with
 * BFT_VOTER_BROKEN, which decides on f+1 identical copies instead of 2f+1 (the rule FIT-SFC's
 * Figure 2 shows wrong). Linked only into test binaries, so the simulator can show it catches it. */
#define BFT_VOTER_BROKEN 1
#include "vnfs/ft/fitsfc/bft_voter.c"
