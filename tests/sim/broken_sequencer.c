/* The deliberately broken sequencer replica: vnfs/ft/demo/sequencer.c compiled again with
 * SEQ_BROKEN, whose replica applies whatever number arrives next, skipping holes and taking
 * reordered requests as they come. Linked only into test binaries. */
#define SEQ_BROKEN 1
#include "vnfs/ft/demo/sequencer.c"
