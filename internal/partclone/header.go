package partclone

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// Errors a caller can test for with errors.Is. Every error ReadHeader and
// Read return wraps at most one of them, and says which file and what failed.
var (
	// ErrNotPartclone means the container was read but its content is not a
	// partclone image (a raw disk, a tar file, ...).
	ErrNotPartclone = errors.New("not a partclone image")
	// ErrUnknownContainer means the file starts with no magic this package
	// knows: neither lzop, gzip, zstd nor a bare partclone image.
	ErrUnknownContainer = errors.New("unknown image container")
	// ErrUnsupported means a known format in a variant this package does not
	// read, such as an unknown partclone image version or an lzop filter.
	ErrUnsupported = errors.New("unsupported image format variant")
	// ErrCorrupt means the file is truncated or damaged where the header is.
	ErrCorrupt = errors.New("corrupt image")
)

// Header is what a partclone image says about itself.
type Header struct {
	Compressor   string // "lzop", "gzip", "zstd" or "none" (lower case)
	Filesystem   string // upper case, as partclone writes it: "EXTFS", "NTFS", "FAT32", ...
	BlockSize    uint32
	TotalBlocks  uint64
	UsedBlocks   uint64
	DeviceSize   uint64
	ImageVersion string // "0001" or "0002"
}

// DataSize returns UsedBlocks*BlockSize in bytes: how much filesystem data
// the image holds, which is what the catalog reports as datasize.
func (h Header) DataSize() int64 {
	return int64(h.UsedBlocks) * int64(h.BlockSize)
}

// Container names, as Header.Compressor reports them.
const (
	compressorLZOP = "lzop"
	compressorGzip = "gzip"
	compressorZstd = "zstd"
	compressorNone = "none"
)

// Magic bytes of the containers.
const (
	gzipMagic  = "\x1f\x8b"
	zstdMagic  = "\x28\xb5\x2f\xfd"
	imageMagic = "partclone-image"
)

// zstdMaxWindow is the largest zstd window accepted. The decoder allocates
// about a window of memory up front, however little it decodes, so the limit
// keeps a listing cheap: 8 MiB covers every level up to 19 of the zstd tool.
// Frames made with --long or --ultra need more and are refused as
// ErrUnsupported.
const zstdMaxWindow = 8 << 20

// ReadHeader opens path, detects the container by its magic bytes, decodes
// only the first few hundred bytes of the content and parses the partclone
// image header there. It never reads the whole file, so it is cheap enough to
// run for every image on every listing.
func ReadHeader(path string) (Header, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, fmt.Errorf("read partclone header: %w", err)
	}
	defer f.Close()

	h, err := Read(f)
	if err != nil {
		return Header{}, fmt.Errorf("read partclone header of %s: %w", path, err)
	}
	return h, nil
}

// Read is ReadHeader for an image already open: r must be at the start of
// the file. It reads at most a few KiB from r.
func Read(r io.Reader) (Header, error) {
	br := bufio.NewReaderSize(r, 4096)
	magic, _ := br.Peek(len(imageMagic))

	var compressor string
	var content []byte
	var err error
	switch {
	case bytes.HasPrefix(magic, []byte(lzopMagic)):
		compressor = compressorLZOP
		content, err = readLZOPPrefix(br, v2DescSize)
	case bytes.HasPrefix(magic, []byte(gzipMagic)):
		compressor = compressorGzip
		content, err = readGzipPrefix(br, v2DescSize)
	case bytes.HasPrefix(magic, []byte(zstdMagic)):
		compressor = compressorZstd
		content, err = readZstdPrefix(br, v2DescSize)
	case bytes.HasPrefix(magic, []byte(imageMagic)):
		compressor = compressorNone
		content, err = readPrefix(br, v2DescSize)
	default:
		return Header{}, fmt.Errorf("%w: starts with %q", ErrUnknownContainer, magic)
	}

	h, perr := parseImageHeader(content)
	switch {
	case perr == nil:
		// Enough was decoded, whatever went wrong after it.
	case errors.Is(perr, errShortHeader) && errors.Is(err, ErrUnsupported):
		return Header{}, fmt.Errorf("%s: %w", compressor, err)
	case errors.Is(perr, errShortHeader) && err != nil:
		return Header{}, fmt.Errorf("%s content: %w: %w", compressor, ErrCorrupt, err)
	case errors.Is(perr, errShortHeader):
		return Header{}, fmt.Errorf("%s content of %d bytes: %w: %w",
			compressor, len(content), ErrCorrupt, perr)
	default:
		return Header{}, fmt.Errorf("%s content: %w", compressor, perr)
	}
	h.Compressor = compressor
	return h, nil
}

// readPrefix reads up to n bytes from r. Running out of data is not an
// error: the header parser judges whether what came is enough.
func readPrefix(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, n)
	got, err := io.ReadFull(r, b)
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = nil
	}
	return b[:got], err
}

func readGzipPrefix(r io.Reader, n int) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", noEOF(err))
	}
	defer zr.Close()
	b, err := readPrefix(zr, n)
	if err != nil {
		return b, fmt.Errorf("gzip: %w", err)
	}
	return b, nil
}

func readZstdPrefix(r io.Reader, n int) ([]byte, error) {
	zr, err := zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdMaxWindow),
		zstd.WithDecoderMaxMemory(zstdMaxWindow))
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	defer zr.Close()
	b, err := readPrefix(zr, n)
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return b, fmt.Errorf("zstd: window over %d MiB: %w", zstdMaxWindow>>20, ErrUnsupported)
	}
	if err != nil {
		return b, fmt.Errorf("zstd: %w", err)
	}
	return b, nil
}

