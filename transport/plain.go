package transport

// Plain HTTP: the WebSocket's commands for curl and scripts
// (/api/v1/universes/{u}), OLA's /set_dmx and /get_dmx, and /livez.
//
// A plain HTTP command goes the way a desk's does, with the same rules: it
// is decoded and validated by DecodeCommand, counted against a rate limit
// (--conn-rate, one limit for all plain HTTP commands together, as if they
// came over one connection), takes credit from a window (the size of a
// connection's, shared by all plain HTTP requests: while it is used up,
// further requests wait in their own goroutines and nothing more reaches
// the universes' mailboxes), and is applied by the universe in its
// batches through Engine.Apply. The request's goroutine waits for the
// universe's answer, so a POST is answered when a desk would get its ack.
// Nothing here is queued beyond the requests the listener admitted.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
)

// Paths of the plain HTTP API.
const (
	apiPrefix  = "/api/"
	apiUniPath = "/api/v1/universes/{u}"
	olaSetPath = "/set_dmx"
	olaGetPath = "/get_dmx"
)

// Error codes of plain HTTP besides the protocol's (see the Code*
// constants of codec.go, which keep their meaning).
const (
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "too_large"
	CodeShuttingDown     = "shutting_down"
	CodeUnavailable      = "unavailable"
	// CodeCoreUnavailable: an edge whose core is away (see
	// actors.ErrCoreUnavailable), 503.
	CodeCoreUnavailable = actors.CodeCoreUnavailable
)

// coreUnavailable is the refusal of every request that needs an edge's
// core while it is away.
var coreUnavailable = &httpError{status: http.StatusServiceUnavailable, code: CodeCoreUnavailable,
	message: "dmxd's core is unavailable: retry, or use another edge"}

// retryAfter is the Retry-After of a 429, in seconds: the rate limit's
// tokens come back within a second.
const retryAfter = "1"

// isPlainPath reports whether path belongs to the plain HTTP API's mux.
func isPlainPath(path string) bool {
	return strings.HasPrefix(path, apiPrefix) || path == olaSetPath || path == olaGetPath
}

// plainMux routes the plain HTTP API. Its patterns name no method, so
// that a wrong method gets the API's JSON 405 rather than the mux's text.
func (s *Server) plainMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc(apiUniPath, s.serveUniverse)
	mux.HandleFunc(olaSetPath, s.serveOLASet)
	mux.HandleFunc(olaGetPath, s.serveOLAGet)
	mux.HandleFunc(apiPrefix, func(w http.ResponseWriter, r *http.Request) {
		writeAPIError(w, &httpError{status: http.StatusNotFound, code: CodeNotFound,
			message: fmt.Sprintf("no such path %q: the API is GET and POST /api/v1/universes/{u}", r.URL.Path)})
	})
	return mux
}

// httpError is a refusal of a plain HTTP request.
type httpError struct {
	status  int
	code    string
	message string
	id      actors.ID // the command's id, echoed when it could be read
}

// refusal turns a protocol refusal into its HTTP answer.
func refusal(e *actors.Error) *httpError {
	status := http.StatusBadRequest
	switch e.Code {
	case CodeBadUniverse:
		status = http.StatusNotFound
	case CodeRateLimited:
		status = http.StatusTooManyRequests
	}
	return &httpError{status: status, code: e.Code, message: e.Message, id: e.ID}
}

// errorWriter writes a refusal in a route's own format.
type errorWriter func(http.ResponseWriter, *httpError)

// setErrorHeaders sets the headers a refusal's status calls for.
func setErrorHeaders(w http.ResponseWriter, e *httpError) {
	switch e.status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="dmxd"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", retryAfter)
	case http.StatusServiceUnavailable:
		if e.code == CodeCoreUnavailable {
			w.Header().Set("Retry-After", retryAfter)
		}
	}
}

