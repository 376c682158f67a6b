/* netns — named network namespaces for the host side of a testbed instance, and running code
 * inside one from a single-threaded orchestrator.
 *
 * A named namespace is bind-mounted at /run/netns/NAME (so `ip netns exec NAME ...` works for a
 * user debugging an instance) and recorded in the manifest before it is made. netns_enter()
 * switches the calling thread and returns the namespace it left; sockets made while inside stay
 * bound to that namespace after netns_leave(), which is how the orchestrator talks to the
 * management network without leaving the host's own namespace. Never deletes a namespace it did
 * not record. */
#ifndef SFC_NETNS_H
#define SFC_NETNS_H 1

struct manifest;

/* Creates /run/netns/NAME. Fails with EEXIST if it already exists. */
int netns_create(struct manifest *, const char *name, char **pathp);
/* Enters the namespace at 'path' (a /run/netns file or /proc/PID/ns/net), or the one 'fd'
 * refers to; *savedp receives an fd of the current one for netns_leave(). */
int netns_enter(const char *path, int *savedp);
int netns_enter_fd(int fd, int *savedp);
/* Returns to the namespace saved by netns_enter() and closes it. Aborts if that fails: code
 * that goes on in the wrong namespace would act on the wrong host. */
void netns_leave(int saved);
/* A socket(domain, type, protocol) that lives in the namespace at 'path'. Returns 0 or errno. */
int netns_socket(const char *path, int domain, int type, int protocol, int *fdp);

#endif
