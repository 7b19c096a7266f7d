package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// plainWait bounds every wait of these tests; what they wait for normally
// happens within milliseconds.
const plainWait = 5 * time.Second

// startUniverses is startServer with a real engine of n universes; it
// returns the engine too.
func startUniverses(t *testing.T, cfg Config, n int, outputs map[int]dmx.Driver) (*Server, *actors.Engine, *httptest.Server) {
	t.Helper()
	eng, err := actors.Start(actors.Config{Universes: n, Rate: 44, Merge: dmx.LTP, Outputs: outputs, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(eng, cfg)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		closeServer(srv, eng)
	})
	return srv, eng, hs
}

// answer is a plain HTTP answer, read whole.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// do sends a request and reads its answer.
func do(t *testing.T, hs *httptest.Server, method, path, contentType string, body io.Reader, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, hs.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return answer{resp.StatusCode, resp.Header, b}
}

// post sends a JSON command to the API.
func post(t *testing.T, hs *httptest.Server, u int, cmd string) answer {
	t.Helper()
	return do(t, hs, "POST", fmt.Sprintf("/api/v1/universes/%d", u), "application/json", strings.NewReader(cmd), nil)
}

// stateBody is the API's answer to GET: the WebSocket's state message.
type stateBody struct {
	Type     string `json:"type"`
	Universe int    `json:"universe"`
	Values   []int  `json:"values"`
	Blackout bool   `json:"blackout"`
}

func getState(t *testing.T, hs *httptest.Server, u int) stateBody {
	t.Helper()
	a := do(t, hs, "GET", fmt.Sprintf("/api/v1/universes/%d", u), "", nil, nil)
	if a.status != 200 || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET universe %d: %d %s %s", u, a.status, a.header.Get("Content-Type"), a.body)
	}
	var st stateBody
	if err := json.Unmarshal(a.body, &st); err != nil {
		t.Fatalf("GET universe %d: %v in %s", u, err, a.body)
	}
	if st.Type != "state" || st.Universe != u || len(st.Values) != dmx.Slots {
		t.Fatalf("GET universe %d: %s", u, a.body)
	}
	return st
}

// deskConn is a WebSocket desk of the server, past its hello and states.
func deskConn(t *testing.T, hs *httptest.Server, universes int, header http.Header) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(hs.URL, "http")+"/ws", header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.Close() })
	for range 1 + universes {
		if _, _, err := ws.ReadMessage(); err != nil {
			t.Fatal(err)
		}
	}
	return ws
}

// serverMsg is a message a desk reads.
type serverMsg struct {
	Type     string         `json:"type"`
	Universe int            `json:"universe"`
	Changes  map[string]int `json:"changes"`
	On       bool           `json:"on"`
}

// readMsg reads messages until ok accepts one.
func readMsg(t *testing.T, ws *websocket.Conn, ok func(serverMsg) bool) serverMsg {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(plainWait))
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		var m serverMsg
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%v in %s", err, data)
		}
		if ok(m) {
			return m
		}
	}
}

