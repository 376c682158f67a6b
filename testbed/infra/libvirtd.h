/* libvirtd — the libvirt daemon that an instance's lxc and kvm guests live in, and the
 * connections to it.
 *
 * When the host runs a libvirtd of its own (its socket /run/libvirt/libvirt-sock answers), the
 * instance uses it, and its domains are told apart from the host's by their names,
 * "sfclab-INSTANCE-GUEST". Otherwise the instance starts a libvirtd it owns, recorded in its
 * manifest and stopped at `down`, with what libvirtd needs on this kind of host (a Debian
 * system without libvirt-daemon-system, hybrid cgroups, no systemd):
 *   - its own mount namespace in which /sys/fs/cgroup/unified is unmounted (libvirt 9 on a
 *     hybrid hierarchy otherwise places containers in the cgroup2 tree, where no controller is
 *     enabled, and every domain fails to start), and in which /etc/libvirt, /run/libvirt,
 *     /var/lib/libvirt and /var/log/libvirt are the instance's own directories (DIR/libvirt/),
 *     so two instances' daemons never see each other's domains, pid files or sockets;
 *   - the instance's host network namespace, so that the host ends of type='ethernet'
 *     interfaces (veths of containers, taps of VMs) appear where the instance's switch is;
 *   - the `libvirt-qemu` user its QEMU driver runs guests as (made, as Debian's
 *     libvirt-daemon-system would, when it is missing);
 *   - on hosts where guests run under TCG (libvirtd_kvm_accel()), /dev/kvm hidden behind an
 *     empty root-only file: otherwise QEMU's capability probe (as root) finds KVM usable while
 *     libvirt's own check (as libvirt-qemu) does not, and libvirt re-probes QEMU (4-50 s
 *     here) before every domain it starts;
 *   - its socket in DIR/libvirt/sock/, reached with "DRIVER:///system?socket=...".
 * `clean` after the daemon itself was killed still finds its domains, from the pid files it
 * left in DIR/libvirt/run/. This module never touches a domain it was not asked about by
 * name.
 *
 * The second half is what the lxc and kvm providers share of a guest's domain (struct
 * libvirtd_domain): opening the connection, pause, resume, state, stop, destroy, and
 * attaching an <interface type='ethernet'> whose host end lands in the instance's namespace.
 * What differs (a container's init, a VM's control channel) stays in each provider.
 * Main types: virConnectPtr (libvirt's own), struct libvirtd_domain. */
#ifndef SFC_LIBVIRTD_H
#define SFC_LIBVIRTD_H 1

#include <stdbool.h>

#include <libvirt/libvirt.h>

#include "testbed/infra/provider.h"

struct link_ns;
struct manifest;

/* The host's own daemon's socket. */
#define LIBVIRTD_HOST_SOCKET "/run/libvirt/libvirt-sock"

/* True if a libvirtd answers on 'socket_path'. */
bool libvirtd_answers(const char *socket_path);
/* True if a libvirtd can be had here for 'driver' ("lxc", "qemu"): the host's answers, or ours
 * can be started (its program and the driver's module are installed); else says why. */
bool libvirtd_usable(const char *driver, char **whyp);

/* The socket of the daemon an instance owns: INSTANCE_DIR/libvirt/sock/libvirt-sock. */
char *libvirtd_own_socket(const char *instance_dir);

/* The URI for 'driver' ("lxc" or "qemu") of the daemon that instance 'instance_dir' uses: its
 * own if it started one, else the host's. */
char *libvirtd_uri(const char *driver, const char *instance_dir);

/* Makes sure a daemon runs for the instance: returns 0 at once if the host's or the instance's
 * own answers; otherwise starts the instance's own inside 'netns_path' (the instance's host
 * namespace), recorded in 'manifest', and waits until it answers. */
int libvirtd_ensure(struct manifest *, const char *instance_dir, const char *netns_path);

/* A connection to 'uri', shared by every caller in this process and kept until exit; NULL with
 * an error logged if it cannot be opened. */
virConnectPtr libvirtd_connect(const char *uri);

/* The name of guest 'guest' of instance 'instance' as a libvirt domain. */
char *libvirtd_domain_name(const char *instance, const char *guest);

/* Destroys (and undefines, if it was defined) domain 'name' on 'uri'. 0 if it is gone
 * afterwards, including when it or the daemon was already gone. */
int libvirtd_undo_domain(const char *uri, const char *name);

