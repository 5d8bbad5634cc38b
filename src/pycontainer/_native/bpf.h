/* The bpf(2) calls for cgroup v2 device rules (BPF_PROG_TYPE_CGROUP_DEVICE).
 * The program itself is generated in Python (pycontainer.cgroups.devicefilter);
 * these only load, attach, list and detach it.  Plain declarations: cffi parses this. */

int pyc_bpf_load_device_prog(const void *insns, unsigned int count, char *log, unsigned int log_size);
int pyc_bpf_attach_device_prog(int cgroup_fd, int prog_fd, unsigned int flags);
int pyc_bpf_detach_device_prog(int cgroup_fd, int prog_fd);
int pyc_bpf_query_device_progs(int cgroup_fd, unsigned int *ids, unsigned int *count);
int pyc_bpf_prog_fd_by_id(unsigned int id);
