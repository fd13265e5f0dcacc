package catalog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/opengnsys/ogrepository/internal/atomicfile"
	"github.com/opengnsys/ogrepository/internal/config"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/sidecar"
)

// Place says which of the two catalog directories an image is in.
type Place int

const (
	// Repository is images/.
	Repository Place = iota
	// Trash is images_trash/.
	Trash
)

func (p Place) String() string {
	if p == Trash {
		return "trash"
	}
	return "repository"
}

// lockFile, in etc/, serialises every process that changes the catalog.
const lockFile = ".catalog.lock"

// Catalog is the repository's image store. It keeps no state in memory beyond its paths:
// every call reads the directories afresh, so the daemon may exit and restart at any time.
type Catalog struct {
	paths  config.Paths
	log    *slog.Logger
	warned sync.Map // messages already logged, so each scan does not repeat them
	inUse  InUse
}

// InUse names what is reading the image with this ID right now (transmissions, seeders),
// so that the catalog does not move or remove it under them.
type InUse func(ctx context.Context, id string) ([]string, error)

// SetInUse installs the check that MoveToTrash and Delete make first. Call it before the
// catalog serves requests.
func (c *Catalog) SetInUse(f InUse) { c.inUse = f }

// Open checks the directory tree (images/, images_trash/ and etc/ exist, and images/ and
// images_trash/ share a filesystem so that trashing is a rename) and returns its Catalog.
func Open(paths config.Paths, log *slog.Logger) (*Catalog, error) {
	var devs []uint64
	for _, dir := range []string{paths.Images, paths.Trash, paths.Etc} {
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, fmt.Errorf("repository directory: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("repository directory %s is not a directory", dir)
		}
		devs = append(devs, uint64(fi.Sys().(*syscall.Stat_t).Dev))
	}
	if devs[0] != devs[1] {
		return nil, fmt.Errorf("%s and %s are on different filesystems: moving an image to the "+
			"trash must be a rename", paths.Images, paths.Trash)
	}
	return &Catalog{paths: paths, log: log}, nil
}

// Dir is the directory of a place.
func (c *Catalog) Dir(p Place) string {
	if p == Trash {
		return c.paths.Trash
	}
	return c.paths.Images
}

func (c *Catalog) indexPath(p Place) string {
	if p == Trash {
		return filepath.Join(c.paths.Etc, config.TrashInfoFile)
	}
	return filepath.Join(c.paths.Etc, config.RepoInfoFile)
}

// warnOnce logs a warning the first time it is seen with these exact attributes.
func (c *Catalog) warnOnce(msg string, args ...any) {
	key := fmt.Sprint(append([]any{msg}, args...)...)
	if _, seen := c.warned.LoadOrStore(key, struct{}{}); !seen {
		c.log.Warn(msg, args...)
	}
}

// looksLikeImage reports whether a file that failed the name check was meant as an image.
func looksLikeImage(file string) bool {
	lower := strings.ToLower(file)
	return !strings.HasPrefix(file, ".") &&
		(strings.HasSuffix(lower, ".img") || strings.HasSuffix(lower, ".dsk"))
}

// lock takes the catalog's cross-process lock; the returned func releases it.
func (c *Catalog) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(c.paths.Etc, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open catalog lock: %w", err)
	}
	if err := flock(ctx, f); err != nil {
		f.Close()
		return nil, fmt.Errorf("take catalog lock: %w", err)
	}
	return func() { f.Close() }, nil // closing the descriptor drops the lock
}

// scan lists the unlocked image files of one directory, by name. Entries that are not
// image names, are not regular files, or are links leaving the directory are passed over.
func (c *Catalog) scan(p Place) ([]entry, error) {
	dir := c.Dir(p)
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", p, err)
	}
	var out []entry
	for _, de := range des {
		name, err := imagename.Parse(de.Name(), imagename.Image)
		if err != nil {
			if looksLikeImage(de.Name()) {
				c.warnOnce("skipping a file whose name is not a valid image name", "place",
					p.String(), "file", de.Name(), "err", err)
			}
			continue
		}
		fi, err := imagename.CheckInside(dir, name.In(dir))
		if err != nil {
			c.warnOnce("skipping image", "place", p.String(), "image", name.String(), "err", err)
			continue
		}
		if !fi.Mode().IsRegular() {
			c.warnOnce("skipping an image name that is not a regular file", "place", p.String(),
				"image", name.String())
			continue
		}
		if sidecar.Locked(dir, name) {
			continue
		}
		out = append(out, entry{name: name, info: fi})
	}
	return out, nil
}

