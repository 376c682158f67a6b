/* The deliberately broken voter: vnfs/ft/demo/voter.c compiled again with VOTER_BROKEN, which
 * counts every copy instead of the first one per sender. Linked only into test binaries, so
 * the simulator can show it catches the bug. */
#define VOTER_BROKEN 1
#include "vnfs/ft/demo/voter.c"
