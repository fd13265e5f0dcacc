package catalog

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/opengnsys/ogrepository/internal/config"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/sidecar"
)

// TestRefreshFinishesAnInterruptedMove leaves the state a move killed between the image's
// rename and its sidecars' leaves, and checks a refresh completes it and clears the journal.
func TestRefreshFinishesAnInterruptedMove(t *testing.T) {
	c := newTestCatalog(t)
	name := imagename.MustParse("Half.img", imagename.Image)
	writeFiles(t, c.Dir(Repository), "Half.img", "Half.img.sum", "Half.img.full.sum", "Half.img.size")
	if err := c.writeJournal(journal{Op: "move", Image: name.String(), From: Repository, To: Trash}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(name.In(c.Dir(Repository)), name.In(c.Dir(Trash))); err != nil {
		t.Fatal(err)
	}

	if _, _, err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"", sidecar.Sum, sidecar.FullSum, sidecar.Size} {
		if !exists(filepath.Join(c.Dir(Trash), "Half.img"+s)) {
			t.Errorf("Half.img%s not in the trash", s)
		}
	}
	if exists(c.journalPath()) {
		t.Error("journal left after the move was finished")
	}
}

func TestRefreshFinishesAnInterruptedRemoval(t *testing.T) {
	c := newTestCatalog(t)
	writeFiles(t, c.Dir(Trash), "Gone.img.sum", "Gone.img.torrent", "Other.img", "Other.img.sum")
	if err := c.writeJournal(journal{Op: "remove", Image: "Gone.img", From: Trash}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if exists(filepath.Join(c.Dir(Trash), "Gone.img.sum")) || exists(filepath.Join(c.Dir(Trash), "Gone.img.torrent")) {
		t.Error("sidecars of the removed image survived")
	}
	if !exists(filepath.Join(c.Dir(Trash), "Other.img.sum")) {
		t.Error("another image's sidecar was removed")
	}
}

func newTestCatalog(t *testing.T) *Catalog {
	t.Helper()
	paths := config.PathsUnder(t.TempDir())
	for _, d := range []string{paths.Images, paths.Trash, paths.Etc} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Open(paths, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func writeFiles(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
