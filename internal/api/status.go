package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/opengnsys/ogrepository/internal/hoststatus"
)

type statusOutput struct{ Body hoststatus.Report }

func (s *server) registerStatus(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "get-status", Method: http.MethodGet, Path: Prefix + "/status",
		Summary: "Get the repository's status",
		Description: "CPU, memory and the disk of images/ (from the kernel, via gopsutil); the " +
			"state of the configured services and of the transmission units (from systemd over " +
			"D-Bus); and whether ogGit is installed.",
		Tags: []string{"status"}, Security: secured,
		Errors: []int{http.StatusUnauthorized, http.StatusInternalServerError},
	}, s.getStatus)
}

func (s *server) getStatus(ctx context.Context, _ *struct{}) (*statusOutput, error) {
	if s.Status == nil {
		return nil, newError(http.StatusInternalServerError, "status is not configured")
	}
	rep, err := s.Status.Report(ctx)
	if err != nil {
		return nil, failure(s.Log, "status", err)
	}
	return &statusOutput{Body: rep}, nil
}
