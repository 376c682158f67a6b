/* auth — the per-flow token the `auth` network function checks, shared with the clients that
 * must present it.
 *
 * A flow's token is the first AUTH_TOKEN_LEN bytes of HMAC-SHA-256 (libsodium) under a shared
 * key of the flow's 5-tuple as the client sends it (struct packet_flow, network byte order,
 * client → server). DNS queries carry it in an EDNS0 option (DNS_EDNS_TOKEN, vnfs/lib/dns.h).
 * The key comes from the chain descriptor as `key=PASSPHRASE` (hashed to 32 bytes with
 * generichash) or `key=hex:<64 hex digits>`. Never does I/O.
 *
 * Main types: none (byte arrays). */
#ifndef SFC_AUTH_H
#define SFC_AUTH_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_KEY_LEN 32
#define AUTH_TOKEN_LEN 16

struct packet_flow;

/* Returns 0 or EINVAL (empty, or a malformed hex: key). */
int auth_key_from_string(const char *, uint8_t key[AUTH_KEY_LEN]);
void auth_token(const uint8_t key[AUTH_KEY_LEN], const struct packet_flow *,
                uint8_t token[AUTH_TOKEN_LEN]);
/* Constant-time check of a token of any length against the flow's. */
bool auth_token_ok(const uint8_t key[AUTH_KEY_LEN], const struct packet_flow *,
                   const uint8_t *token, size_t token_len);

#endif
