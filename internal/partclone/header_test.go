package partclone

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
)

// containers compress a bare image with the real tools.
var containers = []struct {
	name string
	tool []string
}{
	{"lzop", []string{"lzop", "-c"}},
	{"gzip", []string{"gzip", "-c"}},
	{"zstd", []string{"zstd", "-q", "-c"}},
}

// TestReadHeaderExt4 reads one ext4 image in every container and compares
// the result with partclone.info and with the filesystem's own superblock.
func TestReadHeaderExt4(t *testing.T) {
	partclonetest.RequireTools(t, "mkfs.ext4", "debugfs", "dumpe2fs", "partclone.extfs")
	dir := t.TempDir()
	fs := filepath.Join(dir, "fs.raw")
	runTool(t, "truncate", "-s", "64M", fs)
	runTool(t, "mkfs.ext4", "-q", "-F", fs)
	for name, data := range testFiles() {
		src := filepath.Join(dir, "src")
		if err := os.WriteFile(src, data, 0o600); err != nil {
			t.Fatal(err)
		}
		runTool(t, "debugfs", "-w", "-R", "write "+src+" "+filepath.Base(name), fs)
	}
	bare := filepath.Join(dir, "bare.img")
	runTool(t, "partclone.extfs", "-c", "-q", "-f", "0", "-L", filepath.Join(dir, "log"), "-s", fs,
		"-o", bare)

	info := readPartcloneInfo(t, bare)
	h, err := ReadHeader(bare)
	if err != nil {
		t.Fatal(err)
	}
	checkAgainstInfo(t, h, info, "none")

	// partclone copies exactly the blocks the filesystem has in use.
	sb := runTool(t, "dumpe2fs", "-h", fs)
	blocks, free, size := superblockField(t, sb, "Block count"),
		superblockField(t, sb, "Free blocks"), superblockField(t, sb, "Block size")
	if h.TotalBlocks != blocks || h.UsedBlocks != blocks-free ||
		uint64(h.BlockSize) != size || h.DeviceSize != 64<<20 || h.Filesystem != "EXTFS" {
		t.Errorf("header %+v; dumpe2fs says %d blocks of %d, %d free", h, blocks, size, free)
	}

	for _, c := range containers {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, "image."+c.name)
			compressFile(t, bare, img, c.tool...)
			got, err := ReadHeader(img)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstInfo(t, got, info, c.name)
			if got.DeviceSize != h.DeviceSize {
				t.Errorf("device size %d, bare image says %d", got.DeviceSize, h.DeviceSize)
			}
		})
	}
}

