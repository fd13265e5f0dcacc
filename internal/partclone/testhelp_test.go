package partclone

import (
	"bytes"
	"math/rand/v2"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"testing"

	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
)

// testFiles returns a few files for a test filesystem: text that compresses
// well and random bytes that do not, the same on every run.
func testFiles() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 300<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	return map[string][]byte{
		"hello.txt":      []byte("hello, repository\n"),
		"docs/words.txt": bytes.Repeat([]byte("partclone lzop image header "), 5000),
		"random.bin":     random,
	}
}

// runTool runs a command and returns its standard output.
func runTool(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, stderr.Bytes())
	}
	return out
}

// compressFile compresses src with an external tool into dst.
func compressFile(t *testing.T, src, dst string, tool ...string) {
	t.Helper()
	partclonetest.RequireTools(t, tool[0])
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(tool[0], tool[1:]...)
	var stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = in, out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %v\n%s", tool, err, stderr.Bytes())
	}
}

// partcloneInfo is what partclone.info reports about a bare image.
type partcloneInfo struct {
	filesystem        string
	totalBlocks, used uint64
	blockSize         uint32
	imageVersion      string
}

// readPartcloneInfo runs partclone.info on a bare image and parses its report.
func readPartcloneInfo(t *testing.T, image string) partcloneInfo {
	t.Helper()
	partclonetest.RequireTools(t, "partclone.info")
	cmd := exec.Command("partclone.info", "-L", t.TempDir()+"/info.log", "-s", image)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("partclone.info: %v\n%s", err, out)
	}
	field := func(re string) string {
		m := regexp.MustCompile(re).FindSubmatch(out)
		if m == nil {
			t.Fatalf("partclone.info output has no %s:\n%s", re, out)
		}
		return string(m[1])
	}
	num := func(re string) uint64 {
		n, err := strconv.ParseUint(field(re), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	return partcloneInfo{
		filesystem:   field(`File system:\s+(\S+)`),
		totalBlocks:  num(`Device size:.*= (\d+) Blocks`),
		used:         num(`Space in use:.*= (\d+) Blocks`),
		blockSize:    uint32(num(`Block size:\s+(\d+) Byte`)),
		imageVersion: field(`image format:\s+(\S+)`),
	}
}

// checkAgainstInfo compares a parsed header with partclone.info's report.
func checkAgainstInfo(t *testing.T, h Header, want partcloneInfo, compressor string) {
	t.Helper()
	got := partcloneInfo{h.Filesystem, h.TotalBlocks, h.UsedBlocks, h.BlockSize, h.ImageVersion}
	if got != want {
		t.Errorf("%s: header %+v, partclone.info says %+v", compressor, got, want)
	}
	if h.Compressor != compressor {
		t.Errorf("compressor %q, want %q", h.Compressor, compressor)
	}
	if h.DataSize() != int64(want.used)*int64(want.blockSize) {
		t.Errorf("%s: DataSize %d, want %d", compressor, h.DataSize(),
			int64(want.used)*int64(want.blockSize))
	}
}
