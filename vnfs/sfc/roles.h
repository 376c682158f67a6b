/* roles — the entry points of sfcd's roles (see the table in vnfs/sfcd.c). Each takes the
 * arguments after `sfcd`, argv[0] being the role's name, and returns an exit code. */
#ifndef SFC_ROLES_H
#define SFC_ROLES_H 1

int role_init(int argc, char *argv[]);
int role_agent(int argc, char *argv[]);
int role_classifier(int argc, char *argv[]);
int role_sff(int argc, char *argv[]);
int role_nham_sff(int argc, char *argv[]);
int role_nham_vnf(int argc, char *argv[]);
int role_vnf(int argc, char *argv[]);
int role_client(int argc, char *argv[]);
int role_wrapper(int argc, char *argv[]);
int role_echo(int argc, char *argv[]);
int role_mitm(int argc, char *argv[]);
int role_ft(int argc, char *argv[]);
int role_ftmb_logger(int argc, char *argv[]);
int role_ftvnf(int argc, char *argv[]);
int role_link(int argc, char *argv[]);
int role_vminit(int argc, char *argv[]);

/* Runs `sfcd ROLE ARG...` (argv[0] is "sfcd") in this process and returns its exit code; set
 * by sfcd's main. init starts a role of this binary through it in its forked child instead of
 * exec'ing /proc/self/exe again: an exec and the loading of sfcd's libraries per guest, 32 of
 * them in a star32 `up`. NULL (another program linking these roles): init execs. */
extern int (*sfcd_role_main)(int argc, char *argv[]);

#endif