// TestPlainRoundTrip: commands POSTed to /api/v1/universes/{u} are applied
// by the time their answer comes (a GET after them sees them) and reach a
// desk on the WebSocket; GET answers the state message.
func TestPlainRoundTrip(t *testing.T) {
	_, _, hs := startUniverses(t, Config{}, 2, nil)
	desk := deskConn(t, hs, 2, nil)

	a := post(t, hs, 2, `{"dmx": {"1": 255, "2": 128}, "id": "a"}`)
	if a.status != 200 || string(a.body) != `{"ok":true,"id":"a"}`+"\n" || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("POST dmx: %d %q", a.status, a.body)
	}
	if st := getState(t, hs, 2); st.Values[0] != 255 || st.Values[1] != 128 || st.Values[2] != 0 || st.Blackout {
		t.Fatalf("state after POST: %v… blackout %v", st.Values[:3], st.Blackout)
	}
	if st := getState(t, hs, 1); st.Values[0] != 0 {
		t.Fatalf("universe 1 changed: %v…", st.Values[:3])
	}
	up := readMsg(t, desk, func(m serverMsg) bool { return m.Type == "update" })
	if up.Universe != 2 || up.Changes["1"] != 255 || up.Changes["2"] != 128 {
		t.Fatalf("desk got %+v, want universe 2 with 1:255 2:128", up)
	}

	for _, tc := range []struct {
		cmd  string
		want string
	}{
		{`{"dmx": [10, 20], "start": 511}`, `{"ok":true}`},
		{`{"fade": {"1": 0}, "ms": 0, "universe": 2, "id": 7}`, `{"ok":true,"id":7}`},
		{`{"blackout": true}`, `{"ok":true}`},
	} {
		if a := post(t, hs, 2, tc.cmd); a.status != 200 || strings.TrimSpace(string(a.body)) != tc.want {
			t.Fatalf("POST %s: %d %s, want 200 %s", tc.cmd, a.status, a.body, tc.want)
		}
	}
	st := getState(t, hs, 2)
	if st.Values[0] != 0 || st.Values[1] != 128 || st.Values[510] != 10 || st.Values[511] != 20 || !st.Blackout {
		t.Fatalf("state: %v… %v blackout %v", st.Values[:2], st.Values[510:], st.Blackout)
	}
	readMsg(t, desk, func(m serverMsg) bool { return m.Type == "blackout" && m.Universe == 2 && m.On })

	// {"get": true} answers the state, as GET does.
	a = post(t, hs, 2, `{"get": true}`)
	var got stateBody
	if err := json.Unmarshal(a.body, &got); a.status != 200 || err != nil || got.Type != "state" || !got.Blackout || got.Values[1] != 128 {
		t.Fatalf("POST get: %d %.80s", a.status, a.body)
	}
	// HEAD is GET without a body.
	if a := do(t, hs, "HEAD", "/api/v1/universes/1", "", nil, nil); a.status != 200 || len(a.body) != 0 {
		t.Fatalf("HEAD: %d %q", a.status, a.body)
	}
	// A form-encoded content type (curl -d's default) does not matter.
	if a := do(t, hs, "POST", "/api/v1/universes/1", "application/x-www-form-urlencoded", strings.NewReader(`{"dmx":{"5":5}}`), nil); a.status != 200 {
		t.Fatalf("POST as a form: %d %s", a.status, a.body)
	}
}

