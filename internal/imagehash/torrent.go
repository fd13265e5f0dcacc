package imagehash

import (
	"fmt"
	"time"
)

// CreatedBy is the "created by" field of every torrent this package makes.
const CreatedBy = "ogrepository"

// metainfo holds what goes into a single-file torrent.
type metainfo struct {
	announce string
	comment  string
	created  time.Time // written as Unix seconds; the image's mtime, so reruns are identical
	name     string
	length   int64
	pieces   []byte // concatenated 20-byte SHA-1 digests, one per PieceLength bytes
}

// encode returns the canonical bencoding of m.
func (m metainfo) encode() ([]byte, error) {
	t := bdict{
		"announce":      m.announce,
		"comment":       m.comment,
		"created by":    CreatedBy,
		"creation date": m.created.Unix(),
		"info": bdict{
			"length":       m.length,
			"name":         m.name,
			"piece length": PieceLength,
			"pieces":       m.pieces,
		},
	}
	b, err := appendBencode(nil, t)
	if err != nil {
		return nil, fmt.Errorf("encoding torrent for %s: %w", m.name, err)
	}
	return b, nil
}
