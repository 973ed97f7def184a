/*
 * sandbox_probe: reports what a process inside a container can do, in a stable text form, so that
 * the same binary run under kiln and under docker can be compared line by line.
 *
 *   sandbox_probe report [PORT]   the whole report (PORT: a TCP port listening on the host's
 *                                 127.0.0.1, to test whether the host's loopback is reachable)
 *   sandbox_probe call NAME       one system call family, with arguments chosen so that the call
 *                                 fails with a telling errno when it reaches the kernel (EFAULT,
 *                                 EINVAL, EBADF...) and with EPERM (ENOSYS for clone3) when a
 *                                 seccomp filter stops it before; prints "NAME: RESULT"
 *   sandbox_probe calls           every family, one line each
 *
 * Built statically at test time (gcc -static), so it runs in a busybox image.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <net/if.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <time.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <unistd.h>

static const char *errname(int e) {
    switch (e) {
    case 0: return "ok";
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    case ENOSYS: return "ENOSYS";
    case EROFS: return "EROFS";
    case ENXIO: return "ENXIO";
    case ENODEV: return "ENODEV";
    case E2BIG: return "E2BIG";
    case ENOKEY: return "ENOKEY";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ENETUNREACH: return "ENETUNREACH";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EEXIST: return "EEXIST";
    case ESRCH: return "ESRCH";
    case ENOTDIR: return "ENOTDIR";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EINPROGRESS: return "EINPROGRESS";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENOMEM: return "ENOMEM";
    case EBUSY: return "EBUSY";
    default: {
        static char buf[32];
        snprintf(buf, sizeof buf, "errno%d", e);
        return buf;
    }
    }
}

/* The result of a raw system call: "ok" or the errno's name. */
static const char *res(long r) { return errname(r < 0 ? errno : 0); }

/* ---- one system call family each ------------------------------------------------------------ */

#define KEYCTL_GET_KEYRING_ID 0
#define KEY_SPEC_SESSION_KEYRING -3
#define KEY_SPEC_PROCESS_KEYRING -2

