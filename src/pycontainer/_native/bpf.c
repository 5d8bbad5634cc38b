/* bpf(2) for cgroup v2 device rules: see bpf.h.  Each function returns -1
 * with errno set on failure, like the rest of the C core. */

#include <errno.h>
#include <linux/bpf.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int pyc_bpf(int cmd, union bpf_attr *attr)
{
    return (int)syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

int pyc_bpf_load_device_prog(const void *insns, unsigned int count, char *log, unsigned int log_size)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (unsigned long long)(unsigned long)insns;
    attr.insn_cnt = count;
    attr.license = (unsigned long long)(unsigned long)"Apache";
    if (log != NULL && log_size > 0) {
        log[0] = '\0';
        attr.log_buf = (unsigned long long)(unsigned long)log;
        attr.log_size = log_size;
        attr.log_level = 1;
    }
    int fd = pyc_bpf(BPF_PROG_LOAD, &attr);
    if (fd < 0 && log != NULL && log_size > 0) {
        /* Retry without a log: a log too small for the verifier's output
         * fails the load with ENOSPC, hiding the real answer. */
        int saved = errno;
        if (saved == ENOSPC) {
            attr.log_buf = 0;
            attr.log_size = 0;
            attr.log_level = 0;
            fd = pyc_bpf(BPF_PROG_LOAD, &attr);
        } else {
            errno = saved;
        }
    }
    return fd; /* the kernel makes bpf fds close-on-exec */
}

int pyc_bpf_attach_device_prog(int cgroup_fd, int prog_fd, unsigned int flags)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = cgroup_fd;
    attr.attach_bpf_fd = prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    attr.attach_flags = flags;
    return pyc_bpf(BPF_PROG_ATTACH, &attr);
}

int pyc_bpf_detach_device_prog(int cgroup_fd, int prog_fd)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.target_fd = cgroup_fd;
    attr.attach_bpf_fd = prog_fd;
    attr.attach_type = BPF_CGROUP_DEVICE;
    return pyc_bpf(BPF_PROG_DETACH, &attr);
}

/* *count: in, the room in ids; out, how many programs are attached (the
 * cgroup's own, not inherited ones). */
int pyc_bpf_query_device_progs(int cgroup_fd, unsigned int *ids, unsigned int *count)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.query.target_fd = cgroup_fd;
    attr.query.attach_type = BPF_CGROUP_DEVICE;
    attr.query.prog_ids = (unsigned long long)(unsigned long)ids;
    attr.query.prog_cnt = *count;
    int rc = pyc_bpf(BPF_PROG_QUERY, &attr);
    *count = attr.query.prog_cnt;
    return rc;
}

int pyc_bpf_prog_fd_by_id(unsigned int id)
{
    union bpf_attr attr;
    memset(&attr, 0, sizeof(attr));
    attr.prog_id = id;
    attr.open_flags = 0;
    return pyc_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
}
