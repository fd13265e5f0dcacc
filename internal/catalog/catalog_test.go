package catalog_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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

func TestStrandedSidecarsAreReunited(t *testing.T) {
	tree := repotest.New(t)
	tree.AddImage(t, "Half.img", repotest.SampleImage(t, "lzop"))
	// A move killed after the image went to the trash but before its sidecars did.
	if err := os.Rename(filepath.Join(tree.Images, "Half.img"), filepath.Join(tree.Trash, "Half.img")); err != nil {
		t.Fatal(err)
	}
	repo, trash, err := tree.Catalog.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(repo.Images) != 0 || len(trash.Images) != 1 || trash.Images[0].FullSum == "" {
		t.Fatalf("after refresh: repo %+v trash %+v", repo.Images, trash.Images)
	}
	if files := repotest.Files(t, tree.Images); len(files) != 0 {
		t.Errorf("sidecars left in images/: %v", files)
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