func superblockField(t *testing.T, dump []byte, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `:\s+(\d+)$`).FindSubmatch(dump)
	if m == nil {
		t.Fatalf("dumpe2fs -h has no %q:\n%s", name, dump)
	}
	n, err := strconv.ParseUint(string(m[1]), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReadHeaderNTFS reads NTFS images made by the shared helper.
func TestReadHeaderNTFS(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{"hello.txt": []byte("hello\n")}
	bare := partclonetest.MakeNTFSImage(t, dir, 32, files, "none")
	info := readPartcloneInfo(t, bare)
	for _, compress := range partclonetest.Compressors {
		img := bare
		if compress != "none" {
			img = partclonetest.MakeNTFSImage(t, dir, 32, files, compress)
		}
		h, err := ReadHeader(img)
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstInfo(t, h, info, compress)
		if h.Filesystem != "NTFS" || h.DeviceSize != 32<<20 {
			t.Errorf("%s: header %+v, want NTFS of 32 MiB", compress, h)
		}
	}
}

// TestMakeExt4Image checks the shared helper: every compressor gives an
// image of the requested size, and the files really take blocks in it.
func TestMakeExt4Image(t *testing.T) {
	dir := t.TempDir()
	empty := partclonetest.MakeExt4Image(t, dir, 16, nil, "none")
	h0, err := ReadHeader(empty)
	if err != nil {
		t.Fatal(err)
	}
	files := testFiles()
	var size int
	for _, data := range files {
		size += len(data)
	}
	for _, compress := range partclonetest.Compressors {
		img := partclonetest.MakeExt4Image(t, dir, 16, files, compress)
		if filepath.Dir(img) != dir || filepath.Ext(img) != ".img" {
			t.Errorf("image path %s is not a .img file in %s", img, dir)
		}
		h, err := ReadHeader(img)
		if err != nil {
			t.Fatal(err)
		}
		if h.Compressor != compress || h.DeviceSize != 16<<20 {
			t.Errorf("%s: header %+v", compress, h)
		}
		if grown := h.DataSize() - h0.DataSize(); grown < int64(size) {
			t.Errorf("%s: files of %d bytes grew the data by %d", compress, size, grown)
		}
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestReadIsCheap checks that a header is read from the first few KiB of a
// multi-megabyte image, whatever the container.
func TestReadIsCheap(t *testing.T) {
	dir := t.TempDir()
	for _, compress := range partclonetest.Compressors {
		img := partclonetest.MakeExt4Image(t, dir, 32, testFiles(), compress)
		f, err := os.Open(img)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.Stat()
		if err != nil {
			t.Fatal(err)
		}
		cr := &countingReader{r: f}
		if _, err := Read(cr); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if cr.n > 64<<10 || int64(cr.n)*10 > st.Size() {
			t.Errorf("%s: read %d bytes of a %d-byte image", compress, cr.n, st.Size())
		}
	}
}

// v1Header builds a version 0001 header byte for byte as partclone 0.2
// wrote it: the image_head struct of a little-endian 64-bit PC.
func v1Header(fs string, blockSize int32, device, total, used uint64) []byte {
	b := make([]byte, 64+4096) // the struct ends in a 4096-byte buffer
	copy(b[0:15], "partclone-image")
	copy(b[15:30], fs)
	copy(b[30:34], "0001")
	binary.LittleEndian.PutUint32(b[36:40], uint32(blockSize))
	binary.LittleEndian.PutUint64(b[40:48], device)
	binary.LittleEndian.PutUint64(b[48:56], total)
	binary.LittleEndian.PutUint64(b[56:64], used)
	return b
}

func TestReadV1(t *testing.T) {
	img := v1Header("NTFS", 4096, 1<<30, 262144, 1000)
	want := Header{Compressor: "none", Filesystem: "NTFS", BlockSize: 4096,
		TotalBlocks: 262144, UsedBlocks: 1000, DeviceSize: 1 << 30, ImageVersion: "0001"}
	h, err := Read(bytes.NewReader(img))
	if err != nil || h != want {
		t.Fatalf("Read = %+v, %v; want %+v", h, err, want)
	}

	// A 15-byte filesystem name fills its field with no NUL.
	img = v1Header("FAT32ABCDEFGHIJ", 512, 1<<20, 2048, 20)
	if h, err := Read(bytes.NewReader(img)); err != nil || h.Filesystem != "FAT32ABCDEFGHIJ" {
		t.Fatalf("Read = %+v, %v", h, err)
	}
}

// realV2Header returns the head of a real bare ext4 image.
func realV2Header(t *testing.T) []byte {
	t.Helper()
	img := partclonetest.MakeExt4Image(t, t.TempDir(), 8, nil, "none")
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 4096)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReadBigEndian swaps every field of a real header to big-endian, as
// partclone on a big-endian machine writes it, and expects the same result.
func TestReadBigEndian(t *testing.T) {
	le := realV2Header(t)
	want, err := Read(bytes.NewReader(le))
	if err != nil {
		t.Fatal(err)
	}
	be := bytes.Clone(le)
	binary.BigEndian.PutUint16(be[34:], 0xC0DE)
	for _, off := range []int{52, 60, 68, 76} {
		binary.BigEndian.PutUint64(be[off:], binary.LittleEndian.Uint64(le[off:]))
	}
	binary.BigEndian.PutUint32(be[84:], binary.LittleEndian.Uint32(le[84:]))
	got, err := Read(bytes.NewReader(be))
	if err != nil || got != want {
		t.Fatalf("big-endian Read = %+v, %v; little-endian %+v", got, err, want)
	}
}

func TestReadErrors(t *testing.T) {
	real := realV2Header(t)
	patch := func(off int, data string) []byte {
		b := bytes.Clone(real)
		copy(b[off:], data)
		return b
	}
	lzopOf := func(data []byte) []byte {
		return runToolStdin(t, data, "lzop", "-c")
	}
	gzipOf := func(data []byte) []byte {
		return runToolStdin(t, data, "gzip", "-c")
	}
	lzopImage := lzopOf(real)
	badChecksum := bytes.Clone(lzopImage)
	badChecksum[30] ^= 0xff // inside the lzop file header
	// A block no larger than the header is decoded whole and its checksum
	// verified; the last data byte sits before the 4-byte end marker.
	badBlock := lzopOf(real[:v2DescSize])
	badBlock[len(badBlock)-5] ^= 0xff

	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, ErrUnknownContainer},
		{"text", []byte("hello world, not an image"), ErrUnknownContainer},
		{"xz", []byte("\xfd7zXZ\x00\x00"), ErrUnknownContainer},
		{"magic cut", real[:10], ErrUnknownContainer},
		{"bare head cut", real[:40], ErrCorrupt},
		{"bare head cut in fs info", real[:80], ErrCorrupt},
		{"version 0009", patch(30, "0009"), ErrUnsupported},
		{"version garbage", patch(30, "abcd"), ErrNotPartclone},
		{"bad endianness", patch(34, "\x12\x34"), ErrCorrupt},
		{"magic not terminated", patch(15, "X"), ErrNotPartclone},
		{"empty fs name", patch(36, "\x00"), ErrCorrupt},
		{"binary fs name", patch(36, "\x01\x02"), ErrCorrupt},
		{"zero block size", patch(84, "\x00\x00\x00\x00"), ErrCorrupt},
		{"used over total", patch(68, "\xff\xff\xff\xff"), ErrCorrupt},
		{"v1 negative block size", bytes.Clone(v1Header("EXTFS", -1, 1, 1, 1)), ErrCorrupt},
		{"v1 cut", v1Header("EXTFS", 1024, 1, 1, 1)[:50], ErrCorrupt},
		{"lzop of text", lzopOf([]byte("just some text, no partclone here")), ErrNotPartclone},
		{"lzop of nothing", lzopOf(nil), ErrCorrupt},
		{"lzop cut in file header", lzopImage[:20], ErrCorrupt},
		{"lzop cut in block header", lzopImage[:45], ErrCorrupt},
		{"lzop cut in block", lzopImage[:len(lzopImage)/2], ErrCorrupt},
		{"lzop bad header checksum", badChecksum, ErrCorrupt},
		{"lzop bad block data", badBlock, ErrCorrupt},
		{"gzip of text", gzipOf([]byte("plain text")), ErrNotPartclone},
		{"gzip cut", gzipOf(real)[:30], ErrCorrupt},
		{"gzip magic only", []byte("\x1f\x8b"), ErrCorrupt},
		{"zstd magic only", []byte("\x28\xb5\x2f\xfd"), ErrCorrupt},
		{"zstd of text", runToolStdin(t, []byte("plain text"), "zstd", "-q", "-c"),
			ErrNotPartclone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := Read(bytes.NewReader(tt.data))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Read = %+v, %v; want an error wrapping %v", h, err, tt.want)
			}
			for _, other := range []error{ErrNotPartclone, ErrUnknownContainer,
				ErrUnsupported, ErrCorrupt} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("error %v wraps %v as well as %v", err, other, tt.want)
				}
			}
		})
	}
}

