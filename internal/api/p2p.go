package api

import (
	"context"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/opengnsys/ogrepository/internal/p2p"
)

type p2pInput struct {
	Body struct {
		_  struct{} `json:"-" additionalProperties:"true"`
		ID string   `json:"ID_img" pattern:"^[0-9a-fA-F]{32}$" patternDescription:"32 hexadecimal digits" doc:"ID of the image in images/ to seed; it needs its .torrent (POST /images/torrentsum)"`
	}
}

type p2pStatusOutput struct{ Body p2p.Status }

func (s *server) registerP2P(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "start-p2p", Method: http.MethodPost, Path: Prefix + "/p2p",
		Summary: "Seed an image over BitTorrent",
		Description: "Makes sure the repository's tracker runs (port 6969 of IPlocal, serving only " +
			"the torrents this repository seeds) and starts a seeder of the image's .torrent, each " +
			"a transient systemd unit. Clients download with ctorrent on the .torrent. Seeding an " +
			"image that is seeded already changes nothing. An image without .torrent, or whose " +
			".torrent no longer matches it, is a 400: run torrentsum.",
		Tags: []string{"transmissions"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict,
			http.StatusInternalServerError, http.StatusServiceUnavailable},
	}, s.startP2P)

	huma.Register(api, huma.Operation{
		OperationID: "get-p2p", Method: http.MethodGet, Path: Prefix + "/p2p",
		Summary: "List the tracker and the seeders",
		Description: "The tracker's state and the seeders running, read from their units. A " +
			"seeder found failed is reported once under failed, and its unit reset.",
		Tags: []string{"transmissions"}, Security: secured,
		Errors: []int{http.StatusUnauthorized, http.StatusInternalServerError,
			http.StatusServiceUnavailable},
	}, s.getP2P)

	huma.Register(api, huma.Operation{
		OperationID: "stop-p2p-image", Method: http.MethodDelete, Path: Prefix + "/p2p/images/{ID_img}",
		Summary: "Stop seeding one image",
		Description: "Stops the image's seeder and takes its torrent off the tracker's whitelist; " +
			"other images keep seeding. An unknown image, or one not being seeded, is a 400.",
		Tags: []string{"transmissions"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict,
			http.StatusInternalServerError, http.StatusServiceUnavailable},
	}, s.stopP2PImage)

	huma.Register(api, huma.Operation{
		OperationID: "stop-p2p", Method: http.MethodDelete, Path: Prefix + "/p2p",
		Summary:     "Stop the tracker and every seeder",
		Description: "Stops every seeder and the tracker, and empties the whitelist.",
		Tags:        []string{"transmissions"}, Security: secured,
		Errors: []int{http.StatusUnauthorized, http.StatusInternalServerError,
			http.StatusServiceUnavailable},
	}, s.stopP2P)
}

// noP2P answers when systemd, which runs the tracker and seeders, is not reachable.
func noP2P() error {
	return newError(http.StatusServiceUnavailable, "P2P needs systemd, which is not reachable")
}

func (s *server) startP2P(ctx context.Context, in *p2pInput) (*actionOutput, error) {
	if s.P2P == nil {
		return nil, noP2P()
	}
	sd, already, err := s.P2P.Seed(ctx, in.Body.ID)
	if err != nil {
		return nil, failure(s.Log, "start seeding", err)
	}
	if already {
		return done("Image " + sd.Image + " is being seeded already (unit " + sd.Unit + ")"), nil
	}
	return done("Seeding image " + sd.Image + " (info-hash " + sd.InfoHash + ", unit " + sd.Unit +
		")"), nil
}

func (s *server) getP2P(ctx context.Context, _ *struct{}) (*p2pStatusOutput, error) {
	if s.P2P == nil {
		return nil, noP2P()
	}
	st, err := s.P2P.Status(ctx)
	if err != nil {
		return nil, failure(s.Log, "list P2P", err)
	}
	return &p2pStatusOutput{Body: st}, nil
}

func (s *server) stopP2PImage(ctx context.Context, in *idPath) (*actionOutput, error) {
	if s.P2P == nil {
		return nil, noP2P()
	}
	stopped, err := s.P2P.Stop(ctx, in.ID)
	if err != nil {
		return nil, failure(s.Log, "stop seeding", err)
	}
	names := make([]string, len(stopped))
	for i, sd := range stopped {
		names[i] = sd.Image
	}
	return done("Stopped seeding " + strings.Join(names, ", ")), nil
}

func (s *server) stopP2P(ctx context.Context, _ *struct{}) (*actionOutput, error) {
	if s.P2P == nil {
		return nil, noP2P()
	}
	stopped, err := s.P2P.StopAll(ctx)
	if err != nil {
		return nil, failure(s.Log, "stop P2P", err)
	}
	if len(stopped) == 0 {
		return done("No tracker or seeder was running"), nil
	}
	return done("Stopped " + strings.Join(stopped, ", ")), nil
}
