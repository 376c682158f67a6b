/* ovs — a private Open vSwitch for one testbed instance: its daemons, its bridges and ports
 * (through OVSDB, one transaction per batch) and its OpenFlow tables: changes over one
 * persistent OpenFlow connection per bridge (openflow.h), dumps, meters and debugging through
 * ovs-ofctl (one process per batch).
 *
 * Everything lives in the instance's run directory: the database, the daemons' unix sockets
 * (db.sock, ovsdb-server.ctl, ovs-vswitchd.ctl, BRIDGE.mgmt), pid files and logs. The daemons
 * run inside the instance's network namespace with the userspace datapath (datapath_type=netdev),
 * are started through manifest_spawn() so `sfclab clean` can stop them after a crash, and are
 * detached from our session so they outlive `sfclab up`. Never touches a system Open vSwitch:
 * every socket path is absolute and OVS_RUNDIR/OVS_LOGDIR/OVS_DBDIR/OVS_SYSCONFDIR point at the
 * run directory for the daemons and every tool we run.
 *
 * Errors are positive errno values and are logged (log_err) with the daemon's or tool's own
 * words where it gave any. Main types: struct ovs (a running instance we are connected to),
 * struct ovs_txn (a batch of bridge and port changes committed as one OVSDB transaction). */
#ifndef SFC_OVS_H
#define SFC_OVS_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct manifest;
struct of_conn;
struct ovs;
struct ovs_txn;
struct ovsdb;

/* What a bridge does with a packet no flow matches. */
enum ovs_fail_mode {
    OVS_FAIL_SECURE,            /* Drop: data bridges, steered only by our flows. */
    OVS_FAIL_STANDALONE,        /* Learning switch (NORMAL): the management bridge. */
};

/* Creates the database in 'run_dir' (made if missing; must not already hold one), starts
 * ovsdb-server and ovs-vswitchd inside the namespace at 'netns_path' (NULL: ours), initializes
 * the database and returns once vswitchd has applied it. 'manifest' records the daemons and the
 * files; NULL starts them unrecorded (tests, benchmarks). */
int ovs_start(const char *run_dir, const char *netns_path, struct manifest *, struct ovs **);
/* Connects to an instance already running in 'run_dir' (for down, status, inject). */
int ovs_open(const char *run_dir, struct ovs **);
/* Stops vswitchd (exit --cleanup), then ovsdb-server, waiting a bounded time for each and
 * killing it if it does not go; removes the database, sockets and pid files (not the logs).
 * Frees 'ovs' in every case. Returns 0 if both daemons are gone. */
int ovs_stop(struct ovs *);
/* The same for a switch whose namespace goes away next (`down` of a whole instance): vswitchd
 * is SIGKILLed instead of asked to exit --cleanup, which closes its ports one at a time
 * (measured here: 0.9 s for the 64 ports of star32), and its sockets are closed by us from
 * parallel threads (each packet socket's close waits an RCU grace period); ovsdb-server, whose
 * database is deleted next, is SIGKILLed too. Measured: 15-70 ms for both under load. */
int ovs_stop_now(struct ovs *);
/* Disconnects and frees, leaving the daemons running. */
void ovs_close(struct ovs *);

const char *ovs_run_dir(const struct ovs *);
/* Sets other_config:KEY=VALUE of the Open_vSwitch row (e.g. pmd-cpu-mask), one transaction. */
int ovs_set_other_config(struct ovs *, const char *key, const char *value);
/* The pids of ovsdb-server and ovs-vswitchd (0 when unknown), e.g. to pin them to a CPU. */
void ovs_daemon_pids(const struct ovs *, pid_t pids[2]);
struct ovsdb *ovs_db(struct ovs *);
/* Milliseconds from the start of ovs_start() to the daemons being ready, and to the first
 * bridge accepting OpenFlow connections; negative when not measured (e.g. after ovs_open). */
double ovs_ready_ms(const struct ovs *);
double ovs_bridge_ready_ms(const struct ovs *);

/* A batch of configuration changes. Adders never fail: a bad name is remembered and reported
 * by ovs_txn_commit(), which sends the whole batch as one transaction and waits until vswitchd
 * has applied it (and new bridges accept OpenFlow connections). Commit and abort free the txn. */
