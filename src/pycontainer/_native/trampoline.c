/* pyc-trampoline: the first program a container process runs (CVE-2019-5736).
 *
 * The runtime is the host's Python interpreter, a file on a writable host
 * filesystem.  If the container's process were exec'd straight from the
 * runtime, an entrypoint /proc/self/exe, a script starting "#!/proc/self/exe"
 * or "#!/proc/self/fd/N" would make the kernel run (and hand to the
 * container) that interpreter or a runtime file.  So the runtime execs this
 * tiny static program instead, from a sealed memfd copy (execveat on the
 * fd), and this program execs the user's: while the kernel resolves the
 * user's program and its "#!" interpreter, /proc/self/exe is the sealed copy
 * and every runtime fd is already closed (they are all close-on-exec).
 *
 * argv: PATH ERRFD ARGV0 ARGV1 ...  runs execve(PATH, ARGV0..., environ).
 * ERRFD "-": on failure write runc's wording to stderr; a number: write the
 * errno there in decimal (the fd is made close-on-exec first, so it reaches
 * EOF when the exec succeeds).  Exits 127 on failure.
 *
 * No libc: raw syscalls only, so it is a few KB and runs with nothing from
 * the container (built by setup.py with -nostdlib -static). */

#if defined(__x86_64__)
#define NR_write 1
#define NR_fcntl 72
#define NR_execve 59
#define NR_exit 60
#define NR_prctl 157
static long sys3(long n, long a, long b, long c)
{
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
}
__asm__(".text\n.global _start\n_start:\n xor %rbp,%rbp\n mov %rsp,%rdi\n and $-16,%rsp\n"
        " call trampoline_main\n hlt\n");
#elif defined(__aarch64__)
#define NR_write 64
#define NR_fcntl 25
#define NR_execve 221
#define NR_exit 93
#define NR_prctl 167
static long sys3(long n, long a, long b, long c)
{
    register long x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b, x2 __asm__("x2") = c;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
}
__asm__(".text\n.global _start\n_start:\n mov x0, sp\n bl trampoline_main\n");
#else
#error "pyc-trampoline: add this architecture's syscall numbers and entry point"
#endif

#define F_SETFD 2
#define PR_SET_DUMPABLE 4
#define FD_CLOEXEC 1

static unsigned long length(const char *s)
{
    unsigned long n = 0;
    while (s[n])
        n++;
    return n;
}

static void say(int fd, const char *s) { sys3(NR_write, fd, (long)s, (long)length(s)); }

/* Go's wording for the errors execve gives most (runc reports these). */
static const char *reason(long err)
{
    switch (err) {
    case 1: return "operation not permitted";
    case 2: return "no such file or directory";
    case 7: return "argument list too long";
    case 8: return "exec format error";
    case 12: return "cannot allocate memory";
    case 13: return "permission denied";
    case 20: return "not a directory";
    case 26: return "text file busy";
    case 36: return "file name too long";
    case 40: return "too many levels of symbolic links";
    default: return "execve failed";
    }
}

__attribute__((noreturn, used)) void trampoline_main(long *sp)
{
    /* Not dumpable while it runs (the next execve decides again): the container
     * gets no handle on this process (even if it is only the sealed copy). */
    sys3(NR_prctl, PR_SET_DUMPABLE, 0, 0);
    long argc = sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    if (argc < 3) {
        say(2, "pyc-trampoline: usage: PATH ERRFD ARGV0 [ARG...] (it is not a program to run)\n");
        sys3(NR_exit, 127, 0, 0);
    }
    long errfd = -1;
    if (argv[1][0] != '-') {
        errfd = 0;
        for (const char *p = argv[1]; *p >= '0' && *p <= '9'; p++)
            errfd = errfd * 10 + (*p - '0');
        sys3(NR_fcntl, errfd, F_SETFD, FD_CLOEXEC);
    }
    long err = -sys3(NR_execve, (long)argv[0], (long)(argv + 2), (long)envp);
    if (errfd >= 0) {
        char digits[8];
        int i = sizeof(digits);
        do
            digits[--i] = (char)('0' + err % 10);
        while ((err /= 10) && i > 0);
        sys3(NR_write, errfd, (long)(digits + i), (long)(sizeof(digits) - i));
    } else {
        say(2, "nsinit: unable to start container process: exec: \"");
        say(2, argv[0]);
        say(2, "\": ");
        say(2, reason(err));
        say(2, "\n");
    }
    for (;;)
        sys3(NR_exit, 127, 0, 0);
}
