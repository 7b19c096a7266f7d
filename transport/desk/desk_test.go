package desk

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, h http.Handler, method, path string, header http.Header) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandlerServesTheDesk(t *testing.T) {
	h := Handler()
	tests := []struct {
		path     string
		method   string
		code     int
		ctype    string
		contains string
	}{
		{"/", "GET", 200, "text/html; charset=utf-8", `<script type="module" src="main.js">`},
		{"/index.html", "GET", 200, "text/html; charset=utf-8", "<title>dmxd desk</title>"},
		{"/main.js", "GET", 200, "text/javascript; charset=utf-8", `from "./link.js"`},
		{"/link.js", "GET", 200, "text/javascript; charset=utf-8", "export class Link"},
		{"/desk.css", "GET", 200, "text/css; charset=utf-8", ".fader"},
		{"/", "HEAD", 200, "text/html; charset=utf-8", ""},
		{"/nope.js", "GET", 404, "", ""},
		{"/static/main.js", "GET", 404, "", ""},
		{"/", "POST", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := get(t, h, tt.method, tt.path, nil)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.code)
			}
			if tt.code != 200 {
				return
			}
			if got := res.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type %q, want %q", got, tt.ctype)
			}
			if got := res.Header.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if res.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q", tt.contains)
			}
		})
	}
}

func TestHandlerRevalidatesWithETag(t *testing.T) {
	h := Handler()
	first := get(t, h, "GET", "/main.js", nil)
	etag := first.Header.Get("ETag")
	again := get(t, h, "GET", "/main.js", http.Header{"If-None-Match": {etag}})
	if again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d, want 304", etag, again.StatusCode)
	}
	other := get(t, h, "GET", "/link.js", nil).Header.Get("ETag")
	if other == etag {
		t.Errorf("main.js and link.js share ETag %s", etag)
	}
}

// TestEveryReferencedFileIsServed follows the page's stylesheet, script and
// module imports: a missing module would leave a blank desk.
func TestEveryReferencedFileIsServed(t *testing.T) {
	h := Handler()
	ref := regexp.MustCompile(`(?:href|src)="([a-z]+\.(?:js|css))"|from "\./([a-z]+\.js)"`)
	seen := map[string]bool{}
	queue := []string{"/"}
	for len(queue) > 0 {
		path := queue[0]
		queue = queue[1:]
		res := get(t, h, "GET", path, nil)
		if res.StatusCode != 200 {
			t.Errorf("%s: status %d", path, res.StatusCode)
			continue
		}
		body, _ := io.ReadAll(res.Body)
		for _, m := range ref.FindAllStringSubmatch(string(body), -1) {
			name := "/" + m[1] + m[2]
			if !seen[name] {
				seen[name] = true
				queue = append(queue, name)
			}
		}
	}
	for _, want := range []string{"/desk.css", "/main.js", "/link.js", "/sender.js", "/fader.js"} {
		if !seen[want] {
			t.Errorf("%s is not referenced from the page", want)
		}
	}
}

func TestPageIsSelfContained(t *testing.T) {
	h := Handler()
	for _, path := range []string{"/", "/main.js", "/link.js", "/sender.js", "/fader.js", "/desk.css"} {
		body, _ := io.ReadAll(get(t, h, "GET", path, nil).Body)
		if regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/`).Match(body) {
			t.Errorf("%s refers to another host; the desk must work offline", path)
		}
	}
	res := get(t, h, "GET", "/", nil)
	if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q, want default-src 'self'", csp)
	}
}

func TestHandlerNamesTheOtherServers(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers []string
		meta    string
		connect string
	}{
		{"alone", nil, `<meta name="dmxd-servers" content="">`, "connect-src 'self';"},
		{"two others", []string{"edge2.lan:8080", "[::1]:9000"},
			`<meta name="dmxd-servers" content="edge2.lan:8080,[::1]:9000">`,
			"connect-src 'self' http://edge2.lan:8080 https://edge2.lan:8080 ws://edge2.lan:8080 wss://edge2.lan:8080 " +
				"http://[::1]:9000 https://[::1]:9000 ws://[::1]:9000 wss://[::1]:9000;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, Handler(tc.servers...), "GET", "/", nil)
			body, _ := io.ReadAll(res.Body)
			if !strings.Contains(string(body), tc.meta) {
				t.Errorf("index.html lacks %s", tc.meta)
			}
			if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, tc.connect) {
				t.Errorf("policy %q lacks %q", csp, tc.connect)
			}
		})
	}
	// The list is part of the page: its ETag differs.
	if Handler().(*handler).files["/"].etag == Handler("a:1").(*handler).files["/"].etag {
		t.Error("same ETag with and without servers")
	}
}