// writeAPIError answers {"error":{"code":…,"message":…}}, with "id" when
// the command had one.
func writeAPIError(w http.ResponseWriter, e *httpError) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	setErrorHeaders(w, e)
	writeJSON(w, e.status, struct {
		ID    json.RawMessage `json:"id,omitempty"`
		Error body            `json:"error"`
	}{json.RawMessage(e.id), body{e.code, e.message}})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // not reached: every value written here encodes
		http.Error(w, "encode: "+err.Error(), http.StatusInternalServerError)
		return
	}
	writeRaw(w, status, "application/json", append(b, '\n'))
}

// writeRaw answers body with status and content type.
func writeRaw(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// guard checks what every plain HTTP request must pass, as /ws does: the
// token (401) and the browser origin (403). It answers and returns false
// when one fails.
func (s *Server) guard(w http.ResponseWriter, r *http.Request, fail errorWriter) bool {
	if !s.authorized(r) {
		fail(w, &httpError{status: http.StatusUnauthorized, code: CodeUnauthorized,
			message: "missing or wrong token: send Authorization: Bearer TOKEN or ?token=TOKEN"})
		return false
	}
	if !s.originAllowed(r) {
		fail(w, &httpError{status: http.StatusForbidden, code: CodeForbidden, message: "origin not allowed"})
		return false
	}
	if s.eng.Ready() != nil {
		fail(w, coreUnavailable)
		return false
	}
	return true
}

// allowMethods answers 405 unless r's method is one of methods (HEAD goes
// with GET).
func allowMethods(w http.ResponseWriter, r *http.Request, fail errorWriter, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m || (m == http.MethodGet && r.Method == http.MethodHead) {
			return true
		}
	}
	allow := strings.Join(methods, ", ")
	if strings.Contains(allow, http.MethodGet) {
		allow = strings.Replace(allow, http.MethodGet, "GET, HEAD", 1)
	}
	w.Header().Set("Allow", allow)
	fail(w, &httpError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed,
		message: fmt.Sprintf("method %s is not allowed here: use %s", r.Method, allow)})
	return false
}

// tooLarge is the refusal of a body over MaxMessageSize.
var tooLarge = &httpError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge,
	message: fmt.Sprintf("request body over %d KiB", MaxMessageSize>>10)}

// readBody reads r's body, at most MaxMessageSize bytes.
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, *httpError) {
	if r.ContentLength > MaxMessageSize {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxMessageSize))
	if err != nil {
		if mb := new(http.MaxBytesError); errors.As(err, &mb) {
			return nil, tooLarge
		}
		return nil, &httpError{status: http.StatusBadRequest, code: CodeBadRequest, message: "read body: " + err.Error()}
	}
	return body, nil
}

// universeNumber parses v, the universe number of a path or of OLA's u
// (called name in the refusal): 404 bad_universe for a universe dmxd does
// not have; for no number at all, 400 bad_request when strict (a form
// field), else 404 (a path that names no universe).
func (s *Server) universeNumber(v, name string, strict bool) (int, *httpError) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil && strict {
		return 0, &httpError{status: http.StatusBadRequest, code: CodeBadRequest,
			message: fmt.Sprintf("%s %q is not a universe number (dmxd's universes are 1..%d)", name, v, s.eng.Universes())}
	}
	if err != nil || n < 1 || n > s.eng.Universes() {
		return 0, &httpError{status: http.StatusNotFound, code: CodeBadUniverse,
			message: fmt.Sprintf("universe %s does not exist: dmxd's universes are 1..%d", v, s.eng.Universes())}
	}
	return n, nil
}

// admit counts one command of a plain HTTP request, refused or not, against
// the rate limit of plain HTTP, as a read pump does for a desk's.
func (s *Server) admit(id actors.ID) *httpError {
	if s.plainLim == nil || s.plainLim.Allow() {
		return nil
	}
	s.cfg.Metrics.CommandsRefused.WithLabelValues(CodeRateLimited).Inc()
	return refusal(refuse(id, CodeRateLimited, "more than %d commands per second over plain HTTP", s.cfg.ConnRate))
}

