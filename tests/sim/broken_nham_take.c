/* The deliberately broken takeover: vnfs/ft/nham/take.c compiled again with NHAM_BROKEN_TAKE,
 * whose SFF tells its core at once that a checkpoint is saved (buffer_rx released up to it,
 * nham_take_defer() false) and still takes over from the image before it a standby holds: the
 * standby takes over from an older checkpoint than the one buffer_rx was released up to. Its
 * functions are renamed *_broken here. Linked only into test binaries. */
#define NHAM_BROKEN_TAKE 1
#define nham_take_ack_put nham_take_ack_put_broken
#define nham_take_is_ack nham_take_is_ack_broken
#define nham_take_ack_active nham_take_ack_active_broken
#define nham_take_ack_names nham_take_ack_names_broken
#define nham_take_defer nham_take_defer_broken
#define nham_take_ack_update nham_take_ack_update_broken
#define nham_take_choose nham_take_choose_broken
#define nham_take_put nham_take_put_broken
#define nham_take_parse nham_take_parse_broken
#define nham_take_judge nham_take_judge_broken
#define nham_take_keeps_ready nham_take_keeps_ready_broken
#include "vnfs/ft/nham/take.c"
