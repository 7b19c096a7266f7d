package transport

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ParseTrustedProxies parses a comma-separated list of proxies whose
// X-Forwarded-For dmxd believes: CIDR prefixes (10.0.0.0/8, fd00::/8) or
// single addresses (10.0.0.5, ::1). Spaces around the commas are allowed;
// an empty list is none.
func ParseTrustedProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not a CIDR prefix (10.0.0.0/8) or an IP address", f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// clientAddr returns the address of the client behind a trusted proxy: the
// nearest address of X-Forwarded-For that is not itself a trusted proxy,
// read from the right (each proxy appends the address it got the request
// from, so everything left of the nearest untrusted hop could be made up
// by the client). It returns "" when the peer (remote, a request's
// RemoteAddr) is not a trusted proxy, when there is no X-Forwarded-For, or
// when the header holds something that is not an address.
func clientAddr(remote string, h http.Header, trusted []netip.Prefix) string {
	if len(trusted) == 0 {
		return ""
	}
	peer, ok := hostAddr(remote)
	if !ok || !isTrusted(peer, trusted) {
		return ""
	}
	var hops []string
	for _, v := range h.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	client := ""
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ""
		}
		client = a.Unmap().String()
		if !isTrusted(a, trusted) {
			break
		}
	}
	return client
}

// hostAddr parses the address of a host:port.
func hostAddr(hostport string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	a, err := netip.ParseAddr(host)
	return a, err == nil
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = a.Unmap().WithZone("")
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
