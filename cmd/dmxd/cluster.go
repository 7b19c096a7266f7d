package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"github.com/dmxd/dmxd/actors"
)

// clusterFlags are the flags that make a dmxd process part of a cluster
// (a core, its output nodes and desk edges), shared by every role.
type clusterFlags struct {
	listen    string
	advertise string
	secret    string
	tlsCert   string
	tlsKey    string
	tlsCA     string
}

// register adds the cluster flags to fs; listenHelp says what --cluster
// is for in this role.
func (f *clusterFlags) register(fs *flag.FlagSet, listenHelp string) {
	fs.StringVar(&f.listen, "cluster", "", listenHelp)
	fs.StringVar(&f.advertise, "cluster-advertise", "", "`HOST:PORT` the other dmxd processes reach this one at (default: the --cluster address)")
	fs.StringVar(&f.secret, "cluster-secret", "", "shared secret of the cluster: every core, node and edge must have the same (required with --cluster)")
	fs.StringVar(&f.tlsCert, "cluster-tls-cert", "", "PEM certificate this process presents to the others (TLS between processes; needs --cluster-tls-key and --cluster-tls-ca)")
	fs.StringVar(&f.tlsKey, "cluster-tls-key", "", "PEM private key of --cluster-tls-cert")
	fs.StringVar(&f.tlsCA, "cluster-tls-ca", "", "PEM certificate authority the other processes' certificates are checked against")
}

// config returns the cluster configuration the flags give, nil when
// --cluster is not set and required is false. Errors are one line.
func (f *clusterFlags) config(required bool) (*actors.ClusterConfig, error) {
	if f.listen == "" {
		if required {
			return nil, errors.New("--cluster HOST:PORT is required: the address this process listens on for the others")
		}
		if f.secret != "" || f.advertise != "" || f.tlsCert != "" || f.tlsKey != "" || f.tlsCA != "" {
			return nil, errors.New("--cluster-secret, --cluster-advertise and --cluster-tls-* need --cluster HOST:PORT")
		}
		return nil, nil
	}
	if _, port, err := net.SplitHostPort(f.listen); err != nil || !validPort(port) {
		return nil, fmt.Errorf("--cluster %q: want HOST:PORT or :PORT with a port 0..65535", f.listen)
	}
	if f.advertise != "" {
		if host, port, err := net.SplitHostPort(f.advertise); err != nil || host == "" || !validPort(port) || port == "0" {
			return nil, fmt.Errorf("--cluster-advertise %q: want HOST:PORT with a port 1..65535", f.advertise)
		}
	}
	if f.secret == "" {
		return nil, errors.New("--cluster needs --cluster-secret (or DMXD_CLUSTER_SECRET): the secret every process of the cluster shares")
	}
	cfg := &actors.ClusterConfig{Listen: f.listen, Advertise: f.advertise, Secret: f.secret}
	if f.tlsCert == "" && f.tlsKey == "" && f.tlsCA == "" {
		return cfg, nil
	}
	if f.tlsCert == "" || f.tlsKey == "" || f.tlsCA == "" {
		return nil, errors.New("--cluster-tls-cert, --cluster-tls-key and --cluster-tls-ca go together")
	}
	server, client, err := clusterTLS(f.tlsCert, f.tlsKey, f.tlsCA)
	if err != nil {
		return nil, err
	}
	cfg.TLS, cfg.ClientTLS = server, client
	return cfg, nil
}

// clusterTLS loads mutual TLS between the processes of a cluster: each
// presents certFile and accepts only peers whose certificate caFile
// signed.
func clusterTLS(certFile, keyFile, caFile string) (server, client *tls.Config, err error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--cluster-tls-cert/--cluster-tls-key: %v", err)
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--cluster-tls-ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, nil, fmt.Errorf("--cluster-tls-ca %q: no PEM certificate in it", caFile)
	}
	server = &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}
	client = &tls.Config{
		Certificates: []tls.Certificate{cert},
		RootCAs:      pool,
		MinVersion:   tls.VersionTLS12,
	}
	return server, client, nil
}

// routeTo returns this machine's address on the route to the core at
// addr, which a node or an edge listens on by default (a UDP "connect"
// sends nothing).
func routeTo(addr string) (string, error) {
	c, err := net.Dial("udp", addr)
	if err != nil {
		return "", fmt.Errorf("no route to the core %s", addr)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String(), nil
}
