/* pycontainer's C core: the syscalls Python 3.11 has no wrapper for, and the
 * last steps before execve, which must run with no Python in between (after
 * setresuid and capset the interpreter may no longer be able to do anything).
 *
 * Every function returns -1 with errno set on failure; the Python side
 * (pycontainer.syscalls) turns that into OSError naming the syscall. */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <Python.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* clone(2) used like fork(2): no new stack, the child returns here and goes on
 * in Python.  CPython's fork hooks run around it, exactly as os.fork() runs
 * them, so locks, the GIL and os.register_at_fork callbacks stay sane.  cffi
 * released the GIL for this call; the hooks need it, so take it back. */
int pyc_clone(unsigned long flags)
{
    PyGILState_STATE gil = PyGILState_Ensure();
    PyOS_BeforeFork();
    long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
    int saved = errno;
    if (pid == 0)
        PyOS_AfterFork_Child();
    else
        PyOS_AfterFork_Parent();
    PyGILState_Release(gil);
    errno = saved;
    return (int)pid;
}

int pyc_unshare(int flags) { return unshare(flags); }

int pyc_setns(int fd, int nstype) { return setns(fd, nstype); }

int pyc_pivot_root(const char *new_root, const char *put_old)
{
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int pyc_mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data)
{
    return mount(source, target, fstype, flags, data);
}

int pyc_umount2(const char *target, int flags) { return umount2(target, flags); }

struct pyc_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

int pyc_mount_setattr(int dirfd, const char *path, unsigned int flags,
                      unsigned long long attr_set, unsigned long long attr_clr,
                      unsigned long long propagation, unsigned long long userns_fd)
{
    struct pyc_mount_attr attr = {attr_set, attr_clr, propagation, userns_fd};
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &attr, sizeof(attr));
}

/* ifconfig IFNAME up: one ioctl on any socket (used for lo in a new network
 * namespace, so the runtime needs no netlink library for it). */
int pyc_link_up(const char *ifname)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

/* openat2(2): with RESOLVE_IN_ROOT the kernel resolves a path inside dirfd
 * as if it were "/", symlinks and ".." included, in one race-free call. */
int pyc_openat2(int dirfd, const char *path, unsigned long long flags,
                unsigned long long mode, unsigned long long resolve)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

/* fstatfs(2)'s f_type, the one field Python's os.fstatvfs leaves out: which
 * file system an fd is on (procfs handles are checked for PROC_SUPER_MAGIC). */
long long pyc_fstatfs_type(int fd)
{
    struct statfs st;
    if (fstatfs(fd, &st) < 0)
        return -1;
    return (long long)st.f_type;
}

/* keyctl(KEYCTL_JOIN_SESSION_KEYRING): a new session keyring of this name, so
 * the container cannot see the keys of the session that started it. */
int pyc_join_session_keyring(const char *name)
{
    return (int)syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name, 0, 0, 0);
}

int pyc_sethostname(const char *name, size_t len) { return sethostname(name, len); }
/* personality(2) returns the previous persona, or -1 with errno. */
int pyc_personality(unsigned long persona) { return personality(persona); }

/* process.scheduler: sched_setattr(2), which glibc does not wrap (struct sched_attr, version 1). */
struct pyc_sched_attr {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
};

int pyc_sched_setattr(int pid, unsigned int policy, unsigned long long flags, int nice, unsigned int priority,
                      unsigned long long runtime, unsigned long long deadline, unsigned long long period)
{
    struct pyc_sched_attr attr = {sizeof(attr), policy, flags, nice, priority, runtime, deadline, period};
    return (int)syscall(SYS_sched_setattr, pid, &attr, 0);
}

/* process.ioPriority: ioprio_set(2), not wrapped by glibc either. */
int pyc_ioprio_set(int which, int who, int ioprio) { return (int)syscall(SYS_ioprio_set, which, who, ioprio); }

int pyc_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }

int pyc_prctl(int option, unsigned long arg2, unsigned long arg3,
              unsigned long arg4, unsigned long arg5)
{
    return prctl(option, arg2, arg3, arg4, arg5);
}

static int capget_v3(struct __user_cap_data_struct data[2])
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    return (int)syscall(SYS_capget, &hdr, data);
}

