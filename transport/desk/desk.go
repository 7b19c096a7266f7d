// Package desk is dmxd's web desk: plain HTML, CSS and JavaScript modules
// embedded in the binary (no build step, no CDN) and served at GET /.
//
// The desk talks to dmxd only through relative URLs (ws and healthz next to
// the page), so it works behind --origins and under a path prefix; a
// --token given in the page URL (?token=SECRET) is passed on to /ws and
// /healthz.
//
// Concurrency: the handler returned by Handler holds only immutable data
// built when it is created and is safe for concurrent use.
package desk

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
)

// static holds the desk's files; static/index.html is served at /.
//
//go:embed static
var static embed.FS

// htmlType is the media type of the desk's pages.
const htmlType = "text/html; charset=utf-8"

// contentType returns the media type of a file extension, so the answer
// does not depend on the host's /etc/mime.types; "" for an unknown one.
func contentType(ext string) string {
	switch ext {
	case ".html":
		return htmlType
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".png":
		return "image/png"
	}
	return ""
}

// securityPolicy lets the page load only its own files and talk only to its
// own origin (ws: and wss: included) and to the other servers of the show
// (connect, see Handler).
func securityPolicy(servers []string) string {
	connect := "'self'"
	for _, s := range servers {
		for _, scheme := range []string{"http", "https", "ws", "wss"} {
			connect += " " + scheme + "://" + s
		}
	}
	return "default-src 'self'; connect-src " + connect + "; img-src 'self' data:; " +
		"style-src 'self'; script-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// serversMeta is the tag of index.html that tells the page the other
// servers of the show.
const serversMeta = `<meta name="dmxd-servers" content="">`

// file is one embedded file, ready to serve.
type file struct {
	name  string
	body  []byte
	ctype string
	etag  string
}

// handler serves the embedded files by path.
type handler struct {
	files  map[string]file
	policy string // the Content-Security-Policy of index.html
}

// Handler returns the web desk: index.html at / and the modules and style
// sheet at their own paths, each with its media type, a strong ETag and
// Cache-Control: no-cache (browsers revalidate, so a new dmxd binary is
// picked up on reload). Other paths get 404.
//
// servers are the other servers of the same show as HOST:PORT (the other
// edges of one core): the page turns to the next of them when its own is
// lost, and its security policy lets it connect to them. Each must be a
// valid host:port (the caller checks); none is the usual single server.
func Handler(servers ...string) http.Handler {
	files, err := load(static, servers)
	if err != nil {
		// The files are compiled in; a failure here is a build defect.
		panic(fmt.Sprintf("desk: %v", err))
	}
	return &handler{files: files, policy: securityPolicy(servers)}
}

// load reads every file under static/ and maps its URL path to it;
// index.html names servers in its dmxd-servers tag.
func load(fsys fs.FS, servers []string) (map[string]file, error) {
	sub, err := fs.Sub(fsys, "static")
	if err != nil {
		return nil, fmt.Errorf("static files: %w", err)
	}
	files := make(map[string]file)
	err = fs.WalkDir(sub, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ctype := contentType(path.Ext(name))
		if ctype == "" {
			return fmt.Errorf("%s: no content type for %q", name, path.Ext(name))
		}
		body, err := fs.ReadFile(sub, name)
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		if name == "index.html" {
			if !bytes.Contains(body, []byte(serversMeta)) {
				return fmt.Errorf("index.html has no %s", serversMeta)
			}
			tag := `<meta name="dmxd-servers" content="` + html.EscapeString(strings.Join(servers, ",")) + `">`
			body = bytes.Replace(body, []byte(serversMeta), []byte(tag), 1)
		}
		sum := sha256.Sum256(body)
		files["/"+name] = file{name: name, body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		return nil, err
	}
	index, ok := files["/index.html"]
	if !ok {
		return nil, fmt.Errorf("static/index.html is missing")
	}
	files["/"] = index
	return files, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	f, ok := h.files[r.URL.Path]
	if !ok || strings.Contains(r.URL.Path, "..") {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("Cache-Control", "no-cache")
	hd.Set("ETag", f.etag)
	hd.Set("X-Content-Type-Options", "nosniff")
	if f.ctype == htmlType {
		hd.Set("Content-Security-Policy", h.policy)
		hd.Set("Referrer-Policy", "no-referrer")
	}
	http.ServeContent(w, r, f.name, time.Time{}, bytes.NewReader(f.body))
}
