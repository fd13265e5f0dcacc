package partclone

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/adler32"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// lzopTestData returns data lzop compresses well, data it stores as is,
// and a mix of both inside one block, each larger than lzop's 256 KiB block.
func lzopTestData() map[string][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	random := make([]byte, 600<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	words := strings.Fields("partclone image block bitmap ext4 ntfs header lzop " +
		"repository opengnsys client server")
	var text bytes.Buffer
	for text.Len() < 700<<10 {
		text.WriteString(words[rng.IntN(len(words))])
		text.WriteByte(" \n"[rng.IntN(2)])
		if rng.IntN(50) == 0 {
			text.Write(bytes.Repeat([]byte{byte(rng.Uint32())}, rng.IntN(3000)))
		}
	}
	var mixed bytes.Buffer
	mixed.Write(random[:40<<10])
	mixed.Write(make([]byte, 100<<10))
	mixed.Write(text.Bytes()[:200<<10])
	mixed.Write(random[:70<<10]) // repeats from far back
	return map[string][]byte{"text": text.Bytes(), "random": random, "mixed": mixed.Bytes()}
}

// TestLZOPMatchesLzop decodes files written by the real lzop at several
// levels and checksum settings, and compares with what lzop -dc gives.
func TestLZOPMatchesLzop(t *testing.T) {
	for name, data := range lzopTestData() {
		for _, opts := range [][]string{{"-1"}, {"-3"}, {"-9"}, {"-1", "--crc32"},
			{"-9", "-F"}} {
			t.Run(name+strings.Join(opts, ""), func(t *testing.T) {
				file := runToolStdin(t, data, "lzop", append([]string{"-c"}, opts...)...)
				want := runToolStdin(t, file, "lzop", "-dc")
				if name != "random" && len(file) > len(data)*9/10 {
					t.Fatalf("lzop %v left %d bytes in %d: the decoder is not exercised",
						opts, len(data), len(file))
				}

				z, err := newLZOPReader(bytes.NewReader(file))
				if err != nil {
					t.Fatal(err)
				}
				var got []byte
				for i := 0; ; i++ {
					block, whole, err := z.nextBlock(math.MaxInt)
					if err == io.EOF {
						break
					}
					if err != nil || !whole {
						t.Fatalf("block %d: whole %v, %v", i, whole, err)
					}
					if i == 0 && !bytes.Equal(block, want[:len(block)]) {
						t.Fatalf("first block of %d bytes differs from lzop -dc | head -c %d",
							len(block), len(block))
					}
					got = append(got, block...)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("decoded %d bytes, lzop -dc gives %d; they differ", len(got), len(want))
				}

				for _, n := range []int{1, 110, 4096, 100 << 10, 300 << 10} {
					prefix, err := readLZOPPrefix(bytes.NewReader(file), n)
					if err != nil || !bytes.Equal(prefix, want[:n]) {
						t.Fatalf("prefix of %d bytes: %v, equal %v", n, err,
							bytes.Equal(prefix, want[:n]))
					}
				}
			})
		}
	}
}

// lzopBlock is one block of an lzop file as stored.
type lzopBlock struct {
	dlen uint32
	data []byte // compressed, or the plain data when stored
}

// rawLZOPBlocks splits a file written by lzop -F (no block checksums).
func rawLZOPBlocks(t testing.TB, file []byte) []lzopBlock {
	t.Helper()
	r := bytes.NewReader(file)
	z, err := newLZOPReader(r)
	if err != nil || z.flags&(lzopAdler32D|lzopCRC32D|lzopAdler32C|lzopCRC32C) != 0 {
		t.Fatalf("flags %#x, %v: want a file without block checksums", z.flags, err)
	}
	rest := file[len(file)-r.Len():]
	var blocks []lzopBlock
	for binary.BigEndian.Uint32(rest) != 0 {
		dlen, clen := binary.BigEndian.Uint32(rest), binary.BigEndian.Uint32(rest[4:])
		blocks = append(blocks, lzopBlock{dlen, rest[8 : 8+clen]})
		rest = rest[8+clen:]
	}
	return blocks
}

// lzopFile writes an lzop file with the given flags around blocks, with
// the checksums the flags ask for, filter and extra field included.
func lzopFile(flags, filter uint32, extra []byte, blocks []lzopBlock, plain [][]byte) []byte {
	var h bytes.Buffer
	put := func(v ...any) {
		for _, x := range v {
			_ = binary.Write(&h, binary.BigEndian, x)
		}
	}
	put(uint16(0x1040), uint16(0x20a0), uint16(0x0940), uint8(1), uint8(5), flags)
	if flags&lzopFilter != 0 {
		put(filter)
	}
	put(uint32(0o100644), uint32(12345), uint32(0), uint8(4), []byte("name"))
	sum := adler32.Checksum(h.Bytes())
	if flags&lzopHeaderCRC32 != 0 {
		sum = crc32.ChecksumIEEE(h.Bytes())
	}
	put(sum)
	if flags&lzopExtraField != 0 {
		put(uint32(len(extra)), extra, uint32(0))
	}
	for i, b := range blocks {
		put(b.dlen, uint32(len(b.data)))
		if flags&lzopAdler32D != 0 {
			put(adler32.Checksum(plain[i]))
		}
		if flags&lzopCRC32D != 0 {
			put(crc32.ChecksumIEEE(plain[i]))
		}
		if int(b.dlen) > len(b.data) {
			if flags&lzopAdler32C != 0 {
				put(adler32.Checksum(b.data))
			}
			if flags&lzopCRC32C != 0 {
				put(crc32.ChecksumIEEE(b.data))
			}
		}
		put(b.data)
	}
	put(uint32(0))
	return append([]byte(lzopMagic), h.Bytes()...)
}

// TestLZOPLayoutFlags rewraps real compressed blocks with each flag that
// shifts the layout, which lzop itself never writes all of.
func TestLZOPLayoutFlags(t *testing.T) {
	data := lzopTestData()["mixed"]
	blocks := rawLZOPBlocks(t, runToolStdin(t, data, "lzop", "-c", "-F"))
	var plain [][]byte
	for rest, b := data, blocks; len(b) > 0; b = b[1:] {
		plain = append(plain, rest[:b[0].dlen])
		rest = rest[b[0].dlen:]
	}
	if len(blocks) < 2 || len(blocks[0].data) >= int(blocks[0].dlen) {
		t.Fatalf("want several blocks, the first compressed; got %d", len(blocks))
	}
	const all = lzopAdler32D | lzopAdler32C | lzopCRC32D | lzopCRC32C

	for _, tt := range []struct {
		name  string
		flags uint32
		extra []byte
	}{
		{"adler32", lzopAdler32D | lzopAdler32C, nil},
		{"crc32", lzopCRC32D | lzopCRC32C | lzopHeaderCRC32, nil},
		{"all checksums", all, nil},
		{"filter 0", lzopFilter | lzopAdler32D, nil},
		{"extra field", lzopExtraField | all, []byte("extra field data")},
		{"os and charset bits", 0x03100000 | lzopCRC32C, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := lzopFile(tt.flags, 0, tt.extra, blocks, plain)
			z, err := newLZOPReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			for {
				block, _, err := z.nextBlock(math.MaxInt)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, block...)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("decoded %d bytes of %d, differing", len(got), len(data))
			}
		})
	}

	// Every checksum is verified on a whole block.
	for _, flag := range []uint32{lzopAdler32D, lzopAdler32C, lzopCRC32D, lzopCRC32C} {
		file := lzopFile(flag, 0, nil, blocks[:1], plain[:1])
		hdr := len(file) - 4 - len(blocks[0].data) - 4 // the checksum field
		file[hdr] ^= 1
		z, err := newLZOPReader(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := z.nextBlock(math.MaxInt); err == nil {
			t.Errorf("flag %#x: a wrong checksum went unnoticed", flag)
		}
	}

	if _, err := newLZOPReader(bytes.NewReader(lzopFile(lzopFilter, 1, nil, blocks,
		plain))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("filter 1: %v, want ErrUnsupported", err)
	}
	if _, err := newLZOPReader(bytes.NewReader(lzopFile(1<<16, 0, nil, blocks,
		plain))); err == nil {
		t.Errorf("reserved flag accepted")
	}
	if _, err := newLZOPReader(bytes.NewReader(lzopFile(lzopMultipart, 0, nil, blocks,
		plain))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("multipart: %v, want ErrUnsupported", err)
	}
}

