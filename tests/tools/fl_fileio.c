// SPDX-License-Identifier: Apache-2.0
// File I/O load for the disk tests, built twice: dynamically linked
// (fl_fileio) and statically (fl_fileio_static), so that a test can show
// which fault injectors each escapes.
//
//   fl_fileio OP N PATH [SIZE] [raw]
//
// OP open: N times open(PATH, O_RDONLY) and close; read: open PATH once,
// then N preads of SIZE bytes at offset 0; write: open (create) once, N
// pwrites; fallocate: open once, N fallocates of SIZE bytes; fsync: open
// once, N calls alternating fsync and fdatasync. "raw" makes
// every call a raw syscall(2) instead of the C library's wrapper. Prints
// one line: "calls N ok K" and "ERRNAME COUNT" for each errno seen; exits 0
// (2 if the one open of read/write/fallocate fails: "setup ERRNAME"), and
// "stime_us T": the system CPU time the process used. With
// FL_FILEIO_SLOW_US=U in the environment, also "slow K": the calls that took
// U microseconds or more. With FL_FILEIO_GATE=FILE, the loop starts once
// FILE exists (so that a fault armed after the program started spares its
// start-up). FL_FILEIO_DIRECT=1 opens with O_DIRECT (4 KiB-aligned buffer;
// SIZE must be a multiple of the device's block size). FL_FILEIO_FOR_MS=M
// ends the loop after M milliseconds (N calls at most; "calls" says how many
// were made), with FL_FILEIO_GAP_US=U microseconds between calls; SIGTERM
// then ends it early.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int raw;
static volatile sig_atomic_t terminated;

static void on_term(int sig)
{
	(void)sig;
	terminated = 1;
}

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static long do_open(const char *path, int flags)
{
	return raw ? syscall(SYS_openat, AT_FDCWD, path, flags, 0644) : open(path, flags, 0644);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: fl_fileio open|read|write|fallocate|fsync N PATH [SIZE] [raw]\n");
		return 64;
	}
	const char *op = argv[1], *path = argv[3];
	long n = atol(argv[2]);
	size_t size = argc > 4 ? (size_t)atol(argv[4]) : 1;
	raw = argc > 5 && strcmp(argv[5], "raw") == 0;
	static long count[4096];
	char *buf = aligned_alloc(4096, ((size ? size : 1) + 4095) / 4096 * 4096);
	int direct = getenv("FL_FILEIO_DIRECT") && strcmp(getenv("FL_FILEIO_DIRECT"), "1") == 0;
	long ok = 0, fd = -1, slow = 0;
	const char *slow_env = getenv("FL_FILEIO_SLOW_US");
	long long slow_ns = slow_env ? atoll(slow_env) * 1000 : 0;
	const char *for_env = getenv("FL_FILEIO_FOR_MS"), *gap_env = getenv("FL_FILEIO_GAP_US");
	long long for_ns = for_env ? atoll(for_env) * 1000000 : 0, start_ns = 0;
	long gap_us = gap_env ? atol(gap_env) : 0, i;

	if (strcmp(op, "open") != 0) {
		int flags = (strcmp(op, "read") == 0 ? O_RDONLY : O_WRONLY | O_CREAT) | (direct ? O_DIRECT : 0);
		fd = do_open(path, flags);
		if (fd < 0) {
			printf("setup %s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
			return 2;
		}
	}
	const char *gate = getenv("FL_FILEIO_GATE");

	while (gate && access(gate, F_OK) != 0)
		usleep(10000);
	if (for_ns)
		signal(SIGTERM, on_term); /* ends the loop early, results printed */
	start_ns = now_ns();
	for (i = 0; i < n; i++) {
		if (gap_us > 0 && i > 0)
			usleep((useconds_t)gap_us);

		long long t0 = now_ns();
		long r;

		if (for_ns && (t0 - start_ns >= for_ns || terminated))
			break;

		if (strcmp(op, "open") == 0) {
			r = do_open(path, O_RDONLY);
			if (r >= 0)
				close((int)r);
		} else if (strcmp(op, "read") == 0) {
			r = raw ? syscall(SYS_pread64, fd, buf, size, 0) : pread((int)fd, buf, size, 0);
		} else if (strcmp(op, "write") == 0) {
			r = raw ? syscall(SYS_pwrite64, fd, buf, size, 0) : pwrite((int)fd, buf, size, 0);
		} else if (strcmp(op, "fsync") == 0) {
			if (i % 2)
				r = raw ? syscall(SYS_fdatasync, fd) : fdatasync((int)fd);
			else
				r = raw ? syscall(SYS_fsync, fd) : fsync((int)fd);
		} else if (strcmp(op, "fallocate") == 0) {
			r = raw ? syscall(SYS_fallocate, fd, 0, 0L, (long)size) : fallocate((int)fd, 0, 0, (off_t)size);
		} else {
			fprintf(stderr, "fl_fileio: unknown op %s\n", op);
			return 64;
		}
		if (slow_ns && now_ns() - t0 >= slow_ns)
			slow++;
		if (r >= 0)
			ok++;
		else
			count[errno < 4096 && errno > 0 ? errno : 0]++;
	}
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	printf("calls %ld ok %ld stime_us %ld", i, ok, (long)ru.ru_stime.tv_sec * 1000000 + (long)ru.ru_stime.tv_usec);
	if (slow_ns)
		printf(" slow %ld", slow);
	for (int e = 0; e < 4096; e++)
		if (count[e])
			printf(" %s %ld", e && strerrorname_np(e) ? strerrorname_np(e) : "EUNKNOWN", count[e]);
	printf("\n");
	return 0;
}
