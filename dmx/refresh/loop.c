//go:build linux && cgo

// The C refresh loop of package refresh (Linux with cgo): see refresh.go and cloop.go.
#define _GNU_SOURCE
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum { FRESH = 4 };

// timerSlackNs is how late the kernel may wake the loop: the default
// (50 µs) is fine for a frame, this is finer for the break.
static const unsigned long timerSlackNs = 10000;

// finalWriteMs bounds the final frame's wait for a full device at stop.
static const int finalWriteMs = 1000;

static int64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static struct timespec span(int64_t ns) {
	if (ns < 0) ns = 0;
	struct timespec ts = {.tv_sec = ns / 1000000000LL, .tv_nsec = ns % 1000000000LL};
	return ts;
}

struct dmx_loop *dmx_loop_new(int64_t period_ns, int64_t min_gap_ns, int64_t break_ns, int64_t mab_ns, int *err) {
	struct dmx_loop *l = calloc(1, sizeof *l);
	if (l == NULL) {
		*err = ENOMEM;
		return NULL;
	}
	l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->evfd < 0) {
		*err = errno;
		free(l);
		return NULL;
	}
	atomic_init(&l->mid, 1);
	l->back = 0;
	l->front = 2;
	l->period_ns = period_ns;
	l->min_gap_ns = min_gap_ns;
	l->break_ns = break_ns;
	l->mab_ns = mab_ns;
	return l;
}

void dmx_loop_free(struct dmx_loop *l) {
	close(l->evfd);
	free(l);
}

static void kick(struct dmx_loop *l) {
	uint64_t one = 1;
	// The counter cannot overflow in practice; a failed kick is only a
	// later wake-up.
	(void)!write(l->evfd, &one, sizeof one);
}

void dmx_loop_publish(struct dmx_loop *l, const uint8_t *p, uint32_t n, int changed) {
	if (n > DMX_MAX_FRAME) n = DMX_MAX_FRAME;
	struct dmx_buf *b = &l->bufs[l->back];
	memcpy(b->b, p, n);
	b->len = n;
	uint32_t old = atomic_exchange_explicit(&l->mid, l->back | FRESH, memory_order_acq_rel);
	l->back = old & 3;
	atomic_fetch_add_explicit(&l->published, 1, memory_order_relaxed);
	// Only the change that raises the flag wakes the loop: the flag stays
	// up until the loop writes, so a flood of publishes between two
	// frames costs one wake-up, not one each. Its time is the frame's
	// earliest start (for the loop's lateness; a loop that sees the flag
	// before the time is stored takes an older one, which the minimum gap
	// after the previous frame outweighs).
	if (changed && !atomic_exchange_explicit(&l->change, 1, memory_order_acq_rel)) {
		atomic_store_explicit(&l->change_at, mono_ns(), memory_order_release);
		kick(l);
	}
}

void dmx_loop_stop(struct dmx_loop *l) {
	atomic_store_explicit(&l->stop, 1, memory_order_release);
	kick(l);
}

int64_t dmx_loop_busy(struct dmx_loop *l) {
	int64_t b = atomic_load_explicit(&l->busy_since, memory_order_acquire);
	return b == 0 ? 0 : mono_ns() - b;
}

struct dmx_stats dmx_loop_stats(struct dmx_loop *l) {
	struct dmx_stats s = {
		.published = atomic_load_explicit(&l->published, memory_order_relaxed),
		.frames = atomic_load_explicit(&l->frames, memory_order_relaxed),
		.refreshes = atomic_load_explicit(&l->refreshes, memory_order_relaxed),
		.last_break = atomic_load_explicit(&l->last_break, memory_order_relaxed),
		.last_mab = atomic_load_explicit(&l->last_mab, memory_order_relaxed),
	};
	return s;
}

