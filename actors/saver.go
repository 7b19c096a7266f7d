package actors

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/dmx"
)

// DefaultSaveInterval is the shortest time between two saves of the state
// file while levels keep changing.
const DefaultSaveInterval = time.Second

// saver writes the state file from its own goroutine, so that no actor
// ever waits for a disk. Universes mark it dirty (never blocking); it saves
// at most once per interval and once more when stopped.
type saver struct {
	path     string
	interval time.Duration
	snapshot func() ([]dmx.UniverseState, error)
	dirty    chan struct{}
	quit     chan struct{}
	done     chan struct{}
	failing  bool               // the last save failed (logged once per streak)
	saves    prometheus.Counter // counts successful saves; may be nil
	log      zerolog.Logger
}

func newSaver(path string, interval time.Duration, snapshot func() ([]dmx.UniverseState, error), log zerolog.Logger) *saver {
	if interval <= 0 {
		interval = DefaultSaveInterval
	}
	return &saver{
		path:     path,
		interval: interval,
		snapshot: snapshot,
		dirty:    make(chan struct{}, 1),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		log:      log.With().Str("state", path).Logger(),
	}
}

// markDirty records that levels changed. It never blocks.
func (s *saver) markDirty() {
	select {
	case s.dirty <- struct{}{}:
	default:
	}
}

func (s *saver) run() {
	defer close(s.done)
	var last time.Time
	for {
		select {
		case <-s.quit:
			return
		case <-s.dirty:
		}
		if wait := s.interval - time.Since(last); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-s.quit:
				t.Stop()
				return
			case <-t.C:
			}
		}
		_ = s.save()
		last = time.Now()
	}
}

// save writes the current levels of every universe.
func (s *saver) save() error {
	states, err := s.snapshot()
	if err == nil {
		err = dmx.SaveState(s.path, states, time.Now())
	}
	if err != nil {
		if !s.failing {
			s.log.Error().Err(err).Msg("cannot save state")
		}
		s.failing = true
		return fmt.Errorf("save state: %w", err)
	}
	if s.failing {
		s.log.Info().Msg("state saved again")
	}
	s.failing = false
	if s.saves != nil {
		s.saves.Inc()
	}
	return nil
}

// stop ends the goroutine and saves one last time.
func (s *saver) stop() error {
	close(s.quit)
	<-s.done
	return s.save()
}
