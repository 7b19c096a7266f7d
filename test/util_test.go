package test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dmxd/dmxd/test/testkit"
)

// isClose reports whether err is a close frame with code.
func isClose(err error, code int) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code == code
}

// getState asks for universe u's state and returns it.
func getState(t *testing.T, d *testkit.Desk, u int) testkit.Message {
	t.Helper()
	if err := d.Send(fmt.Sprintf(`{"get": true, "universe": %d}`, u)); err != nil {
		t.Fatal(err)
	}
	st, err := d.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "state" && m.Universe == u })
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// assertDark fails unless every level of st is 0.
func assertDark(t *testing.T, st testkit.Message, why string) {
	t.Helper()
	for i, v := range st.Values {
		if v != 0 {
			t.Fatalf("channel %d = %d, want 0 %s", i+1, v, why)
		}
	}
}
