package main

import (
	"flag"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/dmxd/dmxd/actors"
	"github.com/dmxd/dmxd/dmx"
	"github.com/dmxd/dmxd/transport"
)

// env is a getenv over a fixed map.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// patch describes an output as "driver:target" for comparisons.
func patches(c config) map[int]string {
	out := map[int]string{}
	for _, o := range c.outputs {
		if out[o.Universe] != "" {
			out[o.Universe] += " + "
		}
		out[o.Universe] += o.Driver.Name() + ":" + o.Driver.Target()
	}
	return out
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := config{
		listen: "127.0.0.1:8080", universes: 1, rate: 44, merge: dmx.LTP,
		maxConns: 10000, connRate: 1000, updates: actors.DefaultUpdateBudget, bulk: transport.DefaultBulkBudget >> 10, ping: 15 * time.Second, logLevel: zerolog.InfoLevel,
	}
	if p := patches(c); !reflect.DeepEqual(p, map[int]string{1: "null:"}) {
		t.Errorf("outputs %v, want 1=null", p)
	}
	c.outputs, c.net = nil, dmx.NetConfig{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
}

func TestParseConfig(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		env   map[string]string
		check func(t *testing.T, c config)
	}{
		{"listen", []string{"--listen", ":0"}, nil, func(t *testing.T, c config) {
			if c.listen != ":0" {
				t.Errorf("listen %q", c.listen)
			}
		}},
		{"listen single dash and =", []string{"-listen=127.0.0.1:9"}, nil, func(t *testing.T, c config) {
			if c.listen != "127.0.0.1:9" {
				t.Errorf("listen %q", c.listen)
			}
		}},
		{"listen ipv6", []string{"--listen", "[::1]:8080"}, nil, func(t *testing.T, c config) {
			if c.listen != "[::1]:8080" {
				t.Errorf("listen %q", c.listen)
			}
		}},
		{"universes and outputs", []string{"--universes", "3", "--output", "2=enttec-pro:/dev/ttyUSB0", "--output", "3=open-dmx:/dev/ttyUSB1"}, nil,
			func(t *testing.T, c config) {
				want := map[int]string{2: "enttec-pro:/dev/ttyUSB0", 3: "open-dmx:/dev/ttyUSB1"}
				if c.universes != 3 || !reflect.DeepEqual(patches(c), want) {
					t.Errorf("universes %d outputs %v, want 3 %v", c.universes, patches(c), want)
				}
			}},
		{"rate", []string{"--rate", "1"}, nil, func(t *testing.T, c config) {
			if c.rate != 1 {
				t.Errorf("rate %d", c.rate)
			}
		}},
		{"merge htp", []string{"--merge", "htp"}, nil, func(t *testing.T, c config) {
			if c.merge != dmx.HTP {
				t.Errorf("merge %v", c.merge)
			}
		}},
		{"state token", []string{"--state", "/tmp/dmxd-state.json", "--token", "s3cret"}, nil, func(t *testing.T, c config) {
			if c.state != "/tmp/dmxd-state.json" || c.token != "s3cret" {
				t.Errorf("state %q token %q", c.state, c.token)
			}
		}},
		{"origins", []string{"--origins", " http://a.test ,http://b.test,,"}, nil, func(t *testing.T, c config) {
			if !reflect.DeepEqual(c.origins, []string{"http://a.test", "http://b.test"}) {
				t.Errorf("origins %q", c.origins)
			}
		}},
		{"allow-hosts list and repeated", []string{"--allow-hosts", " Desk.LAN ,dmxd.local.,,", "--allow-hosts", "stage-1"}, nil, func(t *testing.T, c config) {
			if !reflect.DeepEqual(c.hosts, []string{"Desk.LAN", "dmxd.local.", "stage-1"}) {
				t.Errorf("hosts %q", c.hosts)
			}
		}},
		{"allow-hosts env separated by spaces", nil, map[string]string{"DMXD_ALLOW_HOSTS": " a.lan  b.lan "}, func(t *testing.T, c config) {
			if !reflect.DeepEqual(c.hosts, []string{"a.lan", "b.lan"}) {
				t.Errorf("hosts %q", c.hosts)
			}
		}},
		{"listen on a name allows it", []string{"--listen", "dmxd.lan:0", "--allow-hosts", "x.lan"}, nil, func(t *testing.T, c config) {
			if !reflect.DeepEqual(c.hosts, []string{"x.lan", "dmxd.lan"}) {
				t.Errorf("hosts %q", c.hosts)
			}
		}},
		{"listen on an address allows no name", []string{"--listen", "[::1]:0"}, nil, func(t *testing.T, c config) {
			if c.hosts != nil {
				t.Errorf("hosts %q", c.hosts)
			}
		}},
		{"trusted proxies", []string{"--trusted-proxy", " 10.0.0.0/8 , 192.168.1.7,fd00::/8,::1,10.1.2.3/16"}, nil, func(t *testing.T, c config) {
			want := []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.1.7/32"),
				netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("10.1.0.0/16"),
			}
			if !reflect.DeepEqual(c.proxies, want) {
				t.Errorf("proxies %v, want %v", c.proxies, want)
			}
		}},
		{"trusted proxy from the environment", nil, map[string]string{"DMXD_TRUSTED_PROXY": "127.0.0.1"}, func(t *testing.T, c config) {
			if !reflect.DeepEqual(c.proxies, []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}) {
				t.Errorf("proxies %v", c.proxies)
			}
		}},
		{"limits", []string{"--max-conns", "1", "--conn-rate", "0"}, nil, func(t *testing.T, c config) {
			if c.maxConns != 1 || c.connRate != 0 {
				t.Errorf("max-conns %d conn-rate %d", c.maxConns, c.connRate)
			}
		}},
		{"update budget", []string{"--update-budget", "500"}, nil, func(t *testing.T, c config) {
			if c.updates != 500 {
				t.Errorf("update-budget %d", c.updates)
			}
		}},
		{"update budget from the environment", nil, map[string]string{"DMXD_UPDATE_BUDGET": "0"}, func(t *testing.T, c config) {
			if c.updates != 0 {
				t.Errorf("update-budget %d", c.updates)
			}
		}},
		{"bulk budget", []string{"--bulk-budget", "8192"}, nil, func(t *testing.T, c config) {
			if c.bulk != 8192 {
				t.Errorf("bulk-budget %d", c.bulk)
			}
		}},
		{"log", []string{"--log-level", "debug", "--log-format", "json"}, nil, func(t *testing.T, c config) {
			if c.logLevel != zerolog.DebugLevel || c.logFormat != "json" {
				t.Errorf("log %v %q", c.logLevel, c.logFormat)
			}
		}},
		{"log console", []string{"--log-format", "console", "--log-level", "warn"}, nil, func(t *testing.T, c config) {
			if c.logLevel != zerolog.WarnLevel || c.logFormat != "console" {
				t.Errorf("log %v %q", c.logLevel, c.logFormat)
			}
		}},
		{"cluster", []string{"--cluster", "127.0.0.1:7000", "--cluster-advertise", "core.lan:7000"}, map[string]string{"DMXD_CLUSTER_SECRET": "s"}, func(t *testing.T, c config) {
			if c.cluster == nil || c.cluster.Listen != "127.0.0.1:7000" || c.cluster.Advertise != "core.lan:7000" || c.cluster.Secret != "s" || c.cluster.TLS != nil {
				t.Errorf("cluster %+v", c.cluster)
			}
		}},
		{"desk servers", []string{"--desk-servers", " edge2.lan:8080, 10.0.0.3:80 ,[::1]:9000,"}, nil, func(t *testing.T, c config) {
			if want := []string{"edge2.lan:8080", "10.0.0.3:80", "[::1]:9000"}; !slices.Equal(c.desks, want) {
				t.Errorf("desk servers %q, want %q", c.desks, want)
			}
		}},
		{"no cluster by default", nil, nil, func(t *testing.T, c config) {
			if c.cluster != nil {
				t.Errorf("cluster %+v", c.cluster)
			}
		}},
		{"env for every flag", nil, map[string]string{
			"DMXD_LISTEN": ":9000", "DMXD_UNIVERSES": "2", "DMXD_OUTPUT": "1=null,2=enttec-pro:/dev/ttyUSB0",
			"DMXD_RATE": "30", "DMXD_MERGE": "htp", "DMXD_STATE": "/tmp/s", "DMXD_TOKEN": "t",
			"DMXD_ORIGINS": "http://x", "DMXD_ALLOW_HOSTS": "a.lan,b.lan", "DMXD_MAX_CONNS": "5", "DMXD_CONN_RATE": "7",
			"DMXD_UPDATE_BUDGET": "9", "DMXD_BULK_BUDGET": "0", "DMXD_LOG_LEVEL": "error", "DMXD_LOG_FORMAT": "json", "DMXD_PING_INTERVAL": "2s",
			"DMXD_TRUSTED_PROXY": "10.0.0.0/8",
		}, func(t *testing.T, c config) {
			want := config{
				listen: ":9000", universes: 2, rate: 30, merge: dmx.HTP, state: "/tmp/s", token: "t",
				origins: []string{"http://x"}, hosts: []string{"a.lan", "b.lan"}, proxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")},
				maxConns: 5, connRate: 7, updates: 9, ping: 2 * time.Second,
				logLevel: zerolog.ErrorLevel, logFormat: "json",
			}
			if p := patches(c); !reflect.DeepEqual(p, map[int]string{1: "null:", 2: "enttec-pro:/dev/ttyUSB0"}) {
				t.Errorf("outputs %v", p)
			}
			c.outputs, c.net = nil, dmx.NetConfig{}
			if !reflect.DeepEqual(c, want) {
				t.Errorf("\n got %+v\nwant %+v", c, want)
			}
		}},
		{"env outputs separated by spaces", nil, map[string]string{"DMXD_UNIVERSES": "2", "DMXD_OUTPUT": " 1=null  2=null "},
			func(t *testing.T, c config) {
				if p := patches(c); !reflect.DeepEqual(p, map[int]string{1: "null:", 2: "null:"}) {
					t.Errorf("outputs %v", p)
				}
			}},
		{"command line wins", []string{"--rate", "10", "--output", "1=open-dmx:/dev/a", "--merge", "ltp"},
			map[string]string{"DMXD_RATE": "20", "DMXD_OUTPUT": "1=enttec-pro:/dev/b", "DMXD_MERGE": "htp", "DMXD_UNIVERSES": "2"},
			func(t *testing.T, c config) {
				if c.rate != 10 || c.merge != dmx.LTP || c.universes != 2 {
					t.Errorf("rate %d merge %v universes %d, want 10 ltp 2", c.rate, c.merge, c.universes)
				}
				if p := patches(c); !reflect.DeepEqual(p, map[int]string{1: "open-dmx:/dev/a"}) {
					t.Errorf("outputs %v, want only the command line's", p)
				}
			}},
		{"command line wins even when it gives the default", []string{"--rate", "44"}, map[string]string{"DMXD_RATE": "20"},
			func(t *testing.T, c config) {
				if c.rate != 44 {
					t.Errorf("rate %d, want 44", c.rate)
				}
			}},
		{"empty env is unset", nil, map[string]string{"DMXD_RATE": "", "DMXD_LISTEN": ""}, func(t *testing.T, c config) {
			if c.rate != 44 || c.listen != "127.0.0.1:8080" {
				t.Errorf("rate %d listen %q", c.rate, c.listen)
			}
		}},
		{"other variables are ignored", nil, map[string]string{"RATE": "1", "DMXD_rate": "1", "DMXD_BOGUS": "x"}, func(t *testing.T, c config) {
			if c.rate != 44 {
				t.Errorf("rate %d", c.rate)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseConfig(tt.args, env(tt.env))
			if err != nil {
				t.Fatalf("parseConfig(%q): %v", tt.args, err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseConfigRefuses(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		detail string
	}{
		{"unknown flag", []string{"--colour"}, nil, "colour"},
		{"cluster without secret", []string{"--cluster", ":7000"}, nil, "--cluster-secret"},
		{"desk server without port", []string{"--desk-servers", "edge2.lan"}, nil, "--desk-servers"},
		{"desk server port 0", []string{"--desk-servers", "edge2.lan:0"}, nil, "--desk-servers"},
		{"desk server with scheme", []string{"--desk-servers", "http://edge2.lan:80"}, nil, "--desk-servers"},
		{"desk server with quote", []string{"--desk-servers", "a\"b:80"}, nil, "--desk-servers"},
		{"cluster bad address", []string{"--cluster", "7000", "--cluster-secret", "s"}, nil, "HOST:PORT"},
		{"cluster secret alone", []string{"--cluster-secret", "s"}, nil, "need --cluster"},
		{"cluster half TLS", []string{"--cluster", ":7000", "--cluster-secret", "s", "--cluster-tls-cert", "c.pem"}, nil, "go together"},
		{"cluster TLS files missing", []string{"--cluster", ":7000", "--cluster-secret", "s", "--cluster-tls-cert", "/nonexistent/c.pem", "--cluster-tls-key", "/nonexistent/k.pem", "--cluster-tls-ca", "/nonexistent/ca.pem"}, nil, "--cluster-tls-cert"},
		{"cluster advertise port 0", []string{"--cluster", ":7000", "--cluster-secret", "s", "--cluster-advertise", "h:0"}, nil, "--cluster-advertise"},
		{"unknown flag with newline", []string{"--\n"}, nil, "not defined"},
		{"bad flag syntax with newline", []string{"---x\ny"}, nil, "bad flag syntax"},
		{"unknown flag with value and newline", []string{"--a\r\nb=1"}, nil, "not defined"},
		{"missing value", []string{"--rate"}, nil, "rate"},
		{"stray argument", []string{"serve"}, nil, `"serve"`},
		{"help", []string{"--help"}, nil, "usage"},
		{"listen without port", []string{"--listen", "localhost"}, nil, "--listen"},
		{"listen bad port", []string{"--listen", "127.0.0.1:http-ish"}, nil, "--listen"},
		{"listen port too big", []string{"--listen", "127.0.0.1:65536"}, nil, "--listen"},
		{"listen negative port", []string{"--listen", ":-1"}, nil, "--listen"},
		{"universes 0", []string{"--universes", "0"}, nil, "--universes 0"},
		{"universes too many", []string{"--universes", "1025"}, nil, "--universes 1025"},
		{"universes word", []string{"--universes", "two"}, nil, "universes"},
		{"rate 0", []string{"--rate", "0"}, nil, "--rate 0"},
		{"rate 45", []string{"--rate", "45"}, nil, "--rate 45"},
		{"rate fraction", []string{"--rate", "4.5"}, nil, "rate"},
		{"merge", []string{"--merge", "max"}, nil, "--merge"},
		{"max-conns 0", []string{"--max-conns", "0"}, nil, "--max-conns"},
		{"allow-hosts with scheme", []string{"--allow-hosts", "http://desk.lan"}, nil, `--allow-hosts "http://desk.lan"`},
		{"allow-hosts with port", []string{"--allow-hosts", "desk.lan:8080"}, nil, `--allow-hosts "desk.lan:8080"`},
		{"allow-hosts wildcard", []string{"--allow-hosts", "*.lan"}, nil, `--allow-hosts "*.lan"`},
		{"allow-hosts empty label", []string{"--allow-hosts", "a..lan"}, nil, `--allow-hosts "a..lan"`},
		{"allow-hosts leading dot", []string{"--allow-hosts", ".lan"}, nil, `--allow-hosts ".lan"`},
		{"allow-hosts env", nil, map[string]string{"DMXD_ALLOW_HOSTS": "a.lan,b/c"}, `--allow-hosts "b/c"`},
		{"trusted-proxy word", []string{"--trusted-proxy", "proxy.lan"}, nil, `--trusted-proxy: "proxy.lan"`},
		{"trusted-proxy bad prefix", []string{"--trusted-proxy", "10.0.0.0/33"}, nil, `--trusted-proxy: "10.0.0.0/33"`},
		{"trusted-proxy with port", []string{"--trusted-proxy", "10.0.0.1:80"}, nil, `--trusted-proxy: "10.0.0.1:80"`},
		{"trusted-proxy env with newline", nil, map[string]string{"DMXD_TRUSTED_PROXY": "10.0.0.0/8,a\nb"}, "--trusted-proxy"},
		{"conn-rate negative", []string{"--conn-rate", "-1"}, nil, "--conn-rate"},
		{"update-budget negative", []string{"--update-budget", "-1"}, nil, "--update-budget"},
		{"bulk-budget negative", []string{"--bulk-budget", "-1"}, nil, "--bulk-budget -1"},
		{"bulk-budget too big", []string{"--bulk-budget", "4194304"}, nil, "--bulk-budget 4194304"},
		{"log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"log level empty", []string{"--log-level", ""}, nil, "--log-level"},
		{"log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"output beyond universes", []string{"--output", "2=null"}, nil, "universe 2 does not exist"},
		{"output beyond universes 3", []string{"--universes", "3", "--output", "4=enttec-pro:/dev/x"}, nil, "universe 4 does not exist"},
		{"output twice", []string{"--universes", "2", "--output", "1=enttec-pro:/dev/x", "--output", "1=enttec-pro:/dev/x"}, nil, "patched to that output twice"},
		{"output unknown driver", []string{"--output", "1=sACN"}, nil, "unknown driver"},
		{"sacn cid", []string{"--sacn-cid", "nope"}, nil, "--sacn-cid"},
		{"sacn cid hex", []string{"--sacn-cid", "0123456z-0000-0000-0000-000000000000"}, nil, "hexadecimal"},
		{"sacn name long", []string{"--sacn-name", strings.Repeat("x", 64)}, nil, "at most 63 bytes"},
		{"sacn name utf8", []string{"--sacn-name", "\xff"}, nil, "--sacn-name"},
		{"sacn priority", []string{"--sacn-priority", "201"}, nil, "outside 0..200"},
		{"sacn priority negative", nil, map[string]string{"DMXD_SACN_PRIORITY": "-1"}, "outside 0..200"},
		{"output missing target", []string{"--output", "1=enttec-pro"}, nil, "needs a device path"},
		{"output open-dmx missing target", []string{"--output", "1=open-dmx:"}, nil, "needs a device path"},
		{"output null with target", []string{"--output", "1=null:/dev/x"}, nil, "takes no target"},
		{"output no universe", []string{"--output", "null"}, nil, "U=DRIVER"},
		{"output universe 0", []string{"--output", "0=null"}, nil, "universe"},
		{"env rate word", nil, map[string]string{"DMXD_RATE": "fast"}, "DMXD_RATE"},
		{"env rate out of range", nil, map[string]string{"DMXD_RATE": "100"}, "--rate 100"},
		{"env universes", nil, map[string]string{"DMXD_UNIVERSES": "x"}, "DMXD_UNIVERSES"},
		{"env output", nil, map[string]string{"DMXD_OUTPUT": "1=bogus"}, "unknown driver"},
		{"env output duplicate", nil, map[string]string{"DMXD_OUTPUT": "1=null,1=null"}, "patched to that output twice"},
		{"env value with newline", nil, map[string]string{"DMXD_MAX_CONNS": "1\n2"}, "DMXD_MAX_CONNS"},
		{"flag value with newline", []string{"--merge", "h\ntp"}, nil, "--merge"},
		{"output with newline", []string{"--output", "1=nu\nll"}, nil, "unknown driver"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig(tt.args, env(tt.env))
			if err == nil {
				t.Fatalf("parseConfig(%q, %v) accepted", tt.args, tt.env)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.detail) {
				t.Errorf("error %q does not say %q", msg, tt.detail)
			}
			if msg == "" || strings.ContainsAny(msg, "\r\n") {
				t.Errorf("error %q is not one line", msg)
			}
		})
	}
}

// FuzzParseConfig feeds arbitrary command lines (arguments separated by
// NUL) and one environment variable to parseConfig: it never panics, every
// error is one line, and an accepted configuration is within its limits.
func FuzzParseConfig(f *testing.F) {
	f.Add("--listen\x00:0\x00--universes\x002\x00--output\x002=enttec-pro:/dev/ttyUSB0", "DMXD_RATE", "10")
	f.Add("--rate=45", "DMXD_OUTPUT", "1=null,2=null")
	f.Add("", "DMXD_MERGE", "htp")
	f.Add("--output\x001=null\x00--output\x001=null", "DMXD_LOG_LEVEL", "trace")
	f.Fuzz(func(t *testing.T, argv, key, value string) {
		var args []string
		if argv != "" {
			args = strings.Split(argv, "\x00")
		}
		c, err := parseConfig(args, func(k string) string {
			if k == key {
				return value
			}
			return ""
		})
		if err != nil {
			if msg := err.Error(); msg == "" || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error %q is not one line", msg)
			}
			return
		}
		if c.universes < 1 || c.universes > 1024 || c.rate < 1 || c.rate > 44 || c.maxConns < 1 || c.connRate < 0 {
			t.Fatalf("accepted %+v", c)
		}
		if len(c.outputs) == 0 {
			t.Fatalf("no outputs")
		}
		for _, h := range c.hosts {
			if !validHostName(h) {
				t.Fatalf("accepted host %q", h)
			}
		}
		for _, o := range c.outputs {
			if o.Universe < 1 || o.Universe > c.universes {
				t.Fatalf("output for universe %d of %d", o.Universe, c.universes)
			}
		}
	})
}

// TestRunBadCommandLine: a bad command line exits with status 2 and one
// line on stderr, before anything listens.
func TestRunBadCommandLine(t *testing.T) {
	for _, args := range [][]string{
		{"--rate", "0"},
		{"--listen", "127.0.0.1:99999"},
		{"--output", "1=enttec-pro"},
		{"--bogus"},
	} {
		var stderr strings.Builder
		if code := run(args, env(nil), io.Discard, &stderr); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		out := stderr.String()
		if !strings.HasPrefix(out, "dmxd: ") || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
			t.Errorf("run(%q) wrote %q, want one line", args, out)
		}
	}
}

// TestConnLimit: dmxd accepts --max-conns plus the plain-HTTP margin at
// once, but keeps fdReserve descriptors and one per output device out of
// the open-files limit.
func TestConnLimit(t *testing.T) {
	for _, tc := range []struct {
		maxConns int
		nofile   uint64
		outputs  int
		want     int
	}{
		{10000, 1 << 20, 1, 10000 + transport.HTTPConnMargin},
		{10000, math.MaxUint64, 1, 10000 + transport.HTTPConnMargin},
		{2, 1024, 1, 2 + transport.HTTPConnMargin},
		{10000, 200, 1, 200 - fdReserve - 1},
		{10000, 200, 4, 200 - fdReserve - 4},
		{100, 100 + transport.HTTPConnMargin + fdReserve + 1, 1, 100 + transport.HTTPConnMargin},
		{100, 100 + transport.HTTPConnMargin + fdReserve, 1, 100 + transport.HTTPConnMargin - 1},
		{10000, 10, 1, 1},
		{10000, 0, 1, 1},
	} {
		if got := connLimit(tc.maxConns, tc.nofile, tc.outputs); got != tc.want {
			t.Errorf("connLimit(%d, %d, %d) = %d, want %d", tc.maxConns, tc.nofile, tc.outputs, got, tc.want)
		}
	}
}

// TestRunUnwritableState: a state file dmxd could not save exits with
// status 2 and one line on stderr (here a directory given as the file,
// whose name holds a line break), before anything listens.
func TestRunUnwritableState(t *testing.T) {
	state := filepath.Join(t.TempDir(), "a\nb")
	if err := os.Mkdir(state, 0o755); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	if code := run([]string{"--listen", "127.0.0.1:0", "--state", state}, env(nil), io.Discard, &stderr); code != 2 {
		t.Errorf("run = %d, want 2", code)
	}
	out := stderr.String()
	if !strings.HasPrefix(out, "dmxd: --state") || !strings.Contains(out, "is a directory") || strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("stderr %q, want one line saying --state is a directory", out)
	}
}

// TestCheckState: no state file needs no check; a writable one passes.
func TestCheckState(t *testing.T) {
	if err := checkState(""); err != nil {
		t.Errorf("checkState(\"\") = %v", err)
	}
	if err := checkState(filepath.Join(t.TempDir(), "state.json")); err != nil {
		t.Errorf("checkState(a writable directory) = %v", err)
	}
}

// TestApplyEnv: a flag given on the command line beats its variable, an
// empty variable counts as unset, a list flag's variable is handed over
// whole, and a bad value names its variable on one line.
func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		rate    int
		list    []string
		wantErr string
	}{
		{"variable", nil, map[string]string{"DMXD_RATE": "30"}, 30, nil, ""},
		{"flag beats variable", []string{"--rate", "20"}, map[string]string{"DMXD_RATE": "30"}, 20, nil, ""},
		{"empty is unset", nil, map[string]string{"DMXD_RATE": ""}, 44, nil, ""},
		{"list", nil, map[string]string{"DMXD_OUTPUT": "1=null, 2=null"}, 44, []string{"1=null", "2=null"}, ""},
		{"bad value", nil, map[string]string{"DMXD_RATE": "x\ny"}, 44, nil, `DMXD_RATE="x\ny": parse error`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			rate := fs.Int("rate", 44, "")
			fs.String("output", "", "")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var list []string
			err := applyEnv(fs, func(k string) string { return tc.env[k] }, envName, map[string]func(string){
				"output": func(v string) { list = append(list, splitOutputs(v)...) },
			})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || *rate != tc.rate || !slices.Equal(list, tc.list) {
				t.Errorf("rate %d, list %q, error %v; want %d, %q", *rate, list, err, tc.rate, tc.list)
			}
		})
	}
}
