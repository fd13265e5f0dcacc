package imagehash

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const testAnnounce = "http://127.0.0.1:6969/announce"

// needTool returns the path of a command the test runs; under CI=true a missing one fails
// the test instead of skipping it.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return path
}

// run runs a command in dir and returns its standard output.
func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return string(out)
}

// writeRandom makes dir/image.img of size random bytes and returns its path and contents.
func writeRandom(t testing.TB, dir string, size int64) (string, []byte) {
	t.Helper()
	data := make([]byte, size)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "image.img")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, data
}

// md5sumOf is the digest md5sum prints for its standard input or file argument.
func md5sumOf(t *testing.T, out string) string {
	t.Helper()
	fields := strings.Fields(out)
	if len(fields) == 0 || len(fields[0]) != 32 {
		t.Fatalf("unexpected md5sum output %q", out)
	}
	return fields[0]
}

func TestComputeMatchesTools(t *testing.T) {
	md5sum := needTool(t, "md5sum")
	tail := needTool(t, "tail")
	sh := needTool(t, "sh")
	ctorrent := needTool(t, "ctorrent")
	aria2c := needTool(t, "aria2c")

	sizes := []int64{
		0, 1, TailLength - 1, TailLength, TailLength + 1,
		PieceLength - 1, PieceLength, PieceLength + 1,
		2 * PieceLength, 3*PieceLength + 12345,
	}
	for _, size := range sizes {
		t.Run(strconv.FormatInt(size, 10), func(t *testing.T) {
			dir := t.TempDir()
			path, data := writeRandom(t, dir, size)
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}

			sums, err := Compute(context.Background(), path, Options{Announce: testAnnounce})
			if err != nil {
				t.Fatal(err)
			}

			if sums.Size != size {
				t.Errorf("Size = %d, want %d", sums.Size, size)
			}
			if want := md5sumOf(t, run(t, dir, md5sum, path)); sums.FullSum != want {
				t.Errorf("FullSum = %s, md5sum says %s", sums.FullSum, want)
			}
			pipeline := fmt.Sprintf(`"$1" -c %d "$3" | "$2"`, TailLength)
			tailOut := run(t, dir, sh, "-c", pipeline, "sh", tail, md5sum, path)
			if want := md5sumOf(t, tailOut); sums.Sum != want {
				t.Errorf("Sum = %s, tail | md5sum says %s", sums.Sum, want)
			}

			info := checkTorrent(t, sums, data, fi)
			torrentPath := filepath.Join(dir, "image.img.torrent")
			if err := os.WriteFile(torrentPath, sums.Torrent, 0o644); err != nil {
				t.Fatal(err)
			}
			checkCtorrent(t, ctorrent, dir, torrentPath, size)
			infoHash := checkAria2(t, aria2c, dir, torrentPath, size)
			if want := sha1.Sum(info); infoHash != hex.EncodeToString(want[:]) {
				t.Errorf("aria2c info hash %s, SHA-1 of the info dictionary is %x", infoHash, want)
			}

			// ctorrent refuses to make a torrent of an empty file; for every other size, its
			// own torrent of the same file must carry the same info dictionary.
			if size > 0 {
				theirs := filepath.Join(dir, "ctorrent.torrent")
				run(t, dir, ctorrent, "-t", "-l", strconv.Itoa(PieceLength), "-u", testAnnounce,
					"-s", theirs, path)
				if got := checkAria2(t, aria2c, dir, theirs, size); got != infoHash {
					t.Errorf("info hash of ctorrent's torrent %s, of ours %s", got, infoHash)
				}
			}
		})
	}
}

