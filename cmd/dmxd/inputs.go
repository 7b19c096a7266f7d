package main

import (
	"errors"
	"os"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// openInputs opens the sockets of cfg's network inputs. A multicast group
// that cannot be joined is a warning (unicast still arrives); a socket
// that cannot be opened is an error, and closes those opened before.
func openInputs(cfg config, log zerolog.Logger) ([]actors.Input, error) {
	host, _ := os.Hostname()
	var out []actors.Input
	for _, spec := range cfg.inputs {
		conn, warns, err := dmx.ListenInput(&spec)
		if err != nil {
			for _, in := range out {
				_ = in.Conn.Close()
			}
			return nil, err
		}
		if len(warns) > 0 {
			log.Warn().Err(errors.Join(warns...)).Str("input", spec.Proto).Msg("multicast groups not joined: only unicast sACN arrives")
		}
		out = append(out, actors.Input{
			Spec: spec, Conn: conn, Timeout: cfg.inTimeout, Hold: cfg.inHold,
			ShortName: "dmxd", LongName: "dmxd on " + host,
		})
	}
	return out, nil
}
