package partclone

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"io"
)

// lzopMagic opens every file written by lzop.
const lzopMagic = "\x89LZO\x00\r\n\x1a\n"

// Header flags of the lzop format. Those marked as shifting the layout add
// fields to the file header or to every block header.
const (
	lzopAdler32D    = 0x00000001 // block header: Adler-32 of the uncompressed data
	lzopAdler32C    = 0x00000002 // block header: Adler-32 of the compressed data
	lzopExtraField  = 0x00000040 // file header: extra field after the checksum
	lzopCRC32D      = 0x00000100 // block header: CRC-32 of the uncompressed data
	lzopCRC32C      = 0x00000200 // block header: CRC-32 of the compressed data
	lzopMultipart   = 0x00000400
	lzopFilter      = 0x00000800 // file header: filter number after the flags
	lzopHeaderCRC32 = 0x00001000 // the file header checksum is CRC-32, not Adler-32
	lzopKnownFlags  = 0x00003fff
	lzopOSMask      = 0xff000000
	lzopCharsetMask = 0x00f00000
)

// Limits taken from lzop itself: it never writes blocks larger than 64 MiB,
// and header fields gained level, mtime_high and version_needed in 0.9.40.
const (
	lzopMaxBlock     = 64 << 20
	lzopMaxExtra     = 64 << 10
	lzopVersionLevel = 0x0940
	lzopMinVersion   = 0x0900
)

// lzopMethods are the compression methods lzop writes with LZO1X (levels 1,
// 2 to 6 and 7 to 9); all of them decode with the same LZO1X decoder.
var lzopMethods = map[byte]bool{1: true, 2: true, 3: true}

// lzopReader reads an lzop file block by block. It holds no block in memory
// between calls.
type lzopReader struct {
	r     io.Reader
	flags uint32
	// done is set after the end marker or after a block was decoded only in
	// part, since the stream cannot be followed past such a block.
	done bool
}

// newLZOPReader parses the lzop file header from r, which must start at the
// magic bytes, and leaves r at the first block.
func newLZOPReader(r io.Reader) (*lzopReader, error) {
	h := lzopHeaderReader{r: r}
	if string(h.read(len(lzopMagic))) != lzopMagic {
		return nil, h.fail(errors.New("lzop: bad magic"))
	}
	h.raw = h.raw[:0] // the header checksum starts after the magic

	version := h.u16()
	h.u16() // library version
	if version >= lzopVersionLevel {
		h.u16() // version needed to extract
	}
	method := h.u8()
	if version >= lzopVersionLevel {
		h.u8() // level
	}
	flags := h.u32()
	var filter uint32
	if flags&lzopFilter != 0 {
		filter = h.u32()
	}
	h.u32() // mode
	h.u32() // mtime, low half
	if version >= lzopVersionLevel {
		h.u32() // mtime, high half
	}
	h.read(int(h.u8())) // file name
	if h.err != nil {
		return nil, h.fail(nil)
	}

	sum := adler32.Checksum(h.raw)
	if flags&lzopHeaderCRC32 != 0 {
		sum = crc32.ChecksumIEEE(h.raw)
	}
	if stored := h.u32(); h.err == nil && stored != sum {
		return nil, fmt.Errorf("lzop: header checksum %#08x, computed %#08x", stored, sum)
	}
	if h.err != nil {
		return nil, h.fail(nil)
	}

	switch {
	case version < lzopMinVersion:
		return nil, fmt.Errorf("lzop: format version %#04x: %w", version, ErrUnsupported)
	case !lzopMethods[method]:
		return nil, fmt.Errorf("lzop: compression method %d: %w", method, ErrUnsupported)
	case flags&^(lzopKnownFlags|lzopOSMask|lzopCharsetMask) != 0:
		return nil, fmt.Errorf("lzop: reserved header flags %#08x set", flags)
	case flags&lzopMultipart != 0:
		return nil, fmt.Errorf("lzop: multipart archive: %w", ErrUnsupported)
	case filter != 0:
		return nil, fmt.Errorf("lzop: filter %d: %w", filter, ErrUnsupported)
	}

	if flags&lzopExtraField != 0 {
		// The extra field is skipped: nothing in it matters here, so its
		// checksum is read past rather than verified.
		n := h.u32()
		if h.err == nil && n > lzopMaxExtra {
			return nil, fmt.Errorf("lzop: extra field of %d bytes", n)
		}
		h.read(int(n))
		h.u32()
		if h.err != nil {
			return nil, h.fail(nil)
		}
	}
	return &lzopReader{r: r, flags: flags}, nil
}

