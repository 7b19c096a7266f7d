package test

import (
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestDeskFailsOverToAnotherServer: a desk served by a dmxd started with
// --desk-servers knows a second server of the show (the edges of one core
// serve desks this way); when its own server is gone it connects to the
// next one and goes on driving the light there. Two standalone dmxd
// processes stand in for two edges: what is tested is the page's
// failover, not the cluster.
func TestDeskFailsOverToAnotherServer(t *testing.T) {
	ptyA, ptyB := newPTY(t), newPTY(t)
	// B's address is picked first: A names it to its pages.
	bAddr := freePort(t)
	a := startDMXD(t, "--output", "1=enttec-pro:"+ptyA.Path, "--desk-servers", bAddr)
	// B serves pages loaded from A: their WebSocket carries A's origin.
	b := startDMXD(t, "--output", "1=enttec-pro:"+ptyB.Path, "--listen", bAddr, "--origins", "http://"+a.Addr)
	browser := newBrowser(t)
	desk := openDesk(t, browser, "desk", a.URL("/"))
	desk.waitFor("connected to the page's own server first",
		`document.getElementById("conn").textContent === "Connected to `+a.Addr+`"`, uiWait)

	desk.typeLevel(3, 99)
	if _, err := ptyA.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[2] == 99 }); err != nil {
		t.Fatalf("the level never reached server A's output: %v", err)
	}

	if code, err := a.Stop(10 * time.Second); err != nil || code != 0 {
		t.Fatalf("stop server A: exit %d, %v", code, err)
	}
	desk.waitFor("connected to the other server",
		`document.getElementById("conn").textContent === "Connected to `+b.Addr+`"`, reconnectWait)
	desk.typeLevel(4, 42)
	if _, err := ptyB.WaitFrame(5*time.Second, func(f testkit.Frame) bool { return f.Values[3] == 42 }); err != nil {
		t.Fatalf("after the failover the level never reached server B's output: %v", err)
	}
}
