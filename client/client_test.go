package client

import "testing"

// TestServerURL: the forms a person types for a server.
func TestServerURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ws://127.0.0.1:8080/ws", "ws://127.0.0.1:8080/ws"},
		{"wss://dmxd.lan/ws", "wss://dmxd.lan/ws"},
		{"http://127.0.0.1:9000", "ws://127.0.0.1:9000/ws"},
		{"http://127.0.0.1:9000/", "ws://127.0.0.1:9000/ws"},
		{"https://stage.example/dmx/", "wss://stage.example/dmx/ws"},
		{"http://h:1/ws?token=x", "ws://h:1/ws?token=x"},
		{"127.0.0.1:9000", "ws://127.0.0.1:9000/ws"},
		{"[::1]:9000", "ws://[::1]:9000/ws"},
		{"dmxd.local", "ws://dmxd.local:8080/ws"},
		{"::1", "ws://[::1]:8080/ws"},
	} {
		got, err := ServerURL(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ServerURL(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "ftp://h", "http://", "ws://h:1/%zz"} {
		if got, err := ServerURL(bad); err == nil {
			t.Errorf("ServerURL(%q) = %q, want an error", bad, got)
		}
	}
}
