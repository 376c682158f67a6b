/* The table of protocol cores. A scheme adds its class here: one extern line, one entry. */
#include "vnfs/ft/core.h"

#include <string.h>

extern const struct ft_core_class ft_none_class;
extern const struct ft_core_class ft_voter_class;
extern const struct ft_core_class ft_sequencer_class;
extern const struct ft_core_class ft_seq_replica_class;
extern const struct ft_core_class ft_nham_sff_class;
extern const struct ft_core_class ft_nham_vnf_class;
extern const struct ft_core_class ft_nham_vsm_class;
extern const struct ft_core_class ft_bft_voter_class;
extern const struct ft_core_class ft_pbft_class;
extern const struct ft_core_class ft_flow_order_class;
extern const struct ft_core_class ft_ftc_forwarder_class;
extern const struct ft_core_class ft_ftc_replica_class;
extern const struct ft_core_class ft_ftc_buffer_class;
extern const struct ft_core_class ft_ftvnf_sequencer_class;
extern const struct ft_core_class ft_ftvnf_packet_logger_class;
extern const struct ft_core_class ft_ftvnf_dp_logger_class;
extern const struct ft_core_class ft_ftvnf_progress_logger_class;
extern const struct ft_core_class ft_ftvnf_vnf_class;
extern const struct ft_core_class ft_ftvnf_manager_class;

static const struct ft_core_class *const ft_core_classes[] = {
    &ft_none_class,
    &ft_voter_class,
    &ft_sequencer_class,
    &ft_seq_replica_class,
    &ft_nham_sff_class,
    &ft_nham_vnf_class,
    &ft_nham_vsm_class,
    &ft_bft_voter_class,
    &ft_pbft_class,
    &ft_flow_order_class,
    &ft_ftc_forwarder_class,
    &ft_ftc_replica_class,
    &ft_ftc_buffer_class,
    &ft_ftvnf_sequencer_class,
    &ft_ftvnf_packet_logger_class,
    &ft_ftvnf_dp_logger_class,
    &ft_ftvnf_progress_logger_class,
    &ft_ftvnf_vnf_class,
    &ft_ftvnf_manager_class,
};

/* Test binaries add their deliberately broken variants here; never the guest. */
static const struct ft_core_class *ft_core_extra[32];
static size_t ft_core_n_extra;

void
ft_core_class_register(const struct ft_core_class *class)
{
    if (ft_core_class_find(class->name)) {
        return;
    }
    if (ft_core_n_extra >= ARRAY_SIZE(ft_core_extra)) {
        sfc_abort("too many registered core classes (raise ft_core_extra)");
    }
    ft_core_extra[ft_core_n_extra++] = class;
}

const struct ft_core_class *
ft_core_class_find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(ft_core_classes); i++) {
        if (!strcmp(ft_core_classes[i]->name, name)) {
            return ft_core_classes[i];
        }
    }
    for (size_t i = 0; i < ft_core_n_extra; i++) {
        if (!strcmp(ft_core_extra[i]->name, name)) {
            return ft_core_extra[i];
        }
    }
    return NULL;
}

void
ft_core_class_for_each(void (*cb)(const struct ft_core_class *, void *aux), void *aux)
{
    for (size_t i = 0; i < ARRAY_SIZE(ft_core_classes); i++) {
        cb(ft_core_classes[i], aux);
    }
    for (size_t i = 0; i < ft_core_n_extra; i++) {
        cb(ft_core_extra[i], aux);
    }
}
