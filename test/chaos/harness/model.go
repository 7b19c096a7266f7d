package harness

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/dmxd/dmxd/dmx"
)

// ownedBlock is the channels one owner client writes exclusively.
type ownedBlock struct {
	universe int
	first    int // first channel, 1-based; the block is ownedPer long
}

// blockOf is owner i's block: owners alternate between universes 1 and 2
// and take consecutive blocks of ownedPer channels below noiseFirst.
func blockOf(i int) ownedBlock {
	return ownedBlock{universe: 1 + i%2, first: 1 + ownedPer*(i/2)}
}

// model is the expected level of every owned channel, built only from
// acknowledged commands. Owned channels start at 0 (a fresh state file).
type model struct {
	mu      sync.Mutex
	levels  map[[2]int]uint8 // {universe, channel}
	fadeEnd time.Time        // when the last acknowledged fade ends
}

func newModel(owners int) *model {
	m := &model{levels: map[[2]int]uint8{}}
	for i := range owners {
		b := blockOf(i)
		for ch := b.first; ch < b.first+ownedPer; ch++ {
			m.levels[[2]int{b.universe, ch}] = 0
		}
	}
	return m
}

// apply records an acknowledged command: its target levels, and when its
// fade (if any) ends at the latest.
func (m *model) apply(universe int, levels map[int]uint8, fade time.Duration, ackAt time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch, v := range levels {
		m.levels[[2]int{universe, ch}] = v
	}
	if end := ackAt.Add(fade); fade > 0 && end.After(m.fadeEnd) {
		m.fadeEnd = end
	}
}

// settled is when every acknowledged fade has ended.
func (m *model) settled() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fadeEnd
}

// diff compares the owned channels of universe u with values (512 levels)
// and describes up to a few mismatches; "" when they agree.
func (m *model) diff(u int, values []uint8) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var bad []string
	n := 0
	for k, want := range m.levels {
		if k[0] != u {
			continue
		}
		if got := values[k[1]-1]; got != want {
			n++
			if len(bad) < 6 {
				bad = append(bad, fmt.Sprintf("ch %d = %d, want %d", k[1], got, want))
			}
		}
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("%d owned channels differ (%s)", n, strings.Join(bad, "; "))
}

// frameValues returns a frame's slots as a slice.
func frameValues(f *dmx.Frame) []uint8 { return f[:] }

// gate pauses the clients whose commands the model depends on (owners and
// the blackout switcher) for a comparison: Pause waits until none has a
// command in flight, and enter blocks while paused.
type gate struct {
	mu       sync.Mutex
	cond     *sync.Cond
	paused   bool
	inflight int
}

func newGate() *gate {
	g := &gate{}
	g.cond = sync.NewCond(&g.mu)
	return g
}

// enter waits while the gate is paused and counts a command in flight.
func (g *gate) enter() {
	g.mu.Lock()
	for g.paused {
		g.cond.Wait()
	}
	g.inflight++
	g.mu.Unlock()
}

// leave ends a command in flight (acknowledged, refused or abandoned).
func (g *gate) leave() {
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
}

// pause stops new commands and polls until none is in flight.
func (g *gate) pause(timeout time.Duration) error {
	g.mu.Lock()
	g.paused = true
	g.mu.Unlock()
	deadline := time.Now().Add(timeout)
	for {
		g.mu.Lock()
		n := g.inflight
		g.mu.Unlock()
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d commands still in flight after %v", n, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// resume lets the clients go on.
func (g *gate) resume() {
	g.mu.Lock()
	g.paused = false
	g.cond.Broadcast()
	g.mu.Unlock()
}
