// SPDX-License-Identifier: Apache-2.0
// Per-syscall cost of file I/O (tools/bench/disk.sh): a closed loop of
// pread(2) or pwrite(2) of SIZE bytes at offset 0 of one file, for SECONDS
// after a warm-up; prints the mean ns per call and the mean system CPU time
// per call (getrusage: where a disk.delay's wait is billed). Dynamically
// linked and
// calling the C library's wrappers, so that fiu-run's preload library sees
// every call (its cost is part of what is compared).
//
//   fl_bench_fileio read|write SIZE SECONDS FILE
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: fl_bench_fileio read|write SIZE SECONDS FILE\n");
		return 64;
	}
	int wr = strcmp(argv[1], "write") == 0;
	size_t size = (size_t)atol(argv[2]);
	double secs = atof(argv[3]);
	char *buf = calloc(1, size);
	int fd = open(argv[4], wr ? O_WRONLY | O_CREAT : O_RDONLY, 0644);

	if (fd < 0 || !buf) {
		perror("fl_bench_fileio: open");
		return 1;
	}
	if (!wr && pread(fd, buf, size, 0) != (ssize_t)size) {
		fprintf(stderr, "fl_bench_fileio: %s is shorter than %zu bytes\n", argv[4], size);
		return 1;
	}
	/* Calls are timed in batches: the clock is read once per batch (1024
	 * calls; FLB_BATCH=N for slow calls). */
	const char *b = getenv("FLB_BATCH");
	int batch = b ? atoi(b) : 1024;

	if (batch < 1)
		batch = 1;
	long calls = 0;
	double start = 0, end = 0, stime0 = 0;
	struct rusage ru;
	for (int warm = 1; warm >= 0; warm--) {
		double until = now_s() + (warm ? secs / 5 : secs);
		start = now_s();
		calls = 0;
		getrusage(RUSAGE_SELF, &ru);
		stime0 = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
		do {
			for (int i = 0; i < batch; i++) {
				ssize_t r = wr ? pwrite(fd, buf, size, 0) : pread(fd, buf, size, 0);
				if (r != (ssize_t)size) {
					perror("fl_bench_fileio: I/O");
					return 1;
				}
			}
			calls += batch;
			end = now_s();
		} while (end < until);
	}
	getrusage(RUSAGE_SELF, &ru);
	double stime = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6 - stime0;
	printf("%.1f %.1f\n", (end - start) * 1e9 / (double)calls, stime * 1e9 / (double)calls);
	return 0;
}
