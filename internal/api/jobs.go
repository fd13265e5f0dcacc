package api

import (
	"context"
	"net/http"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/jobs"
	"github.com/opengnsys/ogrepository/internal/ogcore"
)

// Started is the body of an asynchronous route that started its job.
type Started struct {
	Success bool   `json:"success" doc:"Always true"`
	Output  string `json:"output" doc:"What is being done"`
	JobID   string `json:"job_id" doc:"Follow the job with GET /jobs/{job_id}"`
}

type startedOutput struct{ Body Started }

type torrentsumInput struct {
	Body struct {
		_     struct{} `json:"-" additionalProperties:"true"`
		Image string   `json:"image" minLength:"1" maxLength:"200" doc:"File name of the image in images/, with its extension, e.g. Windows10.img"`
	}
}

type jobInput struct {
	ID string `path:"job_id" pattern:"^[0-9a-f]{16}$" patternDescription:"16 lower-case hexadecimal digits" doc:"The job's ID"`
}

type jobOutput struct{ Body jobs.Record }

func (s *server) registerJobs(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "create-torrentsum", Method: http.MethodPost, Path: Prefix + "/images/torrentsum",
		Summary: "Create an image's sidecars",
		Description: "Starts a job, as a transient systemd unit, that writes .sum, .full.sum, .size " +
			"and .torrent of the image in one read of it, and then POSTs the outcome to ogCore " +
			"(the `job-ended` callback). A second one for the same image while one runs is a 409.",
		Tags: []string{"jobs"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict,
			http.StatusServiceUnavailable},
	}, s.createTorrentsum)

	huma.Register(api, huma.Operation{
		OperationID: "get-job", Method: http.MethodGet, Path: Prefix + "/jobs/{job_id}",
		Summary:     "Get an asynchronous job's state",
		Description: "State, progress, start and end time, and result of a job. Jobs outlive a restart of the daemon.",
		Tags:        []string{"jobs"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound},
	}, s.getJob)
}

func (s *server) createTorrentsum(ctx context.Context, in *torrentsumInput) (*startedOutput, error) {
	name, err := imagename.Parse(in.Body.Image, imagename.Image)
	if err != nil {
		return nil, newError(http.StatusBadRequest, "image: "+err.Error())
	}
	if _, err := s.Catalog.FindName(name, catalog.Repository); err != nil {
		return nil, failure(s.Log, "create sidecars", err)
	}
	if s.Jobs == nil {
		return nil, newError(http.StatusServiceUnavailable, "jobs need systemd, which is not reachable")
	}
	r, err := s.Jobs.Start(ctx, jobs.Torrentsum, name)
	if err != nil {
		return nil, failure(s.Log, "start torrentsum job", err)
	}
	return &startedOutput{Body: Started{Success: true, JobID: r.ID,
		Output: "Creating .sum, .full.sum, .size and .torrent of " + name.String()}}, nil
}

func (s *server) getJob(ctx context.Context, in *jobInput) (*jobOutput, error) {
	if s.Jobs == nil {
		return nil, newError(http.StatusServiceUnavailable, "jobs need systemd, which is not reachable")
	}
	r, err := s.Jobs.Get(ctx, in.ID)
	if err != nil {
		return nil, failure(s.Log, "get job", err)
	}
	return &jobOutput{Body: r}, nil
}

// documentCallback describes, as an OpenAPI webhook, the POST each asynchronous job makes
// to ogCore when it ends.
func documentCallback(api huma.API) {
	o := api.OpenAPI()
	schema := o.Components.Schemas.Schema(reflect.TypeFor[ogcore.Event](), true, "JobEnded")
	o.Webhooks = map[string]*huma.PathItem{
		"job-ended": {Post: &huma.Operation{
			OperationID: "job-ended",
			Summary:     "An asynchronous job ended (sent to ogCore)",
			Description: "The repository POSTs this to ogCore's webhook (by default https://IPcore:8443" +
				ogcore.DefaultPath + "; serve --ogcore-url overrides it) when a job ends, " +
				"retrying with back-off until ogCore answers 2xx: 6 tries over about a minute. " +
				"A failed callback never undoes the job; the job's record says how it went.",
			Tags: []string{"jobs"},
			RequestBody: &huma.RequestBody{Required: true, Content: map[string]*huma.MediaType{
				"application/json": {Schema: schema},
			}},
			Responses: map[string]*huma.Response{
				"200": {Description: "ogCore took note; any 2xx will do"},
			},
		}},
	}
}