static const char *call_keyctl(void) {
    return res(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}
static const char *call_add_key(void) {
    return res(syscall(SYS_add_key, "user", "kiln-probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
}
static const char *call_request_key(void) {
    /* ENOKEY when it reaches the kernel */
    return res(syscall(SYS_request_key, "user", "kiln-probe-missing", NULL, 0));
}
static const char *call_unshare_user(void) {
    /* In a forked child, so that a success does not change the probe itself. */
    pid_t pid = fork();
    if (pid == 0) _exit(unshare(CLONE_NEWUSER) == 0 ? 0 : errno);
    int st = 0;
    waitpid(pid, &st, 0);
    return errname(WEXITSTATUS(st));
}
static const char *call_unshare_bad(void) {
    /* EINVAL for an unknown flag when it reaches the kernel */
    return res(syscall(SYS_unshare, 0x00000001));
}
static const char *call_clone_newuser(void) {
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) { waitpid(r, NULL, 0); return "ok"; }
    return errname(errno);
}
static const char *call_clone3(void) {
    /* EINVAL (size too small) when it reaches the kernel; docker's profile answers ENOSYS */
    return res(syscall(SYS_clone3, NULL, 0));
}
static const char *call_mount(void) {
    /* EFAULT (bad type pointer) when it reaches the kernel */
    return res(syscall(SYS_mount, "none", "/tmp", (char *)1, 0, NULL));
}
static const char *call_umount(void) {
    /* EINVAL (unknown flags) when it reaches the kernel */
    return res(syscall(SYS_umount2, "/", 0x7fff0000));
}
static const char *call_userns_mount(void) {
    /* The escape of issue 7: a new user namespace, then mount inside it. */
    pid_t pid = fork();
    if (pid == 0) {
        if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) _exit(100 + errno);
        _exit(mount("none", "/tmp", "tmpfs", 0, NULL) == 0 ? 0 : errno);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int code = WEXITSTATUS(st);
    static char buf[48];
    if (code >= 100) snprintf(buf, sizeof buf, "unshare %s", errname(code - 100));
    else snprintf(buf, sizeof buf, "mount %s", errname(code));
    return buf;
}
static const char *call_setns(void) {
    return res(syscall(SYS_setns, -1, 0)); /* EBADF */
}
static const char *call_kexec_load(void) {
    /* Needs CAP_SYS_BOOT to get past the kernel's first check (then EINVAL for bad flags). */
    return res(syscall(SYS_kexec_load, 0, 0, NULL, 0xdead0000UL));
}
static const char *call_kexec_file_load(void) {
    return res(syscall(SYS_kexec_file_load, -1, -1, 0, NULL, 0xdead0000UL));
}
static const char *call_open_by_handle_at(void) {
    /* EBADF (bad mount fd) or EFAULT when it reaches the kernel */
    return res(syscall(SYS_open_by_handle_at, -1, NULL, 0));
}
static const char *call_name_to_handle_at(void) {
    /* allowed by docker's profile: EFAULT here */
    return res(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", NULL, NULL, 0));
}
static const char *call_bpf(void) {
    /* E2BIG (attribute larger than a page) when it reaches the kernel */
    static char attr[8192];
    attr[sizeof attr - 1] = 1;
    return res(syscall(SYS_bpf, BPF_PROG_LOAD, attr, sizeof attr));
}
static const char *call_perf_event_open(void) {
    /* EINVAL (unknown flags) when it reaches the kernel */
    return res(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0xdead0000UL));
}
static const char *call_ptrace_init(void) {
    /* PID 1 is outside the command's reach: kiln's init (or, under docker, the probe itself). */
    long r = ptrace(PTRACE_ATTACH, 1, NULL, NULL);
    if (r != 0) return errname(errno);
    /* Attached (privileged): wait for the stop, then let PID 1 go on. */
    int st;
    waitpid(1, &st, __WALL);
    ptrace(PTRACE_DETACH, 1, NULL, NULL);
    return "ok";
}
static const char *call_process_vm_readv(void) {
    /* EINVAL (flags must be 0) when it reaches the kernel */
    char b;
    struct iovec l = {&b, 1}, r = {&b, 1};
    return res(syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 1));
}
static const char *call_kcmp(void) {
    return res(syscall(SYS_kcmp, getpid(), getpid(), 99, 0, 0)); /* EINVAL */
}
static const char *call_init_module(void) {
    return res(syscall(SYS_init_module, NULL, 0, "")); /* needs CAP_SYS_MODULE first */
}
static const char *call_finit_module(void) {
    return res(syscall(SYS_finit_module, -1, "", 0));
}
static const char *call_delete_module(void) {
    return res(syscall(SYS_delete_module, "kiln_probe_none", 0));
}
static const char *call_reboot(void) {
    /* EINVAL (bad magic) once past the CAP_SYS_BOOT check */
    return res(syscall(SYS_reboot, 0, 0, 0, NULL));
}
static const char *call_swapon(void) {
    return res(syscall(SYS_swapon, "/kiln-probe-none", 0));
}
static const char *call_acct(void) {
    return res(syscall(SYS_acct, "/kiln-probe-none"));
}
static const char *call_settimeofday(void) {
    return res(syscall(SYS_settimeofday, (void *)1, NULL)); /* EFAULT */
}
static const char *call_clock_settime(void) {
    return res(syscall(SYS_clock_settime, CLOCK_REALTIME, (void *)1)); /* EFAULT */
}
static const char *call_iopl(void) {
    return res(syscall(SYS_iopl, 4)); /* EINVAL */
}
static const char *call_ioperm(void) {
    return res(syscall(SYS_ioperm, 0x10000, 1, 1)); /* EINVAL */
}
static const char *call_quotactl(void) {
    return res(syscall(SYS_quotactl, 0x7fffffff, NULL, 0, NULL)); /* EINVAL */
}
static const char *call_userfaultfd(void) {
    return res(syscall(SYS_userfaultfd, 0x7fffffff)); /* EINVAL */
}
static const char *call_personality(void) {
    /* docker allows only a few personalities; the kernel accepts 0x0040008 (READ_IMPLIES_EXEC|...) */
    long r = syscall(SYS_personality, 0x0400000UL);
    if (r >= 0) { syscall(SYS_personality, 0UL); return "ok"; }
    return errname(errno);
}
static const char *call_fsopen(void) {
    return res(syscall(SYS_fsopen, (char *)1, 0)); /* EFAULT */
}
static const char *call_open_tree(void) {
    return res(syscall(SYS_open_tree, -1, "", 0x7fff0000)); /* EINVAL */
}
static const char *call_chroot(void) {
    /* allowed (CAP_SYS_CHROOT is in docker's default set): ENOENT */
    return res(syscall(SYS_chroot, "/kiln-probe-none"));
}
static const char *call_socket_vsock(void) {
    long fd = syscall(SYS_socket, 40 /* AF_VSOCK */, SOCK_STREAM, 0);
    if (fd >= 0) close(fd);
    return res(fd);
}
static const char *call_sethostname(void) {
    return res(syscall(SYS_sethostname, (char *)1, 4)); /* EFAULT */
}

struct family { const char *name; const char *(*fn)(void); };
static const struct family FAMILIES[] = {
    {"keyctl", call_keyctl},
    {"add_key", call_add_key},
    {"request_key", call_request_key},
    {"unshare-user", call_unshare_user},
    {"unshare", call_unshare_bad},
    {"clone-newuser", call_clone_newuser},
    {"clone3", call_clone3},
    {"userns-mount", call_userns_mount},
    {"mount", call_mount},
    {"umount2", call_umount},
    {"fsopen", call_fsopen},
    {"open_tree", call_open_tree},
    {"setns", call_setns},
    {"kexec_load", call_kexec_load},
    {"kexec_file_load", call_kexec_file_load},
    {"open_by_handle_at", call_open_by_handle_at},
    {"name_to_handle_at", call_name_to_handle_at},
    {"bpf", call_bpf},
    {"perf_event_open", call_perf_event_open},
    {"ptrace-init", call_ptrace_init},
    {"process_vm_readv", call_process_vm_readv},
    {"kcmp", call_kcmp},
    {"init_module", call_init_module},
    {"finit_module", call_finit_module},
    {"delete_module", call_delete_module},
    {"reboot", call_reboot},
    {"swapon", call_swapon},
    {"acct", call_acct},
    {"settimeofday", call_settimeofday},
    {"clock_settime", call_clock_settime},
    {"iopl", call_iopl},
    {"ioperm", call_ioperm},
    {"quotactl", call_quotactl},
    {"userfaultfd", call_userfaultfd},
    {"personality", call_personality},
    {"chroot", call_chroot},
    {"socket-vsock", call_socket_vsock},
    {"sethostname", call_sethostname},
};
#define NFAMILIES (sizeof FAMILIES / sizeof FAMILIES[0])

/* ---- the report ----------------------------------------------------------------------------- */

static void status_lines(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) { printf("status: %s\n", errname(errno)); return; }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs:", 11) ||
            !strncmp(line, "Seccomp:", 8)) {
            char *tab = strchr(line, '\t');
            if (tab) { *tab = ' '; while (tab[1] == '\t') memmove(tab + 1, tab + 2, strlen(tab + 1)); }
            fputs(line, stdout);
        }
    }
    fclose(f);
    printf("uid: %d\n", (int)getuid());
}

