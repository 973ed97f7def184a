# kiln's default seccomp profile: docker's default profile, as data.
#
# Source: moby/moby profiles/seccomp/default.json (commit 00f3d189e420d485e42d15fe494f96d272284e0e),
# translated by hand into this line format. What was left out: the rules for other architectures
# (ppc64le, arm, arm64, s390, s390x, riscv64) and names that are not x86_64 system calls are kept
# (the 32-bit ones such as chown32 are ignored when the filter is built: the filter is for x86_64
# processes; a 32-bit x86 process in the container is killed on its first system call, where
# docker's filter would also cover the i386 table).
# Known differences from the docker 20.10 that the tests compare against (its profile is older):
#   name_to_handle_at and process_vm_readv/process_vm_writev are allowed here (20.10: EPERM) and
#   socket(AF_VSOCK) is refused here (20.10: allowed); newer system calls (landlock_*,
#   memfd_secret, futex_waitv, process_mrelease...) are allowed here (20.10: EPERM).
#
# Format: a rule is a head line `ACTION [CONDITION...]:` followed by system call names, on the
# same line and on indented lines below it. Whatever no rule allows fails with EPERM (docker's
# defaultAction SCMP_ACT_ERRNO with defaultErrnoRet 1).
#   ACTION     allow | errno=NAME (e.g. errno=ENOSYS)
#   CONDITION  cap=CAP_X      the rule applies only when the process has capability CAP_X
#              nocap=CAP_X    ... only when it does not have CAP_X (docker's "excludes")
#              kernel>=X.Y    ... only on kernels at least X.Y (docker's "minKernel")
#              arch=ARCH      ... only on that architecture (Rust's std::env::consts::ARCH)
#              argN==V argN!=V argN&MASK==V   a comparison of the 64-bit argument N (0-5)
# Several rules for the same name are alternatives (any one allows the call).

allow:
    accept accept4 access adjtimex alarm bind brk capget capset chdir chmod chown chown32
    clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime
    clock_gettime64 clock_nanosleep clock_nanosleep_time64 close close_range connect
    copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
    epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
    exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir
    fchmod fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr
    flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync
    ftruncate ftruncate64 futex futex_time64 futex_waitv futimesat getcpu getcwd getdents
    getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
    getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
    getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname
    getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
    inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents
    io_pgetevents io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit
    io_uring_enter io_uring_register io_uring_setup ipc kill landlock_add_rule
    landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat
    listen listxattr llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise
    membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
    mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
    mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap msgctl msgget
    msgrcv msgsnd msync munlock munlockall munmap name_to_handle_at nanosleep newfstatat
    _newselect open openat openat2 pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc
    pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
    process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead
    readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
    remap_file_pages removexattr rename renameat renameat2 restart_syscall rmdir rseq
    rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
    rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
    sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
    sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
    sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp
    select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64
    sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32
    setgroups setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid
    setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit set_robust_list setsid
    setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat shmctl shmdt
    shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall
    socketpair splice stat stat64 statfs statfs64 statx symlink symlinkat sync
    sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete
    timer_getoverrun timer_gettime timer_gettime64 timer_settime timer_settime64
    timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime timerfd_settime64 times
    tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat utime utimensat
    utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev

allow kernel>=4.8:
    process_vm_readv process_vm_writev ptrace

# Every socket family but AF_VSOCK (40).
allow arg0!=40: socket

# personality(2) only for the personalities programs commonly set (and querying).
allow arg0==0x0: personality
allow arg0==0x8: personality
allow arg0==0x20000: personality
allow arg0==0x20008: personality
allow arg0==0xffffffff: personality

allow arch=x86_64: arch_prctl modify_ldt

allow cap=CAP_DAC_READ_SEARCH: open_by_handle_at

allow cap=CAP_SYS_ADMIN:
    bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount
    mount_setattr move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname
    sethostname setns syslog umount umount2 unshare

# clone(2) without any CLONE_NEW* namespace flag (0x7E020000).
allow nocap=CAP_SYS_ADMIN arg0&0x7e020000==0x0: clone

# clone3(2) cannot be filtered on its flags (they are in memory): ENOSYS makes libc fall back
# to clone(2), which is.
errno=ENOSYS nocap=CAP_SYS_ADMIN: clone3

allow cap=CAP_SYS_BOOT: reboot
allow cap=CAP_SYS_CHROOT: chroot
allow cap=CAP_SYS_MODULE: delete_module init_module finit_module
allow cap=CAP_SYS_PACCT: acct
allow cap=CAP_SYS_PTRACE:
    kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace
allow cap=CAP_SYS_RAWIO: iopl ioperm
allow cap=CAP_SYS_TIME: settimeofday stime clock_settime clock_settime64
allow cap=CAP_SYS_TTY_CONFIG: vhangup
allow cap=CAP_SYS_NICE: get_mempolicy mbind set_mempolicy set_mempolicy_home_node
allow cap=CAP_SYSLOG: syslog
allow cap=CAP_BPF: bpf
allow cap=CAP_PERFMON: perf_event_open
