// Package imagehash computes, in a single read of an image file, everything its sidecars
// hold: the size, the MD5 of the last mebibyte (.sum), the MD5 of the whole file (.full.sum,
// the image's ID) and the BitTorrent metainfo (.torrent). Images are tens or hundreds of
// gigabytes, so the file is read once, the digests run concurrently on the same buffers and
// memory does not grow with the image.
package imagehash

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// PieceLength is the torrent piece size, and the size of each read.
	PieceLength = 4 << 20
	// TailLength is how many bytes at the end of the image the .sum digest covers.
	TailLength = 1 << 20
)

const (
	// buffers is how many PieceLength buffers a pass keeps; it bounds how far the reader can
	// run ahead of the slowest digest, and so the memory of a pass (16 MiB).
	buffers = 4
	// progressEvery is the longest wait between progress reports while bytes are moving.
	progressEvery = 500 * time.Millisecond
)

// ErrChanged reports that the image changed size or modification time while it was being
// read, so the digests describe no real state of the file. Test it with errors.Is.
var ErrChanged = errors.New("image changed during the pass")

// ErrNotRegular reports that the path names something other than a regular file.
var ErrNotRegular = errors.New("not a regular file")

// Sums is everything the sidecars hold, computed from one pass.
type Sums struct {
	Size    int64
	Sum     string // md5 hex, lower case, of the last TailLength bytes (whole file if smaller)
	FullSum string // md5 hex, lower case, of the whole file
	Torrent []byte // bencoded metainfo, byte-identical across runs on an unchanged file
}

// Options tunes a pass.
type Options struct {
	// Announce is the tracker URL written into the torrent, e.g.
	// "http://10.0.0.1:6969/announce". Required.
	Announce string
	// Progress, if set, is told how many of total bytes have been read: after each 1% or
	// every progressEvery, whichever comes first, and once when the read is complete. It is
	// called from the reading goroutine, never concurrently with itself, and the read waits
	// for it, so it must return quickly. The digests trail the reported figure by at most
	// a few pieces.
	Progress func(done, total int64)
}