/* A masked path: absent, a /dev/null bind (files), an empty read-only directory, or exposed. */
static void masked(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) { printf("masked %s: absent\n", path); return; }
    if (S_ISCHR(st.st_mode)) {
        printf("masked %s: chr %u:%u\n", path, major(st.st_rdev), minor(st.st_rdev));
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        int n = 0;
        struct dirent *e;
        while (d && (e = readdir(d))) if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
        if (d) closedir(d);
        struct statvfs vfs;
        int ro = statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_RDONLY);
        printf("masked %s: dir entries=%d %s\n", path, n, ro ? "ro" : "rw");
        return;
    }
    int fd = open(path, O_RDONLY);
    if (fd < 0) { printf("masked %s: open %s\n", path, errname(errno)); return; }
    char buf[64];
    ssize_t n = read(fd, buf, sizeof buf);
    close(fd);
    printf("masked %s: readable %s\n", path, n > 0 ? "data" : n == 0 ? "empty" : errname(errno));
}

static void readonly(const char *path) {
    struct statvfs vfs;
    if (statvfs(path, &vfs) != 0) { printf("readonly %s: %s\n", path, errname(errno)); return; }
    printf("readonly %s: %s\n", path, (vfs.f_flag & ST_RDONLY) ? "ro" : "rw");
}

/* Create a device node and open it. */
static void device(const char *name, mode_t type, unsigned maj, unsigned min) {
    char path[64];
    snprintf(path, sizeof path, "/dev/kiln-probe-%s", name);
    unlink(path);
    if (mknod(path, type | 0600, makedev(maj, min)) != 0) {
        printf("device %s %u:%u: mknod %s\n", name, maj, min, errname(errno));
        return;
    }
    int fd = open(path, O_RDWR);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0) close(fd);
    unlink(path);
    /* ENXIO/ENODEV: the device cgroup let the open through to a missing driver */
    printf("device %s %u:%u: mknod ok, open %s\n", name, maj, min,
           e == ENXIO || e == ENODEV || e == ENOENT ? "passes-cgroup" : errname(e));
}