// refused counts a protocol refusal and returns its HTTP answer.
func (s *Server) refused(e *actors.Error) *httpError {
	s.cfg.Metrics.CommandsRefused.WithLabelValues(e.Code).Inc()
	return refusal(e)
}

// shuttingDown is the answer to a command that arrives once dmxd shuts
// down: it is not applied.
var shuttingDown = &httpError{status: http.StatusServiceUnavailable, code: CodeShuttingDown,
	message: "dmxd is shutting down; the command was not applied"}

// requestContext returns a context of r that is also cancelled when the
// HTTP server shuts down.
func (s *Server) requestContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.stopping, cancel)
	return ctx, func() { stop(); cancel() }
}

// decode decodes a command body as a read pump does; a big body while
// plain HTTP commands are in flight waits its turn at the bulk gate.
func (s *Server) decode(ctx context.Context, body []byte) (*actors.Command, *actors.Error, *httpError) {
	if len(body) >= bulkMessageSize && s.plainWin.inUse(s.cfg.Window) > 0 {
		if !s.bulk.enter(len(body), ctx.Done()) {
			return nil, nil, s.cancelled()
		}
		defer s.bulk.leave()
	}
	cmd, bad := DecodeCommand(body, s.eng.Universes())
	return cmd, bad, nil
}

// cancelled is the answer to a request given up while it waited: 503 at
// shutdown, else its client went away (and reads no answer).
func (s *Server) cancelled() *httpError {
	if s.stopping.Err() != nil {
		return shuttingDown
	}
	return &httpError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: "request cancelled"}
}

// execute has the universe apply an admitted, valid command and returns
// its replies. It waits for credit in the plain HTTP window first; the
// credit comes back when the universe answered (or Engine.Apply gave up
// waiting, after seconds: then the command may still be in the mailbox).
func (s *Server) execute(ctx context.Context, cmd *actors.Command) ([]any, *httpError) {
	if s.stopping.Err() != nil {
		return nil, shuttingDown
	}
	weight := cmd.Weight()
	if ok, _ := s.plainWin.take(weight, ctx.Done()); !ok {
		return nil, s.cancelled()
	}
	defer s.plainWin.release(weight)
	s.cfg.Metrics.CommandsAccepted.Inc()
	replies, err := s.eng.Apply(cmd)
	switch {
	case errors.Is(err, actors.ErrClosing):
		return nil, shuttingDown
	case errors.Is(err, actors.ErrCoreUnavailable):
		return nil, coreUnavailable
	case err != nil:
		s.cfg.Log.Warn().Err(err).Msg("plain HTTP command")
		return nil, &httpError{status: http.StatusServiceUnavailable, code: CodeUnavailable, message: err.Error()}
	}
	return replies, nil
}

// stateOf returns the *actors.State among replies.
func stateOf(replies []any) (*actors.State, *httpError) {
	for _, r := range replies {
		if st, ok := r.(*actors.State); ok {
			return st, nil
		}
	}
	return nil, &httpError{status: http.StatusInternalServerError, code: CodeUnavailable, message: "the universe sent no state"}
}

