package harness

import (
	"math/rand/v2"
	"testing"

	"github.com/dmxd/dmxd/transport"
)

// TestNoiseCommandsAreValid: every noise command, whatever the draw, is one
// dmxd's own decoder accepts (a noise command refused is a violation of
// the run). Two random channels once collided into a key given twice.
func TestNoiseCommandsAreValid(t *testing.T) {
	h := &harness{cfg: DefaultConfig()}
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		for range 5000 {
			cmd := h.noiseCommand(rng)
			if _, bad := transport.DecodeCommand([]byte(cmd), h.cfg.Universes); bad != nil {
				t.Fatalf("seed %d: noise %s refused: %s %s", seed, cmd, bad.Code, bad.Message)
			}
		}
	}
}
