// Command dmxd is a DMX512 lighting server: lighting desks connect over
// WebSocket, dmxd merges their commands and refreshes USB-serial DMX
// interfaces at up to 44 frames per second.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/actors/metrics"
	"github.com/dmxd/dmxd/transport"
	"github.com/dmxd/dmxd/transport/desk"
)

// Shutdown timing. The protocol allows 5 s from the signal to the exit:
// connections get until connsDeadline after the signal (a client still
// behind then is dropped), the sockets left are closed and their pumps get
// pumpWait; the final frame (at most ~1.5 s for a stuck device) and the
// state file fit in what remains. A deadline that passes is a warning,
// never a failed exit.
const (
	connsDeadline = 3 * time.Second
	pumpWait      = 250 * time.Millisecond
)

// fdReserve is how many file descriptors dmxd keeps for itself besides
// its connections and one per output device: standard streams, the
// listener, the poller, the state file and its directory while a save
// runs, the /proc files the metrics read.
const fdReserve = 32

// connLimit is how many connections dmxd accepts at once:
// --max-conns WebSockets plus transport.HTTPConnMargin for plain HTTP, but
// no more than the open-files limit nofile leaves after fdReserve and the
// output devices, so that a crowd of clients cannot keep dmxd from
// opening a device or the state file; at least 1.
func connLimit(maxConns int, nofile uint64, outputs int) int {
	want := maxConns + transport.HTTPConnMargin
	reserve := uint64(fdReserve + outputs)
	if nofile < reserve+uint64(want) {
		return int(max(nofile, reserve+1) - reserve)
	}
	return want
}

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// run is dmxd's main; it returns the exit status. As a server: 0 after a
// clean shutdown, 1 on a runtime failure (a final save of the state file
// that fails is one: the levels are lost), 2 on a bad command line or a
// state file dmxd could not write. --help, help and --version print to
// stdout and return 0; a subcommand returns what runCommand does.
func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "--version", "-version":
			fmt.Fprintln(stdout, build())
			return 0
		case "help":
			return runHelp(args[1:], stdout, stderr)
		case "node":
			return runNode(args[1:], getenv, stdout, stderr)
		case "edge":
			return runEdge(args[1:], getenv, stdout, stderr)
		}
		if _, ok := lookupCommand(args[0]); ok {
			return runCommand(args[0], args[1:], getenv, stdout, stderr)
		}
	}
	cfg, err := parseConfig(args, getenv)
	var help *helpRequest
	if errors.As(err, &help) {
		writeHelp(stdout, help.flags)
		return 0
	}
	if err == nil {
		err = checkState(cfg.state)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dmxd: %s\n", oneLine(err.Error())) // a path may hold a line break
		return 2
	}
	format := logFormat(cfg, stderr)
	log := newLogger(cfg, format, stderr)
	var console io.Writer // a person reads stderr: tell them where to connect
	if format == "console" {
		console = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	if err := serve(ctx, cfg, log, console); err != nil {
		log.Error().Err(err).Msg("dmxd failed")
		return 1
	}
	return 0
}

// stopSignals are the signals that make dmxd shut down gracefully:
// SIGINT, SIGTERM and SIGHUP (the terminal or ssh session that started
// dmxd went away; dmxd has no configuration to reload). A SIGHUP that was
// ignored when dmxd started (nohup) stays ignored.
func stopSignals() []os.Signal {
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if !signal.Ignored(syscall.SIGHUP) {
		sigs = append(sigs, syscall.SIGHUP)
	}
	return sigs
}

// logFormat is the log format: --log-format, else console when w is a
// terminal and json when it is not.
func logFormat(cfg config, w io.Writer) string {
	if cfg.logFormat != "" {
		return cfg.logFormat
	}
	if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
		return "console"
	}
	return "json"
}

func newLogger(cfg config, format string, w io.Writer) zerolog.Logger {
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(cfg.logLevel).With().Timestamp().Logger()
}