// serveUniverse serves /api/v1/universes/{u}: GET answers the universe's
// state message; POST applies one command of the WebSocket protocol and
// answers {"ok":true} (with the command's "id", if any) once the universe
// applied it, or the state for {"get":true}.
func (s *Server) serveUniverse(w http.ResponseWriter, r *http.Request) {
	if !s.guard(w, r, writeAPIError) || !allowMethods(w, r, writeAPIError, http.MethodGet, http.MethodPost) {
		return
	}
	u, herr := s.universeNumber(r.PathValue("u"), "universe", false)
	if herr != nil {
		writeAPIError(w, herr)
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	cmd := &actors.Command{Kind: actors.KindGet, Universe: u}
	if r.Method == http.MethodPost {
		body, herr := readBody(w, r)
		if herr != nil {
			writeAPIError(w, herr)
			return
		}
		var bad *actors.Error
		cmd, bad, herr = s.decode(ctx, body)
		if herr != nil {
			writeAPIError(w, herr)
			return
		}
		var id actors.ID
		if bad != nil {
			id = bad.ID
		} else {
			id = cmd.ID
		}
		if herr := s.admit(id); herr != nil {
			writeAPIError(w, herr)
			return
		}
		if bad == nil && cmd.Universe != u {
			if hasKey(body, keyUniverse) {
				bad = refuse(cmd.ID, CodeBadRequest, "universe %d in the body, %d in the path", cmd.Universe, u)
			}
			cmd.Universe = u
		}
		if bad != nil {
			writeAPIError(w, s.refused(bad))
			return
		}
	} else if herr := s.admit(nil); herr != nil {
		writeAPIError(w, herr)
		return
	}
	replies, herr := s.execute(ctx, cmd)
	if herr != nil {
		herr.id = cmd.ID
		writeAPIError(w, herr)
		return
	}
	for _, r := range replies {
		switch m := r.(type) {
		case *actors.Error:
			// A show command the universe refused (a look that does not
			// exist, a full list): nothing of it was applied.
			writeAPIError(w, s.refused(m))
			return
		case *actors.Looks:
			// look_list's answer, as its message.
			b, err := AppendMessage(nil, m)
			if err != nil {
				writeAPIError(w, &httpError{status: http.StatusInternalServerError, code: CodeUnavailable, message: err.Error()})
				return
			}
			writeRaw(w, http.StatusOK, "application/json", append(b, '\n'))
			return
		}
	}
	if cmd.Kind == actors.KindGet {
		st, herr := stateOf(replies)
		if herr != nil {
			writeAPIError(w, herr)
			return
		}
		b, _ := AppendMessage(nil, st) // a State always encodes
		writeRaw(w, http.StatusOK, "application/json", append(b, '\n'))
		return
	}
	writeJSON(w, http.StatusOK, struct {
		OK bool            `json:"ok"`
		ID json.RawMessage `json:"id,omitempty"`
	}{true, json.RawMessage(cmd.ID)})
}

// hasKey reports whether the JSON object obj (valid JSON) names key, as
// encoding/json reads keys.
func hasKey(obj []byte, key string) bool {
	for raw := range objectKeys(obj) {
		var k string
		if json.Unmarshal(raw, &k) == nil && k == key {
			return true
		}
	}
	return false
}

// livez is the body of /livez.
var livez = []byte(`{"status":"ok"}` + "\n")

// serveLive answers /livez: 200 while dmxd serves HTTP (a liveness probe).
// It asks no actor: a busy dmxd is alive; /healthz tells whether the
// outputs are up (readiness).
func (s *Server) serveLive(w http.ResponseWriter, _ *http.Request) {
	writeRaw(w, http.StatusOK, "application/json", livez)
}

// OLA's HTTP routes (olad/OladHTTPServer.cpp): POST /set_dmx with the form
// fields u (universe) and d (levels from channel 1, comma-separated),
// answered "ok"; GET /get_dmx?u=U, answered {"dmx":[…],"error":""}. OLA's
// universe numbers are dmxd's: u=1 is universe 1.

// serveOLASet serves POST /set_dmx: u=1&d=255,128,0 sets channels 1..3 of
// universe 1, as {"dmx":[255,128,0]} would; other channels keep their
// levels. Refusals are answered as the API's, in JSON.
func (s *Server) serveOLASet(w http.ResponseWriter, r *http.Request) {
	if !s.guard(w, r, writeAPIError) || !allowMethods(w, r, writeAPIError, http.MethodPost) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxMessageSize)
	var err error
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		err = r.ParseMultipartForm(MaxMessageSize)
	} else {
		err = r.ParseForm()
	}
	if err != nil {
		if mb := new(http.MaxBytesError); errors.As(err, &mb) {
			writeAPIError(w, tooLarge)
			return
		}
		writeAPIError(w, &httpError{status: http.StatusBadRequest, code: CodeBadRequest, message: "read form: " + err.Error()})
		return
	}
	if r.MultipartForm != nil {
		defer func() { _ = r.MultipartForm.RemoveAll() }()
	}
	herr := s.admit(nil)
	if herr != nil {
		writeAPIError(w, herr)
		return
	}
	u, herr := s.universeNumber(r.PostFormValue("u"), "u", true)
	if herr != nil {
		s.cfg.Metrics.CommandsRefused.WithLabelValues(herr.code).Inc()
		writeAPIError(w, herr)
		return
	}
	changes, bad := parseOLALevels(r.PostFormValue("d"))
	if bad != nil {
		writeAPIError(w, s.refused(bad))
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	if _, herr := s.execute(ctx, &actors.Command{Kind: actors.KindDMX, Universe: u, Changes: changes}); herr != nil {
		writeAPIError(w, herr)
		return
	}
	writeRaw(w, http.StatusOK, "text/plain; charset=utf-8", []byte("ok"))
}

