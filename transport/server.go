package transport

import (
	"cmp"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/actors/metrics"
)

// Limits and timings of client connections.
const (
	// MaxMessageSize is the largest client message; larger ones close the
	// connection with 1009.
	MaxMessageSize = 64 << 10
	// MaxRateStrikes is how many commands may be refused as rate_limited
	// within RateStrikeWindow before the connection is closed with 1008: a
	// client that keeps flooding is closed even if the limiter lets one of
	// its commands through now and then.
	MaxRateStrikes   = 100
	RateStrikeWindow = 2 * time.Second
	// DefaultSendQueue is how many server messages may wait for a client.
	// A client that fills it falls behind and catches up with a fresh
	// state; every idle connection holds the queue (16 bytes a slot).
	DefaultSendQueue = 64
	// DefaultPingPeriod, DefaultPongWait and DefaultWriteWait are the
	// keepalive and write deadlines.
	DefaultPingPeriod = 15 * time.Second
	DefaultPongWait   = 30 * time.Second
	DefaultWriteWait  = 10 * time.Second
	closeGrace        = time.Second
	// SocketSendBuffer is the kernel send buffer of each WebSocket.
	SocketSendBuffer = 64 << 10
	// DefaultReadHeaderTimeout bounds reading a request's headers,
	// DefaultRequestTimeout reading the rest of a plain HTTP request and
	// writing its answer, and DefaultIdleTimeout how long a keep-alive
	// connection may wait for its next request. None applies to a
	// WebSocket: it leaves the HTTP server when it is upgraded, gorilla
	// clears the deadlines the server set, and its read pump and writer set
	// their own.
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultRequestTimeout    = 30 * time.Second
	DefaultIdleTimeout       = 30 * time.Second
	// HTTPConnMargin is how many connections beyond MaxConns dmxd accepts
	// at once (see Listener): plain HTTP requests (the desk page,
	// /healthz, /metrics), keep-alive connections, and WebSocket requests
	// answered 503 because MaxConns are open.
	HTTPConnMargin = 64
)

// Config is the HTTP side of dmxd.
type Config struct {
	// Token, when set, must come with every /ws and /metrics request.
	Token string
	// Origins are the allowed browser origins; empty means same host only.
	Origins []string
	// AllowedHosts are the host names (without port) that requests may
	// name in their Host header besides IP literals and localhost (see
	// hostAllowed); compared case-insensitively.
	AllowedHosts []string
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client in the log lines of a desk's connect and disconnect (see
	// clientAddr); none: the header is ignored.
	TrustedProxies []netip.Prefix
	// MaxConns caps concurrent WebSocket connections (503 beyond).
	MaxConns int
	// ConnRate is the commands per second one connection may send (bursts
	// of twice that); plain HTTP commands share one such limit. 0 turns
	// the limits off.
	ConnRate int
	// Window is the credit window of each connection, and of all plain
	// HTTP commands together (see actors.DefaultWindow); SendQueue,
	// PingPeriod, PongWait and WriteWait default to the Default*
	// constants when zero.
	Window     int
	SendQueue  int
	PingPeriod time.Duration
	PongWait   time.Duration
	WriteWait  time.Duration
	// BulkBudget is how many bytes of bulk messages per second all
	// connections together may have decoded (see DefaultBulkBudget): 0 is
	// the default, less than 0 no budget.
	BulkBudget int
	// ReadHeaderTimeout, RequestTimeout and IdleTimeout are the timeouts
	// of plain HTTP; they default to the Default* constants when zero.
	ReadHeaderTimeout time.Duration
	RequestTimeout    time.Duration
	IdleTimeout       time.Duration
	// Desk serves GET /; nil serves a short text page.
	Desk http.Handler
	Log  zerolog.Logger
	// Metrics is served at /metrics and counts connections and commands;
	// nil makes a registry of the server's own.
	Metrics *metrics.Metrics
}

