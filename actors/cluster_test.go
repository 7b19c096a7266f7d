package actors

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// clusterSystem starts an actor system with cfg's cluster and an actor
// "echo" that answers every request with the message it got, and also
// hands it to got (when there is room).
func clusterSystem(t *testing.T, cfg ClusterConfig) *actor.ActorSystem {
	sys, _ := clusterSystemGot(t, cfg)
	return sys
}

func clusterSystemGot(t *testing.T, cfg ClusterConfig) (*actor.ActorSystem, chan *actor.PID) {
	t.Helper()
	sys := actor.NewActorSystem()
	r, err := StartCluster(sys, cfg)
	if err != nil {
		t.Fatalf("StartCluster: %v", err)
	}
	t.Cleanup(func() { r.Shutdown(false); sys.Shutdown() })
	got := make(chan *actor.PID, 16)
	if _, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*actor.PID); ok {
			select {
			case got <- m:
			default:
			}
			ctx.Respond(m)
		}
	}), "echo"); err != nil {
		t.Fatal(err)
	}
	return sys, got
}

// ask sends a request from one system to the other's echo actor and
// reports whether it was answered within wait.
func ask(from, to *actor.ActorSystem, wait time.Duration) error {
	msg := &actor.PID{Address: "probe", Id: "42"}
	res, err := from.Root.RequestFuture(actor.NewPID(to.Address(), "echo"), msg, wait).Result()
	if err != nil {
		return err
	}
	if got, ok := res.(*actor.PID); !ok || got.Id != "42" {
		return errors.New("wrong answer")
	}
	return nil
}

func TestClusterSecret(t *testing.T) {
	core, got := clusterSystemGot(t, ClusterConfig{Listen: "127.0.0.1:0", Secret: "s3cret"})
	good := clusterSystem(t, ClusterConfig{Listen: "127.0.0.1:0", Secret: "s3cret"})
	bad := clusterSystem(t, ClusterConfig{Listen: "127.0.0.1:0", Secret: "other"})
	if !strings.HasPrefix(core.Address(), "127.0.0.1:") || strings.HasSuffix(core.Address(), ":0") {
		t.Fatalf("core address %q: want the port listened on", core.Address())
	}
	// The same secret: answered both ways (the answer comes back over a
	// link the core dials).
	if err := ask(good, core, 10*time.Second); err != nil {
		t.Fatalf("a process with the secret: %v", err)
	}
	<-got
	// Another secret: the core refuses the link, so nothing reaches its
	// actor (not only the answer that would go back).
	if err := ask(bad, core, 2*time.Second); !errors.Is(err, actor.ErrTimeout) {
		t.Fatalf("a process with a wrong secret got %v, want no answer", err)
	}
	select {
	case m := <-got:
		t.Fatalf("the core's actor got %v from a process with a wrong secret", m)
	default:
	}
}

func TestClusterTLS(t *testing.T) {
	server, client := testTLS(t)
	cfg := ClusterConfig{Listen: "127.0.0.1:0", Secret: "s", TLS: server, ClientTLS: client}
	core := clusterSystem(t, cfg)
	edge := clusterSystem(t, cfg)
	if err := ask(edge, core, 10*time.Second); err != nil {
		t.Fatalf("over TLS: %v", err)
	}
	// A process without TLS cannot talk to one with it.
	plain := clusterSystem(t, ClusterConfig{Listen: "127.0.0.1:0", Secret: "s"})
	if err := ask(plain, core, 2*time.Second); !errors.Is(err, actor.ErrTimeout) {
		t.Fatalf("a plaintext process got %v, want no answer", err)
	}
}

func TestClusterConfigErrors(t *testing.T) {
	server, client := testTLS(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		name string
		cfg  ClusterConfig
		want string
	}{
		{"no secret", ClusterConfig{Listen: "127.0.0.1:0"}, "secret is required"},
		{"no port", ClusterConfig{Listen: "127.0.0.1", Secret: "s"}, "listen address"},
		{"bad port", ClusterConfig{Listen: "127.0.0.1:x", Secret: "s"}, "listen address"},
		{"half TLS", ClusterConfig{Listen: "127.0.0.1:0", Secret: "s", TLS: server}, "both"},
		{"half TLS client", ClusterConfig{Listen: "127.0.0.1:0", Secret: "s", ClientTLS: client}, "both"},
		{"port taken", ClusterConfig{Listen: taken.Addr().String(), Secret: "s"}, "cluster listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := actor.NewActorSystem()
			defer sys.Shutdown()
			_, err := StartCluster(sys, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// testTLS returns mutual TLS configurations with a certificate for
// 127.0.0.1 signed by a fresh CA.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "dmxd test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "dmxd"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage:    x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	server = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	client = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
	return server, client
}
