package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/jobs"
	"github.com/opengnsys/ogrepository/internal/p2p"
	"github.com/opengnsys/ogrepository/internal/transmission"
	"github.com/opengnsys/ogrepository/internal/wakeonlan"
)

// Error is every error body: {"success": false, "error": "..."} as ogCore expects, with
// the RFC 9457 status and title beside it, and the field-level details when there are any.
type Error struct {
	Success bool                `json:"success" doc:"Always false"`
	Message string              `json:"error" doc:"What went wrong, naming the field when a field is at fault"`
	Title   string              `json:"title,omitempty" doc:"RFC 9457 title: the status text"`
	Status  int                 `json:"status,omitempty" doc:"RFC 9457 status: the HTTP status code"`
	Details []*huma.ErrorDetail `json:"errors,omitempty" doc:"Field-level details"`
}

// Error makes Error an error.
func (e *Error) Error() string { return e.Message }

// GetStatus gives huma the status code.
func (e *Error) GetStatus() int { return e.Status }

// newError replaces huma's error constructor. huma reports validation failures as 422;
// this contract wants every bad body, type or field as a 400.
func newError(status int, msg string, errs ...error) huma.StatusError {
	if status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	e := &Error{Message: msg, Title: http.StatusText(status), Status: status}
	var parts []string
	for _, err := range errs {
		if err == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(err, &d) {
			detail := d.ErrorDetail()
			e.Details = append(e.Details, detail)
			parts = append(parts, strings.TrimSpace(detail.Location+": "+detail.Message))
			continue
		}
		parts = append(parts, err.Error())
	}
	if len(parts) > 0 {
		e.Message = msg + ": " + strings.Join(parts, "; ")
	}
	return e
}

func init() {
	huma.NewError = newError
}

// failure maps an error from the repository's packages to a response. It is the one place
// where sentinel errors meet status codes; unknown errors are logged and become a 500.
func failure(log *slog.Logger, what string, err error) error {
	switch {
	case errors.Is(err, catalog.ErrNotFound),
		errors.Is(err, catalog.ErrInvalid),
		errors.Is(err, imagename.ErrInvalid),
		errors.Is(err, imagename.ErrOutside),
		errors.Is(err, jobs.ErrInvalidID),
		errors.Is(err, p2p.ErrNoTorrent),
		errors.Is(err, p2p.ErrBadTorrent),
		errors.Is(err, p2p.ErrNotSeeding),
		errors.Is(err, wakeonlan.ErrInvalid),
		errors.Is(err, transmission.ErrInvalid),
		errors.Is(err, transmission.ErrNotRunning):
		return newError(http.StatusBadRequest, err.Error())
	case errors.Is(err, jobs.ErrNotFound):
		return newError(http.StatusNotFound, err.Error())
	case errors.Is(err, catalog.ErrConflict), errors.Is(err, jobs.ErrBusy),
		errors.Is(err, transmission.ErrBusy):
		return newError(http.StatusConflict, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return newError(http.StatusServiceUnavailable, what+": request cancelled")
	}
	log.Error(what+" failed", "err", err)
	return newError(http.StatusInternalServerError, what+": "+err.Error())
}