// Server serves the WebSocket endpoint and the HTTP paths of dmxd.
//
// Concurrency: a Server is safe for concurrent use; every connection has a
// read pump and a write pump goroutine, each the only one to use its
// direction of the socket. Plain HTTP commands run in the goroutine of
// their request, which waits for the universe's answer (see plain.go).
type Server struct {
	cfg       Config
	eng       *actors.Engine
	upgrader  websocket.Upgrader
	conns     atomic.Int64
	bufs      writeBuffers
	readAhead sync.Pool // of *[]byte, bulkReadSize long: see readConn
	mu        sync.Mutex
	open      map[*conn]struct{} // connections whose read pump runs
	bulk      *bulkGate          // decoding of connections ahead of their universes
	fanout    *fanoutPool        // writes the connections that have only broadcasts to write
	pumps     sync.WaitGroup
	// Plain HTTP commands: their credit window and rate limit (nil: none),
	// all requests together, and the shutdown of the HTTP server, which
	// cancels stopping.
	plainWin *window
	plainLim *rate.Limiter
	stopping context.Context
	stop     context.CancelFunc
}

// NewServer returns a server for eng.
func NewServer(eng *actors.Engine, cfg Config) *Server {
	if cfg.Window <= 0 {
		cfg.Window = actors.DefaultWindow
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.PingPeriod <= 0 {
		cfg.PingPeriod = DefaultPingPeriod
	}
	if cfg.PongWait <= 0 {
		cfg.PongWait = DefaultPongWait
	}
	if cfg.WriteWait <= 0 {
		cfg.WriteWait = DefaultWriteWait
	}
	if cfg.ReadHeaderTimeout <= 0 {
		cfg.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	for _, code := range refusalCodes {
		cfg.Metrics.CommandsRefused.WithLabelValues(code) // every code shows, at 0
	}
	hosts := make([]string, 0, len(cfg.AllowedHosts))
	for _, h := range cfg.AllowedHosts {
		hosts = append(hosts, strings.TrimSuffix(strings.ToLower(h), "."))
	}
	cfg.AllowedHosts = hosts
	s := &Server{cfg: cfg, eng: eng, open: map[*conn]struct{}{}, bulk: newBulkGate(runtime.GOMAXPROCS(0)-1, cmp.Or(cfg.BulkBudget, DefaultBulkBudget)),
		fanout: newFanoutPool(runtime.GOMAXPROCS(0) - 1)}
	s.plainWin = newWindow(cfg.Window)
	if cfg.ConnRate > 0 {
		s.plainLim = rate.NewLimiter(rate.Limit(cfg.ConnRate), 2*cfg.ConnRate)
	}
	s.stopping, s.stop = context.WithCancel(context.Background())
	s.upgrader = websocket.Upgrader{
		ReadBufferSize:  readBufferSize,
		WriteBufferSize: 4096,
		// Idle connections hold no write buffer: it is taken from the
		// pool for each message.
		WriteBufferPool: &sync.Pool{},
		// Origins are checked before the upgrade, in serveWS.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return s
}

// Handler returns the HTTP handler of every path. A request whose Host is
// not allowed (see hostAllowed) gets 421 on every path. The plain HTTP
// API's paths (see plain.go) have a mux of their own, so that they answer
// every method, wrong ones with a JSON 405, beside the desk's GET /.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", s.serveWS)
	mux.HandleFunc("GET /healthz", s.serveHealth)
	mux.HandleFunc("GET /livez", s.serveLive)
	mux.Handle("GET /metrics", s.requireToken(s.cfg.Metrics.Handler()))
	if s.cfg.Desk != nil {
		mux.Handle("GET /", s.cfg.Desk)
	} else {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte("dmxd: connect a desk to /ws\n"))
		})
	}
	plain := s.plainMux()
	return s.requireHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isPlainPath(r.URL.Path) {
			plain.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}