// serve runs dmxd until ctx is cancelled, then shuts down in dependency
// order: stop accepting, close clients with 1001, final frame, save state,
// stop the outputs. When console is not nil, it gets one line for a
// person once dmxd listens: the desk's and the WebSocket's URLs.
func serve(ctx context.Context, cfg config, log zerolog.Logger, console io.Writer) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.listen, err)
	}
	mets := metrics.New()
	bi := build()
	mets.SetBuild(bi.Version, bi.GoVersion, cmp.Or(bi.Revision, "unknown"))
	restored, savePath := restoreState(cfg.state, cfg.universes, log)
	inputs, err := openInputs(cfg, log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	engCfg := actors.Config{
		Universes: cfg.universes,
		Rate:      cfg.rate,
		Merge:     cfg.merge,
		Patch:     cfg.outputs,
		Restore:   restored,
		StatePath: savePath,
		Version:   bi.Version,
		Log:       log,
		Metrics:   mets,
		// --update-budget 0 is no budget; the engine's 0 is its default.
		UpdateBudget: cmp.Or(cfg.updates, -1),
		Inputs:       inputs,
		Cluster:      cfg.cluster,
	}
	if cfg.core != "" {
		// An edge: the universes, outputs and state are the core's.
		engCfg = actors.Config{Core: cfg.core, Cluster: cfg.cluster, Version: bi.Version, Log: log, Metrics: mets}
	}
	eng, err := actors.Start(engCfg)
	if err != nil {
		_ = ln.Close()
		for _, in := range inputs {
			_ = in.Conn.Close()
		}
		return fmt.Errorf("start: %w", err)
	}
	srv := transport.NewServer(eng, transport.Config{
		Token:          cfg.token,
		Origins:        cfg.origins,
		AllowedHosts:   cfg.hosts,
		TrustedProxies: cfg.proxies,
		MaxConns:       cfg.maxConns,
		ConnRate:       cfg.connRate,
		// --bulk-budget 0 is no budget; the server's 0 is its default.
		BulkBudget: cmp.Or(cfg.bulk<<10, -1),
		PingPeriod: cfg.ping,
		PongWait:   2 * cfg.ping,
		Desk:       desk.Handler(cfg.desks...),
		Log:        log,
		Metrics:    mets,
	})
	nofile := openFilesLimit()
	limited := transport.NewListener(ln, connLimit(cfg.maxConns, nofile, len(cfg.outputs)), log)
	if limited.Limit() < cfg.maxConns+transport.HTTPConnMargin {
		log.Warn().Uint64("open_files", nofile).Int("conn_limit", limited.Limit()).Int("max_conns", cfg.maxConns).
			Msg("the open-files limit allows fewer connections than --max-conns: raise it (ulimit -n, LimitNOFILE=)")
	}
	httpSrv := srv.HTTPServer(limited)
	addr := ln.Addr().String()
	deskURL, wsURL := urls(ln.Addr())
	ev := log.Info().Str("listen", addr)
	if cfg.core == "" { // an edge's universes are its core's
		ev = ev.Int("universes", cfg.universes).Int("rate", cfg.rate).Str("merge", cfg.merge.String())
	}
	ev.Int("conn_limit", limited.Limit()).Str("desk", deskURL).Str("ws", wsURL).Str("version", bi.Version).
		Msg("dmxd listening")
	switch a := eng.ClusterAddress(); {
	case cfg.core != "":
		log.Info().Str("core", cfg.core).Str("cluster", a).Bool("tls", cfg.cluster.TLS != nil).Msg("desk edge of the core: admitting desks once it answers")
	case a != "":
		log.Info().Str("cluster", a).Bool("tls", cfg.cluster.TLS != nil).Msg("serving output nodes and desk edges")
	}
	if console != nil {
		fmt.Fprintln(console, announcement(ln.Addr(), cfg.token != ""))
	}
	served := make(chan error, 1)
	go func() { served <- httpSrv.Serve(limited) }()

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info().Str("reason", context.Cause(ctx).Error()).Msg("shutting down")
	case serveErr = <-served:
	}
	deadline := time.Now().Add(connsDeadline)
	shutCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_ = httpSrv.Shutdown(shutCtx) // stop accepting; WebSockets are hijacked and closed below
	var errs []error
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	if err := eng.CloseConnections(actors.CloseGoingAway, "server shutting down", deadline); err != nil {
		if !errors.Is(err, actors.ErrDeadline) {
			errs = append(errs, err)
		}
		log.Warn().Err(err).Msg("shutdown deadline: closing the connections left")
	}
	if !srv.WaitPumps(max(time.Until(deadline), 0) + pumpWait) {
		n := srv.Drop()
		log.Warn().Int("connections", n).Msg("shutdown deadline: connections dropped")
		srv.WaitPumps(pumpWait)
	}
	if err := eng.Stop(); err != nil {
		errs = append(errs, err)
	}
	log.Info().Msg("stopped")
	return errors.Join(errs...)
}

// urls returns the web desk's and the WebSocket's URL at the listening
// address addr; an unspecified address (":8080", "0.0.0.0", "::") is
// reached on this machine at 127.0.0.1.
func urls(addr net.Addr) (desk, ws string) {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String() + "/", "ws://" + addr.String() + "/ws"
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	hp := net.JoinHostPort(host, port)
	return "http://" + hp + "/", "ws://" + hp + "/ws"
}

// announcement is the line a person at a terminal reads when dmxd
// listens on addr: where the desk and the WebSocket are.
func announcement(addr net.Addr, token bool) string {
	desk, ws := urls(addr)
	s := "dmxd: web desk at " + desk
	if token {
		s += " (add ?token=SECRET)"
	}
	s += ", WebSocket " + ws
	if ip, ok := addr.(*net.TCPAddr); ok && ip.IP.IsUnspecified() {
		s += " (and on this machine's other addresses)"
	}
	return s + "; Ctrl-C stops"
}
