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
 * name. Main type: virConnectPtr
 * (libvirt's own). */
#ifndef SFC_LIBVIRTD_H
#define SFC_LIBVIRTD_H 1

#include <stdbool.h>

#include <libvirt/libvirt.h>

struct manifest;

/* The host's own daemon's socket. */
#define LIBVIRTD_HOST_SOCKET "/run/libvirt/libvirt-sock"

/* True if a libvirtd answers on 'socket_path'. */
bool libvirtd_answers(const char *socket_path);

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

#endif
