package actors

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/rs/zerolog"
)

// TestLinkLogLevels: protoactor's errors about links to other processes
// are logged as warnings; its other errors, and everything else, keep
// their level.
func TestLinkLogLevels(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		msg   string
		want  string
	}{
		{slog.LevelError, "EndpointWriter lost connection", "warn"},
		{slog.LevelError, "EndpointWriter failed to connect", "warn"},
		{slog.LevelError, "EndpointReader failed to deserialize", "error"},
		{slog.LevelInfo, "EndpointWriter connected", "info"},
		{slog.LevelWarn, "something else", "warn"},
	} {
		t.Run(tc.msg, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(linkLogHandler{zerolog.NewSlogHandler(zerolog.New(&buf))}).With("lib", "Proto.Actor")
			log.Log(t.Context(), tc.level, tc.msg, slog.String("address", "127.0.0.1:1"))
			var line map[string]any
			if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
				t.Fatalf("log line %q: %v", buf.String(), err)
			}
			if line["level"] != tc.want || line["message"] != tc.msg || line["address"] != "127.0.0.1:1" || line["lib"] != "Proto.Actor" {
				t.Errorf("logged %v, want level %s with the message and attributes", line, tc.want)
			}
		})
	}
}
