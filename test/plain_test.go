package test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dmxd/dmxd/test/testkit"
)

// TestPlainHTTPReachesTheLight drives the plain HTTP routes of the built
// dmxd with its token: a POST to /api/v1/universes/1 is answered once the
// universe applied it, so its levels are in one of the next two frames
// dmxd writes; a desk gets the update; OLA's /set_dmx reaches the pty too
// and /get_dmx reads it back.
func TestPlainHTTPReachesTheLight(t *testing.T) {
	pty := newPTY(t)
	p := startDMXD(t, "--output", "1=enttec-pro:"+pty.Path, "--token", "s3cret")
	desk, _, err := testkit.Dial(p.WSURL("/ws?token=s3cret"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer desk.Close()
	if _, err := desk.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "state" }); err != nil {
		t.Fatal(err)
	}
	request := func(method, path, contentType, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, p.URL(path), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer s3cret")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, string(b)
	}

	var seen int64 // frames read from the pty, which has read every frame since dmxd started
	next := func() testkit.Frame {
		t.Helper()
		f, err := pty.WaitFrame(5*time.Second, anyFrame)
		if err != nil {
			t.Fatalf("after %d frames: %v", seen, err)
		}
		seen++
		return f
	}
	next()
	if code, body := request("POST", "/api/v1/universes/1", "application/json", `{"dmx": {"1": 255, "2": 128}}`); code != 200 || body != `{"ok":true}`+"\n" {
		t.Fatalf("POST: %d %s", code, body)
	}
	written := framesWritten(t, p, 1)
	for f := next(); f.Values[0] != 255 || f.Values[1] != 128; f = next() {
	}
	if seen > written+2 {
		t.Errorf("the levels came in frame %d; dmxd had written %d frames when the POST was answered", seen, written)
	}
	up, err := desk.Until(5*time.Second, func(m testkit.Message) bool { return m.Type == "update" })
	if err != nil || up.Changes["1"] != 255 || up.Changes["2"] != 128 {
		t.Fatalf("desk: %s, %v", up.Raw, err)
	}

	if code, body := request("POST", "/set_dmx", "application/x-www-form-urlencoded", url.Values{"u": {"1"}, "d": {"0,0,77"}}.Encode()); code != 200 || body != "ok" {
		t.Fatalf("set_dmx: %d %s", code, body)
	}
	if _, err := pty.WaitFrame(5*time.Second, func(f testkit.Frame) bool {
		return f.Values[0] == 0 && f.Values[1] == 0 && f.Values[2] == 77
	}); err != nil {
		t.Fatalf("set_dmx's levels: %v", err)
	}
	code, body := request("GET", "/get_dmx?u=1", "", "")
	var g struct {
		DMX   []int  `json:"dmx"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &g); code != 200 || err != nil || len(g.DMX) != 512 || g.DMX[2] != 77 || g.Error != "" {
		t.Fatalf("get_dmx: %d %.60s", code, body)
	}
	if code, _ := request("GET", "/livez", "", ""); code != 200 {
		t.Fatalf("/livez: %d", code)
	}
}

// TestDeskLogLinesBehindProxy: with --trusted-proxy, dmxd logs a desk's
// connect and disconnect with the client named by X-Forwarded-For.
func TestDeskLogLinesBehindProxy(t *testing.T) {
	p := startDMXD(t, "--trusted-proxy", "127.0.0.0/8")
	d, _, err := testkit.Dial(p.WSURL("/ws"), http.Header{"X-Forwarded-For": {"203.0.113.9"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	_ = d.Close()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var on, off map[string]any
		for _, l := range p.Logs() {
			switch l["message"] {
			case "desk connected":
				on = l
			case "desk disconnected":
				off = l
			}
		}
		if on != nil && off != nil {
			for _, l := range []map[string]any{on, off} {
				if l["level"] != "info" || l["client"] != "203.0.113.9" || !strings.HasPrefix(l["remote"].(string), "127.0.0.1:") {
					t.Errorf("logged %v, want info with client 203.0.113.9 and remote 127.0.0.1", l)
				}
			}
			if off["code"] != 1000.0 || off["by"] != "client" {
				t.Errorf("logged %v, want code 1000 by client", off)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connect and disconnect lines in %v", p.RawLogs())
		}
	}
}
