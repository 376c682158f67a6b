/* manifest — the record of every host object one testbed instance created, so that `down`,
 * `clean` and a crashed run undo exactly that and nothing else.
 *
 * The rule every creator follows: record first, then create. manifest_record() appends one line
 * (written, not fsync()ed: a reboot takes the recorded objects with it) before returning, so a
 * SIGKILL between the two leaves at worst an entry whose object does not exist, which undo
 * treats as already gone. Processes are recorded with their
 * start time (field 22 of /proc/PID/stat), so a recycled pid is never signalled.
 *
 * Line format (space-separated, one object per line, undone in reverse order):
 *   netns   PATH                      bind-mounted network namespace (umount + unlink)
 *   process PID STARTTIME NAME        a daemon: SIGTERM, then SIGKILL after a grace period
 *   guest   PID STARTTIME NAME        init of a guest's PID namespace: SIGKILL ends the guest
 *   cgroup  PATH                      a cgroup directory (rmdir once its processes are gone)
 *   mirror  RUNDIR BRIDGE NAME PORT   an OVS mirror and its output port (capture.h), removed
 *                                     through the switch at RUNDIR if it still runs
 *   mount   PATH                      a mount point (lazy umount, then rmdir/unlink)
 *   dir     PATH                      a directory we made (rmdir, only if empty)
 *   tree    PATH                      a directory we made for others to fill (a guest's agent
 *                                     writes its logs and sockets there): removed with all it
 *                                     holds; manifest_record_tree() refuses a path that exists
 *   file    PATH                      a file we made (unlink)
 *   domain  URI NAME                  a libvirt domain (destroyed, undefined if persistent)
 *   param   PATH SET ORIG             a kernel parameter we set (a sysfs or procfs file): when
 *                                     no other instance's manifest lists PATH any more, ORIG
 *                                     is written back, unless the file no longer reads SET
 * Paths must not contain spaces or newlines (manifest_record refuses them). A line that
 * begins with '#' was undone already.
 *
 * Never deletes by pattern, never signals a process it did not record. Main type: struct
 * manifest. */
#ifndef SFC_MANIFEST_H
#define SFC_MANIFEST_H 1

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct manifest;

/* Opens (creating if needed) DIR/manifest for appending; DIR itself is created and recorded. */
int manifest_open(const char *dir, struct manifest **);
void manifest_close(struct manifest *);

int manifest_record_netns(struct manifest *, const char *path);
int manifest_record_mirror(struct manifest *, const char *run_dir, const char *bridge,
                           const char *mirror, const char *port);
int manifest_record_process(struct manifest *, pid_t, const char *name);
int manifest_record_guest(struct manifest *, pid_t, const char *name);
int manifest_record_cgroup(struct manifest *, const char *path);
int manifest_record_mount(struct manifest *, const char *path);
int manifest_record_dir(struct manifest *, const char *path);
int manifest_record_file(struct manifest *, const char *path);
int manifest_record_domain(struct manifest *, const char *uri, const char *name);
/* Sets the kernel parameter file 'path' to 'value' (no spaces) for as long as this instance
 * lives. Instances may share one: EBUSY if another instance set it to another value; the
 * value found before the first of them is what the last one's undo restores. Returns 0 or an
 * errno (ENOENT: no such parameter here). */
int manifest_set_param(struct manifest *, const char *path, const char *value);
/* Records 'path' as a tree and makes the directory; EEXIST if it is already there, so a tree
 * never covers anything we did not make. */
int manifest_make_tree(struct manifest *, const char *path);
/* Removes a tree made by manifest_make_tree() before the undo (a guest removed at run time);
 * its line stays, and undo finds it gone. */
int manifest_remove_tree(const char *path);

/* Forks a child that waits until its pid is recorded as 'kind' ("process" or "guest") before
 * it returns into 'child' (which must not return: it execs or _exits). Returns 0 and sets *pidp
 * in the parent, or an errno (the child never ran). 'flags' are clone() namespace flags
 * (CLONE_NEWPID etc.; 0 for a plain fork). This is the only safe way to start something the
 * manifest must be able to kill: recording after fork leaves a window in which a SIGKILLed
 * `sfclab` loses a process; recording before fork cannot know the pid. */
int manifest_spawn(struct manifest *, const char *kind, const char *name, int flags,
                   int (*child)(void *), void *aux, pid_t *pidp);

/* The start time of a live process (clock ticks since boot), or 0 if it is gone. */
uint64_t proc_starttime(pid_t);
/* True if 'pid' is alive and started at 'starttime'. */
bool proc_is(pid_t, uint64_t starttime);

/* Undoes everything DIR/manifest lists, newest first, then removes the manifest and DIR.
 * Objects already gone are fine. Returns 0 when everything listed is gone afterwards, else the
 * first errno (and keeps the manifest so a later clean can retry). Prints what it undid when
 * 'verbose'. */
int manifest_undo(const char *dir, bool verbose);

#endif