// requireHost answers 421 Misdirected Request to requests whose Host is
// not allowed, before anything else: the desk page, /healthz and
// /metrics can be read by a rebinding page as well as /ws can be opened.
func (s *Server) requireHost(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			s.cfg.Log.Debug().Str("host", r.Host).Str("remote", r.RemoteAddr).Msg("request for a host not allowed")
			http.Error(w, fmt.Sprintf("dmxd: host %q is not allowed (DNS rebinding protection): "+
				"use dmxd's IP address or start it with --allow-hosts NAME", r.Host), http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether host, a request's Host header, names dmxd
// in a way a DNS rebinding attack cannot: an IP literal (v4 or v6, with
// or without port), localhost or a name under .localhost (RFC 6761
// reserves them for the loopback address; Chrome and Firefox resolve them
// so without asking DNS), or a name of AllowedHosts. A page whose own name was made to resolve to
// dmxd's address sends that name: without this check it would pass the
// same-host origin check, and could read what dmxd answers. An empty Host
// (HTTP/1.0, which no browser sends) is allowed.
func (s *Server) hostAllowed(host string) bool {
	if host == "" {
		return true
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	return name == "localhost" || strings.HasSuffix(name, ".localhost") ||
		slices.Contains(s.cfg.AllowedHosts, name)
}

// HTTPServer returns the http.Server that serves Handler on ln: with the
// timeouts of plain HTTP, ln told which connections are idle, and the
// server's own errors logged through zerolog. Its Shutdown makes plain
// HTTP commands that have not reached a universe answer 503.
func (s *Server) HTTPServer(ln *Listener) *http.Server {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.RequestTimeout,
		WriteTimeout:      s.cfg.RequestTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		ConnState:         ln.ConnState,
		ErrorLog:          newErrorLog(s.cfg.Log),
	}
	hs.RegisterOnShutdown(s.stop)
	return hs
}

// Connections returns how many WebSocket connections are open.
func (s *Server) Connections() int { return int(s.conns.Load()) }

// WaitPumps waits up to d for every connection's pumps to end (after the
// engine closed the connections).
func (s *Server) WaitPumps(d time.Duration) bool {
	done := make(chan struct{})
	go func() { s.pumps.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// Drop closes every connection's socket at once, whatever it is doing:
// the end of a shutdown whose deadline passed. It returns how many were
// still open.
func (s *Server) Drop() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.open {
		c.drop()
	}
	return len(s.open)
}

// authorized checks the token (query or bearer), in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.cfg.Token == "" {
		return true
	}
	got := r.URL.Query().Get("token")
	if got == "" {
		got = bearerToken(r.Header.Get("Authorization"))
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.Token)) == 1
}

// bearerToken returns the token of an Authorization header of the Bearer
// scheme, or "". The scheme is case-insensitive and one or more spaces
// separate it from the token (RFC 7235 section 2.1, RFC 6750 section 2.1).
func bearerToken(h string) string {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimLeft(token, " ")
}

