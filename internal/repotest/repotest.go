// Package repotest lays out real repository trees for tests: the directories, a
// configuration with a fresh API key, and real partclone images with sidecars written by
// the hashing engine. Tests in every package that needs a repository start here.
package repotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/config"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
)

// Tree is a repository laid out under a test's temporary directory.
type Tree struct {
	config.Paths
	Config  config.Config
	Catalog *catalog.Catalog
}

// New lays out an empty repository with a configuration file and opens its catalog.
func New(t testing.TB) *Tree {
	t.Helper()
	root := t.TempDir()
	paths := config.PathsUnder(root)
	for _, d := range []string{paths.Images, paths.Trash, paths.Virtual, paths.Etc, paths.Log} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Config{IPlocal: "127.0.0.1", IPcore: "127.0.0.1", APIToken: NewToken()}
	text := fmt.Sprintf("IPlocal=%s\nIPcore=%s\nApiToken=%s\n", cfg.IPlocal, cfg.IPcore, cfg.APIToken)
	if err := os.WriteFile(paths.ConfigFile(), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Open(paths, Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return &Tree{Paths: paths, Config: cfg, Catalog: cat}
}

// NewToken makes an API key as `make run` does.
func NewToken() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Logger sends a test's logs to t.Log, so they show only when the test fails.
func Logger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(p))
	return len(p), nil
}

var (
	sampleMu   sync.Mutex
	sampleOnce sync.Once
	sampleDir  string
	samplePath map[string]string
	sampleErr  error
)

// ext4Files is what each sample filesystem holds: a little text and 3 MiB of random bytes,
// so the compressed image is larger than the MiB its .sum covers.
func ext4Files() map[string][]byte {
	random := make([]byte, 3<<20)
	if _, err := rand.Read(random); err != nil {
		panic(err)
	}
	return map[string][]byte{
		"etc/hostname":   []byte("classroom-pc\n"),
		"home/readme.md": []byte("an OpenGnsys test image\n"),
		"data/random":    random,
	}
}

// SampleImage is the path of a real ext4 partclone image compressed with compress (lzop,
// gzip, zstd or none), made once per test binary and shared read-only.
func SampleImage(t testing.TB, compress string) string {
	t.Helper()
	sampleMu.Lock()
	defer sampleMu.Unlock()
	sampleOnce.Do(func() {
		sampleDir, sampleErr = os.MkdirTemp("", "ogrepository-sample-")
		samplePath = map[string]string{}
	})
	if sampleErr != nil {
		t.Fatal(sampleErr)
	}
	if p, ok := samplePath[compress]; ok {
		return p
	}
	p := partclonetest.MakeExt4Image(t, sampleDir, 64, ext4Files(), compress)
	samplePath[compress] = p
	return p
}

// Cleanup removes the shared sample images; call it from TestMain after m.Run.
func Cleanup() {
	if sampleDir != "" {
		os.RemoveAll(sampleDir)
	}
}

// AddImage copies the image at src into images/ as name and writes its sidecars with the
// hashing engine. It returns the image's ID.
func (tr *Tree) AddImage(t testing.TB, name, src string) string {
	t.Helper()
	n, err := imagename.Parse(name, imagename.Image)
	if err != nil {
		t.Fatal(err)
	}
	CopyFile(t, src, n.In(tr.Images))
	h, err := tr.Catalog.MakeSidecars(context.Background(), n, tr.Config.Announce(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return h.FullSum
}

// CopyFile copies src to dst, failing the test on error.
func CopyFile(t testing.TB, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// Files lists the names in dir, sorted, for assertions about what a call touched.
func Files(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(m))
	for i, p := range m {
		out[i] = filepath.Base(p)
	}
	return out
}
