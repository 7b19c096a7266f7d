package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is dmxd's version when the build sets it:
// go build -ldflags "-X main.version=1.2.0" ./cmd/dmxd. Left empty, the
// version comes from the build information Go records (see build).
var version string

// develVersion is the version of a build that records none (go test, go
// run, a build outside version control).
const develVersion = "devel"

// buildInfo is what dmxd knows of its own build.
type buildInfo struct {
	Version   string // -X main.version, else the module version Go recorded, else "devel"
	Revision  string // vcs.revision, "" when unknown
	Modified  bool   // vcs.modified: built from a work tree with changes
	GoVersion string
}

// build returns dmxd's build information: the version set with -ldflags,
// else what runtime/debug.ReadBuildInfo holds.
func build() buildInfo {
	b := buildInfo{Version: version, GoVersion: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if ok {
		if b.Version == "" && info.Main.Version != "" && info.Main.Version != "(devel)" {
			b.Version = info.Main.Version
		}
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Revision = s.Value
			case "vcs.modified":
				b.Modified = s.Value == "true"
			}
		}
	}
	if b.Version == "" {
		b.Version = develVersion
	}
	return b
}

// String is the line dmxd --version prints.
func (b buildInfo) String() string {
	s := "dmxd " + b.Version
	if b.Revision != "" {
		s += ", revision " + b.Revision
		if b.Modified {
			s += " (modified)"
		}
	}
	return fmt.Sprintf("%s, %s", s, b.GoVersion)
}