// apiErrorBody is the body of a refused API request.
type apiErrorBody struct {
	ID    any `json:"id"`
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// olaGetBody is the body of /get_dmx.
type olaGetBody struct {
	DMX   []int   `json:"dmx"`
	Error *string `json:"error"`
}

// TestPlainErrors: every refusal of plain HTTP has its status and a JSON
// body with the code (the protocol's, where it has one), in the route's
// format: {"error":{"code","message"}} for the API and /set_dmx, OLA's
// {"dmx":[],"error":"…"} for /get_dmx.
func TestPlainErrors(t *testing.T) {
	_, _, hs := startUniverses(t, Config{Token: "s3cret", Origins: []string{"http://desk.test"}}, 2, nil)
	auth := http.Header{"Authorization": {"Bearer s3cret"}}
	big := `{"dmx": [` + strings.Repeat("0,", MaxMessageSize/2) + `0]}`
	many := strings.TrimSuffix(strings.Repeat("1,", dmx.Slots+1), ",")
	type body = io.Reader
	str := func(s string) body { return strings.NewReader(s) }
	for _, tc := range []struct {
		name        string
		method      string
		path        string
		contentType string
		body        body
		header      http.Header
		status      int
		code        string // "" for OLA's /get_dmx format
		id          any
	}{
		{"bad json", "POST", "/api/v1/universes/1", "", str(`{"dmx":`), auth, 400, CodeBadJSON, nil},
		{"not UTF-8", "POST", "/api/v1/universes/1", "", str("{\"dmx\": {\"1\": 1}, \"id\": \"\xff\"}"), auth, 400, CodeBadJSON, nil},
		{"two commands", "POST", "/api/v1/universes/1", "", str(`{"dmx":{"1":1},"blackout":true,"id":"x"}`), auth, 400, CodeBadRequest, "x"},
		{"empty body", "POST", "/api/v1/universes/1", "", str(``), auth, 400, CodeBadJSON, nil},
		{"universe of the body is not the path's", "POST", "/api/v1/universes/2", "", str(`{"dmx":{"1":1},"universe":1}`), auth, 400, CodeBadRequest, nil},
		{"bad channel", "POST", "/api/v1/universes/1", "", str(`{"dmx":{"513":1}}`), auth, 400, CodeBadChannel, nil},
		{"bad value", "POST", "/api/v1/universes/1", "", str(`{"dmx":{"1":256},"id":7}`), auth, 400, CodeBadValue, 7.0},
		{"fade too long", "POST", "/api/v1/universes/1", "", str(`{"fade":{"1":1},"ms":600001}`), auth, 400, CodeBadValue, nil},
		{"universe of the body unknown", "POST", "/api/v1/universes/1", "", str(`{"dmx":{"1":1},"universe":3}`), auth, 404, CodeBadUniverse, nil},
		{"universe of the path unknown", "GET", "/api/v1/universes/3", "", nil, auth, 404, CodeBadUniverse, nil},
		{"universe 0", "POST", "/api/v1/universes/0", "", str(`{"dmx":{"1":1}}`), auth, 404, CodeBadUniverse, nil},
		{"universe not a number", "GET", "/api/v1/universes/one", "", nil, auth, 404, CodeBadUniverse, nil},
		{"unknown API path", "GET", "/api/v2/universes/1", "", nil, auth, 404, CodeNotFound, nil},
		{"no token", "POST", "/api/v1/universes/1", "", str(`{"dmx":{"1":1}}`), nil, 401, CodeUnauthorized, nil},
		{"wrong token", "GET", "/api/v1/universes/1?token=nope", "", nil, nil, 401, CodeUnauthorized, nil},
		{"wrong bearer", "GET", "/api/v1/universes/1", "", nil, http.Header{"Authorization": {"Bearer nope"}}, 401, CodeUnauthorized, nil},
		{"foreign origin", "POST", "/api/v1/universes/1", "", str(`{"dmx":{"1":1}}`),
			http.Header{"Authorization": {"Bearer s3cret"}, "Origin": {"http://evil.test"}}, 403, CodeForbidden, nil},
		{"PUT", "PUT", "/api/v1/universes/1", "", str(`{"dmx":{"1":1}}`), auth, 405, CodeMethodNotAllowed, nil},
		{"DELETE", "DELETE", "/api/v1/universes/1", "", nil, auth, 405, CodeMethodNotAllowed, nil},
		{"body over 64 KiB", "POST", "/api/v1/universes/1", "", str(big), auth, 413, CodeTooLarge, nil},
		{"body over 64 KiB, chunked", "POST", "/api/v1/universes/1", "", io.MultiReader(str(big)), auth, 413, CodeTooLarge, nil},
		{"set_dmx GET", "GET", "/set_dmx?u=1&d=1", "", nil, auth, 405, CodeMethodNotAllowed, nil},
		{"set_dmx no token", "POST", "/set_dmx", formType, str("u=1&d=1"), nil, 401, CodeUnauthorized, nil},
		{"set_dmx u not a number", "POST", "/set_dmx", formType, str("u=one&d=1"), auth, 400, CodeBadRequest, nil},
		{"set_dmx u missing", "POST", "/set_dmx", formType, str("d=1"), auth, 400, CodeBadRequest, nil},
		{"set_dmx u 0", "POST", "/set_dmx", formType, str("u=0&d=1"), auth, 404, CodeBadUniverse, nil},
		{"set_dmx u 3", "POST", "/set_dmx", formType, str("u=3&d=1"), auth, 404, CodeBadUniverse, nil},
		{"set_dmx d missing", "POST", "/set_dmx", formType, str("u=1"), auth, 400, CodeBadRequest, nil},
		{"set_dmx d a word", "POST", "/set_dmx", formType, str("u=1&d=255,full"), auth, 400, CodeBadValue, nil},
		{"set_dmx d 256", "POST", "/set_dmx", formType, str("u=1&d=256"), auth, 400, CodeBadValue, nil},
		{"set_dmx d negative", "POST", "/set_dmx", formType, str("u=1&d=-1"), auth, 400, CodeBadValue, nil},
		{"set_dmx d past 512", "POST", "/set_dmx", formType, str("u=1&d=" + many), auth, 400, CodeBadChannel, nil},
		{"set_dmx form over 64 KiB", "POST", "/set_dmx", formType, str("u=1&d=" + strings.Repeat("0", MaxMessageSize)), auth, 413, CodeTooLarge, nil},
		{"get_dmx POST", "POST", "/get_dmx?u=1", "", nil, auth, 405, "", nil},
		{"get_dmx no token", "GET", "/get_dmx?u=1", "", nil, nil, 401, "", nil},
		{"get_dmx u missing", "GET", "/get_dmx", "", nil, auth, 400, "", nil},
		{"get_dmx u not a number", "GET", "/get_dmx?u=x", "", nil, auth, 400, "", nil},
		{"get_dmx u 0", "GET", "/get_dmx?u=0", "", nil, auth, 404, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := do(t, hs, tc.method, tc.path, tc.contentType, tc.body, tc.header)
			if a.status != tc.status {
				t.Fatalf("%d %s, want %d", a.status, a.body, tc.status)
			}
			if ct := a.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			switch tc.status {
			case 401:
				if a.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			case 405:
				want := "GET, HEAD, POST"
				if strings.HasPrefix(tc.path, "/set_dmx") {
					want = "POST"
				} else if strings.HasPrefix(tc.path, "/get_dmx") {
					want = "GET, HEAD"
				}
				if got := a.header.Get("Allow"); got != want {
					t.Errorf("Allow %q, want %q", got, want)
				}
			}
			if tc.code == "" {
				var b olaGetBody
				if err := json.Unmarshal(a.body, &b); err != nil || b.DMX == nil || len(b.DMX) != 0 || b.Error == nil || *b.Error == "" {
					t.Errorf("body %s, want OLA's {\"dmx\":[],\"error\":\"…\"}", a.body)
				}
				return
			}
			var b apiErrorBody
			if err := json.Unmarshal(a.body, &b); err != nil {
				t.Fatalf("%v in %s", err, a.body)
			}
			if b.Error.Code != tc.code || b.Error.Message == "" || b.ID != tc.id {
				t.Errorf("body %s, want code %q and id %v", a.body, tc.code, tc.id)
			}
		})
	}
	// The token may come as ?token= or as a bearer; a request without
	// Origin (a script) or with an allowed one passes.
	for _, tc := range []struct {
		path   string
		header http.Header
	}{
		{"/api/v1/universes/1?token=s3cret", nil},
		{"/api/v1/universes/1", http.Header{"Authorization": {"bearer s3cret"}, "Origin": {"http://desk.test"}}},
		{"/get_dmx?u=1&token=s3cret", nil},
	} {
		if a := do(t, hs, "GET", tc.path, "", nil, tc.header); a.status != 200 {
			t.Errorf("GET %s %v: %d %s", tc.path, tc.header, a.status, a.body)
		}
	}
}