// Layout of the partclone image header. Both versions begin with the magic
// and keep the four-digit format version at offset 30.
//
// Version 0002 (partclone 0.3 and later) is packed and little-endian unless
// its endianness mark says otherwise:
//
//	 0 magic "partclone-image\0" [16]   36 filesystem [16]
//	16 partclone version [14]           52 device size u64
//	30 image version "0002" [4]         60 total blocks u64
//	34 endianness mark u16 0xC0DE       68 used blocks u64
//	                                    76 used blocks by bitmap u64
//	                                    84 block size u32
//
// followed by image options and a checksum of the whole description, which
// this package does not need.
//
// Version 0001 (partclone 0.2) is a C struct written in host byte order with
// natural alignment, so little-endian on the PCs that wrote such images:
//
//	 0 magic "partclone-image" [15]     36 block size i32
//	15 filesystem [15]                  40 device size u64
//	30 image version "0001" [4]         48 total blocks u64
//	34 padding [2]                      56 used blocks u64
const (
	versionOffset = 30
	versionSize   = 4
	v1HeadSize    = 64
	v2HeadSize    = 88
	v2DescSize    = 110 // head, filesystem info, options and checksum
	endianMark    = 0xC0DE
)

// errShortHeader means the content ended before the header did, though what
// there was looked like a partclone header.
var errShortHeader = errors.New("content ends inside the partclone header")

// parseImageHeader parses the partclone header at the start of b.
func parseImageHeader(b []byte) (Header, error) {
	if !bytes.HasPrefix(b, []byte(imageMagic)) {
		if bytes.HasPrefix([]byte(imageMagic), b) {
			return Header{}, errShortHeader
		}
		return Header{}, ErrNotPartclone
	}
	if len(b) < versionOffset+versionSize {
		return Header{}, errShortHeader
	}

	version := string(b[versionOffset : versionOffset+versionSize])
	switch version {
	case "0001":
		return parseV1(b)
	case "0002":
		return parseV2(b)
	}
	if strings.Trim(version, "0123456789") == "" {
		return Header{}, fmt.Errorf("partclone image version %q: %w", version, ErrUnsupported)
	}
	return Header{}, fmt.Errorf("%w: image version %q", ErrNotPartclone, version)
}

func parseV2(b []byte) (Header, error) {
	if len(b) < v2HeadSize {
		return Header{}, errShortHeader
	}
	if b[len(imageMagic)] != 0 {
		return Header{}, fmt.Errorf("%w: magic not terminated", ErrNotPartclone)
	}

	var order binary.ByteOrder
	switch mark := binary.LittleEndian.Uint16(b[34:36]); mark {
	case endianMark:
		order = binary.LittleEndian
	case endianMark>>8 | endianMark&0xff<<8:
		order = binary.BigEndian
	default:
		return Header{}, fmt.Errorf("%w: endianness mark %#04x", ErrCorrupt, mark)
	}

	h := Header{
		ImageVersion: "0002",
		DeviceSize:   order.Uint64(b[52:60]),
		TotalBlocks:  order.Uint64(b[60:68]),
		UsedBlocks:   order.Uint64(b[68:76]),
		BlockSize:    order.Uint32(b[84:88]),
	}
	var err error
	if h.Filesystem, err = filesystemName(b[36:52]); err != nil {
		return Header{}, err
	}
	return h, checkGeometry(h)
}

func parseV1(b []byte) (Header, error) {
	if len(b) < v1HeadSize {
		return Header{}, errShortHeader
	}

	blockSize := int32(binary.LittleEndian.Uint32(b[36:40]))
	if blockSize <= 0 {
		return Header{}, fmt.Errorf("%w: block size %d", ErrCorrupt, blockSize)
	}
	h := Header{
		ImageVersion: "0001",
		BlockSize:    uint32(blockSize),
		DeviceSize:   binary.LittleEndian.Uint64(b[40:48]),
		TotalBlocks:  binary.LittleEndian.Uint64(b[48:56]),
		UsedBlocks:   binary.LittleEndian.Uint64(b[56:64]),
	}
	var err error
	if h.Filesystem, err = filesystemName(b[15:30]); err != nil {
		return Header{}, err
	}
	return h, checkGeometry(h)
}

// filesystemName returns the NUL-terminated name in field, refusing what no
// partclone build would write there.
func filesystemName(field []byte) (string, error) {
	name, _, _ := bytes.Cut(field, []byte{0})
	if len(name) == 0 {
		return "", fmt.Errorf("%w: empty filesystem name", ErrCorrupt)
	}
	for _, c := range name {
		if c <= ' ' || c > '~' {
			return "", fmt.Errorf("%w: filesystem name %q", ErrCorrupt, name)
		}
	}
	return strings.ToUpper(string(name)), nil
}

// checkGeometry refuses block counts no filesystem can have, so that
// DataSize cannot overflow for a parsed header.
func checkGeometry(h Header) error {
	switch {
	case h.BlockSize == 0:
		return fmt.Errorf("%w: block size 0", ErrCorrupt)
	case h.UsedBlocks > h.TotalBlocks:
		return fmt.Errorf("%w: %d of %d blocks in use", ErrCorrupt, h.UsedBlocks, h.TotalBlocks)
	case h.TotalBlocks > (1<<63-1)/uint64(h.BlockSize):
		return fmt.Errorf("%w: %d blocks of %d bytes", ErrCorrupt, h.TotalBlocks, h.BlockSize)
	}
	return nil
}
