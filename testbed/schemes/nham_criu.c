/* The probe of NHAM's criu backend (nham_criu.h). */
#include "testbed/schemes/nham_criu.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vnfs/lib/buf.h"
#include "vnfs/lib/util.h"

static char *
nham_criu_find(void)
{
    const char *env = getenv("SFCLAB_CRIU");
    char *path = NULL;
    glob_t g;

    if (env && *env) {
        return access(env, X_OK) ? NULL : xstrdup(env);
    }
    if (!glob("build/criu/criu-*/criu/criu", 0, NULL, &g)) {
        /* Sorted: the last is the newest version. */
        for (size_t i = g.gl_pathc; i-- > 0 && !path;) {
            if (!access(g.gl_pathv[i], X_OK)) {
                path = xstrdup(g.gl_pathv[i]);
            }
        }
        globfree(&g);
    }
    return path;
}

/* Runs 'path check'; its output (stdout and stderr) into 'out'. Returns the exit status or -1. */
static int
nham_criu_check(const char *path, struct buf *out)
{
    int pipefd[2], status = -1;
    char chunk[512];
    ssize_t n;
    pid_t pid;

    if (pipe2(pipefd, O_CLOEXEC)) {
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (!pid) {
        dup2(pipefd[1], 1);
        dup2(pipefd[1], 2);
        execl(path, path, "check", (char *) NULL);
        _exit(127);
    }
    close(pipefd[1]);
    while ((n = read(pipefd[0], chunk, sizeof chunk)) > 0 || (n < 0 && errno == EINTR)) {
        if (n > 0) {
            buf_put(out, chunk, n);
        }
    }
    close(pipefd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        continue;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int
nham_criu_probe(const char **pathp, const char **whyp)
{
    static int error = -1;
    static char *path, *why;

    if (error < 0) {
        path = nham_criu_find();
        if (!path) {
            error = ENOENT;
            why = xstrdup("no CRIU >= 4.1 built here (run `make criu`; Debian 12's criu 3.17 "
                          "fails on this kernel with a vDSO error)");
        } else {
            struct buf out = BUF_INITIALIZER;
            int rc = nham_criu_check(path, &out);

            buf_put_u8(&out, '\0');
            if (!rc && strstr((char *) out.data, "Looks good.")) {
                error = 0;
            } else {
                /* The last line of `criu check` says what is missing. */
                char *text = (char *) out.data, *last = text, *nl;
                while ((nl = strchr(last, '\n')) && nl[1]) {
                    last = nl + 1;
                }
                last[strcspn(last, "\n")] = '\0';
                error = ENOTSUP;
                why = xasprintf("`%s check` failed (exit %d): %s", path, rc,
                                *last ? last : "no output");
            }
            buf_uninit(&out);
        }
    }
    if (pathp) {
        *pathp = path;
    }
    if (whyp) {
        *whyp = why;
    }
    return error;
}
