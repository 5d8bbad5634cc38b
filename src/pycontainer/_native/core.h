/* The declarations shared by build.py (cffi cdef) and core.c.
 * Keep this file plain: cffi parses it, so no macros or includes here. */

struct pyc_exec {
    const char *path;          /* absolute path of the program (already looked up) */
    char *const *argv;         /* NULL-terminated (with a trampoline: its argv, PATH ERRFD ARGV...) */
    char *const *envp;         /* NULL-terminated */

    int close_from;            /* fds >= close_from are closed (3 + preserved fds) */
    int trampoline_fd;         /* a sealed memfd of pyc-trampoline to execveat, or -1: execve path */

    int set_ids;               /* 1: setgroups/setresgid/setresuid below */
    int set_groups;            /* 0 where setgroups is denied (user ns with setgroups=deny) */
    unsigned int uid;
    unsigned int gid;
    int ngroups;
    const unsigned int *groups;

    int set_caps;              /* 1: apply the five sets below */
    int last_cap;              /* /proc/sys/kernel/cap_last_cap */
    unsigned long long cap_bounding;
    unsigned long long cap_effective;
    unsigned long long cap_permitted;
    unsigned long long cap_inheritable;
    unsigned long long cap_ambient;

    int no_new_privs;

    const void *seccomp_filter;   /* struct sock_filter[], compiled in the parent */
    unsigned short seccomp_len;   /* number of sock_filter instructions; 0: none */
    unsigned int seccomp_flags;
};

int pyc_clone(unsigned long flags);
int pyc_unshare(int flags);
int pyc_setns(int fd, int nstype);
int pyc_pivot_root(const char *new_root, const char *put_old);
int pyc_mount(const char *source, const char *target, const char *fstype,
              unsigned long flags, const char *data);
int pyc_umount2(const char *target, int flags);
int pyc_mount_setattr(int dirfd, const char *path, unsigned int flags,
                      unsigned long long attr_set, unsigned long long attr_clr,
                      unsigned long long propagation, unsigned long long userns_fd);
int pyc_link_up(const char *ifname);
int pyc_openat2(int dirfd, const char *path, unsigned long long flags,
                unsigned long long mode, unsigned long long resolve);
long long pyc_fstatfs_type(int fd);
int pyc_join_session_keyring(const char *name);
int pyc_sethostname(const char *name, size_t len);
int pyc_personality(unsigned long persona);
int pyc_sched_setattr(int pid, unsigned int policy, unsigned long long flags, int nice, unsigned int priority,
                      unsigned long long runtime, unsigned long long deadline, unsigned long long period);
int pyc_ioprio_set(int which, int who, int ioprio);
int pyc_setdomainname(const char *name, size_t len);
int pyc_prctl(int option, unsigned long arg2, unsigned long arg3,
              unsigned long arg4, unsigned long arg5);
int pyc_capget(unsigned long long *effective, unsigned long long *permitted,
               unsigned long long *inheritable);
int pyc_apply_credentials(const struct pyc_exec *e, const char **failed_step);
int pyc_exec(const struct pyc_exec *e, const char **failed_step);

/* idmapped mounts (mounts[].uidMappings/gidMappings) */
int pyc_open_tree(int dirfd, const char *path, unsigned int flags);
int pyc_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                   unsigned int flags);
int pyc_userns_fd(const char *uid_map, const char *gid_map);
int pyc_seccomp_load(const void *filter, unsigned short len, unsigned int flags);
int pyc_seccomp_flag_supported(unsigned int flag);
int pyc_pidfd_getfd(int pid, int fd);
