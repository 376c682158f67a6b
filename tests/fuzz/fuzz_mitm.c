/* Fuzz target: the attacker's rewrites (vnfs/sfc/mitm.h) on untrusted frames, plain or NSH.
 * A frame they accept must still parse, with right checksums if the input's were. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vnfs/core/packet.h"
#include "vnfs/ft/rng.h"
#include "vnfs/sfc/mitm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *frame;
    struct ft_rng rng;

    if (size > 65535) {
        return 0;
    }
    frame = malloc(size ? size : 1);
    memcpy(frame, data, size);
    (void) mitm_dns_spoof(frame, size, 0x06060606, NULL);
    memcpy(frame, data, size);
    ft_rng_init(&rng, size);
    (void) mitm_flip(frame, size, &rng);
    free(frame);
    return 0;
}
