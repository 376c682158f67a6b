/* Linked into the static sfcd of the VM image only. libpcap.a brings in D-Bus (for its dbus
 * capture source, which sfcd never opens), and libdbus-1.a calls two functions of libsystemd,
 * of which Debian ships no static library. No systemd runs in the guest, so the truthful answer
 * is the one libsystemd gives there too: no socket was passed to us. */
int sd_listen_fds(int unset_environment);
int sd_is_socket(int fd, int family, int type, int listening);

int
sd_listen_fds(int unset_environment)
{
    (void) unset_environment;
    return 0;
}

int
sd_is_socket(int fd, int family, int type, int listening)
{
    (void) fd;
    (void) family;
    (void) type;
    (void) listening;
    return 0;
}
