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
	"math"
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

// version is dmxd's version, reported in hello messages.
const version = "0.1.0"

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

// openFilesLimit returns the open-files limit (RLIMIT_NOFILE), which Go
// raised to the hard limit at start; unlimited when it cannot be read.
func openFilesLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return math.MaxUint64
	}
	return rl.Cur
}

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stderr))
}

// run is dmxd's main; it returns the exit status: 0 after a clean
// shutdown, 1 on a runtime failure (a final save of the state file that
// fails is one: the levels are lost), 2 on a bad command line or a state
// file dmxd could not write.
func run(args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := parseConfig(args, getenv)
	if err == nil {
		err = checkState(cfg.state)
	}
	if err != nil {
		fmt.Fprintf(stderr, "dmxd: %s\n", oneLine(err.Error())) // a path may hold a line break
		return 2
	}
	log := newLogger(cfg, stderr)
	ctx, stop := signal.NotifyContext(context.Background(), stopSignals()...)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
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

func newLogger(cfg config, w io.Writer) zerolog.Logger {
	format := cfg.logFormat
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && isatty.IsTerminal(f.Fd()) {
			format = "console"
		}
	}
	if format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}
	}
	return zerolog.New(w).Level(cfg.logLevel).With().Timestamp().Logger()
}

// serve runs dmxd until ctx is cancelled, then shuts down in dependency
// order: stop accepting, close clients with 1001, final frame, save state,
// stop the outputs.
func serve(ctx context.Context, cfg config, log zerolog.Logger) error {
	ln, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.listen, err)
	}
	mets := metrics.New()
	restored, savePath := restoreState(cfg.state, cfg.universes, log)
	eng, err := actors.Start(actors.Config{
		Universes: cfg.universes,
		Rate:      cfg.rate,
		Merge:     cfg.merge,
		Outputs:   cfg.outputs,
		Restore:   restored,
		StatePath: savePath,
		Version:   version,
		Log:       log,
		Metrics:   mets,
		// --update-budget 0 is no budget; the engine's 0 is its default.
		UpdateBudget: cmp.Or(cfg.updates, -1),
	})
	if err != nil {
		_ = ln.Close()
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
		Desk:       desk.Handler(),
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
	log.Info().Str("listen", addr).Int("universes", cfg.universes).Int("rate", cfg.rate).
		Str("merge", cfg.merge.String()).Int("conn_limit", limited.Limit()).
		Str("desk", "http://"+addr+"/").Str("ws", "ws://"+addr+"/ws").
		Msg("dmxd listening")
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
