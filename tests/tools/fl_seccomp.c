// SPDX-License-Identifier: Apache-2.0
// fl_seccomp CALLS ERRNO [ARG ge|eq VALUE] -- CMD [ARGS...]
//
// Runs CMD with the system calls CALLS (comma-separated names: write, bpf,
// clone, clone3, mkdir, mkdirat, sendmsg, recvmsg, sendto, recvfrom)
// failing with ERRNO (a number), for every call or only where argument ARG
// (0-5) is >= or == VALUE, through a seccomp filter (SECCOMP_RET_ERRNO)
// that CMD and everything it forks inherit. The self-fault tests use it to
// make faultline's own calls fail the way a full disk, a short kernel or a
// process limit would.
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int syscall_nr(const char* name) {
    static const struct {
        const char* name;
        int nr;
    } calls[] = {
        {"write", SYS_write},   {"bpf", SYS_bpf},           {"clone", SYS_clone},     {"clone3", SYS_clone3},
        {"mkdir", SYS_mkdir},   {"mkdirat", SYS_mkdirat},   {"sendmsg", SYS_sendmsg}, {"recvmsg", SYS_recvmsg},
        {"sendto", SYS_sendto}, {"recvfrom", SYS_recvfrom},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
        if (!strcmp(name, calls[i].name))
            return calls[i].nr;
    return -1;
}

static int usage(void) {
    fprintf(stderr, "usage: fl_seccomp CALLS ERRNO [ARG ge|eq VALUE] -- CMD [ARGS...]\n");
    return 2;
}

int main(int argc, char** argv) {
    if (argc < 5)
        return usage();
    int err = atoi(argv[2]);
    int i = 3, arg = -1, ge = 0;
    unsigned long value = 0;
    if (strcmp(argv[i], "--")) {
        if (argc < 8 || strcmp(argv[i + 3], "--"))
            return usage();
        arg = atoi(argv[i]);
        ge = !strcmp(argv[i + 1], "ge");
        if (arg < 0 || arg > 5 || (!ge && strcmp(argv[i + 1], "eq")))
            return usage();
        value = strtoul(argv[i + 2], NULL, 0);
        i += 3;
    }
    i++; // "--"
    if (i >= argc || err <= 0 || err > 4095)
        return usage();

    // A 64-bit argument is compared on its low 32 bits (file descriptors,
    // flags): enough for what the tests select.
    struct sock_filter f[64];
    unsigned n = 0;
    char* list = strdup(argv[1]);
    for (char* name = strtok(list, ","); name; name = strtok(NULL, ",")) {
        int nr = syscall_nr(name);
        if (nr < 0 || n + 6 > sizeof f / sizeof f[0]) {
            fprintf(stderr, "fl_seccomp: unknown system call '%s'\n", name);
            return 2;
        }
        f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
        f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, arg < 0 ? 1 : 3);
        if (arg >= 0) {
            f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                                  offsetof(struct seccomp_data, args) + 8 * (unsigned)arg);
            f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | (ge ? BPF_JGE : BPF_JEQ) | BPF_K, (unsigned)value, 0, 1);
        }
        f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA));
    }
    free(list);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    struct sock_fprog prog = {(unsigned short)n, f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
        perror("fl_seccomp: seccomp");
        return 1;
    }
    execvp(argv[i], argv + i);
    perror("fl_seccomp: exec");
    return 127;
}
