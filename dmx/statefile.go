package dmx

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// StateFileVersion is the format version written into state files.
const StateFileVersion = 1

// UniverseState is what a state file keeps of one universe.
type UniverseState struct {
	Universe int
	Blackout bool
	Values   Frame
	// Show is the universe's looks, cues, labels and master; nil is an
	// empty show (NewShow).
	Show *Show
	// GrandMaster is the master over all universes, which the file keeps
	// once: LoadState sets it in every universe's state, SaveState takes
	// the first one's. nil is full.
	GrandMaster *uint8
}

// stateFile is the JSON form of a state file. Values are written as
// numbers (not base64) so that the file is readable and editable by hand.
// Everything after Universes' values is optional, so that files written
// before the show features load (and older builds ignore it: the version
// stays 1).
type stateFile struct {
	Version     int             `json:"version"`
	Saved       time.Time       `json:"saved"`
	GrandMaster *uint           `json:"grand_master,omitempty"`
	Universes   []universeState `json:"universes"`
}

type universeState struct {
	Universe int               `json:"universe"`
	Blackout bool              `json:"blackout"`
	Values   []uint            `json:"values"`
	Name     string            `json:"name,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Master   *uint             `json:"master,omitempty"`
	Looks    []lookState       `json:"looks,omitempty"`
	Cues     []cueState        `json:"cues,omitempty"`
	Cue      int               `json:"cue,omitempty"`
}

// lookState is a look in the file: its channels and their levels.
type lookState struct {
	Name   string          `json:"name"`
	Levels map[string]uint `json:"levels"`
}

type cueState struct {
	Look string `json:"look"`
	Ms   int64  `json:"ms"`
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
	grand := uint8(FullMaster)
	if f.GrandMaster != nil {
		if *f.GrandMaster > MaxLevel {
			return nil, fmt.Errorf("parse %s: grand master %d is over %d", path, *f.GrandMaster, MaxLevel)
		}
		grand = uint8(*f.GrandMaster)
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
		show, err := u.show()
		if err != nil {
			return nil, fmt.Errorf("parse %s: universe %d: %w", path, u.Universe, err)
		}
		s.Show = show
		g := grand
		s.GrandMaster = &g
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
		if s.Show != nil {
			f.Universes[i].setShow(s.Show)
		}
	}
	if len(states) > 0 && states[0].GrandMaster != nil {
		g := uint(*states[0].GrandMaster)
		f.GrandMaster = &g
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

// show returns the show u's file form holds, validated.
func (u *universeState) show() (*Show, error) {
	s := NewShow()
	s.Name = u.Name
	if u.Master != nil {
		if *u.Master > MaxLevel {
			return nil, fmt.Errorf("master %d is over %d", *u.Master, MaxLevel)
		}
		s.Master = uint8(*u.Master)
	}
	for k, l := range u.Labels {
		ch, ok := channelKey(k)
		if !ok {
			return nil, fmt.Errorf("label key %q is not a channel 1..%d", k, Slots)
		}
		if l == "" {
			continue
		}
		if s.Labels == nil {
			s.Labels = map[uint16]string{}
		}
		s.Labels[uint16(ch)] = l
	}
	for _, ls := range u.Looks {
		l := Look{Name: ls.Name}
		for k, v := range ls.Levels {
			ch, ok := channelKey(k)
			if !ok {
				return nil, fmt.Errorf("look %q: key %q is not a channel 1..%d", ls.Name, k, Slots)
			}
			if v > MaxLevel {
				return nil, fmt.Errorf("look %q: channel %d level %d is over %d", ls.Name, ch, v, MaxLevel)
			}
			l.Channels.Add(ch - 1)
			l.Levels[ch-1] = uint8(v)
		}
		s.Looks = append(s.Looks, l)
	}
	for _, c := range u.Cues {
		if c.Ms < 0 || c.Ms > MaxCueFade.Milliseconds() {
			return nil, fmt.Errorf("cue of look %q: ms %d outside 0..%d", c.Look, c.Ms, MaxCueFade.Milliseconds())
		}
		s.Cues = append(s.Cues, Cue{Look: c.Look, Fade: time.Duration(c.Ms) * time.Millisecond})
	}
	s.Current = u.Cue
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// setShow writes s into u's file form.
func (u *universeState) setShow(s *Show) {
	u.Name = s.Name
	if len(s.Labels) > 0 {
		u.Labels = make(map[string]string, len(s.Labels))
		for ch, l := range s.Labels {
			u.Labels[strconv.Itoa(int(ch))] = l
		}
	}
	m := uint(s.Master)
	u.Master = &m
	for _, l := range s.Looks {
		ls := lookState{Name: l.Name, Levels: make(map[string]uint, l.Channels.Len())}
		l.Channels.Each(func(i int) { ls.Levels[strconv.Itoa(i+1)] = uint(l.Levels[i]) })
		u.Looks = append(u.Looks, ls)
	}
	for _, c := range s.Cues {
		u.Cues = append(u.Cues, cueState{Look: c.Look, Ms: c.Fade.Milliseconds()})
	}
	u.Cue = s.Current
}

// channelKey parses a channel number written as a JSON object key,
// "1".."512" without leading zeros.
func channelKey(k string) (int, bool) {
	if k == "" || len(k) > 3 || k[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(k)
	if err != nil || !ValidChannel(n) || strconv.Itoa(n) != k {
		return 0, false
	}
	return n, true
}