const formType = "application/x-www-form-urlencoded"

// TestPlainRateLimited: plain HTTP commands share one rate limit of
// ConnRate a second with bursts of twice that, as one connection: past it
// they get 429 with Retry-After, on every route, and are not applied.
func TestPlainRateLimited(t *testing.T) {
	_, _, hs := startUniverses(t, Config{ConnRate: 1}, 1, nil)
	// The burst is 2: the first two pass whatever the time.
	for i := range 2 {
		if a := post(t, hs, 1, `{"dmx":{"1":1}}`); a.status != 200 {
			t.Fatalf("command %d: %d %s", i+1, a.status, a.body)
		}
	}
	// One token comes back a second: within ten quick requests some are
	// refused.
	limited := func(path, method string, body string, ola bool) {
		t.Helper()
		for range 10 {
			var b io.Reader
			if body != "" {
				b = strings.NewReader(body)
			}
			a := do(t, hs, method, path, formType, b, nil)
			if a.status == 200 {
				continue
			}
			if a.status != 429 || a.header.Get("Retry-After") != "1" {
				t.Fatalf("%s %s: %d %s, want 429 with Retry-After 1", method, path, a.status, a.body)
			}
			if ola {
				var g olaGetBody
				if err := json.Unmarshal(a.body, &g); err != nil || g.Error == nil || !strings.Contains(*g.Error, "per second") {
					t.Fatalf("%s %s: %s", method, path, a.body)
				}
				return
			}
			var e apiErrorBody
			if err := json.Unmarshal(a.body, &e); err != nil || e.Error.Code != CodeRateLimited {
				t.Fatalf("%s %s: %s", method, path, a.body)
			}
			return
		}
		t.Fatalf("%s %s: ten requests at a limit of one a second, none refused", method, path)
	}
	limited("/api/v1/universes/1", "POST", `{"dmx":{"2":99}}`, false)
	limited("/set_dmx", "POST", "u=1&d=0,98", false)
	limited("/get_dmx?u=1", "GET", "", true)
}