// checkTorrent decodes the metainfo, checks every field against the file and an
// independent SHA-1 of its pieces, and returns the raw info dictionary.
func checkTorrent(t *testing.T, sums Sums, data []byte, fi os.FileInfo) []byte {
	t.Helper()
	v, info, err := decodeBencode(sums.Torrent)
	if err != nil {
		t.Fatalf("decoding torrent: %v", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("torrent is a %T, want a dictionary", v)
	}
	var pieces []byte
	for off := 0; off < len(data); off += PieceLength {
		sum := sha1.Sum(data[off:min(off+PieceLength, len(data))])
		pieces = append(pieces, sum[:]...)
	}
	want := map[string]any{
		"announce":      testAnnounce,
		"comment":       sums.FullSum,
		"created by":    "ogrepository",
		"creation date": fi.ModTime().Unix(),
		"info": map[string]any{
			"length":       int64(len(data)),
			"name":         fi.Name(),
			"piece length": int64(PieceLength),
			"pieces":       string(pieces),
		},
	}
	if got, want := fmt.Sprintf("%q", top), fmt.Sprintf("%q", want); got != want {
		t.Errorf("torrent\n got %s\nwant %s", got, want)
	}
	return info
}

var (
	ctorrentFile    = regexp.MustCompile(`(?m)^<1> (\S+) \[(\d+)\]$`)
	ctorrentPieceLn = regexp.MustCompile(`(?m)^Piece length: (\d+)$`)
	ctorrentChecked = regexp.MustCompile(`(?m)^Already/Total: (\d+)/(\d+) `)
)

// checkCtorrent has ctorrent decode the torrent and, for a non-empty file, check every
// piece of the file in dir against it.
func checkCtorrent(t *testing.T, ctorrent, dir, torrentPath string, size int64) {
	t.Helper()
	out := run(t, dir, ctorrent, "-x", torrentPath)
	if m := ctorrentFile.FindStringSubmatch(out); m == nil || m[1] != "image.img" ||
		m[2] != strconv.FormatInt(size, 10) {
		t.Errorf("ctorrent -x does not list image.img [%d]:\n%s", size, out)
	}
	if m := ctorrentPieceLn.FindStringSubmatch(out); m == nil || m[1] != strconv.Itoa(PieceLength) {
		t.Errorf("ctorrent -x piece length is not %d:\n%s", PieceLength, out)
	}
	if size == 0 {
		return // ctorrent checks no pieces when there are none, and says nothing
	}

	out = run(t, dir, ctorrent, "-c", "-b", filepath.Join(dir, "bitfield"), torrentPath)
	n := strconv.FormatInt((size+PieceLength-1)/PieceLength, 10)
	if m := ctorrentChecked.FindStringSubmatch(out); m == nil || m[1] != n || m[2] != n {
		t.Errorf("ctorrent -c did not find all %s pieces good:\n%s", n, out)
	}
}

var (
	aria2Hash   = regexp.MustCompile(`(?m)^Info Hash: ([0-9a-f]{40})$`)
	aria2Pieces = regexp.MustCompile(`(?m)^The Number of Pieces: (\d+)$`)
	aria2Length = regexp.MustCompile(`(?m)^Total Length: .*\(([\d,]+)\)$`)
	aria2Name   = regexp.MustCompile(`(?m)^Name: (.*)$`)
)

// checkAria2 has aria2c print the torrent, checks its size, piece count and name, and
// returns the info-hash it reports.
func checkAria2(t *testing.T, aria2c, dir, torrentPath string, size int64) string {
	t.Helper()
	out := run(t, dir, aria2c, "--show-files=true", torrentPath)
	n := strconv.FormatInt((size+PieceLength-1)/PieceLength, 10)
	if m := aria2Pieces.FindStringSubmatch(out); m == nil || m[1] != n {
		t.Errorf("aria2c does not count %s pieces:\n%s", n, out)
	}
	if m := aria2Length.FindStringSubmatch(out); m == nil ||
		strings.ReplaceAll(m[1], ",", "") != strconv.FormatInt(size, 10) {
		t.Errorf("aria2c does not report %d bytes:\n%s", size, out)
	}
	if m := aria2Name.FindStringSubmatch(out); m == nil || m[1] != "image.img" {
		t.Errorf("aria2c does not name image.img:\n%s", out)
	}
	m := aria2Hash.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("aria2c printed no info hash:\n%s", out)
	}
	return m[1]
}

func TestComputeIsReproducible(t *testing.T) {
	path, _ := writeRandom(t, t.TempDir(), 2*PieceLength+3)
	first, err := Compute(context.Background(), path, Options{Announce: testAnnounce})
	if err != nil {
		t.Fatal(err)
	}
	second, err := Compute(context.Background(), path, Options{Announce: testAnnounce})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first.Torrent, second.Torrent) || first.Size != second.Size ||
		first.Sum != second.Sum || first.FullSum != second.FullSum {
		t.Errorf("two runs on the same file differ:\n%+v\n%+v", first, second)
	}
}

