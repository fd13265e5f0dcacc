package catalog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/repotest"
)

func nilLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestOpenRefusesBrokenTrees(t *testing.T) {
	tree := repotest.New(t)
	if err := os.RemoveAll(tree.Trash); err != nil {
		t.Fatal(err)
	}
	if _, err := catalog.Open(tree.Paths, nilLogger()); err == nil {
		t.Error("Open accepted a tree without images_trash/")
	}

	// images_trash/ on another filesystem: /dev/shm is a tmpfs on every Linux here.
	other, err := os.MkdirTemp("/dev/shm", "ogrepository-trash-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(other)
	if err := os.Symlink(other, tree.Trash); err != nil {
		t.Fatal(err)
	}
	_, err = catalog.Open(tree.Paths, nilLogger())
	if err == nil {
		t.Fatalf("Open accepted images/ and images_trash/ on different filesystems")
	}
	t.Log(err)
}

func TestLockedImagesAreSkipped(t *testing.T) {
	tree := repotest.New(t)
	id := tree.AddImage(t, "Busy.img", repotest.SampleImage(t, "lzop"))
	if err := os.WriteFile(filepath.Join(tree.Images, "Busy.img.lock"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	repo, _, err := tree.Catalog.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Images) != 0 {
		t.Errorf("locked image listed: %+v", repo.Images)
	}
	if _, err := tree.Catalog.MoveToTrash(context.Background(), id); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("trash of a locked image: %v, want not found", err)
	}
	if !exists(filepath.Join(tree.Images, "Busy.img")) {
		t.Error("locked image was moved")
	}
}

func TestDuplicateIDsAreAConflict(t *testing.T) {
	tree := repotest.New(t)
	src := repotest.SampleImage(t, "lzop")
	id := tree.AddImage(t, "A.img", src)
	if tree.AddImage(t, "B.img", src) != id {
		t.Fatal("copies of one image have different IDs")
	}
	if _, err := tree.Catalog.Delete(context.Background(), id); !errors.Is(err, catalog.ErrConflict) {
		t.Errorf("delete by an ambiguous ID: %v, want conflict", err)
	}
	if !exists(filepath.Join(tree.Images, "A.img")) || !exists(filepath.Join(tree.Images, "B.img")) {
		t.Error("an ambiguous delete removed an image")
	}
}

// TestScanAdoptsNoStraySidecars: a refresh moves nothing that no interrupted move of its
// own left behind: not a capture's .lock and .info, not a stray .full.sum.
func TestScanAdoptsNoStraySidecars(t *testing.T) {
	tree := repotest.New(t)
	old := tree.AddImage(t, "inf.img", repotest.SampleImage(t, "lzop"))
	if _, err := tree.Catalog.MoveToTrash(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	// A capture of a new inf.img is starting in images/.
	for _, f := range []string{"inf.img.lock", "inf.img.info"} {
		if err := os.WriteFile(filepath.Join(tree.Images, f), []byte("PARTCLONE:LZOP:EXTFS:1:pc\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A bare image in images/, and a stray ID for it in the trash.
	repotest.CopyFile(t, repotest.SampleImage(t, "gzip"), filepath.Join(tree.Images, "bare.img"))
	if err := os.WriteFile(filepath.Join(tree.Trash, "bare.img.full.sum"), []byte(old+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	images, trash := repotest.Files(t, tree.Images), repotest.Files(t, tree.Trash)

	_, tl, err := tree.Catalog.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := repotest.Files(t, tree.Images); !slices.Equal(got, images) {
		t.Errorf("images/ changed: %v, was %v", got, images)
	}
	if got := repotest.Files(t, tree.Trash); !slices.Equal(got, trash) {
		t.Errorf("trash changed: %v, was %v", got, trash)
	}
	if len(tl.Images) != 1 || tl.Images[0].FullSum != old {
		t.Errorf("trash listing %+v", tl.Images)
	}
}

func TestUpperCaseExtensionIsNotAnImage(t *testing.T) {
	tree := repotest.New(t)
	repotest.CopyFile(t, repotest.SampleImage(t, "lzop"), filepath.Join(tree.Images, "UP.IMG"))
	repo, _, err := tree.Catalog.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Images) != 0 {
		t.Errorf("UP.IMG listed as %+v", repo.Images)
	}
}

func TestFindName(t *testing.T) {
	tree := repotest.New(t)
	tree.AddImage(t, "Here.img", repotest.SampleImage(t, "lzop"))
	n := imagename.MustParse("Here.img", imagename.Image)
	if _, err := tree.Catalog.FindName(n, catalog.Repository); err != nil {
		t.Errorf("FindName: %v", err)
	}
	if _, err := tree.Catalog.FindName(n, catalog.Trash); !errors.Is(err, catalog.ErrNotFound) {
		t.Errorf("FindName in trash: %v, want not found", err)
	}
	if err := os.Symlink("/etc/hostname", filepath.Join(tree.Images, "Out.img")); err != nil {
		t.Fatal(err)
	}
	out := imagename.MustParse("Out.img", imagename.Image)
	if _, err := tree.Catalog.FindName(out, catalog.Repository); !errors.Is(err, catalog.ErrInvalid) {
		t.Errorf("FindName through an escaping link: %v, want invalid", err)
	}
}

func TestImageInUseIsNotMoved(t *testing.T) {
	tree := repotest.New(t)
	id := tree.AddImage(t, "Sent.img", repotest.SampleImage(t, "lzop"))
	tree.Catalog.SetInUse(func(_ context.Context, got string) ([]string, error) {
		if got == id {
			return []string{"ogrepository-seeder-Sent.img.service"}, nil
		}
		return nil, nil
	})
	ctx := context.Background()
	if _, err := tree.Catalog.MoveToTrash(ctx, id); !errors.Is(err, catalog.ErrConflict) {
		t.Errorf("trash of an image being sent: %v", err)
	}
	if _, err := tree.Catalog.Delete(ctx, id); !errors.Is(err, catalog.ErrConflict) {
		t.Errorf("delete of an image being sent: %v", err)
	}
	if !exists(filepath.Join(tree.Images, "Sent.img")) {
		t.Error("the image was touched")
	}
}
