/* nf-provider — what the implementations of struct nf_class share: the class instances, and
 * helpers to allocate an instance and read its parameters. Not for the functions' callers,
 * who use nf.h only.
 *
 * The parameter readers report errors as "KEY: what is wrong (expected ...)" through 'errp'
 * and return EINVAL, so every create reads like a list of params. */
#ifndef SFC_NF_PROVIDER_H
#define SFC_NF_PROVIDER_H 1

#include "vnfs/fn/nf.h"

#include <stdint.h>

extern const struct nf_class nf_dns_class;
extern const struct nf_class nf_auth_class;
extern const struct nf_class nf_lb_class;
extern const struct nf_class nf_nat_class;
extern const struct nf_class nf_simplenat_class;
extern const struct nf_class nf_mazunat_class;
extern const struct nf_class nf_monitor_class;
extern const struct nf_class nf_firewall_class;
extern const struct nf_class nf_gen_class;
extern const struct nf_class nf_fwd_class;

/* A new instance of 'class' with an empty state and 'priv'. */
struct nf *nf_alloc(const struct nf_class *, void *priv);
/* Frees the instance and its state (not 'priv'). */
void nf_free(struct nf *);

/* Fails with a message naming the first parameter whose key is not in the NULL-terminated
 * list 'known'. */
int nf_params_check(const struct nf_param *, size_t n, const char *const known[], char **errp);
/* The value of the last parameter named 'key', or NULL. */
const char *nf_param_find(const struct nf_param *, size_t n, const char *key);
/* Reads an unsigned integer parameter in [min, max], or keeps '*valuep' if absent. */
int nf_param_uint(const struct nf_param *, size_t n, const char *key, uint64_t min,
                  uint64_t max, uint64_t *valuep, char **errp);
/* Reads a size ("4K", "64") in [0, max], or keeps '*valuep' if absent. */
int nf_param_size(const struct nf_param *, size_t n, const char *key, uint64_t max,
                  uint64_t *valuep, char **errp);

/* How many spin iterations per packet a fwd instance does (0 for other classes). */
uint64_t nf_fwd_iterations(const struct nf *);
void nf_fwd_forwarder(const struct nf *, uint64_t *count, uint64_t *digest);

#endif