// computeWithHook runs Compute on a fresh four-piece file and calls hook at the first
// progress report, when exactly one piece has been read.
func computeWithHook(t *testing.T, ctx context.Context, hook func(f *os.File)) (int, error) {
	t.Helper()
	path, _ := writeRandom(t, t.TempDir(), 4*PieceLength)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	calls := 0
	_, err = Compute(ctx, path, Options{
		Announce: testAnnounce,
		Progress: func(done, total int64) {
			calls++
			if calls == 1 {
				if done != PieceLength || total != 4*PieceLength {
					t.Errorf("first progress (%d, %d), want (%d, %d)",
						done, total, PieceLength, 4*PieceLength)
				}
				hook(f)
			}
		},
	})
	return calls, err
}

func TestComputeFailsWhenImageChanges(t *testing.T) {
	tests := []struct {
		name string
		hook func(t *testing.T, f *os.File)
	}{
		{"shrinks", func(t *testing.T, f *os.File) {
			if err := f.Truncate(2*PieceLength + 10); err != nil {
				t.Fatal(err)
			}
		}},
		{"grows", func(t *testing.T, f *os.File) {
			if _, err := f.WriteAt([]byte("more"), 4*PieceLength); err != nil {
				t.Fatal(err)
			}
		}},
		{"is rewritten in place", func(t *testing.T, f *os.File) {
			if _, err := f.WriteAt([]byte("new"), 3*PieceLength); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := computeWithHook(t, context.Background(), func(f *os.File) { tt.hook(t, f) })
			if !errors.Is(err, ErrChanged) {
				t.Fatalf("Compute = %v, want ErrChanged", err)
			}
			if !strings.Contains(err.Error(), "image.img") {
				t.Errorf("error %q does not name the image", err)
			}
		})
	}
}

func TestComputeStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls, err := computeWithHook(t, ctx, func(*os.File) { cancel() })
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Compute = %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("progress called %d times, want reading to stop after the first", calls)
	}

	path, _ := writeRandom(t, t.TempDir(), 10)
	_, err = Compute(ctx, path, Options{Announce: testAnnounce})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Compute with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestComputeRejects(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.img")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	file, _ := writeRandom(t, dir, 10)

	tests := []struct {
		name     string
		path     string
		announce string
		want     error
	}{
		{"directory", dir, testAnnounce, ErrNotRegular},
		{"fifo", fifo, testAnnounce, ErrNotRegular},
		{"missing", filepath.Join(dir, "missing.img"), testAnnounce, fs.ErrNotExist},
		{"no announce", file, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sums, err := Compute(context.Background(), tt.path, Options{Announce: tt.announce})
			if err == nil {
				t.Fatalf("Compute = %+v, want an error", sums)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("Compute = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestComputeReportsProgress(t *testing.T) {
	const size = 30*PieceLength + 1
	path, _ := writeRandom(t, t.TempDir(), size)
	var reports [][2]int64
	_, err := Compute(context.Background(), path, Options{
		Announce: testAnnounce,
		Progress: func(done, total int64) { reports = append(reports, [2]int64{done, total}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) == 0 || reports[len(reports)-1] != [2]int64{size, size} {
		t.Fatalf("last report is not (%d, %d): %v", size, size, reports)
	}
	for i, r := range reports {
		if r[1] != size || (i > 0 && r[0] <= reports[i-1][0]) {
			t.Fatalf("reports not increasing towards %d: %v", size, reports)
		}
	}
	// Pieces are 3.3% of this file, so each piece read is worth a report, and no more.
	if len(reports) != 31 {
		t.Errorf("%d reports, want one per piece (31): %v", len(reports), reports)
	}
}

func BenchmarkCompute(b *testing.B) {
	const size = 256 << 20
	path, _ := writeRandom(b, b.TempDir(), size)
	b.SetBytes(size)
	for b.Loop() {
		if _, err := Compute(context.Background(), path, Options{Announce: testAnnounce}); err != nil {
			b.Fatal(err)
		}
	}
}
