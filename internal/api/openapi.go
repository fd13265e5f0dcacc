package api

import (
	"io"
	"log/slog"
)

// SpecVersion is the API's version in the checked-in document. It changes with the
// contract, not with each build, so the checked-in copy stays stable.
const SpecVersion = "1.0.0"

// SpecYAML is the OpenAPI 3.1 document of every route, as checked in under openapi/.
func SpecYAML(version string) ([]byte, error) {
	_, a := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Version: version})
	return a.OpenAPI().YAML()
}
