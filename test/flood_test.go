package test

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestFloodGetsRateLimitedThenClose1008 floods dmxd past --conn-rate: the
// client must read rate_limited errors before the close frame with 1008
// (found by the chaos harness: the close used to overtake the errors).
func TestFloodGetsRateLimitedThenClose1008(t *testing.T) {
	p := startDMXD(t, "--conn-rate", "10")
	d := dial(t, p)
	go func() {
		for i := 0; i < 1000; i++ {
			if d.Send(fmt.Sprintf(`{"dmx":{"%d":1}}`, 1+i%512)) != nil {
				return
			}
		}
	}()
	limited := 0
	for {
		m, err := d.Next(10 * time.Second)
		if err != nil {
			if !isClose(err, websocket.ClosePolicyViolation) {
				t.Fatalf("after %d rate_limited errors: %v, want close 1008", limited, err)
			}
			break
		}
		if m.Type == "error" && m.Code == "rate_limited" {
			limited++
		}
	}
	if limited == 0 {
		t.Error("closed with 1008 without a single rate_limited error first")
	}
}
