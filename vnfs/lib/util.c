#include "vnfs/lib/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;
static const char *log_program = "sfclab";

void
sfc_abort(const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    fprintf(stderr, "%s: fatal: ", log_program);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
    abort();
}

void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        sfc_abort("out of memory (%zu bytes)", n);
    }
    return p;
}

void *
xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        sfc_abort("out of memory (%zu x %zu bytes)", count, size);
    }
    return p;
}

void *
xzalloc(size_t n)
{
    return xcalloc(1, n);
}

void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p) {
        sfc_abort("out of memory (%zu bytes)", n);
    }
    return p;
}

/* Grows an array of '*n' elements to at least twice its size, as OVS's x2nrealloc. */
void *
x2nrealloc(void *p, size_t *n, size_t elem_size)
{
    *n = *n ? *n * 2 : 4;
    return xrealloc(p, *n * elem_size);
}

char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

char *
xvasprintf(const char *fmt, va_list args)
{
    char *s;
    if (vasprintf(&s, fmt, args) < 0) {
        sfc_abort("out of memory formatting a string");
    }
    return s;
}

char *
xasprintf(const char *fmt, ...)
{
    va_list args;
    char *s;

    va_start(args, fmt);
    s = xvasprintf(fmt, args);
    va_end(args);
    return s;
}

static uint64_t
clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t) ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

uint64_t
time_mono_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

uint64_t
time_wall_ns(void)
{
    return clock_ns(CLOCK_REALTIME);
}

void
log_set_program(const char *name)
{
    log_program = name;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    static const char *const names[] = { "error", "warning", "info", "debug" };
    va_list args;

    if (level > log_threshold) {
        return;
    }
    va_start(args, fmt);
    fprintf(stderr, "%s: %s: ", log_program, names[level]);
    vfprintf(stderr, fmt, args);
    fputc('\n', stderr);
    va_end(args);
}

/* Splits "12.5ms" into 12.5 and "ms"; false if no number leads or the number is not finite. */
static bool
split_number_unit(const char *s, double *value, const char **unit)
{
    char *end;

    while (isspace((unsigned char) *s)) {
        s++;
    }
    if (!*s || *s == '-' || *s == '+') {
        return false;
    }
    errno = 0;
    *value = strtod(s, &end);
    if (end == s || errno || !isfinite(*value) || *value < 0) {
        return false;
    }
    *unit = end;
    return true;
}

struct unit {
    const char *name;
    double mult;
};

/* Parses 's', a number and one of the 'n' units (compared with 'cmp'), into '*out' in the
 * units' base, rounded. */
static bool
parse_with_units(const char *s, const struct unit *units, size_t n,
                 int (*cmp)(const char *, const char *), uint64_t *out)
{
    const char *unit;
    double value;

    if (!split_number_unit(s, &value, &unit)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!cmp(unit, units[i].name)) {
            double v = value * units[i].mult;

            if (v >= 18446744073709551615.0) {
                return false;
            }
            *out = (uint64_t) llround(v);
            return true;
        }
    }
    return false;
}

bool
parse_size(const char *s, uint64_t *bytes)
{
    static const struct unit units[] = {
        { "", 1 }, { "B", 1 }, { "K", 1024.0 }, { "KB", 1024.0 }, { "KiB", 1024.0 },
        { "M", 1048576.0 }, { "MB", 1048576.0 }, { "MiB", 1048576.0 },
        { "G", 1073741824.0 }, { "GB", 1073741824.0 }, { "GiB", 1073741824.0 },
    };

    return parse_with_units(s, units, ARRAY_SIZE(units), strcasecmp, bytes);
}

bool
parse_duration(const char *s, uint64_t *ns)
{
    static const struct unit units[] = {
        { "", 1e9 }, { "s", 1e9 }, { "ms", 1e6 }, { "us", 1e3 }, { "ns", 1 },
        { "m", 60e9 }, { "min", 60e9 }, { "h", 3600e9 },
    };

    return parse_with_units(s, units, ARRAY_SIZE(units), strcmp, ns);
}

bool
parse_rate(const char *s, uint64_t *bps)
{
    static const struct unit units[] = {
        { "bit", 1 }, { "kbit", 1e3 }, { "mbit", 1e6 }, { "gbit", 1e9 },
        { "bps", 8 }, { "kbps", 8e3 }, { "mbps", 8e6 }, { "gbps", 8e9 },
    };

    return parse_with_units(s, units, ARRAY_SIZE(units), strcasecmp, bps);
}

int
write_fully(int fd, const void *data_, size_t len)
{
    const char *data = data_;

    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return errno;
        }
        data += n;
        len -= n;
    }
    return 0;
}

int
read_file(const char *path, char **contentsp, size_t *lenp)
{
    size_t len = 0, cap = 4096;
    char *buf = NULL;
    int error = 0;
    int fd;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return errno;
    }
    buf = xmalloc(cap);
    for (;;) {
        ssize_t n;
        if (len + 1 >= cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            error = errno;
            goto out;
        }
        if (!n) {
            break;
        }
        len += n;
    }
    buf[len] = '\0';
    *contentsp = buf;
    if (lenp) {
        *lenp = len;
    }
    buf = NULL;
out:
    free(buf);
    close(fd);
    return error;
}

int
proc_tasks(pid_t pid, struct proc_task **tasksp, size_t *np)
{
    char path[64], comm_path[sizeof path + 300];
    struct proc_task *tasks = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    DIR *dir;

    snprintf(path, sizeof path, "/proc/%d/task", (int) pid);
    dir = opendir(path);
    if (!dir) {
        return errno == ENOENT ? ESRCH : errno;
    }
    while ((de = readdir(dir))) {
        pid_t tid = atoi(de->d_name);
        char *comm = NULL;

        snprintf(comm_path, sizeof comm_path, "%s/%s/comm", path, de->d_name);
        if (tid <= 0 || read_file(comm_path, &comm, NULL)) {
            continue;
        }
        if (n == cap) {
            tasks = x2nrealloc(tasks, &cap, sizeof *tasks);
        }
        tasks[n].tid = tid;
        snprintf(tasks[n].name, sizeof tasks[n].name, "%.*s", (int) strcspn(comm, "\n"), comm);
        n++;
        free(comm);
    }
    closedir(dir);
    *tasksp = tasks;
    *np = n;
    return 0;
}
