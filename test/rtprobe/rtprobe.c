// rtprobe measures how promptly this machine runs a thread and delivers
// pty bytes, to run beside `just chaos` (see the README, Chaos testing):
//
//   rtprobe wake fifo|nice SECONDS  a thread sleeps 5 ms at a time, at
//                                   SCHED_FIFO 50 or nice -10, and reports
//                                   every wake-up more than 5 ms late;
//   rtprobe pty SECONDS             a SCHED_FIFO thread writes a 518-byte
//                                   frame to a pty every 22.7 ms and a
//                                   SCHED_FIFO reader reports every frame
//                                   more than 10 ms late on the master.
//
// Both need root (or CAP_SYS_NICE) for their priorities and print a line a
// late event (wall-clock time, lateness) and a summary line.
#define _GNU_SOURCE
#include <pthread.h>
#include <pty.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static long long ns(clockid_t c) {
	struct timespec t;
	clock_gettime(c, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void fifo(int prio) {
	struct sched_param p = {.sched_priority = prio};
	if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &p) != 0) fprintf(stderr, "rtprobe: SCHED_FIFO refused\n");
}

static void report(const char *what, long long late) {
	long long r = ns(CLOCK_REALTIME);
	printf("%lld.%03lld %s %.1f ms late\n", r / 1000000000LL, (r / 1000000) % 1000, what, late / 1e6);
	fflush(stdout);
}

static int wake(const char *mode, int secs) {
	if (strcmp(mode, "fifo") == 0) fifo(50);
	else if (setpriority(PRIO_PROCESS, 0, -10) != 0) fprintf(stderr, "rtprobe: nice -10 refused\n");
	long long end = ns(CLOCK_MONOTONIC) + secs * 1000000000LL, worst = 0;
	long n = 0, late = 0;
	while (ns(CLOCK_MONOTONIC) < end) {
		long long a = ns(CLOCK_MONOTONIC);
		struct timespec d = {0, 5000000};
		nanosleep(&d, NULL);
		long long l = ns(CLOCK_MONOTONIC) - a - 5000000;
		n++;
		if (l > worst) worst = l;
		if (l > 5000000) {
			late++;
			report(mode, l);
		}
	}
	printf("wake %s: %ld wake-ups, %ld more than 5 ms late, worst %.1f ms\n", mode, n, late, worst / 1e6);
	return 0;
}

struct writer {
	int fd, secs;
};

static void *write_frames(void *arg) {
	struct writer *w = arg;
	fifo(20);
	unsigned char buf[518] = {0};
	long long end = ns(CLOCK_MONOTONIC) + w->secs * 1000000000LL;
	while (ns(CLOCK_MONOTONIC) < end) {
		long long t = ns(CLOCK_MONOTONIC);
		memcpy(buf, &t, sizeof t);
		if (write(w->fd, buf, sizeof buf) != (ssize_t)sizeof buf) perror("rtprobe: write");
		struct timespec d = {0, 22727000};
		nanosleep(&d, NULL);
	}
	close(w->fd); // the reader gets EIO: done
	return NULL;
}

static int pty(int secs) {
	int master, slave;
	struct termios tio;
	cfmakeraw(&tio);
	if (openpty(&master, &slave, NULL, &tio, NULL) != 0) {
		perror("rtprobe: openpty");
		return 1;
	}
	struct writer w = {slave, secs};
	pthread_t th;
	pthread_create(&th, NULL, write_frames, &w);
	fifo(10);
	unsigned char buf[518];
	size_t have = 0;
	long n = 0, late = 0;
	long long worst = 0;
	for (;;) {
		ssize_t r = read(master, buf + have, sizeof buf - have);
		if (r <= 0) break;
		have += (size_t)r;
		if (have < sizeof buf) continue;
		have = 0;
		long long t;
		memcpy(&t, buf, sizeof t);
		long long l = ns(CLOCK_MONOTONIC) - t;
		n++;
		if (l > worst) worst = l;
		if (l > 10000000) {
			late++;
			report("pty", l);
		}
	}
	printf("pty: %ld frames, %ld more than 10 ms late, worst %.1f ms\n", n, late, worst / 1e6);
	return 0;
}

int main(int argc, char **argv) {
	if (argc == 4 && strcmp(argv[1], "wake") == 0) return wake(argv[2], atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "pty") == 0) return pty(atoi(argv[2]));
	fprintf(stderr, "usage: rtprobe wake fifo|nice SECONDS | rtprobe pty SECONDS\n");
	return 2;
}