static void open_dev(const char *path) {
    int fd = open(path, O_RDWR | O_NOCTTY);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0) close(fd);
    printf("open %s: %s\n", path, errname(e));
}

static const char *tcp_connect(const char *ip, int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) return errname(errno);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = r < 0 ? errno : 0;
    close(s);
    return e == 0 ? "connected" : errname(e);
}

static void fds(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) { printf("fds: %s\n", errname(errno)); return; }
    int self = dirfd(d);
    printf("fds:");
    struct dirent *e;
    int list[256], n = 0;
    while ((e = readdir(d)) && n < 256) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != self) list[n++] = fd;
    }
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (list[j] < list[i]) { int t = list[i]; list[i] = list[j]; list[j] = t; }
    for (int i = 0; i < n; i++) printf(" %d", list[i]);
    printf("\n");
}

static void interfaces(void) {
    struct if_nameindex *ifs = if_nameindex();
    printf("interfaces:");
    if (!ifs) { printf(" %s\n", errname(errno)); return; }
    for (struct if_nameindex *i = ifs; i->if_index; i++) printf(" %s", i->if_name);
    printf("\n");
    if_freenameindex(ifs);
}

static const char *packet_socket(void) {
    int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    int e = s < 0 ? errno : 0;
    if (s >= 0) close(s);
    return errname(e);
}

static const char *const MASKED[] = {
    /* docker's default masked paths (moby oci/defaults.go) */
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
};
static const char *const READONLY[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", "/sys",
};

static void report(int port) {
    status_lines();
    for (size_t i = 0; i < sizeof MASKED / sizeof *MASKED; i++) masked(MASKED[i]);
    for (size_t i = 0; i < sizeof READONLY / sizeof *READONLY; i++) readonly(READONLY[i]);
    {
        int fd = open("/proc/sys/kernel/domainname", O_WRONLY);
        printf("write /proc/sys/kernel/domainname: %s\n", fd < 0 ? errname(errno) : "ok");
        if (fd >= 0) close(fd);
    }
    device("kvm", S_IFCHR, 10, 232);
    device("loop-control", S_IFCHR, 10, 237);
    device("mem", S_IFCHR, 1, 1);
    device("loop0", S_IFBLK, 7, 0);
    device("null", S_IFCHR, 1, 3);
    device("urandom", S_IFCHR, 1, 9);
    const char *devs[] = {"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                          "/dev/ptmx", "/dev/tty", "/dev/console", "/dev/fuse", "/dev/kvm",
                          "/dev/net/tun"};
    for (size_t i = 0; i < sizeof devs / sizeof *devs; i++) open_dev(devs[i]);
    for (size_t i = 0; i < NFAMILIES; i++) printf("call %s: %s\n", FAMILIES[i].name, FAMILIES[i].fn());
    if (port > 0) printf("host loopback: %s\n", tcp_connect("127.0.0.1", port));
    printf("packet socket: %s\n", packet_socket());
    fds();
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && !strcmp(argv[1], "report")) {
        report(argc >= 3 ? atoi(argv[2]) : 0);
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "interfaces")) { interfaces(); return 0; }
    if (argc >= 3 && !strcmp(argv[1], "connect")) {
        printf("%s\n", tcp_connect(argv[2], atoi(argv[3])));
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "fds")) { fds(); return 0; }
    if (argc >= 2 && !strcmp(argv[1], "keyring")) {
        /* the session keyring's id and description (type;uid;gid;perm;name) */
        long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
        char desc[256] = "";
        if (id >= 0) syscall(SYS_keyctl, 6 /* KEYCTL_DESCRIBE */, id, desc, sizeof desc - 1);
        printf("session keyring: %ld %s\n", id, id >= 0 ? desc : errname(errno));
        return 0;
    }
    if (argc >= 2 && !strcmp(argv[1], "calls")) {
        for (size_t i = 0; i < NFAMILIES; i++) printf("%s: %s\n", FAMILIES[i].name, FAMILIES[i].fn());
        return 0;
    }
    if (argc >= 3 && !strcmp(argv[1], "call")) {
        for (size_t i = 0; i < NFAMILIES; i++)
            if (!strcmp(argv[2], FAMILIES[i].name)) {
                printf("%s: %s\n", argv[2], FAMILIES[i].fn());
                return 0;
            }
        fprintf(stderr, "sandbox_probe: unknown call %s\n", argv[2]);
        return 2;
    }
    fprintf(stderr, "usage: sandbox_probe report [PORT] | calls | call NAME | fds | keyring | interfaces | connect IP PORT\n");
    return 2;
}
