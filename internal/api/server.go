package api

import (
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/hoststatus"
	"github.com/opengnsys/ogrepository/internal/jobs"
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
	// Status gathers GET /status.
	Status *hoststatus.Reporter
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
	s := &server{Deps: d}
	api.UseMiddleware(s.accessLog, s.authorize)
	mux.HandleFunc("/", s.noRoute)
	s.registerStatus(api)
	s.registerImages(api)
	s.registerJobs(api)
	documentCallback(api)
	documentErrorsAsBadRequest(api.OpenAPI())
	return jsonByDefault(mux), api
}

// jsonByDefault reads a request body sent without a JSON content type (as `curl -d` sends
// it) as JSON, since JSON is the only body any route takes.
func jsonByDefault(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		if ct == "" || strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
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
	cfg.DocsPath = Prefix + "/docs"
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
	got := ctx.Header("Authorization")
	if subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) != 1 {
		msg := "missing or wrong API key in the Authorization header"
		if got == "" {
			msg = "missing API key: send it in the Authorization header"
		}
		s.writeErr(ctx, http.StatusUnauthorized, msg)
		return
	}
	next(ctx)
}

func (s *server) writeErr(ctx huma.Context, status int, msg string) {
	e := newError(status, msg)
	ctx.SetHeader("Content-Type", "application/json")
	ctx.SetStatus(status)
	_ = jsonEncode(ctx.BodyWriter(), e)
}

// noRoute answers, in the API's error shape, a path that no route serves (including one
// that the mux would clean, such as a ".." segment).
func (s *server) noRoute(w http.ResponseWriter, r *http.Request) {
	s.Log.Info("request", "method", r.Method, "path", r.URL.Path, "status", http.StatusNotFound,
		"remote", r.RemoteAddr)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_ = jsonEncode(w, newError(http.StatusNotFound, "no route "+r.Method+" "+r.URL.Path))
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
// into the 400 this API returns for them.
func documentErrorsAsBadRequest(o *huma.OpenAPI) {
	for _, item := range o.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil {
				continue
			}
			if r, ok := op.Responses["422"]; ok {
				delete(op.Responses, "422")
				if _, ok := op.Responses["400"]; !ok {
					r.Description = http.StatusText(http.StatusBadRequest)
					op.Responses["400"] = r
				}
			}
		}
	}
}
