package actors

import (
	"context"
	"log/slog"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/rs/zerolog"
)

// newSystem returns an actor system that logs into log, with the
// component "protoactor".
func newSystem(log zerolog.Logger) *actor.ActorSystem {
	slogger := slog.New(linkLogHandler{zerolog.NewSlogHandler(log.With().Str("component", "protoactor").Logger())})
	return actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return slogger }))
}

// linkLogHandler logs protoactor's errors about the links to other
// processes ("EndpointWriter lost connection", "… failed to connect") as
// warnings: a node, an edge or a core that goes away or is not up yet is
// something dmxd expects and handles (its own lines say what it does),
// not an error of dmxd. Every other record passes unchanged.
type linkLogHandler struct{ slog.Handler }

func (h linkLogHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && strings.HasPrefix(r.Message, "EndpointWriter") {
		r.Level = slog.LevelWarn
	}
	return h.Handler.Handle(ctx, r)
}

func (h linkLogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return linkLogHandler{h.Handler.WithAttrs(attrs)}
}

func (h linkLogHandler) WithGroup(name string) slog.Handler {
	return linkLogHandler{h.Handler.WithGroup(name)}
}
