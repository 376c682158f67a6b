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

#endif
