package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/dmx"
)

// checkState fails, for exit status 2, when dmxd could not save
// the state file at path ("" is no state file): an operator's mistake is
// found at start, not at the first save or at shutdown. It creates and
// removes a file in path's directory.
func checkState(path string) error {
	if path == "" {
		return nil
	}
	if err := dmx.CheckWritable(path); err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	return nil
}

// restoreState loads the state file for a server with universes 1..n. A
// missing file starts dark; an unreadable one is moved aside (never
// overwritten) and the server starts dark, saying so in the log. It returns
// the path to save to: "" when an unreadable file could not be moved aside,
// so that it is not overwritten.
func restoreState(path string, n int, log zerolog.Logger) ([]dmx.UniverseState, string) {
	if path == "" {
		return nil, ""
	}
	states, err := dmx.LoadState(path)
	switch {
	case errors.Is(err, dmx.ErrNoState):
		log.Info().Str("state", path).Msg("no state file yet: starting dark")
		return nil, path
	case err != nil:
		moved, merr := dmx.MoveAside(path, time.Now())
		if merr != nil {
			log.Error().Err(err).AnErr("move_error", merr).Str("state", path).
				Msg("state file unreadable and could not be moved aside: starting dark, not saving")
			return nil, ""
		}
		log.Warn().Err(err).Str("state", path).Str("moved_to", moved).
			Msg("state file unreadable: moved aside, starting dark")
		return nil, path
	}
	kept := states[:0]
	for _, s := range states {
		if s.Universe <= n {
			kept = append(kept, s)
		} else {
			log.Warn().Int("universe", s.Universe).Msg("state file holds a universe that does not exist: ignored")
		}
	}
	log.Info().Str("state", path).Int("universes", len(kept)).Msg("state restored")
	return kept, path
}
