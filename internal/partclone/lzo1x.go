package partclone

import "errors"

// Errors of the LZO1X decoder. errLZOOutputFull is not a failure when the
// caller asked only for a prefix of the block: dst then holds valid bytes.
var (
	errLZOInputOverrun = errors.New("lzo1x: compressed data ends inside an instruction")
	errLZOOutputFull   = errors.New("lzo1x: output buffer full")
	errLZOLookbehind   = errors.New("lzo1x: match refers before the start of the output")
	errLZOTrailing     = errors.New("lzo1x: data after the end-of-stream marker")
)

// Distances of the LZO1X instruction set that are not spelled out by the
// instruction bits themselves.
const (
	lzoM2MaxOffset = 0x0800 // a short match after a literal run starts this far back
	lzoM4Base      = 0x4000 // M4 distances start here; distance 0 marks the end
)

// lzoDecoder walks an LZO1X stream. Every read of src and write of dst is
// bounds-checked, so a hostile stream ends in an error, never a panic.
type lzoDecoder struct {
	src []byte
	ip  int
	dst []byte
	op  int
}

// decompressLZO1X decodes the LZO1X stream src into dst and returns how many
// bytes it wrote. Output beyond len(dst) is never produced: when the stream
// holds more, dst is filled and errLZOOutputFull is returned, which lets a
// caller decode only the start of a large block.
func decompressLZO1X(dst, src []byte) (int, error) {
	d := lzoDecoder{src: src, dst: dst}
	err := d.run()
	return d.op, err
}

func (d *lzoDecoder) run() error {
	// state is what the previous instruction left behind: 0 after a match
	// with no trailing literals, 1-3 after that many trailing literals, 4
	// after a literal run of four or more bytes. It decides what an opcode
	// below 16 means.
	state := 0
	if len(d.src) > 0 && d.src[0] > 17 {
		n := int(d.src[0]) - 17
		d.ip = 1
		if err := d.literals(n); err != nil {
			return err
		}
		state = min(n, 4)
	}

	for {
		t, err := d.next()
		if err != nil {
			return err
		}

		var dist, length, trailing int
		switch {
		case t < 16 && state == 0:
			length = t + 3
			if t == 0 {
				if length, err = d.runLength(15); err != nil {
					return err
				}
				length += 3
			}
			if err := d.literals(length); err != nil {
				return err
			}
			state = 4
			continue
		case t < 16:
			b, err := d.next()
			if err != nil {
				return err
			}
			dist, length = 1+(t>>2)+(b<<2), 2
			if state == 4 {
				dist, length = dist+lzoM2MaxOffset, 3
			}
			trailing = t & 3
		case t >= 64:
			b, err := d.next()
			if err != nil {
				return err
			}
			dist = 1 + ((t >> 2) & 7) + (b << 3)
			length = (t >> 5) + 1
			trailing = t & 3
		case t >= 32:
			if length, err = d.matchLength(t&31, 31); err != nil {
				return err
			}
			lo, hi, err := d.next2()
			if err != nil {
				return err
			}
			dist = 1 + (lo >> 2) + (hi << 6)
			trailing = lo & 3
		default: // 16 to 31: M4, or the end-of-stream marker
			if length, err = d.matchLength(t&7, 7); err != nil {
				return err
			}
			lo, hi, err := d.next2()
			if err != nil {
				return err
			}
			dist = ((t & 8) << 11) + (lo >> 2) + (hi << 6)
			if dist == 0 {
				if d.ip != len(d.src) {
					return errLZOTrailing
				}
				return nil
			}
			dist += lzoM4Base
			trailing = lo & 3
		}

		if err := d.match(dist, length); err != nil {
			return err
		}
		if err := d.literals(trailing); err != nil {
			return err
		}
		state = trailing
	}
}

// next returns the next input byte.
func (d *lzoDecoder) next() (int, error) {
	if d.ip >= len(d.src) {
		return 0, errLZOInputOverrun
	}
	b := d.src[d.ip]
	d.ip++
	return int(b), nil
}

// next2 returns the next two input bytes, the little-endian distance field
// of M3 and M4 matches.
func (d *lzoDecoder) next2() (lo, hi int, err error) {
	if len(d.src)-d.ip < 2 {
		return 0, 0, errLZOInputOverrun
	}
	lo, hi = int(d.src[d.ip]), int(d.src[d.ip+1])
	d.ip += 2
	return lo, hi, nil
}

// matchLength returns the length of an M3 or M4 match whose opcode carried
// bits; zero bits mean the length continues in the following bytes.
func (d *lzoDecoder) matchLength(bits, base int) (int, error) {
	if bits != 0 {
		return bits + 2, nil
	}
	n, err := d.runLength(base)
	return n + 2, err
}

// runLength reads an extended length: each zero byte adds 255, and the first
// non-zero byte ends it, adding base plus its own value. The result is at
// most 255 times the input length, so it cannot overflow an int.
func (d *lzoDecoder) runLength(base int) (int, error) {
	n := 0
	for d.ip < len(d.src) {
		b := int(d.src[d.ip])
		d.ip++
		if b != 0 {
			return n + base + b, nil
		}
		n += 255
	}
	return 0, errLZOInputOverrun
}

// literals copies n bytes from the input to the output, or as many as fit.
func (d *lzoDecoder) literals(n int) error {
	room := len(d.dst) - d.op
	full := n > room
	if full {
		n = room
	}
	if n > len(d.src)-d.ip {
		return errLZOInputOverrun
	}
	copy(d.dst[d.op:], d.src[d.ip:d.ip+n])
	d.ip += n
	d.op += n
	if full {
		return errLZOOutputFull
	}
	return nil
}

// match copies length bytes from dist bytes back in the output, or as many
// as fit. Source and destination overlap when dist < length, which repeats
// the last dist bytes, so the copy goes byte by byte in that case.
func (d *lzoDecoder) match(dist, length int) error {
	if dist > d.op {
		return errLZOLookbehind
	}
	room := len(d.dst) - d.op
	full := length > room
	if full {
		length = room
	}
	from := d.op - dist
	if dist >= length {
		copy(d.dst[d.op:d.op+length], d.dst[from:from+length])
	} else {
		for i := range length {
			d.dst[d.op+i] = d.dst[from+i]
		}
	}
	d.op += length
	if full {
		return errLZOOutputFull
	}
	return nil
}
