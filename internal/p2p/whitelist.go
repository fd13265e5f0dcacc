package p2p

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opengnsys/ogrepository/internal/atomicfile"
)

const (
	// DirName is the tracker's directory, under the repository's etc/: its root directory
	// once it has started, holding only the whitelist.
	DirName = "p2p"
	// WhitelistFile is the tracker's access list, in the tracker's directory.
	WhitelistFile = "whitelist"
)

// whitelistHeader opens every whitelist. It is not only a note for the administrator:
// opentracker keeps its previous list when a reload finds an empty file, so a list that
// shares nothing must still hold a line, and a comment line is one it ignores.
const whitelistHeader = "# info-hashes this repository shares: one per running seeder, " +
	"written by ogrepository\n"

// writeWhitelist replaces the whitelist in dir with hashes (lower-case hex info-hashes),
// one per line, sorted and without repeats, atomically: the tracker may reread it at any
// moment.
func writeWhitelist(dir string, hashes []string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create tracker directory: %w", err)
	}
	// The tracker reads the list after dropping its privileges, inside dir as its root.
	if err := os.Chmod(dir, 0o755); err != nil {
		return fmt.Errorf("open tracker directory to the tracker: %w", err)
	}
	hashes = slices.Clone(hashes)
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	var b strings.Builder
	b.WriteString(whitelistHeader)
	for _, h := range hashes {
		b.WriteString(h + "\n")
	}
	path := filepath.Join(dir, WhitelistFile)
	if err := atomicfile.Write(path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write tracker whitelist: %w", err)
	}
	return nil
}

// readWhitelist returns the info-hashes in the whitelist in dir; none when it is missing.
func readWhitelist(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, WhitelistFile))
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read tracker whitelist: %w", err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out, nil
}
