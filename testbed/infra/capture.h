/* capture — a pcap file of what guests send and receive on a bridge of a running instance.
 *
 * With AF_XDP data ports the frames never cross the kernel on the switch side, so tcpdump on a
 * host port sees nothing. A capture asks the switch instead: an OVS mirror copies the traffic of
 * the chosen ports (or the whole bridge) to a capture port of its own, an internal port (a tap
 * device in the instance's namespace, never forwarded to), which a thread reads with libpcap
 * and writes to the file as it arrives. The mirror and its port are recorded in the instance's
 * manifest before they are made, so `sfclab down`/`clean` remove them after a crash; a capture
 * that stops removes them itself.
 *
 * Never touches the data path's flows; never captures outside the instance's namespace.
 * Main type: struct capture. */
#ifndef SFC_CAPTURE_H
#define SFC_CAPTURE_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct capture;
struct instance;

struct capture_opts {
    const char *bridge;                 /* NULL: "data". */
    const char *const *ports;           /* OVS port names; none: everything on the bridge. */
    size_t n_ports;
    const char *path;                   /* The pcap file (Ethernet link type). */
    uint64_t max_packets;               /* Stop writing after this many; 0: no limit. */
};

/* Returns once the capture sees every frame from now on. */
int capture_start(struct instance *, const struct capture_opts *, struct capture **);
/* True once 'max_packets' were written, or reading failed. */
bool capture_done(const struct capture *);
/* Stops, closes the file and removes the mirror and its port; frees 'cap'. *n_packetsp (if
 * nonnull) gets the number of frames written. Returns 0 or the first error. */
int capture_stop(struct capture *, uint64_t *n_packetsp);

/* The pcap file's path. */
const char *capture_path(const struct capture *);

/* For an experiment's run (`capture: true`): everything on the data bridge into
 * DIR/pcaps/EXPERIMENT-runRUN.pcap, DIR being where the results database 'db_path' is (pcaps/
 * is made if missing). */
int capture_start_run(struct instance *, const char *db_path, const char *experiment,
                      long long run, struct capture **);

/* The OVS ports (host ends) of guest 'guest' on 'bridge' (NULL: "data"), for capture_opts.
 * *portsp points into the instance; ENOENT if the guest has none there. */
int capture_guest_ports(struct instance *, const char *guest, const char *bridge,
                        const char ***portsp, size_t *n_portsp);

#endif