// Compute reads the image at path once and returns its sums. The torrent's name is the
// base name of path and its creation date is the file's modification time, so that two runs
// on the same unchanged file give the same bytes. It fails, with a wrapped ErrChanged, if
// the file changes size or modification time during the pass, with a wrapped ErrNotRegular
// if path is not a regular file, and with the context's error if ctx ends first.
func Compute(ctx context.Context, path string, opt Options) (Sums, error) {
	sums, err := compute(ctx, path, opt)
	if err != nil {
		return Sums{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return sums, nil
}

func compute(ctx context.Context, path string, opt Options) (Sums, error) {
	if opt.Announce == "" {
		return Sums{}, errors.New("announce URL is required")
	}
	// Stat before opening: opening a FIFO for reading would block until a writer came.
	if fi, err := os.Stat(path); err != nil {
		return Sums{}, err
	} else if !fi.Mode().IsRegular() {
		return Sums{}, fmt.Errorf("%w (%s)", ErrNotRegular, fi.Mode().Type())
	}

	f, err := os.Open(path)
	if err != nil {
		return Sums{}, err
	}
	defer f.Close()
	before, err := f.Stat()
	if err != nil {
		return Sums{}, err
	}
	if !before.Mode().IsRegular() {
		return Sums{}, fmt.Errorf("%w (%s)", ErrNotRegular, before.Mode().Type())
	}

	p := newPass(f, before.Size(), opt.Progress)
	if err := p.run(ctx); err != nil {
		return Sums{}, err
	}

	if err := unchanged(f, before); err != nil {
		return Sums{}, err
	}
	full := hex.EncodeToString(p.full.Sum(nil))
	torrent, err := metainfo{
		announce: opt.Announce,
		comment:  full,
		created:  before.ModTime(),
		name:     filepath.Base(path),
		length:   p.size,
		pieces:   p.pieces,
	}.encode()
	if err != nil {
		return Sums{}, err
	}
	return Sums{
		Size:    p.size,
		Sum:     hex.EncodeToString(p.tail.Sum(nil)),
		FullSum: full,
		Torrent: torrent,
	}, nil
}

// unchanged checks that the open file still has the size and mtime it had before the pass.
func unchanged(f *os.File, before os.FileInfo) error {
	after, err := f.Stat()
	if err != nil {
		return err
	}
	if after.Size() != before.Size() {
		return fmt.Errorf("%w: size went from %d to %d bytes", ErrChanged, before.Size(), after.Size())
	}
	if !after.ModTime().Equal(before.ModTime()) {
		return fmt.Errorf("%w: modified at %s", ErrChanged, after.ModTime().Format(time.RFC3339Nano))
	}
	return nil
}

// chunk is one piece of the file, shared read-only by the two digest goroutines; the last
// of them to finish with it gives its buffer back to the pool.
type chunk struct {
	mem  []byte // PieceLength bytes, owned by the pool
	buf  []byte // mem trimmed to the bytes of this piece
	off  int64
	refs atomic.Int32
}

// pass is one read of a file: the reader (the calling goroutine) fills chunks from the pool
// and hands each to the MD5 goroutine and to the SHA-1 goroutine, which also feeds the tail
// MD5 since SHA-1 is the faster of the two and has time to spare.
type pass struct {
	f        *os.File
	size     int64
	progress progressMeter

	free  chan *chunk
	toMD5 chan *chunk
	toSHA chan *chunk

	// Written by the digest goroutines, read after they end.
	full   hash.Hash
	tail   hash.Hash
	pieces []byte
}

func newPass(f *os.File, size int64, progress func(done, total int64)) *pass {
	p := &pass{
		f:        f,
		size:     size,
		progress: progressMeter{report: progress, total: size, step: max(size/100, 1)},
		free:     make(chan *chunk, buffers),
		toMD5:    make(chan *chunk, buffers),
		toSHA:    make(chan *chunk, buffers),
		full:     md5.New(),
		tail:     md5.New(),
		pieces:   make([]byte, 0, (size+PieceLength-1)/PieceLength*sha1.Size),
	}
	for range min(buffers, max((size+PieceLength-1)/PieceLength, 1)) {
		p.free <- &chunk{mem: make([]byte, PieceLength)}
	}
	return p
}

func (p *pass) run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(p.digestFull)
	wg.Go(p.digestPieces)
	err := p.read(ctx)
	close(p.toMD5)
	close(p.toSHA)
	wg.Wait()
	return err
}

func (p *pass) digestFull() {
	for c := range p.toMD5 {
		p.full.Write(c.buf)
		p.release(c)
	}
}

func (p *pass) digestPieces() {
	tailStart := max(p.size-TailLength, 0)
	for c := range p.toSHA {
		sum := sha1.Sum(c.buf)
		p.pieces = append(p.pieces, sum[:]...)
		if end := c.off + int64(len(c.buf)); end > tailStart {
			p.tail.Write(c.buf[max(tailStart-c.off, 0):])
		}
		p.release(c)
	}
}

func (p *pass) release(c *chunk) {
	if c.refs.Add(-1) == 0 {
		p.free <- c
	}
}

// read fills chunks in file order until size bytes are read, then makes sure the file has
// not grown. The chunk channels hold as many chunks as exist, so sending never blocks.
func (p *pass) read(ctx context.Context) error {
	for off := int64(0); off < p.size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		var c *chunk
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c = <-p.free:
		}

		want := int(min(PieceLength, p.size-off))
		n, err := p.f.ReadAt(c.mem[:want], off)
		if n < want {
			if err == nil || errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: ended at %d of %d bytes", ErrChanged, off+int64(n), p.size)
			}
			return fmt.Errorf("reading at offset %d: %w", off+int64(n), err)
		}

		c.buf, c.off = c.mem[:n], off
		c.refs.Store(2)
		p.toMD5 <- c
		p.toSHA <- c
		off += int64(n)
		p.progress.update(off)
	}

	var probe [1]byte
	if n, err := p.f.ReadAt(probe[:], p.size); n > 0 {
		return fmt.Errorf("%w: grew beyond %d bytes", ErrChanged, p.size)
	} else if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("reading at offset %d: %w", p.size, err)
	}
	if p.size == 0 {
		p.progress.update(0)
	}
	return nil
}

// progressMeter rate-limits calls to a progress callback.
type progressMeter struct {
	report      func(done, total int64)
	total, step int64
	last        int64
	lastAt      time.Time
}

func (m *progressMeter) update(done int64) {
	if m.report == nil {
		return
	}
	now := time.Now()
	if done == m.total || done-m.last >= m.step || now.Sub(m.lastAt) >= progressEvery {
		m.report(done, m.total)
		m.last, m.lastAt = done, now
	}
}
