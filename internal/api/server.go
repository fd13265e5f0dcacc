package api

import (
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/hoststatus"
	"github.com/opengnsys/ogrepository/internal/jobs"
	"github.com/opengnsys/ogrepository/internal/p2p"
	"github.com/opengnsys/ogrepository/internal/transmission"
	"github.com/opengnsys/ogrepository/internal/wakeonlan"
)

// Prefix is the base path of every route.
const Prefix = "/ogrepository/v1"

// securityScheme names the API-key scheme in the OpenAPI document.
const securityScheme = "apiKey"

// Deps are what the routes call into.
type Deps struct {
	Catalog *catalog.Catalog
	// Jobs starts and reports asynchronous jobs; nil when systemd is not reachable, and the
	// asynchronous routes then answer 503.
	Jobs *jobs.Service
	// Transmissions starts, lists and stops UDPcast and UFTP senders; nil when systemd is not
	// reachable, and those routes then answer 503.
	Transmissions *transmission.Service
	// P2P shares images over BitTorrent (tracker and seeders); nil when systemd is not
	// reachable, and the P2P routes then answer 503.
	P2P *p2p.Service
	// Status gathers GET /status.
	Status *hoststatus.Reporter
	// Wake sends Wake-on-LAN packets.
	Wake *wakeonlan.Sender
	// Token is the API key; requests must carry it verbatim in Authorization.
	Token string
	Log   *slog.Logger
	// Version is reported in the OpenAPI document.
	Version string
}

type server struct {
	Deps
}

// New builds the HTTP handler with every route, the OpenAPI document at
// Prefix+"/openapi.json" (and .yaml) and a docs page at Prefix+"/docs".
func New(d Deps) (http.Handler, huma.API) {
	mux := http.NewServeMux()
	api := humago.New(mux, newConfig(d.Version))
	mux.HandleFunc("GET "+Prefix+"/docs", serveDocs)
	s := &server{Deps: d}
	api.UseMiddleware(s.accessLog, s.authorize, refuseRepeatedQuery, refuseDuplicateKeys)
	s.registerStatus(api)
	s.registerImages(api)
	s.registerJobs(api)
	s.registerP2P(api)
	s.registerWake(api)
	s.registerTransmissions(api)
	documentCallback(api)
	documentErrorsAsBadRequest(api.OpenAPI())
	return jsonByDefault(s.unrouted(mux)), api
}

// jsonByDefault reads every request body as JSON, whatever content type it was sent with
// (`curl -d` says form-urlencoded), since JSON is the only body any route takes: a body
// that is not JSON is then a 400 like any other bad body, not a 415.
func jsonByDefault(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if !strings.HasPrefix(ct, "application/json") {
			r.Header.Set("Content-Type", "application/json")
		}
		next.ServeHTTP(w, r)
	})
}

func newConfig(version string) huma.Config {
	cfg := huma.DefaultConfig("ogRepository API", version)
	cfg.Info.Description = "REST API of an OpenGnsys image repository, called by ogCore. " +
		"Every route needs the API key, raw, in the Authorization header."
	cfg.OpenAPIPath = Prefix + "/openapi"
	cfg.DocsPath = "" // served by serveDocs, with no CDN
	cfg.SchemasPath = Prefix + "/schemas"
	cfg.Components.SecuritySchemes = map[string]*huma.SecurityScheme{
		securityScheme: {
			Type:        "apiKey",
			In:          "header",
			Name:        "Authorization",
			Description: "The repository's ApiToken from ogAdmRepo.cfg, with no Bearer prefix.",
		},
	}
	// No $schema links in bodies: ogCore compares bodies to the historical shapes.
	cfg.CreateHooks = nil
	return cfg
}

