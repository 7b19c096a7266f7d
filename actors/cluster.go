package actors

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ClusterConfig makes an engine's actor system reachable from other dmxd
// processes (output nodes, desk edges) through protoactor's remote
// package: a gRPC server, and gRPC clients to the other processes.
type ClusterConfig struct {
	// Listen is the host:port the gRPC server listens on (port 0 picks
	// one).
	Listen string
	// Advertise is the host:port other processes dial to reach this one,
	// carried in every PID it sends; "" is the address listened on.
	Advertise string
	// Secret is the shared secret every process of the cluster presents
	// on every gRPC call; a call without it is refused. Required.
	Secret string
	// TLS, when set, serves gRPC over TLS; ClientTLS dials over TLS. A
	// cluster uses both or neither.
	TLS       *tls.Config
	ClientTLS *tls.Config
}

// secretKey is the gRPC metadata key of the cluster secret.
const secretKey = "dmxd-secret"

// Keepalive of the gRPC links, so that a link whose peer vanished without
// closing it (a cable pulled, a network cut) is found dead in seconds, not
// after TCP's minutes: the serving side pings every linkPingTime and drops
// a link unanswered for linkPingTimeout (about 2 s in all); gRPC raises
// the dialing side's ping time to its minimum of 10 s (about 11 s in
// all). Neither is what tells a lost peer: the role's own pings do (a node
// or an edge pings its core every 250 ms, see nodes.go and edge.go).
const (
	linkPingTime    = time.Second
	linkPingTimeout = time.Second
)

// ErrClusterSecret reports a ClusterConfig without a secret.
var ErrClusterSecret = errors.New("cluster: a shared secret is required (--cluster-secret or DMXD_CLUSTER_SECRET)")

// StartCluster starts protoactor's remote on sys: a gRPC server on
// cfg.Listen that refuses every call without cfg.Secret, and dial options
// that present it. Call it before spawning any actor, so that every PID
// carries the address other processes reach. It returns the started
// remote; Shutdown stops it.
func StartCluster(sys *actor.ActorSystem, cfg ClusterConfig) (*remote.Remote, error) {
	if cfg.Secret == "" {
		return nil, ErrClusterSecret
	}
	if (cfg.TLS == nil) != (cfg.ClientTLS == nil) {
		return nil, errors.New("cluster: TLS needs both the server and the client configuration")
	}
	host, port, err := splitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("cluster listen address: %w", err)
	}
	// remote.Start panics when it cannot listen: try the address first,
	// so that a taken port is an error. (A fixed port taken between this
	// check and Start still panics; port 0 never is.)
	if port != 0 {
		l, err := net.Listen("tcp", cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("cluster listen: %w", err)
		}
		l.Close()
	}
	secret := []byte(cfg.Secret)
	check := func(ctx context.Context) error {
		md, _ := metadata.FromIncomingContext(ctx)
		for _, v := range md.Get(secretKey) {
			if subtle.ConstantTimeCompare([]byte(v), secret) == 1 {
				return nil
			}
		}
		return status.Error(codes.Unauthenticated, "dmxd cluster: wrong or missing secret")
	}
	serverOpts := []grpc.ServerOption{
		// protoactor's two unary methods (ListProcesses,
		// GetProcessDiagnostics) panic "implement me", which no one
		// recovers: one call would end the process. They are refused, after
		// the secret, so that a caller still learns whether its secret is
		// right (see probeCore).
		grpc.UnaryInterceptor(func(ctx context.Context, _ any, info *grpc.UnaryServerInfo, _ grpc.UnaryHandler) (any, error) {
			if err := check(ctx); err != nil {
				return nil, err
			}
			return nil, status.Errorf(codes.Unimplemented, "dmxd cluster: %s is not served", info.FullMethod)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: linkPingTime, Timeout: linkPingTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: linkPingTime / 2, PermitWithoutStream: true}),
	}
	dialCreds := insecure.NewCredentials()
	if cfg.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
		dialCreds = credentials.NewTLS(cfg.ClientTLS)
	}
	dialOpts := []grpc.DialOption{
		grpc.WithTransportCredentials(dialCreds),
		grpc.WithPerRPCCredentials(secretCreds{secret: cfg.Secret, tls: cfg.TLS != nil}),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: linkPingTime, Timeout: linkPingTimeout, PermitWithoutStream: true}),
	}
	opts := []remote.ConfigOption{
		remote.WithServerOptions(serverOpts...),
		remote.WithDialOptions(dialOpts...),
		// The queue sizes are the starting capacities of protoactor's
		// ring buffers, which grow as needed; its default, a million
		// slots, allocated 16 MB for every link (re)made to a peer.
		remote.WithEndpointWriterQueueSize(endpointQueueStart),
		remote.WithEndpointManagerQueueSize(endpointQueueStart),
	}
	if cfg.Advertise != "" {
		opts = append(opts, remote.WithAdvertisedHost(cfg.Advertise))
	}
	// protoactor's queue of messages for a remote endpoint grows while
	// the endpoint is unreachable (its size option is only a starting
	// capacity): the actors that talk across processes bound it
	// themselves, sending a peer they believe lost nothing but the latest
	// state, once it answers again.
	r := remote.NewRemote(sys, remote.Configure(host, port, opts...))
	if err := startRemote(r); err != nil {
		return nil, err
	}
	return r, nil
}

// startRemote starts r, turning its panic on a failed listen into an
// error.
func startRemote(r *remote.Remote) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cluster: %v", p)
		}
	}()
	r.Start()
	return nil
}

// endpointQueueStart is the starting capacity of protoactor's queues per
// remote endpoint (see StartCluster).
const endpointQueueStart = 256

// splitHostPort splits a host:port whose port is a number (0 allowed).
func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	var port int
	if _, err := fmt.Sscanf(p, "%d", &port); err != nil || port < 0 || port > 65535 || fmt.Sprint(port) != p {
		return "", 0, fmt.Errorf("port %q is not 0..65535", p)
	}
	return host, port, nil
}

// secretCreds presents the cluster secret on every gRPC call.
type secretCreds struct {
	secret string
	tls    bool
}

func (c secretCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{secretKey: c.secret}, nil
}

func (c secretCreds) RequireTransportSecurity() bool { return c.tls }