// TestPlainShutdown: a plain HTTP command that arrives once dmxd shuts
// down gets 503 and is not applied: once the HTTP server's Shutdown has
// begun (the request's body was still arriving), and once the engine
// closes its connections.
func TestPlainShutdown(t *testing.T) {
	srv, eng := newServer(t, Config{})
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := NewListener(inner, 8, zerolog.Nop())
	hs := srv.HTTPServer(ln)
	active := make(chan struct{}, 1) // a request's headers were read
	hs.ConnState = func(c net.Conn, st http.ConnState) {
		ln.ConnState(c, st)
		if st == http.StateActive {
			active <- struct{}{}
		}
	}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close(); closeServer(srv, eng) })

	c, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cmd := `{"dmx":{"1":255}}`
	if _, err := fmt.Fprintf(c, "POST /api/v1/universes/1 HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n%s", len(cmd), cmd[:5]); err != nil {
		t.Fatal(err)
	}
	select {
	case <-active: // the handler reads the body: Shutdown waits for it
	case <-time.After(plainWait):
		t.Fatal("the request was not read")
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), plainWait)
		defer cancel()
		shut <- hs.Shutdown(ctx)
	}()
	for deadline := time.Now().Add(plainWait); srv.stopping.Err() == nil; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Shutdown did not begin")
		}
	}
	if _, err := io.WriteString(c, cmd[5:]); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(plainWait))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), CodeShuttingDown) {
		t.Fatalf("during Shutdown: %d %s, want 503 %s", resp.StatusCode, b, CodeShuttingDown)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if ss, err := eng.Snapshots(); err != nil || ss[0].Values[0] != 0 {
		t.Fatalf("the command was applied: %v, %v", ss, err)
	}

	// The engine closing its connections (the next step of a shutdown).
	_, eng2, hs2 := startUniverses(t, Config{}, 1, nil)
	if err := eng2.CloseConnections(actors.CloseGoingAway, "", time.Now().Add(plainWait)); err != nil {
		t.Fatal(err)
	}
	a := post(t, hs2, 1, `{"dmx":{"1":255},"id":1}`)
	var e apiErrorBody
	if err := json.Unmarshal(a.body, &e); a.status != 503 || err != nil || e.Error.Code != CodeShuttingDown || e.ID != 1.0 {
		t.Fatalf("after CloseConnections: %d %s, want 503 %s with the id", a.status, a.body, CodeShuttingDown)
	}
}