// parseOLALevels parses OLA's d: levels 0..255 from channel 1, separated
// by commas, at most 512. As in OLA, an empty entry is 0 (d=255,,255);
// unlike OLA, which reads a level with atoi (0 for a word, 44 for 300)
// and drops levels past 512, such a d is refused.
func parseOLALevels(d string) ([]dmx.Change, *actors.Error) {
	if strings.TrimSpace(d) == "" {
		return nil, refuse(nil, CodeBadRequest, "d is missing: want levels from channel 1, such as d=255,128,0")
	}
	parts := strings.Split(d, ",")
	if len(parts) > dmx.Slots {
		return nil, refuse(nil, CodeBadChannel, "%d levels from channel 1 run past channel %d", len(parts), dmx.Slots)
	}
	changes := make([]dmx.Change, len(parts))
	for i, p := range parts {
		p = strings.TrimSpace(p)
		lv := 0
		if p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > dmx.MaxLevel {
				return nil, refuse(nil, CodeBadValue, "level %q of channel %d is not an integer 0..%d", p, i+1, dmx.MaxLevel)
			}
			lv = n
		}
		changes[i] = dmx.Change{Channel: uint16(i + 1), Level: uint8(lv)}
	}
	return changes, nil
}

// writeOLAGetError answers a refused /get_dmx in OLA's format:
// {"dmx":[],"error":"…"}, with the refusal's status.
func writeOLAGetError(w http.ResponseWriter, e *httpError) {
	setErrorHeaders(w, e)
	writeJSON(w, e.status, struct {
		DMX   []int  `json:"dmx"`
		Error string `json:"error"`
	}{[]int{}, e.message})
}

// serveOLAGet serves GET /get_dmx?u=1: {"dmx":[…512 levels…],"error":""}.
func (s *Server) serveOLAGet(w http.ResponseWriter, r *http.Request) {
	if !s.guard(w, r, writeOLAGetError) || !allowMethods(w, r, writeOLAGetError, http.MethodGet) {
		return
	}
	if herr := s.admit(nil); herr != nil {
		writeOLAGetError(w, herr)
		return
	}
	u, herr := s.universeNumber(r.URL.Query().Get("u"), "u", true)
	if herr != nil {
		s.cfg.Metrics.CommandsRefused.WithLabelValues(herr.code).Inc()
		writeOLAGetError(w, herr)
		return
	}
	ctx, cancel := s.requestContext(r)
	defer cancel()
	replies, herr := s.execute(ctx, &actors.Command{Kind: actors.KindGet, Universe: u})
	if herr == nil {
		var st *actors.State
		if st, herr = stateOf(replies); herr == nil {
			b := append(make([]byte, 0, 8+4*dmx.Slots+16), `{"dmx":[`...)
			for i, v := range st.Values {
				if i > 0 {
					b = append(b, ',')
				}
				b = strconv.AppendUint(b, uint64(v), 10)
			}
			b = append(b, `],"error":""}`+"\n"...)
			writeRaw(w, http.StatusOK, "application/json", b)
			return
		}
	}
	writeOLAGetError(w, herr)
}
