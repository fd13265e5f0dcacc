package imagename

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutside is wrapped when a file in a repository directory is a symbolic link that leads
// out of that directory.
var ErrOutside = errors.New("symbolic link leaves the repository directory")

// CheckInside reports whether the entry at path, which must lie directly inside dir, is
// either no symbolic link or one whose target stays inside dir. A missing entry is
// fs.ErrNotExist (wrapped); a link leaving dir is ErrOutside.
func CheckInside(dir, path string) (fs.FileInfo, error) {
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return fi, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", filepath.Base(path), err)
	}
	base, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", dir, err)
	}
	if !strings.HasPrefix(target, base+string(filepath.Separator)) {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), ErrOutside)
	}
	return os.Stat(target)
}