// TestOLARoutes: OLA's /set_dmx (form or multipart, as curl -d and -F
// send them) sets channels from 1, answered "ok", and a desk sees the
// change; /get_dmx answers every level in OLA's format.
func TestOLARoutes(t *testing.T) {
	_, _, hs := startUniverses(t, Config{}, 2, nil)
	desk := deskConn(t, hs, 2, nil)
	a := do(t, hs, "POST", "/set_dmx", formType, strings.NewReader(url.Values{"u": {"2"}, "d": {"255,128, 0,64"}}.Encode()), nil)
	if a.status != 200 || string(a.body) != "ok" || !strings.HasPrefix(a.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("set_dmx: %d %q %s", a.status, a.body, a.header.Get("Content-Type"))
	}
	up := readMsg(t, desk, func(m serverMsg) bool { return m.Type == "update" })
	if up.Universe != 2 || up.Changes["1"] != 255 || up.Changes["2"] != 128 || up.Changes["4"] != 64 {
		t.Fatalf("desk got %+v", up)
	}
	getDMX := func(u int) []int {
		t.Helper()
		a := do(t, hs, "GET", "/get_dmx?u="+strconv.Itoa(u), "", nil, nil)
		var g olaGetBody
		if err := json.Unmarshal(a.body, &g); a.status != 200 || err != nil || g.Error == nil || *g.Error != "" || len(g.DMX) != dmx.Slots {
			t.Fatalf("get_dmx u=%d: %d %.100s", u, a.status, a.body)
		}
		if !bytes.HasPrefix(a.body, []byte(`{"dmx":[`)) {
			t.Errorf("get_dmx: %.20s…, want OLA's key order", a.body)
		}
		return g.DMX
	}
	if got := getDMX(2); got[0] != 255 || got[1] != 128 || got[2] != 0 || got[3] != 64 || got[4] != 0 {
		t.Fatalf("get_dmx u=2: %v…", got[:5])
	}
	if got := getDMX(1); got[0] != 0 {
		t.Fatalf("get_dmx u=1: %v…, want dark", got[:5])
	}

	// Multipart, an empty entry (0, as OLA reads it), channels past d kept.
	var mp bytes.Buffer
	w := multipart.NewWriter(&mp)
	_ = w.WriteField("u", "2")
	_ = w.WriteField("d", "10,,30")
	_ = w.Close()
	if a := do(t, hs, "POST", "/set_dmx", w.FormDataContentType(), &mp, nil); a.status != 200 || string(a.body) != "ok" {
		t.Fatalf("set_dmx multipart: %d %s", a.status, a.body)
	}
	if got := getDMX(2); got[0] != 10 || got[1] != 0 || got[2] != 30 || got[3] != 64 {
		t.Fatalf("get_dmx after multipart: %v…, want 10 0 30 64", got[:5])
	}
	// A whole universe.
	all := strings.TrimSuffix(strings.Repeat("7,", dmx.Slots), ",")
	if a := do(t, hs, "POST", "/set_dmx", formType, strings.NewReader("u=1&d="+all), nil); a.status != 200 {
		t.Fatalf("set_dmx of 512: %d %s", a.status, a.body)
	}
	for i, v := range getDMX(1) {
		if v != 7 {
			t.Fatalf("channel %d = %d, want 7", i+1, v)
		}
	}
}