uint32_t dmx_loop_intervals(struct dmx_loop *l, int64_t *out, int64_t *wait, int64_t *late, uint32_t max) {
	uint64_t w = atomic_load_explicit(&l->ring_w, memory_order_acquire);
	if (w - l->ring_r > DMX_RING) l->ring_r = w - DMX_RING; // older ones were overwritten
	uint32_t n = 0;
	for (; l->ring_r < w && n < max; l->ring_r++, n++) {
		out[n] = l->ring[l->ring_r % DMX_RING];
		wait[n] = l->ring_wait[l->ring_r % DMX_RING];
		late[n] = l->ring_late[l->ring_r % DMX_RING];
	}
	return n;
}

// take makes the newest published frame the loop's own.
static void take(struct dmx_loop *l) {
	if ((atomic_load_explicit(&l->mid, memory_order_acquire) & FRESH) == 0) return;
	uint32_t old = atomic_exchange_explicit(&l->mid, l->front, memory_order_acq_rel);
	l->front = old & 3;
	l->has = 1;
	l->fresh = 1;
}

// sleep_ns waits for ns without a wake-up: for the break and the mark
// after it.
static void sleep_ns(int64_t ns) {
	struct timespec ts = span(ns), rem;
	while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem) == EINTR) ts = rem;
}

// wait_kick waits at most ns for a kick and consumes it.
static void wait_kick(struct dmx_loop *l, int64_t ns) {
	struct pollfd p = {.fd = l->evfd, .events = POLLIN};
	struct timespec ts = span(ns);
	if (ppoll(&p, 1, &ts, NULL) > 0) {
		uint64_t v;
		(void)!read(l->evfd, &v, sizeof v);
	}
}

static int ioctl_retry(int fd, unsigned long req, long arg) {
	int r;
	do r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r;
}

// line_break holds the line in break for break_ns, after the previous
// frame has left it, then in mark for mab_ns: the mark after break is
// held, not left to the time the write takes to start (a UART on the
// mainboard starts the start code within microseconds of the break's end).
// Both durations are recorded as measured from the return of the ioctl
// that begins each to the call that ends it, a bound the line's own
// timing can only exceed.
static int line_break(struct dmx_loop *l, int fd, int *err) {
	if (ioctl_retry(fd, TCSBRK, 1) < 0) { // tcdrain
		*err = errno;
		return DMX_OP_DRAIN;
	}
	if (ioctl_retry(fd, TIOCSBRK, 0) < 0) {
		*err = errno;
		return DMX_OP_BREAK;
	}
	int64_t brk = mono_ns();
	sleep_ns(l->break_ns);
	int64_t brk_end = mono_ns();
	if (ioctl_retry(fd, TIOCCBRK, 0) < 0) {
		*err = errno;
		return DMX_OP_BREAK;
	}
	int64_t mark = mono_ns();
	if (l->mab_ns > 0) sleep_ns(l->mab_ns);
	// The frame's first write follows: the mark lasts at least until now.
	atomic_store_explicit(&l->last_mab, mono_ns() - mark, memory_order_release);
	atomic_store_explicit(&l->last_break, brk_end - brk, memory_order_release);
	return 0;
}

// write_frame writes the loop's frame, whole: a device must only ever see
// whole messages. A full device is waited for (the Go side reports it
// stalled after a while). A stop during that wait, or a final frame,
// waits at most finalWriteMs each time the device takes nothing, and then
// gives up (DMX_OP_GAVE_UP): a device that takes nothing for that long is
// stuck anyway.
static int write_frame(struct dmx_loop *l, int fd, int final, int *err) {
	const struct dmx_buf *b = &l->bufs[l->front];
	if (l->break_ns > 0) {
		int op = line_break(l, fd, err);
		if (op) return op;
	}
	uint32_t off = 0;
	while (off < b->len) {
		ssize_t n = write(fd, b->b + off, b->len - off);
		if (n > 0) {
			off += (uint32_t)n;
			continue;
		}
		if (n == 0) {
			*err = EIO;
			return DMX_OP_WRITE;
		}
		if (errno == EINTR) continue;
		if (errno != EAGAIN) {
			*err = errno;
			return DMX_OP_WRITE;
		}
		struct pollfd p[2] = {{.fd = fd, .events = POLLOUT}, {.fd = l->evfd, .events = POLLIN}};
		int r = poll(p, final ? 1 : 2, final ? finalWriteMs : -1);
		if (r < 0 && errno != EINTR) {
			*err = errno;
			return DMX_OP_POLL;
		}
		if (final && r == 0) return DMX_OP_GAVE_UP; // the device takes nothing: give up
		if (r > 0 && (p[0].revents & (POLLERR | POLLHUP | POLLNVAL))) {
			// Gone, though write said "try again": never spin on it.
			*err = (p[0].revents & POLLNVAL) ? EBADF : EIO;
			return DMX_OP_WRITE;
		}
		if (!final && (p[1].revents & POLLIN)) {
			uint64_t v;
			(void)!read(l->evfd, &v, sizeof v);
			// Stopped mid-frame: finish this frame as a final one.
			if (atomic_load_explicit(&l->stop, memory_order_acquire)) final = 1;
		}
	}
	return 0;
}