// nextBlock decodes the next block and returns its data, or io.EOF after the
// last one. When the block holds more than limit bytes, only the first limit
// bytes are decoded, whole reports false, and the reader is done: the rest of
// the file is never read. Checksums are verified when the block is whole.
func (z *lzopReader) nextBlock(limit int) (data []byte, whole bool, err error) {
	if z.done {
		return nil, false, io.EOF
	}
	var word [4]byte
	read32 := func() uint32 {
		if err == nil {
			_, err = io.ReadFull(z.r, word[:])
		}
		return binary.BigEndian.Uint32(word[:])
	}

	dlen := read32()
	if err == nil && dlen == 0 {
		z.done = true
		return nil, false, io.EOF
	}
	clen := read32()
	var dAdler, dCRC, cAdler, cCRC uint32
	if z.flags&lzopAdler32D != 0 {
		dAdler = read32()
	}
	if z.flags&lzopCRC32D != 0 {
		dCRC = read32()
	}
	stored := clen >= dlen
	if z.flags&lzopAdler32C != 0 && !stored {
		cAdler = read32()
	}
	if z.flags&lzopCRC32C != 0 && !stored {
		cCRC = read32()
	}
	if err != nil {
		return nil, false, fmt.Errorf("lzop: block header: %w", noEOF(err))
	}

	switch {
	case dlen > lzopMaxBlock:
		return nil, false, fmt.Errorf("lzop: block of %d bytes exceeds the %d limit", dlen, lzopMaxBlock)
	case clen == 0 || clen > dlen:
		return nil, false, fmt.Errorf("lzop: block of %d bytes compressed to %d", dlen, clen)
	}

	whole = int(dlen) <= limit
	if !whole {
		z.done = true
		data, err = z.prefix(int(dlen), int(clen), limit, stored)
		return data, false, err
	}

	src := make([]byte, clen)
	if _, err := io.ReadFull(z.r, src); err != nil {
		return nil, false, fmt.Errorf("lzop: block data: %w", noEOF(err))
	}
	if !stored {
		if err := z.verify(src, cAdler, cCRC, lzopAdler32C, lzopCRC32C); err != nil {
			return nil, false, fmt.Errorf("lzop: compressed block: %w", err)
		}
		data = make([]byte, dlen)
		n, err := decompressLZO1X(data, src)
		if err == nil && n != len(data) {
			err = fmt.Errorf("lzo1x: block decoded to %d bytes, header says %d", n, dlen)
		}
		if err != nil {
			return nil, false, fmt.Errorf("lzop: %w", err)
		}
	} else {
		data = src
	}
	if err := z.verify(data, dAdler, dCRC, lzopAdler32D, lzopCRC32D); err != nil {
		return nil, false, fmt.Errorf("lzop: block: %w", err)
	}
	return data, true, nil
}

// prefix decodes the first limit bytes of a block of dlen bytes stored in
// clen. It reads no more compressed input than limit bytes of output can
// take: every instruction costs at most a few bytes more than it outputs and
// outputs at least one, except that the length of a literal run or match
// comes before its data, at one byte per 255 of the block. Twice the output,
// plus that, plus a little, is ample for any valid stream.
func (z *lzopReader) prefix(dlen, clen, limit int, stored bool) ([]byte, error) {
	want := limit
	if !stored {
		want = min(clen, 2*limit+dlen/255+64)
	}
	src := make([]byte, want)
	if _, err := io.ReadFull(z.r, src); err != nil {
		return nil, fmt.Errorf("lzop: block data: %w", noEOF(err))
	}
	if stored {
		return src, nil
	}

	data := make([]byte, limit)
	n, err := decompressLZO1X(data, src)
	switch {
	case errors.Is(err, errLZOOutputFull):
		return data, nil
	case err == nil:
		return nil, fmt.Errorf("lzop: block decoded to %d bytes, header says %d", n, dlen)
	default:
		return nil, fmt.Errorf("lzop: %w", err)
	}
}

// verify checks data against the checksums the flags say the block carries.
func (z *lzopReader) verify(data []byte, adler, crc, adlerFlag, crcFlag uint32) error {
	if z.flags&adlerFlag != 0 {
		if got := adler32.Checksum(data); got != adler {
			return fmt.Errorf("adler-32 %#08x, stored %#08x", got, adler)
		}
	}
	if z.flags&crcFlag != 0 {
		if got := crc32.ChecksumIEEE(data); got != crc {
			return fmt.Errorf("crc-32 %#08x, stored %#08x", got, crc)
		}
	}
	return nil
}

// readLZOPPrefix returns the first n bytes of the data in the lzop file r,
// fewer if the file holds less, decoding only the blocks it needs.
func readLZOPPrefix(r io.Reader, n int) ([]byte, error) {
	z, err := newLZOPReader(r)
	if err != nil {
		return nil, err
	}
	var out []byte
	for len(out) < n {
		data, _, err := z.nextBlock(n - len(out))
		if err == io.EOF {
			break
		}
		if err != nil {
			return out, err
		}
		out = append(out, data...)
	}
	return out, nil
}

// lzopHeaderReader reads the big-endian fields of an lzop file header and
// keeps the bytes read for the header checksum. After the first error it
// reads nothing more and returns zeros.
type lzopHeaderReader struct {
	r   io.Reader
	raw []byte
	err error
}

func (h *lzopHeaderReader) read(n int) []byte {
	b := make([]byte, n)
	if h.err == nil {
		_, h.err = io.ReadFull(h.r, b)
	}
	h.raw = append(h.raw, b...)
	return b
}

func (h *lzopHeaderReader) u8() byte    { return h.read(1)[0] }
func (h *lzopHeaderReader) u16() uint16 { return binary.BigEndian.Uint16(h.read(2)) }
func (h *lzopHeaderReader) u32() uint32 { return binary.BigEndian.Uint32(h.read(4)) }

// fail returns err, or the read error that stopped the header.
func (h *lzopHeaderReader) fail(err error) error {
	if h.err != nil {
		return fmt.Errorf("lzop: file header: %w", noEOF(h.err))
	}
	return err
}

// noEOF turns a clean end of file into an unexpected one: wherever it is
// used, more data was due.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