/* Whether QEMU guests get KVM (true) or TCG: KVM only with hardware virtualization (vmx/svm
 * and kvm_intel or kvm_amd), never on a PVM /dev/kvm (kvm_pvm), on which a stock kernel hangs.
 * '*whyp' (may be NULL) gets the choice and its reason, e.g. "tcg: /dev/kvm is PVM ...". */
bool libvirtd_kvm_accel(const char **whyp);

/* The message of libvirt's last error in this thread ("unknown error" if none). */
const char *libvirtd_last_error(void);

/* A guest's libvirt domain, as the lxc and kvm providers hold it. */
struct libvirtd_domain {
    char *guest;                /* The guest's name, for messages. */
    char *inst_dir;             /* The instance's directory (the guest's run_dir's parent). */
    char *uri;                  /* The driver's URI on the daemon the instance uses. */
    char *name;                 /* The domain's: sfclab-INSTANCE-GUEST. */
    virConnectPtr conn;         /* Shared; see libvirtd_connect(). */
    virDomainPtr dom;           /* NULL while it does not run. */
};

/* Fills 'd' for the guest 'cfg' on 'driver' ("lxc", "qemu"): with 'start_daemon' the daemon
 * is made sure of first (libvirtd_ensure(), recorded in 'manifest'). Looks no domain up. On
 * failure 'd' is left closed. */
int libvirtd_domain_open(struct libvirtd_domain *, const char *driver,
                         const struct guest_config *, struct manifest *, bool start_daemon);
void libvirtd_domain_close(struct libvirtd_domain *);
/* EEXIST, said with what to do, if libvirt has a domain of that name already: an earlier
 * run's, which is `sfclab clean`'s to remove, not ours to take. */
int libvirtd_domain_unused(const struct libvirtd_domain *, const char *instance);
/* Finds the running domain by name (attach, restore): ESRCH if it does not run. */
int libvirtd_domain_lookup(struct libvirtd_domain *);
/* Drops our reference to the domain (it has ended, or was saved). */
void libvirtd_domain_forget(struct libvirtd_domain *);

/* True while libvirt has the domain running or paused. A transient domain that stopped no
 * longer exists: libvirt then answers with an error. */
bool libvirtd_domain_active(const struct libvirtd_domain *);
/* Waits up to 'timeout_ns' for the domain to end; false if it still runs. */
bool libvirtd_domain_wait_inactive(const struct libvirtd_domain *, uint64_t timeout_ns);
/* Resumes a paused domain (a frozen init cannot act on a request to stop), calls
 * 'shutdown(aux)' and waits 'grace_ns' for the domain to end, destroys it past that or if
 * 'shutdown' fails, then waits up to 'gone_ns' for libvirt to report it gone, and forgets it.
 * 0, EBUSY (cannot destroy: logged) or ETIMEDOUT. */
int libvirtd_domain_stop(struct libvirtd_domain *, int (*shutdown)(void *aux), void *aux,
                         uint64_t grace_ns, uint64_t gone_ns);
/* Destroys the domain if it runs: 0, or EBUSY (logged). */
int libvirtd_domain_destroy(struct libvirtd_domain *);
/* The freezer for a container, a stopped vCPU for a VM: ESRCH if it does not run, EIO
 * (logged) if libvirt refuses. */
int libvirtd_domain_pause(struct libvirtd_domain *);
int libvirtd_domain_resume(struct libvirtd_domain *);
/* libvirt's state as a guest's, or ESRCH once libvirt knows the domain no more (a transient
 * domain whose init died, which nobody stopped). */
int libvirtd_domain_state(const struct libvirtd_domain *, enum guest_state *);
/* Attaches an <interface type='ethernet'> for 'f' to the running domain (a virtio NIC if
 * 'vm', else a veth whose guest end libvirt moves into the container) and makes sure its host
 * end f->port is in 'host': the host's own libvirtd makes it in the root namespace, where we
 * are. The host end is neither configured nor up yet (guest_iface_up()). */
int libvirtd_domain_plug(struct libvirtd_domain *, struct link_ns *host,
                         const struct guest_iface *f, bool vm);
/* For an interface the domain was created with: makes sure its host end 'port' is in 'host'
 * (moved there from our namespace when the host's libvirtd made it). */
int libvirtd_domain_adopt_tap(struct libvirtd_domain *, struct link_ns *host, const char *port);

#endif
