package catalog

import "errors"

// Sentinel errors, wrapped with detail; the API maps each to one status code.
var (
	// ErrNotFound: no unlocked image with that ID (or name) is in the directory asked for.
	ErrNotFound = errors.New("image not found")
	// ErrConflict: the operation would overwrite or confuse an existing image.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the client's input is malformed; nothing was touched.
	ErrInvalid = errors.New("invalid request")
)