// count_frame counts a frame written, and a refresh when it repeated one.
static void count_frame(struct dmx_loop *l) {
	atomic_fetch_add_explicit(&l->frames, 1, memory_order_relaxed);
	if (!l->fresh) atomic_fetch_add_explicit(&l->refreshes, 1, memory_order_relaxed);
	l->fresh = 0;
}

int dmx_loop_run(struct dmx_loop *l, int fd, int *err) {
	*err = 0;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		*err = errno;
		return DMX_OP_SETUP;
	}
	prctl(PR_SET_TIMERSLACK, timerSlackNs, 0, 0, 0);

	int64_t last = 0;       // start of the last frame written to fd
	int64_t last_end = 0;   // when writing it ended
	int64_t due = mono_ns(); // the schedule: a (re)opened device gets the newest frame at once
	for (;;) {
		take(l);
		if (atomic_load_explicit(&l->stop, memory_order_acquire)) {
			if (!l->has) return DMX_OP_STOPPED;
			int op = write_frame(l, fd, 1, err);
			if (op == 0) count_frame(l);
			return op == DMX_OP_GAVE_UP ? DMX_OP_STOPPED : op;
		}
		int64_t now = mono_ns();
		if (!l->has) {
			wait_kick(l, l->period_ns);
			continue;
		}
		// A changed frame waits to go out before due. The flag stays up
		// until the frame is written.
		int early = atomic_load_explicit(&l->change, memory_order_acquire);
		int64_t at = due;
		int64_t ready = due; // when the frame could have started: for its lateness
		if (early) {
			int64_t e = last != 0 ? last + l->min_gap_ns : now;
			if (e < at) at = e;
			int64_t c = atomic_load_explicit(&l->change_at, memory_order_acquire);
			if (c > e) e = c;
			if (e < ready) ready = e;
		}
		if (now < at) {
			wait_kick(l, at - now);
			continue;
		}

		// Lower the flag, then take the newest frame: Publish raises the
		// flag after the frame is in the middle buffer, so a change
		// published from here on is either taken now or wakes the loop
		// for one more frame.
		atomic_store_explicit(&l->change, 0, memory_order_release);
		take(l);
		int64_t start = mono_ns();
		atomic_store_explicit(&l->busy_since, start, memory_order_release);
		int op = write_frame(l, fd, 0, err);
		atomic_store_explicit(&l->busy_since, 0, memory_order_release);
		if (op == DMX_OP_GAVE_UP) return DMX_OP_STOPPED; // stopped during a stalled write
		if (op) return op;

		now = mono_ns();
		count_frame(l);
		if (last != 0) {
			uint64_t w = atomic_load_explicit(&l->ring_w, memory_order_relaxed);
			l->ring[w % DMX_RING] = start - last;
			l->ring_wait[w % DMX_RING] = start - last_end;
			l->ring_late[w % DMX_RING] = start > ready ? start - ready : 0;
			atomic_store_explicit(&l->ring_w, w + 1, memory_order_release);
		}
		last = start;
		last_end = now;
		// The next frame is due a period after this one was due (an absolute
		// schedule, no drift), or a period after an early frame, or a period
		// from now after a stall.
		due = (at < due ? start : due) + l->period_ns;
		if (due < now) due = now + l->period_ns;
	}
}
