// Package api translates ogCore's HTTP calls into calls on the repository's packages. It
// declares the routes as huma operations (so the OpenAPI document is generated from them),
// checks the API key, and maps the packages' errors to status codes in one place. It holds
// no repository logic of its own.
package api