// list describes every image of a place, sorted by file name.
func (c *Catalog) list(p Place) (Listing, error) {
	entries, err := c.scan(p)
	if err != nil {
		return Listing{}, err
	}
	l := Listing{Directory: c.Dir(p), Images: make([]Image, 0, len(entries))}
	for _, e := range entries {
		l.Images = append(l.Images, c.describe(c.Dir(p), e.name, e.info))
	}
	sort.Slice(l.Images, func(i, j int) bool { return l.Images[i].FileName() < l.Images[j].FileName() })
	return l, nil
}

// Refresh rescans both directories, repairs sidecars stranded by an interrupted move, and
// rewrites repoinfo.json and trashinfo.json. It returns what it wrote.
func (c *Catalog) Refresh(ctx context.Context) (repo, trash Listing, err error) {
	unlock, err := c.lock(ctx)
	if err != nil {
		return Listing{}, Listing{}, err
	}
	defer unlock()
	return c.refreshLocked()
}

func (c *Catalog) refreshLocked() (repo, trash Listing, err error) {
	c.finishInterrupted()
	if repo, err = c.list(Repository); err != nil {
		return
	}
	if trash, err = c.list(Trash); err != nil {
		return
	}
	if err = c.writeIndex(Repository, repo); err != nil {
		return
	}
	err = c.writeIndex(Trash, trash)
	return
}

func (c *Catalog) writeIndex(p Place, l Listing) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s index: %w", p, err)
	}
	if err := atomicfile.Write(c.indexPath(p), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s index: %w", p, err)
	}
	return nil
}

// Found is an image located by its ID.
type Found struct {
	Image
	Place Place
	File  imagename.Name
}

// Path is the image file's path.
func (f Found) Path(c *Catalog) string { return f.File.In(c.Dir(f.Place)) }

// ParseID checks an image ID: the MD5 of the whole image, 32 hex digits.
func ParseID(id string) (string, error) {
	lower := strings.ToLower(id)
	if !sidecar.IsMD5(lower) {
		return "", fmt.Errorf("%w: ID_img %q is not 32 hexadecimal digits (the image's full MD5)",
			ErrInvalid, id)
	}
	return lower, nil
}

// Find returns the image whose ID is id in the given places, searched in order. Two images
// in one place with the same ID are a conflict: no destructive call should guess.
func (c *Catalog) Find(ctx context.Context, id string, places ...Place) (Found, error) {
	id, err := ParseID(id)
	if err != nil {
		return Found{}, err
	}
	for _, p := range places {
		entries, err := c.scan(p)
		if err != nil {
			return Found{}, err
		}
		var hits []Found
		for _, e := range entries {
			sum, err := sidecar.ReadMD5(c.Dir(p), e.name, sidecar.FullSum)
			if err != nil || sum != id {
				continue
			}
			hits = append(hits, Found{Image: c.describe(c.Dir(p), e.name, e.info), Place: p,
				File: e.name})
		}
		switch len(hits) {
		case 0:
			continue
		case 1:
			return hits[0], nil
		default:
			return Found{}, fmt.Errorf("%w: ID %s belongs to %s and %s in the %s", ErrConflict, id,
				hits[0].File, hits[1].File, p)
		}
	}
	return Found{}, fmt.Errorf("%w: no image with ID %s in the %s", ErrNotFound, id, placesText(places))
}

func placesText(places []Place) string {
	s := make([]string, len(places))
	for i, p := range places {
		s[i] = p.String()
	}
	return strings.Join(s, " or ")
}

// FindName returns the unlocked image file called name in place p.
func (c *Catalog) FindName(name imagename.Name, p Place) (os.FileInfo, error) {
	dir := c.Dir(p)
	fi, err := imagename.CheckInside(dir, name.In(dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s is not in the %s", ErrNotFound, name, p)
	}
	if errors.Is(err, imagename.ErrOutside) {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrInvalid, name)
	}
	if sidecar.Locked(dir, name) {
		return nil, fmt.Errorf("%w: %s is locked (being written or processed)", ErrConflict, name)
	}
	return fi, nil
}
