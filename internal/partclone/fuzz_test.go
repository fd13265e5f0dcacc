package partclone

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
)

// FuzzRead feeds mutations of real images to Read: whatever the input, it
// must return a sane header or an error wrapping one of the package's
// sentinels, without panicking or allocating without bound.
func FuzzRead(f *testing.F) {
	dir := f.TempDir()
	for _, compress := range partclonetest.Compressors {
		img := partclonetest.MakeExt4Image(f, dir, 8, map[string][]byte{"a": []byte("a")},
			compress)
		data, err := os.ReadFile(img)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data[:min(len(data), 8<<10)])
	}
	f.Add(v1Header("EXTFS", 4096, 1<<20, 256, 10))
	f.Add([]byte(lzopMagic))

	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Read(bytes.NewReader(data))
		if err != nil {
			for _, sentinel := range []error{ErrNotPartclone, ErrUnknownContainer,
				ErrUnsupported, ErrCorrupt} {
				if errors.Is(err, sentinel) {
					return
				}
			}
			t.Fatalf("error %v wraps no sentinel", err)
		}
		if h.BlockSize == 0 || h.UsedBlocks > h.TotalBlocks || h.DataSize() < 0 ||
			h.Filesystem == "" {
			t.Fatalf("accepted header %+v", h)
		}
	})
}

// FuzzLZO1X checks that the decoder never panics on any input, and that
// for a stream it decodes, what it writes into a short buffer is the start of
// what it writes into a long one.
func FuzzLZO1X(f *testing.F) {
	for _, data := range lzopTestData() {
		file := runToolStdin(f, data[:64<<10], "lzop", "-c", "-F")
		for _, b := range rawLZOPBlocks(f, file) {
			f.Add(b.data[:min(len(b.data), 4<<10)])
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		long := make([]byte, 1<<16)
		n, err := decompressLZO1X(long, src)
		short := make([]byte, 100)
		m, serr := decompressLZO1X(short, src)
		if n > len(long) || m > len(short) {
			t.Fatalf("wrote %d and %d bytes", n, m)
		}
		if err != nil && err != errLZOOutputFull {
			return // a broken stream may stop at different points
		}
		if m != min(n, len(short)) || !bytes.Equal(short[:m], long[:m]) {
			t.Fatalf("short buffer: %d bytes, %v; long: %d bytes, %v", m, serr, n, err)
		}
	})
}