int pyc_capget(unsigned long long *effective, unsigned long long *permitted,
               unsigned long long *inheritable)
{
    struct __user_cap_data_struct data[2];
    if (capget_v3(data) < 0)
        return -1;
    *effective = data[0].effective | ((unsigned long long)data[1].effective << 32);
    *permitted = data[0].permitted | ((unsigned long long)data[1].permitted << 32);
    *inheritable = data[0].inheritable | ((unsigned long long)data[1].inheritable << 32);
    return 0;
}

static int capset_v3(uint64_t effective, uint64_t permitted, uint64_t inheritable)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2] = {
        {(uint32_t)effective, (uint32_t)permitted, (uint32_t)inheritable},
        {(uint32_t)(effective >> 32), (uint32_t)(permitted >> 32), (uint32_t)(inheritable >> 32)},
    };
    return (int)syscall(SYS_capset, &hdr, data);
}

/* Close every fd >= from but `keep` (-1: none).  Closed, not only marked
 * close-on-exec: no /proc/self/fd/N may name a runtime file while the kernel
 * resolves the program and its "#!" interpreter (CVE-2024-21626). */
static int close_from(int from, int keep)
{
    unsigned int first = (unsigned int)from;
    if (keep >= from) {
        if (keep > from && syscall(SYS_close_range, first, (unsigned int)keep - 1, 0) < 0)
            goto loop;
        first = (unsigned int)keep + 1;
    }
    if (syscall(SYS_close_range, first, ~0U, 0) == 0)
        return 0;
loop:;  /* no close_range (Linux < 5.9), or a seccomp profile refusing it */
    long max = sysconf(_SC_OPEN_MAX);
    for (int fd = from; fd < max; fd++)
        if (fd != keep)
            close(fd);
    return 0;
}

static int load_seccomp(const struct pyc_exec *e)
{
    struct sock_fprog prog = {e->seccomp_len, (struct sock_filter *)e->seccomp_filter};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, e->seccomp_flags, &prog);
}

#define STEP(name, call)            \
    do {                            \
        if ((call) < 0) {           \
            *failed_step = (name);  \
            return -1;              \
        }                           \
    } while (0)

/* The container process's credentials, in runc's order (finalizeNamespace
 * and the standard init): no Python runs between these steps.  Python may run
 * after them (startContainer hooks get the process's credentials), then
 * pyc_exec.
 *
 * Seccomp goes last when no_new_privs is set; without no_new_privs loading a
 * filter needs CAP_SYS_ADMIN, so it must go in before the capabilities are
 * dropped (runc does the same). */
int pyc_apply_credentials(const struct pyc_exec *e, const char **failed_step)
{
    /* (uid_t)-1 means "leave unchanged" to setresuid: a uid of 4294967295
     * would keep root.  runc's range, whatever the caller checked. */
    int ids_ok = e->uid <= 2147483647U && e->gid <= 2147483647U;
    for (int i = 0; e->set_groups && i < e->ngroups; i++)
        ids_ok = ids_ok && e->groups[i] <= 2147483647U;
    if (e->set_ids && !ids_ok) {
        errno = EINVAL;
        *failed_step = "uids and gids must be in range 0-2147483647";
        return -1;
    }

    if (e->seccomp_len && !e->no_new_privs)
        STEP("seccomp", load_seccomp(e));

    if (e->set_caps) {
        for (int cap = 0; cap <= e->last_cap; cap++)
            if (!(e->cap_bounding & (1ULL << cap)))
                STEP("prctl(PR_CAPBSET_DROP)", prctl(PR_CAPBSET_DROP, cap, 0, 0, 0));
        /* Keep the permitted set across the change of uid; capset trims it next. */
        STEP("prctl(PR_SET_KEEPCAPS)", prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0));
    }

    if (e->set_ids) {
        /* Raw syscalls: glibc's wrappers would signal other threads (there are none). */
        if (e->set_groups)
            STEP("setgroups", (int)syscall(SYS_setgroups, e->ngroups, e->groups));
        STEP("setresgid", (int)syscall(SYS_setresgid, e->gid, e->gid, e->gid));
        STEP("setresuid", (int)syscall(SYS_setresuid, e->uid, e->uid, e->uid));
    }

    if (e->set_caps) {
        STEP("prctl(PR_SET_KEEPCAPS)", prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0));
        STEP("capset", capset_v3(e->cap_effective, e->cap_permitted, e->cap_inheritable));
        STEP("prctl(PR_CAP_AMBIENT_CLEAR_ALL)",
             prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0));
        /* A capability not both permitted and inheritable cannot be raised (EPERM); runc
         * and crun go on without it, so `runc spec`'s config (ambient, no inheritable)
         * runs.  The parent logs which ones (capabilities.unraisable_ambient). */
        for (int cap = 0; cap <= e->last_cap; cap++)
            if (e->cap_ambient & (1ULL << cap))
                prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
    }

    if (e->no_new_privs)
        STEP("prctl(PR_SET_NO_NEW_PRIVS)", prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0));

    if (e->seccomp_len && e->no_new_privs)
        STEP("seccomp", load_seccomp(e));
    return 0;
}