// TestLivez: /livez answers 200 without a token while an output is down,
// when /healthz answers 503 (readiness).
func TestLivez(t *testing.T) {
	out, err := dmx.ParseOutput("1=enttec-pro:" + t.TempDir() + "/no-such-device")
	if err != nil {
		t.Fatal(err)
	}
	_, _, hs := startUniverses(t, Config{Token: "s3cret"}, 1, map[int]dmx.Driver{1: out.Driver})
	for deadline := time.Now().Add(plainWait); ; time.Sleep(10 * time.Millisecond) {
		if a := do(t, hs, "GET", "/healthz", "", nil, nil); a.status == 503 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/healthz never answered 503 for a missing device")
		}
	}
	a := do(t, hs, "GET", "/livez", "", nil, nil)
	if a.status != 200 || string(a.body) != `{"status":"ok"}`+"\n" || a.header.Get("Content-Type") != "application/json" {
		t.Fatalf("/livez: %d %s", a.status, a.body)
	}
}

// logLines is a zerolog writer that keeps the lines, safe for concurrent
// use.
type logLines struct {
	mu    sync.Mutex
	lines []map[string]any
}

func (l *logLines) Write(p []byte) (int, error) {
	var m map[string]any
	if err := json.Unmarshal(p, &m); err != nil {
		return 0, err
	}
	l.mu.Lock()
	l.lines = append(l.lines, m)
	l.mu.Unlock()
	return len(p), nil
}

// wait returns the first line with message msg, waiting for it.
func (l *logLines) wait(t *testing.T, msg string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(plainWait); ; time.Sleep(time.Millisecond) {
		l.mu.Lock()
		for _, m := range l.lines {
			if m["message"] == msg {
				l.mu.Unlock()
				return m
			}
		}
		l.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no %q line logged", msg)
		}
	}
}

// TestDeskLogLines: a desk's connect and disconnect are logged at info
// level with its connection, its peer's address and — only when the peer
// is a trusted proxy — the client named by X-Forwarded-For; the
// disconnect with the close code, who closed first and the duration.
func TestDeskLogLines(t *testing.T) {
	tooBig := strings.Repeat("x", MaxMessageSize+1)
	for _, tc := range []struct {
		name    string
		trusted string
		xff     []string
		client  string // "" for none logged
		end     func(ws *websocket.Conn)
		code    float64
		by      string
	}{
		{"no proxy trusted", "", []string{"203.0.113.9"}, "", closeWith(4000), 4000, "client"},
		{"peer trusted", "127.0.0.1", []string{"203.0.113.9"}, "203.0.113.9", closeWith(1000), 1000, "client"},
		{"peer not trusted", "10.0.0.0/8", []string{"203.0.113.9"}, "", closeWith(1000), 1000, "client"},
		{"rightmost untrusted hop", "127.0.0.0/8", []string{"198.51.100.1, 203.0.113.9"}, "203.0.113.9", closeWith(1000), 1000, "client"},
		{"trusted hops skipped", "127.0.0.1,203.0.113.0/24", []string{"198.51.100.1", "203.0.113.9"}, "198.51.100.1", closeWith(1000), 1000, "client"},
		{"garbage in the header", "127.0.0.1", []string{"198.51.100.1, unknown"}, "", closeWith(1000), 1000, "client"},
		{"trusted, no header", "127.0.0.1", nil, "", closeWith(1000), 1000, "client"},
		{"closed by dmxd", "", nil, "", func(ws *websocket.Conn) {
			_ = ws.WriteMessage(websocket.TextMessage, []byte(tooBig))
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					return
				}
			}
		}, actors.CloseTooBig, "server"},
		{"dropped", "", nil, "", func(ws *websocket.Conn) { _ = ws.NetConn().Close() }, websocket.CloseAbnormalClosure, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trusted, err := ParseTrustedProxies(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			logs := &logLines{}
			_, hs := startServer(t, Config{TrustedProxies: trusted, Log: zerolog.New(logs)})
			ws := deskConn(t, hs, 1, http.Header{"X-Forwarded-For": tc.xff})
			local := ws.NetConn().LocalAddr().String()
			on := logs.wait(t, "desk connected")
			tc.end(ws)
			off := logs.wait(t, "desk disconnected")
			for _, l := range []map[string]any{on, off} {
				if l["level"] != "info" || l["remote"] != local || l["conn"] == "" || l["conn"] != on["conn"] {
					t.Errorf("%v: want info with remote %s and one conn", l, local)
				}
				if c, ok := l["client"]; (tc.client == "" && ok) || (tc.client != "" && c != tc.client) {
					t.Errorf("%v: client %v, want %q", l, c, tc.client)
				}
			}
			if by, _ := off["by"].(string); off["code"] != tc.code || by != tc.by {
				t.Errorf("%v: want code %v by %q", off, tc.code, tc.by)
			}
			if d, ok := off["duration_s"].(float64); !ok || d < 0 {
				t.Errorf("%v: no duration", off)
			}
			if _, ok := off["error"]; ok != (tc.by == "") {
				t.Errorf("%v: an error only for a connection ended without a close", off)
			}
		})
	}
}