// requireToken answers 401 to requests without the token.
func (s *Server) requireToken(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.authorized(r) {
			http.Error(w, "missing or wrong token", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// originAllowed admits requests without Origin (non-browser clients), the
// configured origins, or — when none are configured — the same host.
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	if len(s.cfg.Origins) > 0 {
		for _, o := range s.cfg.Origins {
			if strings.EqualFold(o, origin) {
				return true
			}
		}
		return false
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		http.Error(w, "missing or wrong token", http.StatusUnauthorized)
		return
	}
	if !s.originAllowed(r) {
		http.Error(w, "origin not allowed", http.StatusForbidden)
		return
	}
	if err := s.eng.Ready(); err != nil {
		// An edge whose core is away: the desk tries again (or another edge).
		writeAPIError(w, coreUnavailable)
		return
	}
	if n := s.conns.Add(1); s.cfg.MaxConns > 0 && n > int64(s.cfg.MaxConns) {
		s.conns.Add(-1)
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	ws, err := s.upgrader.Upgrade(hijacker{ResponseWriter: w, pool: &s.readAhead}, r, nil)
	if err != nil {
		s.conns.Add(-1) // the upgrader has answered the client
		return
	}
	c := newConn(ws, s)
	pid, err := s.eng.Connect(c)
	if err != nil {
		code, reason := actors.CloseInternal, "server busy"
		switch {
		case errors.Is(err, actors.ErrClosing):
			// Upgraded while dmxd shuts down: goodbye, as to every desk.
			code, reason = actors.CloseGoingAway, "server shutting down"
		case errors.Is(err, actors.ErrCoreUnavailable):
			// Upgraded as an edge lost its core: as its desks are closed.
			code, reason = actors.CloseServiceRestart, "core unavailable"
		default:
			s.cfg.Log.Error().Err(err).Msg("connect")
		}
		_ = ws.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		_ = ws.Close()
		s.conns.Add(-1)
		return
	}
	c.pid = pid
	start := time.Now()
	remote, client := r.RemoteAddr, clientAddr(r.RemoteAddr, r.Header, s.cfg.TrustedProxies)
	s.deskLog(pid.Id, remote, client).Msg("desk connected")
	s.cfg.Metrics.Connections.Inc()
	// Two units: the read pump, and the outbox until it closed the socket.
	s.pumps.Add(2)
	s.mu.Lock()
	s.open[c] = struct{}{}
	s.mu.Unlock()
	c.start()
	go func() {
		defer s.pumps.Done()
		defer s.conns.Add(-1)
		defer s.cfg.Metrics.Connections.Dec()
		defer func() {
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
		}()
		c.readPump()
		code, by, err := c.closeInfo()
		ev := s.deskLog(pid.Id, remote, client).Int("code", code).
			Float64("duration_s", time.Since(start).Seconds())
		if by != "" {
			ev = ev.Str("by", by)
		} else if err != nil {
			ev = ev.AnErr("error", err) // why it ended without a close frame
		}
		ev.Msg("desk disconnected")
	}()
}

// deskLog starts the info line of a desk's connect or disconnect: its
// connection actor's id, its peer's address and, behind a trusted proxy,
// the client's.
func (s *Server) deskLog(id, remote, client string) *zerolog.Event {
	ev := s.cfg.Log.Info().Str("conn", id).Str("remote", remote)
	if client != "" {
		ev = ev.Str("client", client)
	}
	return ev
}

// health is the body of /healthz.
type health struct {
	Status      string                `json:"status"`
	Connections int                   `json:"connections"`
	Universes   []actors.OutputHealth `json:"universes"`
	// Sources are the network input sources (only with --input).
	Sources []actors.SourceHealth `json:"sources,omitempty"`
	// Core is an edge's link to its core (only on an edge, whose
	// universes are the core's).
	Core *actors.CoreLink `json:"core,omitempty"`
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := health{Status: "ok", Connections: s.Connections(), Core: s.eng.Link()}
	outs, err := s.eng.Health()
	code := http.StatusOK
	if err != nil {
		h.Status = "degraded"
		code = http.StatusServiceUnavailable
	}
	h.Universes = outs
	if srcs, err := s.eng.Sources(); err != nil {
		h.Status = "degraded"
		code = http.StatusServiceUnavailable
	} else {
		h.Sources = srcs
	}
	for _, o := range outs {
		if o.State != "up" {
			h.Status = "degraded"
			code = http.StatusServiceUnavailable
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	// A desk page served by another server of the show (see
	// --desk-servers) reads this one's health once it has turned to it:
	// an origin named in --origins may read the answer.
	if o := r.Header.Get("Origin"); o != "" && len(s.cfg.Origins) > 0 && s.originAllowed(r) {
		w.Header().Set("Access-Control-Allow-Origin", o)
	}
	w.Header().Add("Vary", "Origin")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(h)
}
