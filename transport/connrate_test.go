package transport

import (
	"math/rand/v2"
	"testing"
	"time"
)

// step is one command as a read pump meets it: dmxd held the connection
// for held before the read (window, bulk gate, decoding), the read took
// read, and found nothing more waiting when caughtUp.
type step struct {
	held, read time.Duration
	caughtUp   bool
}

// runLimit feeds steps to a limit of rate commands a second and returns how
// many commands it allowed and the time they took.
func runLimit(rate int, steps []step) (allowed int, took time.Duration) {
	t0 := time.Unix(1000, 0)
	now := t0
	l := newConnLimit(rate, now)
	for _, s := range steps {
		now = now.Add(s.held)
		l.readStarts(now)
		now = now.Add(s.read)
		l.readEnds(now)
		if l.allow(now, s.caughtUp) {
			allowed++
		}
	}
	return allowed, now.Sub(t0)
}

func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestConnLimit(t *testing.T) {
	const rate = 10 // burst 20
	tests := []struct {
		name  string
		steps []step
		want  int
	}{
		{"a burst read at once: twice the rate passes", repeat(100, step{}), 20},
		{"sent at the rate, read as sent: all pass", repeat(100, step{read: 100 * time.Millisecond, caughtUp: true}), 100},
		{"a long quiet read refills only the burst",
			append([]step{{read: time.Hour, caughtUp: false}}, repeat(99, step{})...), 20},
		{"a backlog dmxd held for 10 s passes: 20 + 10 s × 10",
			append([]step{{held: 10 * time.Second}}, repeat(200, step{})...), 120},
		{"held credit is dropped once dmxd has caught up",
			append([]step{{held: 10 * time.Second, caughtUp: true}}, repeat(200, step{})...), 20},
		{"read at dmxd's pace below the rate: all pass",
			repeat(500, step{held: 150 * time.Millisecond}), 500},
		{"read at dmxd's pace above the rate: the rate and the burst",
			repeat(500, step{held: 50 * time.Millisecond}), 20 + 250},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got, _ := runLimit(rate, tc.steps); got != tc.want {
				t.Errorf("allowed %d, want %d", got, tc.want)
			}
		})
	}
}

// TestConnLimitBound: whatever the pattern of holds and reads, a limit never
// allows more than its burst plus rate × the time (the bound the chaos
// harness checks a kept flooder against).
func TestConnLimitBound(t *testing.T) {
	const rate = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		steps := make([]step, 5000)
		for i := range steps {
			steps[i] = step{
				held:     time.Duration(rng.ExpFloat64() * float64(rng.IntN(3)) * float64(time.Millisecond)),
				read:     time.Duration(rng.ExpFloat64() * float64(rng.IntN(2)) * 0.5 * float64(time.Millisecond)),
				caughtUp: rng.IntN(4) == 0,
			}
		}
		allowed, took := runLimit(rate, steps)
		if bound := 2*rate + rate*took.Seconds(); float64(allowed) > bound+1e-6 {
			t.Fatalf("allowed %d in %v, more than the bound %.1f", allowed, took, bound)
		}
	}
}
