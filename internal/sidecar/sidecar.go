// Package sidecar owns the small files that live next to an image (NAME.img.sum, .full.sum,
// .size, .torrent, .info, .lock): their names, their formats, and writing them atomically.
package sidecar

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/opengnsys/ogrepository/internal/atomicfile"
	"github.com/opengnsys/ogrepository/internal/imagename"
)

// Suffixes of the sidecars, appended to the image's file name.
const (
	Sum     = ".sum"
	FullSum = ".full.sum"
	Size    = ".size"
	Torrent = ".torrent"
	Info    = ".info"
	Lock    = ".lock"
)

// All lists every sidecar suffix; an image moves or goes together with all of them.
var All = []string{Sum, FullSum, Size, Torrent, Info, Lock}

// maxSmall bounds what is read of a one-line sidecar, so a stray large file cannot be
// pulled into memory by a listing.
const maxSmall = 4096

// Hashes are the sidecars the hashing engine produces for one image.
type Hashes struct {
	Size    int64
	Sum     string
	FullSum string
	Torrent []byte
}

// Write lays the four hash sidecars of image next to it in dir, each atomically. The
// torrent goes last and .full.sum (the image's ID) just before, so that an image whose
// ID is visible has its size and tail sum already in place.
func Write(dir string, image imagename.Name, h Hashes) error {
	if !IsMD5(h.Sum) || !IsMD5(h.FullSum) {
		return fmt.Errorf("write sidecars of %s: malformed MD5", image)
	}
	files := []struct {
		suffix string
		data   []byte
	}{
		{Size, []byte(strconv.FormatInt(h.Size, 10) + "\n")},
		{Sum, []byte(h.Sum + "\n")},
		{FullSum, []byte(h.FullSum + "\n")},
		{Torrent, h.Torrent},
	}
	for _, f := range files {
		if err := atomicfile.Write(image.Sidecar(dir, f.suffix), f.data, 0o644); err != nil {
			return fmt.Errorf("write sidecars of %s: %w", image, err)
		}
	}
	return nil
}

// ReadMD5 reads a .sum or .full.sum sidecar. A missing sidecar is fs.ErrNotExist (wrapped);
// anything but 32 hex digits is an error naming the file.
func ReadMD5(dir string, image imagename.Name, suffix string) (string, error) {
	s, err := readLine(dir, image, suffix)
	if err != nil {
		return "", err
	}
	s = strings.ToLower(s)
	if !IsMD5(s) {
		return "", fmt.Errorf("%s%s does not hold an MD5", image, suffix)
	}
	return s, nil
}

// ReadSize reads the .size sidecar.
func ReadSize(dir string, image imagename.Name) (int64, error) {
	s, err := readLine(dir, image, Size)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s%s does not hold a size", image, Size)
	}
	return n, nil
}

// Locked reports whether the image is being written or processed.
func Locked(dir string, image imagename.Name) bool {
	_, err := os.Lstat(image.Sidecar(dir, Lock))
	return err == nil
}

func readLine(dir string, image imagename.Name, suffix string) (string, error) {
	path := image.Sidecar(dir, suffix)
	fi, err := imagename.CheckInside(dir, path)
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxSmall {
		return "", fmt.Errorf("%s%s is not a small regular file", image, suffix)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// IsMD5 reports whether s is 32 lower-case hex digits.
func IsMD5(s string) bool {
	if len(s) != 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// ImageInfo is the content of a .info sidecar, written by the client that captured the
// image: CLONATOR:COMPRESSOR:FILESYSTEM:DATASIZE_KB:CLIENTNAME.
type ImageInfo struct {
	Clonator, Compressor, Filesystem string
	DataSize                         int64 // bytes
	ClientName                       string
}

// ErrMalformedInfo is wrapped when a .info sidecar is not in the five-field format.
var ErrMalformedInfo = errors.New("malformed .info")

// ReadInfo reads and parses the .info sidecar; fs.ErrNotExist (wrapped) when there is none.
func ReadInfo(dir string, image imagename.Name) (ImageInfo, error) {
	s, err := readLine(dir, image, Info)
	if err != nil {
		return ImageInfo{}, err
	}
	return ParseInfo(s)
}

// ParseInfo parses one .info line. The client name may itself hold colons; it takes the rest.
func ParseInfo(line string) (ImageInfo, error) {
	f := strings.SplitN(strings.TrimSpace(line), ":", 5)
	if len(f) != 5 {
		return ImageInfo{}, fmt.Errorf("%w: want 5 colon-separated fields, have %d",
			ErrMalformedInfo, len(f))
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(f[3]), 10, 64)
	if err != nil || kb < 0 || kb > 1<<53/1024 {
		return ImageInfo{}, fmt.Errorf("%w: data size %q is not a number of KB", ErrMalformedInfo, f[3])
	}
	return ImageInfo{
		Clonator:   strings.ToLower(f[0]),
		Compressor: strings.ToLower(f[1]),
		Filesystem: strings.ToUpper(f[2]),
		DataSize:   kb * 1024,
		ClientName: f[4],
	}, nil
}

// IsNotExist reports whether err says a sidecar is absent.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
