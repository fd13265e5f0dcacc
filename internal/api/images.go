package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/opengnsys/ogrepository/internal/catalog"
)

// Action is the body of every action route that succeeds (and of a failed integrity check).
type Action struct {
	Success bool   `json:"success" doc:"Whether the action (or check) succeeded"`
	Output  string `json:"output,omitempty" doc:"What was done"`
	Error   string `json:"error,omitempty" doc:"Why a check did not pass"`
}

type actionOutput struct{ Body Action }

func done(msg string) *actionOutput { return &actionOutput{Body: Action{Success: true, Output: msg}} }

// idPath is the image ID in a route's path.
type idPath struct {
	ID string `path:"ID_img" pattern:"^[0-9a-fA-F]{32}$" patternDescription:"32 hexadecimal digits" doc:"Image ID: the MD5 of the whole image (its .full.sum)"`
}

type listOutput struct {
	Body struct {
		Repository catalog.Listing `json:"REPOSITORY" doc:"Images in images/"`
		Trash      catalog.Listing `json:"TRASH" doc:"Images in images_trash/"`
	}
}

type oneOutput struct{ Body catalog.Listing }

type deleteInput struct {
	ID     string `path:"ID_img" pattern:"^[0-9a-fA-F]{32}$" patternDescription:"32 hexadecimal digits" doc:"Image ID: the MD5 of the whole image (its .full.sum)"`
	Method string `query:"method" required:"true" enum:"trash,permanent" doc:"trash moves the image and its sidecars to images_trash/; permanent removes them"`
}

type recoverInput struct {
	Body struct {
		_  struct{} `json:"-" additionalProperties:"true"`
		ID string   `json:"ID_img" pattern:"^[0-9a-fA-F]{32}$" patternDescription:"32 hexadecimal digits" doc:"ID of the image in the trash"`
	}
}

func (s *server) registerImages(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "list-images", Method: http.MethodGet, Path: Prefix + "/images",
		Summary:     "List all images",
		Description: "Rescans images/ and images_trash/, rewrites repoinfo.json and trashinfo.json, and returns both. Sums come from sidecars: nothing is hashed.",
		Tags:        []string{"images"}, Security: secured,
		Errors: []int{http.StatusUnauthorized, http.StatusInternalServerError},
	}, s.listImages)

	huma.Register(api, huma.Operation{
		OperationID: "get-image", Method: http.MethodGet, Path: Prefix + "/images/{ID_img}",
		Summary:     "Get one image",
		Description: "The image with this ID, from the repository or else the trash. An unknown ID is a 400, as ogCore expects.",
		Tags:        []string{"images"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict},
	}, s.getImage)

	huma.Register(api, huma.Operation{
		OperationID: "refresh-images", Method: http.MethodPut, Path: Prefix + "/images",
		Summary:     "Refresh the repository information",
		Description: "Rescans both directories and rewrites repoinfo.json and trashinfo.json.",
		Tags:        []string{"images"}, Security: secured,
		Errors: []int{http.StatusUnauthorized},
	}, s.refreshImages)

	huma.Register(api, huma.Operation{
		OperationID: "check-image", Method: http.MethodGet, Path: Prefix + "/status/images/{ID_img}",
		Summary:     "Check an image's integrity",
		Description: "Compares the image's size with .size and the MD5 of its last MiB with .sum. A failed check is a 200 with success false.",
		Tags:        []string{"images"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict},
	}, s.checkImage)

	huma.Register(api, huma.Operation{
		OperationID: "delete-image", Method: http.MethodDelete, Path: Prefix + "/images/{ID_img}",
		Summary:     "Delete an image",
		Description: "Moves the image and its sidecars to the trash, or removes them for good. A same-named image already in the trash is a 409: nothing is overwritten.",
		Tags:        []string{"images"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict},
	}, s.deleteImage)

	huma.Register(api, huma.Operation{
		OperationID: "recover-image", Method: http.MethodPost, Path: Prefix + "/trash/images",
		Summary:     "Recover an image from the trash",
		Description: "Moves the image and its sidecars back to images/. A same-named image there is a 409: nothing is overwritten.",
		Tags:        []string{"trash"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict},
	}, s.recoverImage)

	huma.Register(api, huma.Operation{
		OperationID: "purge-image", Method: http.MethodDelete, Path: Prefix + "/trash/images/{ID_img}",
		Summary:     "Delete an image from the trash",
		Description: "Removes the trashed image and its sidecars for good.",
		Tags:        []string{"trash"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusConflict},
	}, s.purgeImage)
}

func (s *server) listImages(ctx context.Context, _ *struct{}) (*listOutput, error) {
	repo, trash, err := s.Catalog.Refresh(ctx)
	if err != nil {
		return nil, failure(s.Log, "list images", err)
	}
	out := &listOutput{}
	out.Body.Repository, out.Body.Trash = repo, trash
	return out, nil
}

func (s *server) getImage(ctx context.Context, in *idPath) (*oneOutput, error) {
	if _, _, err := s.Catalog.Refresh(ctx); err != nil {
		return nil, failure(s.Log, "refresh", err)
	}
	f, err := s.Catalog.Find(ctx, in.ID, catalog.Repository, catalog.Trash)
	if err != nil {
		return nil, failure(s.Log, "get image", err)
	}
	return &oneOutput{Body: catalog.Listing{
		Directory: s.Catalog.Dir(f.Place), Images: []catalog.Image{f.Image},
	}}, nil
}

func (s *server) refreshImages(ctx context.Context, _ *struct{}) (*actionOutput, error) {
	if _, _, err := s.Catalog.Refresh(ctx); err != nil {
		return nil, failure(s.Log, "refresh", err)
	}
	return done("Repository info updated"), nil
}

func (s *server) checkImage(ctx context.Context, in *idPath) (*actionOutput, error) {
	res, err := s.Catalog.CheckIntegrity(ctx, in.ID)
	if err != nil {
		return nil, failure(s.Log, "check image", err)
	}
	if !res.Passed {
		s.Log.Warn("image failed its integrity check", "image", res.File.String(),
			"place", res.Place.String(), "reason", res.Reason)
		return &actionOutput{Body: Action{
			Error: "Image file didn't pass the Integrity Check: " + res.Reason,
		}}, nil
	}
	return done("Image file passed the Integrity Check correctly"), nil
}

func (s *server) deleteImage(ctx context.Context, in *deleteInput) (*actionOutput, error) {
	if in.Method == "permanent" {
		f, err := s.Catalog.Delete(ctx, in.ID)
		if err != nil {
			return nil, failure(s.Log, "delete image", err)
		}
		return done("Image " + f.File.String() + " deleted for good"), nil
	}
	f, err := s.Catalog.MoveToTrash(ctx, in.ID)
	if err != nil {
		return nil, failure(s.Log, "move image to trash", err)
	}
	return done("Image " + f.File.String() + " moved to the trash"), nil
}

func (s *server) recoverImage(ctx context.Context, in *recoverInput) (*actionOutput, error) {
	f, err := s.Catalog.Recover(ctx, in.Body.ID)
	if err != nil {
		return nil, failure(s.Log, "recover image", err)
	}
	return done("Image " + f.File.String() + " recovered from the trash"), nil
}

func (s *server) purgeImage(ctx context.Context, in *idPath) (*actionOutput, error) {
	f, err := s.Catalog.Purge(ctx, in.ID)
	if err != nil {
		return nil, failure(s.Log, "delete image from trash", err)
	}
	return done("Image " + f.File.String() + " deleted from the trash"), nil
}

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }
