/* dl_virt — libvirt and libvirt-lxc, loaded on first use (vnfs/lib/dynlib.h): only the lxc and
 * kvm providers call them, and libvirt brings 56 libraries into a process that links it. An
 * `up` of netns guests clones its address space once per guest; it now holds none of them.
 *
 * libvirtd_connect() calls dl_virt_load(), so every function of libvirtd.h and the providers,
 * which all start from a connection, may call dl_virt.virX(...) as they called virX(...),
 * checked against libvirt's headers. Must not be called before a successful dl_virt_load():
 * the table is empty until then. Main type: struct dl_virt. */
#ifndef SFC_DL_VIRT_H
#define SFC_DL_VIRT_H 1

#include <libvirt/libvirt-lxc.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "vnfs/lib/dynlib.h"

#define DL_VIRT_FUNCS(F) \
    F(virConnectClose) F(virConnectIsAlive) F(virConnectOpen) F(virDomainAttachDeviceFlags) \
    F(virDomainCreateXML) F(virDomainCreateXMLWithFiles) F(virDomainDestroy) F(virDomainFree) \
    F(virDomainGetID) F(virDomainGetInfo) F(virDomainGetState) F(virDomainGetXMLDesc) \
    F(virDomainIsActive) F(virDomainIsPersistent) F(virDomainLookupByName) \
    F(virDomainPinEmulator) F(virDomainPinVcpu) F(virDomainRestore) F(virDomainResume) \
    F(virDomainSave) F(virDomainSetSchedulerParametersFlags) F(virDomainShutdownFlags) \
    F(virDomainSnapshotCreateXML) F(virDomainSnapshotFree) \
    F(virDomainSuspend) F(virDomainUndefine) F(virGetLastError) F(virNodeGetCPUMap) \
    F(virSetErrorFunc)

/* In libvirt-lxc.so. */
#define DL_VIRT_LXC_FUNCS(F) \
    F(virDomainLxcEnterCGroup) F(virDomainLxcEnterNamespace) F(virDomainLxcOpenNamespace)

struct dl_virt {
    DL_VIRT_FUNCS(DYNLIB_MEMBER)
    DL_VIRT_LXC_FUNCS(DYNLIB_MEMBER)
};

extern struct dl_virt dl_virt;

/* Loads both libraries. Returns 0, or an errno (logged) if either cannot be loaded. */
int dl_virt_load(void);
/* Whether dl_virt_load() has succeeded in this process. */
bool dl_virt_loaded(void);

#endif
