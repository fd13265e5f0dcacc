package imagehash

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"testing"
)

// decoded is a bencode value read back by decodeBencode: int64, string, []any or
// map[string]any.
type decoded = any

// bdecoder reads bencode strictly: canonical integers, dictionary keys in strictly
// increasing byte order, nothing after the top-level value. It records the raw bytes of a
// top-level "info" value so tests can compute the info-hash.
type bdecoder struct {
	data  []byte
	pos   int
	depth int
	info  []byte
}

func decodeBencode(data []byte) (decoded, []byte, error) {
	d := &bdecoder{data: data}
	v, err := d.value()
	if err != nil {
		return nil, nil, err
	}
	if d.pos != len(data) {
		return nil, nil, fmt.Errorf("%d bytes after the value", len(data)-d.pos)
	}
	return v, d.info, nil
}

func (d *bdecoder) value() (decoded, error) {
	if d.pos >= len(d.data) {
		return nil, errors.New("unexpected end")
	}
	switch c := d.data[d.pos]; {
	case c == 'i':
		d.pos++
		end := bytes.IndexByte(d.data[d.pos:], 'e')
		if end < 0 {
			return nil, errors.New("unterminated integer")
		}
		text := string(d.data[d.pos : d.pos+end])
		n, err := strconv.ParseInt(text, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != text {
			return nil, fmt.Errorf("non-canonical integer %q", text)
		}
		d.pos += end + 1
		return n, nil
	case c >= '0' && c <= '9':
		return d.str()
	case c == 'l':
		d.pos++
		list := []any{}
		for d.pos < len(d.data) && d.data[d.pos] != 'e' {
			v, err := d.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		d.pos++
		return list, nil
	case c == 'd':
		return d.dict()
	default:
		return nil, fmt.Errorf("unexpected byte %q at %d", c, d.pos)
	}
}

func (d *bdecoder) str() (string, error) {
	colon := bytes.IndexByte(d.data[d.pos:], ':')
	if colon < 0 {
		return "", errors.New("string without length")
	}
	text := string(d.data[d.pos : d.pos+colon])
	n, err := strconv.Atoi(text)
	if err != nil || strconv.Itoa(n) != text || n < 0 {
		return "", fmt.Errorf("bad string length %q", text)
	}
	start := d.pos + colon + 1
	if start+n > len(d.data) {
		return "", errors.New("string runs past the end")
	}
	d.pos = start + n
	return string(d.data[start:d.pos]), nil
}

func (d *bdecoder) dict() (decoded, error) {
	d.pos++
	d.depth++
	defer func() { d.depth-- }()
	m := map[string]any{}
	prev := ""
	for d.pos < len(d.data) && d.data[d.pos] != 'e' {
		k, err := d.str()
		if err != nil {
			return nil, fmt.Errorf("dictionary key: %w", err)
		}
		if len(m) > 0 && k <= prev {
			return nil, fmt.Errorf("key %q after %q: not sorted", k, prev)
		}
		start := d.pos
		v, err := d.value()
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		if d.depth == 1 && k == "info" {
			d.info = d.data[start:d.pos]
		}
		m[k], prev = v, k
	}
	if d.pos >= len(d.data) {
		return nil, errors.New("unterminated dictionary")
	}
	d.pos++
	return m, nil
}

func TestAppendBencode(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{0, "i0e"},
		{-3, "i-3e"},
		{int64(1) << 40, "i1099511627776e"},
		{"", "0:"},
		{"spam", "4:spam"},
		{[]byte{0, 'e', 0xff}, "3:\x00e\xff"},
		{[]any{}, "le"},
		{[]any{"a", 1}, "l1:ai1ee"},
		{bdict{}, "de"},
		{bdict{"b": 2, "a": "x", "B": bdict{"z": 1}}, "d1:Bd1:zi1ee1:a1:x1:bi2ee"},
		{bdict{"piece length": 1, "pieces": "", "name": "n"}, "d4:name1:n12:piece lengthi1e6:pieces0:e"},
	}
	for _, tt := range tests {
		got, err := appendBencode(nil, tt.in)
		if err != nil {
			t.Errorf("appendBencode(%#v): %v", tt.in, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("appendBencode(%#v) = %q, want %q", tt.in, got, tt.want)
		}
		if _, _, err := decodeBencode(got); err != nil {
			t.Errorf("decoding %q: %v", got, err)
		}
	}
}

func TestAppendBencodeRejectsUnknownTypes(t *testing.T) {
	for _, v := range []any{1.5, nil, map[string]any{"a": 1}, []any{true}} {
		if got, err := appendBencode(nil, v); err == nil {
			t.Errorf("appendBencode(%#v) = %q, want an error", v, got)
		}
	}
}

func TestDecoderRejectsNonCanonical(t *testing.T) {
	bad := []string{"i03e", "i-0e", "d1:bi1e1:ai2ee", "d1:ai1e1:ai2ee", "4:abc", "i1ei2e"}
	for _, in := range bad {
		if _, _, err := decodeBencode([]byte(in)); err == nil {
			t.Errorf("decodeBencode(%q) succeeded, want an error", in)
		}
	}
}