/* The last step: close what is not passed on, default signals, execve.
 * With a trampoline (a sealed memfd, see trampoline.c) the kernel runs that
 * from its fd, so /proc/self/exe is never the host's interpreter while the
 * user's program (and its "#!" interpreter) is looked up. */
int pyc_exec(const struct pyc_exec *e, const char **failed_step)
{
    STEP("close_range", close_from(e->close_from, e->trampoline_fd));

    /* Python ignores SIGPIPE and SIGXFSZ, and an ignored signal stays
     * ignored across execve: give the program the default dispositions and
     * an empty signal mask, as a fresh process would have. */
    for (int sig = 1; sig < _NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (e->trampoline_fd >= 0) {
        syscall(SYS_execveat, e->trampoline_fd, "", e->argv, e->envp, AT_EMPTY_PATH);
        *failed_step = "execveat (the exec trampoline)";
        return -1;
    }
    execve(e->path, e->argv, e->envp);
    *failed_step = "execve";
    return -1;
}

/* -- idmapped mounts ----------------------------------------------------------
 * The parent (root in the host's user namespace, which the kernel requires
 * over the filesystem) clones the bind source as a detached mount, gives it
 * the mapping of a user namespace made for the purpose, and the init moves it
 * to its target (crun's and runc's way). */

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif

int pyc_open_tree(int dirfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dirfd, path, flags);
}

int pyc_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                   unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}

static int write_proc_file(pid_t pid, const char *name, const char *text)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

/* An fd of a new user namespace with these maps ("ID HOST SIZE\n" lines):
 * a child is cloned into it and waits on a pipe while the maps are written
 * and its namespace is opened, then exits.  The child only reads and exits
 * (raw syscalls), so no fork hooks are needed. */
int pyc_userns_fd(const char *uid_map, const char *gid_map)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
    if (pid == 0) {
        char c;
        syscall(SYS_close, pipefd[1]);
        syscall(SYS_read, pipefd[0], &c, 1);  /* returns at EOF: the parent is done */
        syscall(SYS_exit_group, 0);
    }
    int saved = errno, fd = -1;
    close(pipefd[0]);
    if (pid > 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
        if (write_proc_file((pid_t)pid, "uid_map", uid_map) == 0 &&
            write_proc_file((pid_t)pid, "gid_map", gid_map) == 0)
            fd = open(path, O_RDONLY | O_CLOEXEC);
        saved = errno;
    }
    close(pipefd[1]);
    if (pid > 0)
        while (waitpid((pid_t)pid, NULL, 0) < 0 && errno == EINTR)
            ;
    errno = saved;
    return fd;
}

/* --- seccomp: a filter loaded ahead of the final step, for a seccomp agent ---
 *
 * A profile with SCMP_ACT_NOTIFY rules is loaded with SECCOMP_FILTER_FLAG_NEW_LISTENER
 * while the runtime can still take the notify fd this returns (runc's and crun's order);
 * pyc_exec is then told to load nothing more. */

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* Returns the notify fd (>= 0; 0 when the flags ask for no listener) or -1. */
int pyc_seccomp_load(const void *filter, unsigned short len, unsigned int flags)
{
    struct sock_fprog prog = {len, (struct sock_filter *)filter};
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}

/* libseccomp's probe: a NULL program with the flag gives EFAULT once the flags
 * passed the kernel's check, EINVAL when one of them is unknown. */
int pyc_seccomp_flag_supported(unsigned int flag)
{
    int rc = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flag, NULL);
    return rc < 0 && errno == EFAULT;
}

/* A duplicate of fd `fd` of process `pid` (pidfd_getfd, Linux 5.6), close-on-exec. */
int pyc_pidfd_getfd(int pid, int fd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0)
        return -1;
    int got = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int saved = errno;
    close(pidfd);
    errno = saved;
    return got;
}
