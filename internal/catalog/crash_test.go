package catalog_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/config"
	"github.com/opengnsys/ogrepository/internal/repotest"
)

func TestMain(m *testing.M) {
	if root := os.Getenv("OGREPOSITORY_CRASH_CHILD"); root != "" {
		crashChild(root, os.Getenv("OGREPOSITORY_CRASH_ID"))
		return
	}
	code := m.Run()
	repotest.Cleanup()
	os.Exit(code)
}

// crashChild refreshes the catalog and moves one image between images/ and the trash
// (whichever way it can go) forever, until the parent kills it.
func crashChild(root, id string) {
	cat, err := catalog.Open(config.PathsUnder(root), nilLogger())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	ctx := context.Background()
	fmt.Println("ready")
	for {
		if _, _, err := cat.Refresh(ctx); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		_, err := cat.MoveToTrash(ctx, id)
		if errors.Is(err, catalog.ErrNotFound) {
			_, err = cat.Recover(ctx, id)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(5)
		}
	}
}

// TestKilledWriterLeavesIndexesAndImagesWhole kills, with SIGKILL at random moments, a
// process that keeps rewriting the indexes and moving an image to the trash and back.
// After every kill both JSON indexes must parse, and the image must be whole in exactly one
// directory; after the next refresh its sidecars must be back beside it.
func TestKilledWriterLeavesIndexesAndImagesWhole(t *testing.T) {
	tree := repotest.New(t)
	id := tree.AddImage(t, "Moving.img", repotest.SampleImage(t, "lzop"))
	for i := range 20 {
		tree.AddImage(t, fmt.Sprintf("Still%02d.img", i), repotest.SampleImage(t, "gzip"))
	}
	if _, _, err := tree.Catalog.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantMD5 := id

	kills := 40
	if testing.Short() {
		kills = 10
	}
	for i := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "OGREPOSITORY_CRASH_CHILD="+tree.Root,
			"OGREPOSITORY_CRASH_ID="+id)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := out.Read(buf); err != nil {
			t.Fatalf("child did not start: %v; %s", err, stderr.String())
		}
		time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("kill %d: child ended by itself (%v): %s", i, err, stderr.String())
		}

		for _, f := range []string{config.RepoInfoFile, config.TrashInfoFile} {
			b, err := os.ReadFile(filepath.Join(tree.Etc, f))
			if err != nil {
				t.Fatalf("kill %d: %v", i, err)
			}
			var l catalog.Listing
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatalf("kill %d: %s is not valid JSON: %v\n%s", i, f, err, b)
			}
		}
		inRepo := exists(filepath.Join(tree.Images, "Moving.img"))
		inTrash := exists(filepath.Join(tree.Trash, "Moving.img"))
		if inRepo == inTrash {
			t.Fatalf("kill %d: image in images/ %v, in trash %v: want exactly one", i, inRepo, inTrash)
		}
		dir := tree.Images
		if inTrash {
			dir = tree.Trash
		}
		if got := md5sum(t, filepath.Join(dir, "Moving.img")); got != wantMD5 {
			t.Fatalf("kill %d: image MD5 %s, want %s", i, got, wantMD5)
		}
	}

	repo, trash, err := tree.Catalog.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var found *catalog.Image
	for _, l := range []catalog.Listing{repo, trash} {
		for i := range l.Images {
			if l.Images[i].Name == "Moving" {
				found = &l.Images[i]
			}
		}
	}
	if found == nil || found.FullSum != id || found.Sum == "" {
		t.Fatalf("after the last kill and a refresh the image is %+v; want it with its sidecars", found)
	}
	if n := len(repo.Images) + len(trash.Images); n != 21 {
		t.Errorf("%d images listed, want 21", n)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func md5sum(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("md5sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}