func TestReadHeaderMissingFile(t *testing.T) {
	_, err := ReadHeader(filepath.Join(t.TempDir(), "none.img"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("ReadHeader of a missing file: %v", err)
	}
}

// runToolStdin runs a filter on data and returns its output.
func runToolStdin(t testing.TB, data []byte, name string, args ...string) []byte {
	t.Helper()
	partclonetest.RequireTools(t, name)
	cmd := exec.Command(name, args...)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return out
}

// TestReadZstdWindow checks the memory limit on zstd: a frame of the highest
// normal level is read, one with a 128 MiB window is refused.
func TestReadZstdWindow(t *testing.T) {
	bare, err := os.ReadFile(partclonetest.MakeExt4Image(t, t.TempDir(), 8, nil, "none"))
	if err != nil {
		t.Fatal(err)
	}
	// From a pipe, zstd does not know the size and keeps the window asked for.
	for _, tt := range []struct {
		level string
		want  error
	}{{"-19", nil}, {"--long=27", ErrUnsupported}} {
		frame := runToolStdin(t, bare, "zstd", "-q", "-c", tt.level)
		h, err := Read(bytes.NewReader(frame))
		if !errors.Is(err, tt.want) || (err == nil && h.Filesystem != "EXTFS") {
			t.Errorf("zstd %s: %+v, %v; want error %v", tt.level, h, err, tt.want)
		}
	}
}
