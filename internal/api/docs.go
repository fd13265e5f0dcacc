package api

import (
	_ "embed"
	"net/http"
)

// docsPage is the API's documentation page: it renders the OpenAPI document with a little
// script of its own. huma's pages load their renderer from a CDN, and a repository server
// often has no way out to the Internet.
//
//go:embed docs/index.html
var docsPage []byte

// serveDocs serves docsPage, without the API key, as the OpenAPI document is served. The
// page may load nothing but from this daemon.
func serveDocs(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy",
		"default-src 'none'; connect-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'")
	_, _ = w.Write(docsPage)
}