// TestLZOPBlockLimits checks that block headers cannot make the reader
// allocate more than lzop ever writes or read past a short file.
func TestLZOPBlockLimits(t *testing.T) {
	for _, tt := range []struct {
		name       string
		dlen, clen uint32
	}{
		{"huge block", 1 << 31, 100},
		{"compressed larger than plain", 100, 200},
		{"empty compressed", 100, 0},
		{"short file", 4 << 20, 4<<20 - 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := lzopFile(0, 0, nil, []lzopBlock{{tt.dlen, []byte("0123456789")}}, nil)
			// Rewrite the block's compressed length, keeping the short data.
			off := len(file) - 4 - 10 - 4
			binary.BigEndian.PutUint32(file[off:], tt.clen)
			z, err := newLZOPReader(bytes.NewReader(file))
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := z.nextBlock(math.MaxInt); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestLZO1XStreams(t *testing.T) {
	for _, tt := range []struct {
		name string
		src  []byte
		want string
		err  error
	}{
		{"empty", nil, "", errLZOInputOverrun},
		{"end marker only", []byte{0x11, 0, 0}, "", nil},
		{"one literal", []byte{18, 'x', 0x11, 0, 0}, "x", nil},
		{"literal run", []byte{0, 1, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k',
			'l', 'm', 'n', 'o', 'p', 'q', 'r', 's', 0x11, 0, 0}, "abcdefghijklmnopqrs", nil},
		{"M2 repeat", []byte{21, 'a', 'b', 'c', 'd', 0x40, 0, 0x11, 0, 0}, "abcdddd", nil},
		{"M2 back 4", []byte{21, 'a', 'b', 'c', 'd', 0x4c, 0, 0x11, 0, 0}, "abcdabc", nil},
		{"trailing bytes", []byte{0x11, 0, 0, 0}, "", errLZOTrailing},
		{"match before start", []byte{18, 'x', 0x44, 0}, "x", errLZOLookbehind},
		{"M3 too far back", []byte{18, 'x', 0x21, 0x10, 0}, "x", errLZOLookbehind},
		{"literals cut", []byte{21, 'a'}, "", errLZOInputOverrun},
		{"run length cut", []byte{0, 0, 0}, "", errLZOInputOverrun},
		{"distance cut", []byte{18, 'x', 0x21, 0x10}, "x", errLZOInputOverrun},
		{"no end marker", []byte{18, 'x'}, "x", errLZOInputOverrun},
		{"output full", []byte{21, 'a', 'b', 'c', 'd', 0x11, 0, 0}, "ab", errLZOOutputFull},
	} {
		t.Run(tt.name, func(t *testing.T) {
			size := 64
			if tt.err == errLZOOutputFull {
				size = len(tt.want)
			}
			dst := make([]byte, size)
			n, err := decompressLZO1X(dst, tt.src)
			if err != tt.err || string(dst[:n]) != tt.want {
				t.Fatalf("got %q, %v; want %q, %v", dst[:n], err, tt.want, tt.err)
			}
		})
	}
}