// authorize refuses, with a 401, any operation call that does not carry the API key. The
// comparison takes the same time whatever the key sent.
func (s *server) authorize(ctx huma.Context, next func(huma.Context)) {
	var keys []string
	ctx.EachHeader(func(name, value string) {
		if strings.EqualFold(name, "Authorization") {
			keys = append(keys, value)
		}
	})
	if len(keys) != 1 || subtle.ConstantTimeCompare([]byte(keys[0]), []byte(s.Token)) != 1 {
		msg := "missing or wrong API key in the Authorization header"
		switch {
		case len(keys) == 0 || keys[0] == "":
			msg = "missing API key: send it in the Authorization header"
		case len(keys) > 1:
			msg = "more than one Authorization header"
		}
		s.Log.Warn("refused a request without the API key", "method", ctx.Method(),
			"path", ctx.URL().Path, "remote", ctx.RemoteAddr(), "reason", msg)
		writeError(ctx, http.StatusUnauthorized, msg)
		return
	}
	next(ctx)
}

func writeError(ctx huma.Context, status int, msg string) {
	e := newError(status, msg)
	ctx.SetHeader("Content-Type", "application/json")
	ctx.SetStatus(status)
	_ = jsonEncode(ctx.BodyWriter(), e)
}

// unrouted answers, in the API's error shape, what no route serves: an unknown path (404),
// a known path with another method (405, with Allow), or a path the mux would redirect to
// its clean form, such as one with a ".." segment (400: no route is reached by a redirect).
func (s *server) unrouted(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" && isClean(r.URL.Path) {
			mux.ServeHTTP(w, r)
			return
		}
		probe := &statusProbe{header: http.Header{}}
		h.ServeHTTP(probe, r)
		status, msg := probe.status, "no route "+r.Method+" "+r.URL.Path
		switch {
		case !isClean(r.URL.Path):
			// Most often an ID or name with a "/" or ".." in it: a bad ID, so a 400.
			status, msg = http.StatusBadRequest, "path "+r.URL.Path+` has an empty, "." or ".."`+
				` segment: an ID (ID_img, job_id) may not contain "/"`
		case status != http.StatusMethodNotAllowed:
			status = http.StatusNotFound
		}
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
		}
		s.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", status,
			"remote", r.RemoteAddr)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = jsonEncode(w, newError(status, msg))
	})
}

// isClean reports whether p has no "." or ".." segment and no doubled slash.
func isClean(p string) bool {
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}

// statusProbe records what the mux's own fallback handler would answer, writing nothing.
type statusProbe struct {
	header http.Header
	status int
}

func (p *statusProbe) Header() http.Header { return p.header }

func (p *statusProbe) Write(b []byte) (int, error) { return len(b), nil }

func (p *statusProbe) WriteHeader(status int) { p.status = status }

// refuseRepeatedQuery refuses a query parameter given twice, such as
// ?method=permanent&method=trash: guessing which one was meant could destroy an image.
func refuseRepeatedQuery(ctx huma.Context, next func(huma.Context)) {
	u := ctx.URL()
	for key, values := range u.Query() {
		if len(values) > 1 {
			writeError(ctx, http.StatusBadRequest, fmt.Sprintf(
				"query.%s: given %d times; give it once", key, len(values)))
			return
		}
	}
	next(ctx)
}

// accessLog logs each call once, with its outcome; never its headers.
func (s *server) accessLog(ctx huma.Context, next func(huma.Context)) {
	start := time.Now()
	next(ctx)
	s.Log.Info("request", "method", ctx.Method(), "path", ctx.URL().Path,
		"status", ctx.Status(), "remote", ctx.RemoteAddr(),
		"duration_ms", time.Since(start).Milliseconds())
}

// secured is the security requirement of every operation.
var secured = []map[string][]string{{securityScheme: {}}}

// documentErrorsAsBadRequest rewrites the 422 that huma documents for validation failures
// into the 400 this API returns for them, and documents the 413 that any route taking a
// body can answer.
func documentErrorsAsBadRequest(o *huma.OpenAPI) {
	for _, item := range o.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil {
				continue
			}
			r, ok := op.Responses["422"]
			if !ok {
				continue
			}
			delete(op.Responses, "422")
			if _, ok := op.Responses["400"]; !ok {
				r.Description = http.StatusText(http.StatusBadRequest)
				op.Responses["400"] = r
			}
			if op.RequestBody == nil {
				continue
			}
			for _, code := range []int{http.StatusRequestEntityTooLarge} {
				op.Responses[strconv.Itoa(code)] = &huma.Response{
					Description: http.StatusText(code), Content: r.Content}
			}
		}
	}
}