struct ovs_txn *ovs_txn_create(struct ovs *);
void ovs_txn_add_bridge(struct ovs_txn *, const char *bridge, enum ovs_fail_mode);
void ovs_txn_del_bridge(struct ovs_txn *, const char *bridge);
/* 'type' is "" for a system device (a veth end), "internal" for a host port, or "patch",
 * "vxlan"... */
void ovs_txn_add_port(struct ovs_txn *, const char *bridge, const char *port, const char *type);
/* The same with an OpenFlow port number to ask for (0: any) and interface options as
 * "key=value,key=value" (NULL: none), e.g. "peer=data-mgmt" or "remote_ip=10.0.0.2,key=5". */
void ovs_txn_add_port_ext(struct ovs_txn *, const char *bridge, const char *port,
                          const char *type, int ofport_request, const char *options);
void ovs_txn_del_port(struct ovs_txn *, const char *bridge, const char *port);
int ovs_txn_commit(struct ovs_txn *);
void ovs_txn_abort(struct ovs_txn *);

/* Port mirroring, to see traffic the host cannot (AF_XDP ports bypass the kernel's taps):
 * mirror 'mirror' copies everything 'ports' (names; none: the whole bridge) send and receive
 * to a new internal port 'out_port' (a tap device in the instance's namespace, not forwarded
 * to). One transaction, applied when it returns. ovs_mirror_del() removes both; what is gone
 * already is fine (undo after a crash). */
int ovs_mirror_add(struct ovs *, const char *bridge, const char *mirror,
                   const char *const ports[], size_t n_ports, const char *out_port);
int ovs_mirror_del(struct ovs *, const char *bridge, const char *mirror, const char *out_port);
/* The same for the manifest's undo, given the instance's run directory: 0 if the switch is
 * not running (its mirrors went with it). */
int ovs_mirror_undo(const char *run_dir, const char *bridge, const char *mirror,
                    const char *out_port);

/* Fills ofports[i] with the OpenFlow port number of interface names[i], waiting (bounded) until
 * vswitchd has assigned them all. ENOENT if an interface is not in the database, ETIMEDOUT with
 * vswitchd's reason (e.g. "could not open network device") if one never gets a number. */
int ovs_get_ofports(struct ovs *, const char *const names[], size_t n, int ofports[]);

/* The persistent OpenFlow connection to 'bridge', opened on first use and kept (owned by 'ovs',
 * closed with it): steering changes at run time go here, a barrier confirming each batch. */
int ovs_openflow(struct ovs *, const char *bridge, struct of_conn **);

/* OpenFlow 1.3 through ovs-ofctl (milliseconds per call: for setup, dumps and debugging).
 * 'flows', 'groups' are newline-separated specs in ovs-ofctl syntax, sent by one ovs-ofctl run
 * per call. A NULL or empty match deletes everything. */
int ovs_flows_add(struct ovs *, const char *bridge, const char *flows);
int ovs_flows_del(struct ovs *, const char *bridge, const char *match);
int ovs_flows_dump(struct ovs *, const char *bridge, char **textp);
int ovs_groups_add(struct ovs *, const char *bridge, const char *groups);
int ovs_groups_del(struct ovs *, const char *bridge, const char *match);
/* Forgets every MAC address 'bridge' has learned (ovs-appctl fdb/flush): after a fault that
 * let frames of one host enter through another port, NORMAL must learn the truth again. */
int ovs_fdb_flush(struct ovs *, const char *bridge);
/* ovs-ofctl takes one meter per run; meters are few (one per rate-limited link). */
int ovs_meters_add(struct ovs *, const char *bridge, const char *meters);
int ovs_meters_del(struct ovs *, const char *bridge, const char *match);

struct ovs_port_stats {
    uint64_t rx_packets, rx_bytes, rx_dropped, rx_errors;
    uint64_t tx_packets, tx_bytes, tx_dropped, tx_errors;
};
/* Live counters of one OpenFlow port, from the switch (not OVSDB's periodic copy). */
int ovs_port_stats(struct ovs *, const char *bridge, int ofport, struct ovs_port_stats *);

#endif
