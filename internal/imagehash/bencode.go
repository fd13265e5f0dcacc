package imagehash

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// bdict is a bencode dictionary. Its keys are written in sorted byte order, as canonical
// bencode requires, so the same values always give the same bytes.
type bdict map[string]any

// appendBencode appends the bencoding of v to dst. It knows only the types a torrent needs:
// int and int64 (integers), string and []byte (byte strings), []any (lists) and bdict.
func appendBencode(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case int:
		return appendInt(dst, int64(v)), nil
	case int64:
		return appendInt(dst, v), nil
	case string:
		return appendString(dst, v), nil
	case []byte:
		return appendString(dst, string(v)), nil
	case []any:
		dst = append(dst, 'l')
		for _, item := range v {
			var err error
			if dst, err = appendBencode(dst, item); err != nil {
				return nil, err
			}
		}
		return append(dst, 'e'), nil
	case bdict:
		return appendDict(dst, v)
	default:
		return nil, fmt.Errorf("bencode: unsupported type %T", v)
	}
}

func appendInt(dst []byte, n int64) []byte {
	dst = append(dst, 'i')
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, 'e')
}

func appendString(dst []byte, s string) []byte {
	dst = strconv.AppendInt(dst, int64(len(s)), 10)
	dst = append(dst, ':')
	return append(dst, s...)
}

func appendDict(dst []byte, d bdict) ([]byte, error) {
	dst = append(dst, 'd')
	// Go orders strings byte by byte, which is the order bencode asks for.
	for _, k := range slices.Sorted(maps.Keys(d)) {
		dst = appendString(dst, k)
		var err error
		if dst, err = appendBencode(dst, d[k]); err != nil {
			return nil, fmt.Errorf("bencode: key %q: %w", k, err)
		}
	}
	return append(dst, 'e'), nil
}
