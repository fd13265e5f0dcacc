// Package imagename owns the one rule for file names that arrive from clients. Every route and
// command turns a client's string into a Name before any path is built, so a hostile name is
// refused in one place and nothing in the repository is touched.
package imagename

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrInvalid is wrapped by every refusal, so callers can map it to a client error.
var ErrInvalid = errors.New("invalid name")

// Kind is the family of files a name may denote.
type Kind int

const (
	// Image is a repository image: NAME.img (partition) or NAME.dsk (whole disk).
	Image Kind = iota
	// Virtual is a virtual disk waiting in images_virtual/ to be converted.
	Virtual
)

// maxLen keeps a name, plus the longest sidecar suffix, within NAME_MAX.
const maxLen = 200

var extensions = map[Kind][]string{
	Image:   {".img", ".dsk"},
	Virtual: {".vdi", ".vmdk", ".qcow2", ".vhd", ".vhdx", ".raw"},
}

// Name is a checked single path component: letters, digits, '_', '-' and '.', not starting
// with a dot or a dash (so it can never pass for an option on a command line), ending in an
// extension of its Kind. Images' extensions are lower case, as OpenGnsys writes them;
// virtual disks' may be in either case. The zero Name is not valid.
type Name struct {
	s    string
	kind Kind
}

// Parse checks s as a file name of kind k.
func Parse(s string, k Kind) (Name, error) {
	if s == "" {
		return Name{}, fmt.Errorf("%w: empty", ErrInvalid)
	}
	if len(s) > maxLen {
		return Name{}, fmt.Errorf("%w: longer than %d bytes", ErrInvalid, maxLen)
	}
	if s[0] == '.' || s[0] == '-' {
		return Name{}, fmt.Errorf("%w: %q starts with %q", ErrInvalid, s, s[0])
	}
	for i := 0; i < len(s); i++ {
		if !allowed(s[i]) {
			return Name{}, fmt.Errorf("%w: %q has a character other than letters, digits, "+
				"'_', '-' and '.'", ErrInvalid, s)
		}
	}
	ext := extOf(s, k)
	if ext == "" {
		return Name{}, fmt.Errorf("%w: %q does not end in one of %s", ErrInvalid, s,
			strings.Join(extensions[k], ", "))
	}
	if len(s) == len(ext) {
		return Name{}, fmt.Errorf("%w: %q has no name before its extension", ErrInvalid, s)
	}
	return Name{s: s, kind: k}, nil
}

// MustParse is Parse for names the program itself spells; it panics on a bad one.
func MustParse(s string, k Kind) Name {
	n, err := Parse(s, k)
	if err != nil {
		panic(err)
	}
	return n
}

func allowed(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.'
}

func extOf(s string, k Kind) string {
	if k == Virtual {
		s = strings.ToLower(s)
	}
	for _, e := range extensions[k] {
		if strings.HasSuffix(s, e) {
			return e
		}
	}
	return ""
}

// String is the file name, e.g. "Ubuntu24.img".
func (n Name) String() string { return n.s }

// Base is the name without its extension, e.g. "Ubuntu24".
func (n Name) Base() string { return n.s[:len(n.s)-len(extOf(n.s, n.kind))] }

// Type is the extension without its dot, in lower case, e.g. "img".
func (n Name) Type() string { return extOf(n.s, n.kind)[1:] }

// Kind says which family of files the name belongs to.
func (n Name) Kind() Kind { return n.kind }

// IsZero reports whether n is the zero Name (never produced by Parse).
func (n Name) IsZero() bool { return n.s == "" }

// In is the path of the file named n inside dir.
func (n Name) In(dir string) string { return filepath.Join(dir, n.s) }

// Sidecar is the path of the sidecar with the given suffix (".sum", ".torrent", ...) inside dir.
func (n Name) Sidecar(dir, suffix string) string { return filepath.Join(dir, n.s+suffix) }