// closeWith closes a desk's connection with code, and waits for dmxd's
// answer.
func closeWith(code int) func(*websocket.Conn) {
	return func(ws *websocket.Conn) {
		_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
		_ = ws.SetReadDeadline(time.Now().Add(plainWait))
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}
}

// TestClientAddr: the client's address is read from X-Forwarded-For only
// when the peer is a trusted proxy, from the right, past trusted hops.
func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.168.1.1, fd00::/8")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		remote string
		xff    []string
		want   string
	}{
		{"10.1.2.3:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"192.168.1.1:5000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"[fd00::1]:5000", []string{"2001:db8::7"}, "2001:db8::7"},
		{"[::ffff:10.0.0.1]:5000", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"192.168.1.2:5000", []string{"203.0.113.9"}, ""},
		{"203.0.113.1:5000", []string{"203.0.113.9"}, ""},
		{"10.1.2.3:5000", nil, ""},
		{"10.1.2.3:5000", []string{"1.1.1.1, 203.0.113.9, 10.0.0.2"}, "203.0.113.9"},
		{"10.1.2.3:5000", []string{"1.1.1.1", "203.0.113.9 , 10.0.0.2"}, "203.0.113.9"},
		{"10.1.2.3:5000", []string{"10.0.0.7, 10.0.0.2"}, "10.0.0.7"},
		{"10.1.2.3:5000", []string{"203.0.113.9:443"}, ""},
		{"10.1.2.3:5000", []string{"1.1.1.1, , 10.0.0.2"}, ""},
		{"not an address", []string{"203.0.113.9"}, ""},
	} {
		h := http.Header{"X-Forwarded-For": tc.xff}
		if got := clientAddr(tc.remote, h, trusted); got != tc.want {
			t.Errorf("clientAddr(%q, %q) = %q, want %q", tc.remote, tc.xff, got, tc.want)
		}
	}
	if got := clientAddr("10.1.2.3:5000", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, nil); got != "" {
		t.Errorf("no trusted proxies: %q", got)
	}
	for _, bad := range []string{"proxy.lan", "10.0.0.1:80", "10.0.0.0/33", "fe80::1%eth0"} {
		if _, err := ParseTrustedProxies(bad); err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("ParseTrustedProxies(%q): %v", bad, err)
		}
	}
}

// TestHealthCORS: a desk page served by another server of the show reads
// /healthz here once it has turned to this server: an origin of --origins
// may read it, no other origin may.
func TestHealthCORS(t *testing.T) {
	_, _, hs := startUniverses(t, Config{Token: "s3cret", Origins: []string{"http://edge1.lan:8080"}}, 1, nil)
	for _, tc := range []struct {
		name   string
		origin string
		allow  string
	}{
		{"listed origin", "http://edge1.lan:8080", "http://edge1.lan:8080"},
		{"other origin", "http://evil.test", ""},
		{"no origin", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			a := do(t, hs, "GET", "/healthz?token=s3cret", "", nil, h)
			if got := a.header.Get("Access-Control-Allow-Origin"); got != tc.allow {
				t.Errorf("status %d, Access-Control-Allow-Origin %q, want %q", a.status, got, tc.allow)
			}
		})
	}
}
