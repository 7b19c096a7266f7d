//go:build linux && cgo

// The C refresh loop of package refresh (Linux with cgo): see refresh.go and cloop.go.
#ifndef DMXD_REFRESH_LOOP_H
#define DMXD_REFRESH_LOOP_H

#include <stdatomic.h>
#include <stdint.h>

enum {
	DMX_MAX_FRAME = 1024, // bytes of one encoded frame, at most
	DMX_RING = 256,       // frame intervals kept for the Go side's histogram
};

// What dmx_loop_run was doing when it failed (0: it was stopped).
// DMX_OP_GAVE_UP is write_frame's own: stopped, and the device took no
// byte of the frame under way for finalWriteMs; dmx_loop_run reports it as
// DMX_OP_STOPPED.
enum {
	DMX_OP_STOPPED = 0,
	DMX_OP_SETUP = 1,
	DMX_OP_DRAIN = 2,
	DMX_OP_BREAK = 3,
	DMX_OP_WRITE = 4,
	DMX_OP_POLL = 5,
	DMX_OP_GAVE_UP = 6,
};

struct dmx_buf {
	uint8_t b[DMX_MAX_FRAME];
	uint32_t len;
};

// dmx_loop is shared by one producer (Go: dmx_loop_publish, dmx_loop_stop)
// and the loop (dmx_loop_run). The frame travels through a triple buffer,
// so neither side ever waits for the other.
struct dmx_loop {
	struct dmx_buf bufs[3];
	_Atomic uint32_t mid; // the middle buffer's index, | 4 when the loop has not taken it
	uint32_t back;        // the producer's buffer
	uint32_t front;       // the loop's buffer: the frame it writes
	_Atomic int change;   // a changed frame was published and not written yet
	_Atomic int64_t change_at; // CLOCK_MONOTONIC ns when the publish that raised change did
	_Atomic int stop;
	int evfd; // wakes the loop: a change or stop

	int64_t period_ns, min_gap_ns, break_ns, mab_ns;

	// The loop's own state; it survives a reopen of the device.
	int has;   // front holds a frame
	int fresh; // front has not been written yet

	// Statistics, read by the Go side at any time.
	_Atomic uint64_t published, frames, refreshes;
	_Atomic int64_t busy_since; // CLOCK_MONOTONIC ns when the frame under way started, 0 when idle
	_Atomic int64_t last_break; // ns the last break held the line, at least
	_Atomic int64_t last_mab;   // ns the last mark after break lasted, at least
	int64_t ring[DMX_RING];     // intervals between frame starts, ns
	int64_t ring_wait[DMX_RING]; // the part of each after the previous write ended, ns
	int64_t ring_late[DMX_RING]; // how late each frame's write started, ns
	_Atomic uint64_t ring_w;    // intervals ever written into ring
	uint64_t ring_r;            // intervals the Go side has read
};

struct dmx_loop *dmx_loop_new(int64_t period_ns, int64_t min_gap_ns, int64_t break_ns, int64_t mab_ns, int *err);
void dmx_loop_free(struct dmx_loop *l);
void dmx_loop_publish(struct dmx_loop *l, const uint8_t *p, uint32_t n, int changed);
void dmx_loop_stop(struct dmx_loop *l);
int dmx_loop_run(struct dmx_loop *l, int fd, int *err);
int64_t dmx_loop_busy(struct dmx_loop *l);
uint32_t dmx_loop_intervals(struct dmx_loop *l, int64_t *out, int64_t *wait, int64_t *late, uint32_t max);

// dmx_stats is a copy of a loop's counters.
struct dmx_stats {
	uint64_t published, frames, refreshes;
	int64_t last_break, last_mab;
};

struct dmx_stats dmx_loop_stats(struct dmx_loop *l);

#endif
