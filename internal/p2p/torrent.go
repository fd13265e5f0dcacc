package p2p

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// maxTorrentSize bounds the .torrent files read: one of 4 MiB pieces for a 1 TiB image holds
// 5 MiB of piece hashes.
const maxTorrentSize = 16 << 20

// Torrent is what a seeder needs from a .torrent sidecar.
type Torrent struct {
	// InfoHash is the SHA-1 of the bencoded info dictionary, in lower-case hex: the torrent's
	// identity for trackers and peers, and a line of the tracker's whitelist.
	InfoHash string
	Announce string
	// Name and Length describe the single file the torrent holds; Files is true when the
	// torrent holds a list of files instead, which no image sidecar does.
	Name   string
	Length int64
	Files  bool
}

// ReadTorrent reads and decodes the .torrent at path.
func ReadTorrent(path string) (Torrent, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return Torrent{}, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxTorrentSize {
		return Torrent{}, fmt.Errorf("%w: %s is not a regular file of at most %d bytes",
			ErrBadTorrent, path, maxTorrentSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Torrent{}, err
	}
	t, err := ParseTorrent(data)
	if err != nil {
		return Torrent{}, fmt.Errorf("%w: %s: %w", ErrBadTorrent, path, err)
	}
	return t, nil
}

// ParseTorrent decodes bencoded metainfo. The info-hash is taken over the info dictionary's
// bytes exactly as they appear, so a torrent written by any tool hashes as its peers expect.
func ParseTorrent(data []byte) (Torrent, error) {
	d := decoder{data: data}
	top, err := d.dict(0)
	if err != nil {
		return Torrent{}, err
	}
	if d.pos != len(data) {
		return Torrent{}, fmt.Errorf("bencode: %d bytes after the top dictionary", len(data)-d.pos)
	}
	raw, ok := top.raw["info"]
	info, isDict := top.values["info"].(dict)
	if !ok || !isDict {
		return Torrent{}, errors.New("no info dictionary")
	}
	sum := sha1.Sum(raw)
	t := Torrent{InfoHash: hex.EncodeToString(sum[:])}
	t.Announce, _ = top.values["announce"].(string)
	t.Name, _ = info.values["name"].(string)
	t.Length, _ = info.values["length"].(int64)
	_, t.Files = info.values["files"]
	if t.Name == "" {
		return Torrent{}, errors.New("info dictionary has no name")
	}
	return t, nil
}

// dict is a decoded bencode dictionary: its values, and the raw bytes of each value.
type dict struct {
	values map[string]any
	raw    map[string][]byte
}

// decoder reads bencode: integers become int64, byte strings string, lists []any and
// dictionaries dict.
type decoder struct {
	data []byte
	pos  int
}

// maxDepth bounds nesting, so a hostile file cannot exhaust the stack.
const maxDepth = 32

func (d *decoder) value(depth int) (any, error) {
	if depth > maxDepth {
		return nil, errors.New("bencode: nested too deeply")
	}
	if d.pos >= len(d.data) {
		return nil, errors.New("bencode: unexpected end")
	}
	switch c := d.data[d.pos]; {
	case c == 'i':
		return d.integer()
	case c == 'l':
		return d.list(depth)
	case c == 'd':
		return d.dict(depth)
	case c >= '0' && c <= '9':
		return d.str()
	default:
		return nil, fmt.Errorf("bencode: unexpected byte %q at %d", c, d.pos)
	}
}

func (d *decoder) integer() (int64, error) {
	end := bytes.IndexByte(d.data[d.pos:], 'e')
	if end < 0 {
		return 0, errors.New("bencode: unterminated integer")
	}
	n, err := strconv.ParseInt(string(d.data[d.pos+1:d.pos+end]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bencode: integer at %d: %w", d.pos, err)
	}
	d.pos += end + 1
	return n, nil
}

func (d *decoder) str() (string, error) {
	colon := bytes.IndexByte(d.data[d.pos:], ':')
	if colon < 0 {
		return "", errors.New("bencode: string without length")
	}
	n, err := strconv.Atoi(string(d.data[d.pos : d.pos+colon]))
	start := d.pos + colon + 1
	if err != nil || n < 0 || n > len(d.data)-start {
		return "", fmt.Errorf("bencode: bad string length at %d", d.pos)
	}
	d.pos = start + n
	return string(d.data[start:d.pos]), nil
}

func (d *decoder) list(depth int) ([]any, error) {
	d.pos++ // 'l'
	var out []any
	for {
		if d.pos >= len(d.data) {
			return nil, errors.New("bencode: unterminated list")
		}
		if d.data[d.pos] == 'e' {
			d.pos++
			return out, nil
		}
		v, err := d.value(depth + 1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

func (d *decoder) dict(depth int) (dict, error) {
	if d.pos >= len(d.data) || d.data[d.pos] != 'd' {
		return dict{}, fmt.Errorf("bencode: want a dictionary at %d", d.pos)
	}
	d.pos++
	out := dict{values: map[string]any{}, raw: map[string][]byte{}}
	for {
		if d.pos >= len(d.data) {
			return dict{}, errors.New("bencode: unterminated dictionary")
		}
		if d.data[d.pos] == 'e' {
			d.pos++
			return out, nil
		}
		if c := d.data[d.pos]; c < '0' || c > '9' {
			return dict{}, fmt.Errorf("bencode: dictionary key at %d is not a string", d.pos)
		}
		key, err := d.str()
		if err != nil {
			return dict{}, err
		}
		start := d.pos
		v, err := d.value(depth + 1)
		if err != nil {
			return dict{}, fmt.Errorf("%w (key %q)", err, key)
		}
		out.values[key], out.raw[key] = v, d.data[start:d.pos]
	}
}
