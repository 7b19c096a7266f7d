package actors

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/dmxd/dmxd/test/testkit"
)

// Each cluster process of these tests is a child process of the test
// binary (see runClusterPeer): protoactor's remote.Start sets gRPC's
// process-wide logger, which races with the gRPC goroutines of another
// remote in the same process.
const (
	peerEnv    = "DMXD_TEST_CLUSTER_PEER" // "echo" or "ask"
	peerSecret = "DMXD_TEST_CLUSTER_SECRET"
	peerTLS    = "DMXD_TEST_CLUSTER_TLS" // a directory with cert.pem, key.pem, ca.pem
	peerTarget = "DMXD_TEST_CLUSTER_TARGET"
	peerProbe  = "DMXD_TEST_CLUSTER_PROBE" // the id an asker sends
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(peerEnv); mode != "" {
		os.Exit(runClusterPeer(mode))
	}
	os.Exit(m.Run())
}

// runClusterPeer is a child process: "echo" starts a cluster with an actor
// "echo" that prints "GOT id" for every message and answers it, prints
// "ADDR address" and runs until its stdin closes; "ask" sends one request
// to the echo actor at the target address and prints "ANSWER ok" or
// "ANSWER " and the error.
func runClusterPeer(mode string) int {
	cfg := ClusterConfig{Listen: "127.0.0.1:0", Secret: os.Getenv(peerSecret)}
	if dir := os.Getenv(peerTLS); dir != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		cfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
		cfg.ClientTLS = &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}
	}
	sys := actor.NewActorSystem()
	r, err := StartCluster(sys, cfg)
	if err != nil {
		fmt.Println("ERR", err)
		return 1
	}
	defer r.Shutdown(false)
	switch mode {
	case "echo":
		_, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(*actor.PID); ok {
				fmt.Println("GOT", m.Id)
				ctx.Respond(m)
			}
		}), "echo")
		if err != nil {
			fmt.Println("ERR", err)
			return 1
		}
		fmt.Println("ADDR", sys.Address())
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "ask":
		id := os.Getenv(peerProbe)
		res, err := sys.Root.RequestFuture(actor.NewPID(os.Getenv(peerTarget), "echo"), &actor.PID{Address: "probe", Id: id}, 3*time.Second).Result()
		switch got, _ := res.(*actor.PID); {
		case err != nil:
			fmt.Println("ANSWER", err)
		case got == nil || got.Id != id:
			fmt.Println("ANSWER wrong", res)
		default:
			fmt.Println("ANSWER ok")
		}
	}
	return 0
}

// echoPeer is a running "echo" child process.
type echoPeer struct {
	addr  string
	lines chan string // what it printed after ADDR
	stdin io.Closer
}

// startEcho starts an "echo" child with secret and tlsDir ("" for none).
func startEcho(t *testing.T, secret, tlsDir string) *echoPeer {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"=echo", peerSecret+"="+secret, peerTLS+"="+tlsDir)
	stdin, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); _ = cmd.Wait() })
	p := &echoPeer{lines: make(chan string, 64), stdin: stdin}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			p.addr = a
			break
		}
		t.Fatalf("echo peer: %s", sc.Text())
	}
	if p.addr == "" {
		t.Fatal("echo peer printed no address")
	}
	go func() {
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	return p
}

// ask runs an "ask" child against target and returns its answer line.
func ask(t *testing.T, target, secret, tlsDir, id string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), peerEnv+"=ask", peerSecret+"="+secret, peerTLS+"="+tlsDir, peerTarget+"="+target, peerProbe+"="+id)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ask peer: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if a, ok := strings.CutPrefix(line, "ANSWER "); ok {
			return a
		}
	}
	t.Fatalf("ask peer printed no answer:\n%s", out)
	return ""
}

// received reports whether the echo peer printed GOT id by now (it prints
// before it answers, so after an answer the line is there).
func (p *echoPeer) received(id string) bool {
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return false
			}
			if l == "GOT "+id {
				return true
			}
		default:
			return false
		}
	}
}

func TestClusterSecret(t *testing.T) {
	core := startEcho(t, "s3cret", "")
	if !strings.HasPrefix(core.addr, "127.0.0.1:") || strings.HasSuffix(core.addr, ":0") {
		t.Fatalf("core address %q: want the port listened on", core.addr)
	}
	// The same secret: answered (the answer comes back over a link the
	// core dials).
	if a := ask(t, core.addr, "s3cret", "", "good"); a != "ok" {
		t.Fatalf("a process with the secret: %s", a)
	}
	if !core.received("good") {
		t.Fatal("the core's actor did not print the message it answered")
	}
	// Another secret: the core refuses the link, so nothing reaches its
	// actor (not only the answer that would go back).
	if a := ask(t, core.addr, "other", "", "bad"); a == "ok" {
		t.Fatal("a process with a wrong secret got an answer")
	}
	// The asker waited 3 s for its answer: a message let in would have
	// been printed long before.
	if core.received("bad") {
		t.Fatal("the core's actor got a message from a process with a wrong secret")
	}
}

func TestClusterTLS(t *testing.T) {
	dir := t.TempDir()
	if _, _, _, err := testkit.WriteClusterTLS(dir); err != nil {
		t.Fatal(err)
	}
	core := startEcho(t, "s", dir)
	if a := ask(t, core.addr, "s", dir, "tls"); a != "ok" {
		t.Fatalf("over TLS: %s", a)
	}
	// A process without TLS cannot talk to one with it.
	if a := ask(t, core.addr, "s", "", "plain"); a == "ok" {
		t.Fatal("a plaintext process got an answer from a TLS one")
	}
	if core.received("plain") {
		t.Fatal("the TLS core's actor got a message from a plaintext process")
	}
}

// TestClusterConfigErrors starts no remote: each configuration is refused
// before protoactor is touched.
func TestClusterConfigErrors(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	some := &tls.Config{}
	for _, tc := range []struct {
		name string
		cfg  ClusterConfig
		want string
	}{
		{"no secret", ClusterConfig{Listen: "127.0.0.1:0"}, "secret is required"},
		{"no port", ClusterConfig{Listen: "127.0.0.1", Secret: "s"}, "listen address"},
		{"bad port", ClusterConfig{Listen: "127.0.0.1:x", Secret: "s"}, "listen address"},
		{"half TLS", ClusterConfig{Listen: "127.0.0.1:0", Secret: "s", TLS: some}, "both"},
		{"half TLS client", ClusterConfig{Listen: "127.0.0.1:0", Secret: "s", ClientTLS: some}, "both"},
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
