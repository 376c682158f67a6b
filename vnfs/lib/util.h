/* util — allocation that cannot fail, string helpers, clocks and logging shared by every sfclab
 * binary (host and guest).
 *
 * x*alloc() abort on exhaustion (as OVS's xmalloc does): every caller would otherwise carry an
 * error path that is never tested. Logging goes to stderr with the program's name; it never
 * touches the data path's hot loop unless asked (log_debug is compiled in but gated). */
#ifndef SFC_UTIL_H
#define SFC_UTIL_H 1

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof (a) / sizeof *(a))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define PRINTF_FORMAT(fmt, args) __attribute__((format(printf, fmt, args)))
#define NO_RETURN __attribute__((noreturn))

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xzalloc(size_t);
void *xrealloc(void *, size_t);
char *xstrdup(const char *);
char *xasprintf(const char *fmt, ...) PRINTF_FORMAT(1, 2);
char *xvasprintf(const char *fmt, va_list) PRINTF_FORMAT(1, 0);
void *x2nrealloc(void *p, size_t *n, size_t elem_size);

NO_RETURN void sfc_abort(const char *fmt, ...) PRINTF_FORMAT(1, 2);

/* Clocks, in nanoseconds. */
uint64_t time_mono_ns(void);
uint64_t time_wall_ns(void);

/* Logging. */
enum log_level { LOG_ERR, LOG_WARN, LOG_INFO, LOG_DEBUG };
extern enum log_level log_threshold;
void log_set_program(const char *name);
void log_msg(enum log_level, const char *fmt, ...) PRINTF_FORMAT(2, 3);
#define log_err(...)   log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) do { if (log_threshold >= LOG_DEBUG) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

/* Parses "256M", "1G", "512K", "4096" into bytes; false on junk or overflow. */
bool parse_size(const char *, uint64_t *bytes);
/* Parses "250ms", "1.5s", "30us", "5m", "100ns" (a bare number is seconds) into nanoseconds. */
bool parse_duration(const char *, uint64_t *ns);
/* Parses "100mbit", "1gbit", "10kbit", "500bit" into bits per second. */
bool parse_rate(const char *, uint64_t *bps);

/* Writes all of 'len' bytes, retrying on EINTR and short writes. Returns 0 or errno. */
int write_fully(int fd, const void *, size_t len);
/* Reads a whole small file into a NUL-terminated buffer. Returns 0 or errno. */
int read_file(const char *path, char **contentsp, size_t *lenp);

/* A thread of a process: its id and its name (its comm, without the newline). */
struct proc_task {
    pid_t tid;
    char name[16];
};
/* The threads of process 'pid' into '*tasksp' (malloc'd) and '*np'; a thread that ends
 * meanwhile is left out. Returns 0, ESRCH if the process is gone, or another errno. */
int proc_tasks(pid_t pid, struct proc_task **tasksp, size_t *np);

#endif
