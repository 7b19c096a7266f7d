package dmx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// StateFileVersion is the format version written into state files.
const StateFileVersion = 1

// UniverseState is what a state file keeps of one universe.
type UniverseState struct {
	Universe int   `json:"universe"`
	Blackout bool  `json:"blackout"`
	Values   Frame `json:"-"`
}

// stateFile is the JSON form of a state file. Values are written as
// numbers (not base64) so that the file is readable and editable by hand.
type stateFile struct {
	Version   int             `json:"version"`
	Saved     time.Time       `json:"saved"`
	Universes []universeState `json:"universes"`
}

type universeState struct {
	Universe int    `json:"universe"`
	Blackout bool   `json:"blackout"`
	Values   []uint `json:"values"`
}

// ErrNoState is returned by LoadState when the file does not exist yet.
var ErrNoState = errors.New("no state file")

// LoadState reads a state file. It returns ErrNoState (wrapped) when the
// file does not exist, and another error when it cannot be read or is
// malformed.
func LoadState(path string) ([]UniverseState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("read %s: %w", path, ErrNoState)
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var f stateFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if f.Version != StateFileVersion {
		return nil, fmt.Errorf("parse %s: version %d, want %d", path, f.Version, StateFileVersion)
	}
	out := make([]UniverseState, 0, len(f.Universes))
	seen := map[int]bool{}
	for _, u := range f.Universes {
		if u.Universe < 1 || seen[u.Universe] {
			return nil, fmt.Errorf("parse %s: bad or repeated universe %d", path, u.Universe)
		}
		seen[u.Universe] = true
		if len(u.Values) != Slots {
			return nil, fmt.Errorf("parse %s: universe %d has %d values, want %d", path, u.Universe, len(u.Values), Slots)
		}
		s := UniverseState{Universe: u.Universe, Blackout: u.Blackout}
		for i, v := range u.Values {
			if v > MaxLevel {
				return nil, fmt.Errorf("parse %s: universe %d channel %d level %d is over %d", path, u.Universe, i+1, v, MaxLevel)
			}
			s.Values[i] = byte(v)
		}
		out = append(out, s)
	}
	return out, nil
}

// SaveState writes states to path atomically: a temporary file in the same
// directory is written and synced, renamed over path, and the directory is
// synced, so that a power cut leaves either the old or the new file.
func SaveState(path string, states []UniverseState, now time.Time) error {
	f := stateFile{Version: StateFileVersion, Saved: now.UTC(), Universes: make([]universeState, len(states))}
	for i, s := range states {
		vs := make([]uint, Slots)
		for j, v := range s.Values {
			vs[j] = uint(v)
		}
		f.Universes[i] = universeState{Universe: s.Universe, Blackout: s.Blackout, Values: vs}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("save %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename to %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// createTemp creates the temporary file a save of path writes first, in
// path's directory.
func createTemp(path string) (*os.File, error) {
	return os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
}

// CheckWritable reports whether SaveState can save to path, by doing what a
// save does first: it creates a temporary file in path's directory (and
// removes it). Permission bits would not tell: root ignores them, and a
// read-only mount refuses root too. A path that is a directory is refused,
// since a save could not rename a file over it.
func CheckWritable(path string) error {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("%s is a directory", path)
	}
	tmp, err := createTemp(path)
	if err != nil {
		return fmt.Errorf("cannot write in %s: %w", filepath.Dir(path), err)
	}
	closeErr := tmp.Close()
	if err := os.Remove(tmp.Name()); err != nil {
		return fmt.Errorf("remove %s: %w", tmp.Name(), err)
	}
	if closeErr != nil {
		return fmt.Errorf("close %s: %w", tmp.Name(), closeErr)
	}
	return nil
}

// MoveAside renames an unreadable state file to path.bad-TIMESTAMP so that
// it is kept for inspection and never overwritten; it returns the new name.
func MoveAside(path string, now time.Time) (string, error) {
	to := fmt.Sprintf("%s.bad-%s", path, now.UTC().Format("20060102T150405.000000000Z"))
	if err := os.Rename(path, to); err != nil {
		return "", fmt.Errorf("move %s aside: %w", path, err)
	}
	return to, nil
}
