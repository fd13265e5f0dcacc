package catalog

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opengnsys/ogrepository/internal/atomicfile"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/sidecar"
)

// MoveToTrash moves the repository image with this ID, and its sidecars, to the trash.
// A same-named image already in the trash is a conflict: nothing is overwritten.
func (c *Catalog) MoveToTrash(ctx context.Context, id string) (Found, error) {
	return c.mutate(ctx, id, Repository, func(f Found) error {
		if err := c.checkUnused(ctx, f); err != nil {
			return err
		}
		return c.move(f.File, Repository, Trash)
	})
}

// Recover moves the trashed image with this ID, and its sidecars, back to the repository.
// A same-named image (or stray sidecar) in the repository is a conflict: nothing is
// overwritten.
func (c *Catalog) Recover(ctx context.Context, id string) (Found, error) {
	return c.mutate(ctx, id, Trash, func(f Found) error {
		return c.move(f.File, Trash, Repository)
	})
}

// Delete removes the repository image with this ID and every sidecar, for good.
func (c *Catalog) Delete(ctx context.Context, id string) (Found, error) {
	return c.mutate(ctx, id, Repository, func(f Found) error {
		if err := c.checkUnused(ctx, f); err != nil {
			return err
		}
		return c.remove(f.File, Repository)
	})
}

// checkUnused refuses, as a conflict, to move or remove an image that is being sent.
func (c *Catalog) checkUnused(ctx context.Context, f Found) error {
	if c.inUse == nil {
		return nil
	}
	users, err := c.inUse(ctx, f.FullSum)
	if err != nil {
		return fmt.Errorf("check whether %s is being sent: %w", f.File, err)
	}
	if len(users) > 0 {
		return fmt.Errorf("%w: %s is being sent by %s; stop that first", ErrConflict, f.File,
			strings.Join(users, ", "))
	}
	return nil
}

// Purge removes the trashed image with this ID and every sidecar, for good.
func (c *Catalog) Purge(ctx context.Context, id string) (Found, error) {
	return c.mutate(ctx, id, Trash, func(f Found) error { return c.remove(f.File, Trash) })
}

// Use finds the image with this ID in place p and runs use on it under the catalog lock,
// so that the image cannot be moved or removed in between: a transmission starts its unit
// inside use, and MoveToTrash and Delete, which take the same lock, then find it running.
// use must not call back into the catalog's locking methods.
func (c *Catalog) Use(ctx context.Context, id string, p Place, use func(Found) error) (Found, error) {
	if _, err := ParseID(id); err != nil {
		return Found{}, err
	}
	unlock, err := c.lock(ctx)
	if err != nil {
		return Found{}, err
	}
	defer unlock()
	f, err := c.Find(ctx, id, p)
	if err != nil {
		return Found{}, err
	}
	return f, use(f)
}

// mutate finds the image under the catalog lock, applies op, and rewrites both indexes.
func (c *Catalog) mutate(ctx context.Context, id string, p Place, op func(Found) error) (Found, error) {
	return c.Use(ctx, id, p, func(f Found) error {
		if err := op(f); err != nil {
			return err
		}
		if _, _, err := c.refreshLocked(); err != nil {
			return fmt.Errorf("%s done, but the indexes were not rewritten: %w", f.File, err)
		}
		return nil
	})
}

// move renames the image first (so it is whole in exactly one directory at every moment),
// then its sidecars, with the journal naming the move until it is done.
func (c *Catalog) move(name imagename.Name, from, to Place) error {
	src, dst := c.Dir(from), c.Dir(to)
	if exists(name.In(dst)) {
		return fmt.Errorf("%w: an image named %s is already in the %s", ErrConflict, name, to)
	}
	for _, suffix := range sidecar.All {
		if exists(name.Sidecar(dst, suffix)) {
			return fmt.Errorf("%w: %s%s is already in the %s", ErrConflict, name, suffix, to)
		}
	}

	if err := c.writeJournal(journal{Op: "move", Image: name.String(), From: from, To: to}); err != nil {
		return err
	}
	if err := renameNoReplace(name.In(src), name.In(dst)); err != nil {
		c.clearJournal()
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: an image named %s is already in the %s", ErrConflict, name, to)
		}
		return fmt.Errorf("move %s to the %s: %w", name, to, err)
	}
	if err := c.moveSidecars(name, from, to); err != nil {
		return err // the journal stays: the next refresh tries again
	}
	if err := syncDirs(src, dst); err != nil {
		return err
	}
	c.log.Info("moved image", "image", name.String(), "from", from.String(), "to", to.String())
	return c.clearJournal()
}

// remove deletes the image first, then its sidecars, with the journal naming the removal.
func (c *Catalog) remove(name imagename.Name, p Place) error {
	dir := c.Dir(p)
	if err := c.writeJournal(journal{Op: "remove", Image: name.String(), From: p}); err != nil {
		return err
	}
	if err := os.Remove(name.In(dir)); err != nil {
		c.clearJournal()
		return fmt.Errorf("remove %s from the %s: %w", name, p, err)
	}
	if err := c.removeSidecars(name, p); err != nil {
		return err
	}
	if err := atomicfile.SyncDir(dir); err != nil {
		return err
	}
	c.log.Info("removed image for good", "image", name.String(), "place", p.String())
	return c.clearJournal()
}

func syncDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := atomicfile.SyncDir(d); err != nil {
			return err
		}
	}
	return nil
}

// renameNoReplace renames old to new, failing with os.ErrExist rather than replacing new.
// Where the filesystem lacks RENAME_NOREPLACE, a hard link then an unlink does the same.
func renameNoReplace(oldPath, newPath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldPath, unix.AT_FDCWD, newPath, unix.RENAME_NOREPLACE)
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) {
		return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: err}
	}
	if err := os.Link(oldPath, newPath); err != nil {
		return err
	}
	return os.Remove(oldPath)
}

// flock takes an exclusive lock on f, giving up when ctx ends.
func flock(ctx context.Context, f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Check is the outcome of an integrity check.
type Check struct {
	Found
	Passed bool
	Reason string // why it failed; empty when it passed
}

// CheckIntegrity compares the image's current size with its .size sidecar and the MD5 of
// its last MiB with its .sum sidecar. It reads at most one MiB of the image. An image that
// cannot be read, or lacks either sidecar, fails the check, saying why.
func (c *Catalog) CheckIntegrity(ctx context.Context, id string) (Check, error) {
	f, err := c.Find(ctx, id, Repository, Trash)
	if err != nil {
		return Check{}, err
	}
	res := Check{Found: f}
	res.Reason = c.integrityProblem(f)
	res.Passed = res.Reason == ""
	return res, nil
}

func (c *Catalog) integrityProblem(f Found) string {
	dir := c.Dir(f.Place)
	want, err := sidecar.ReadSize(dir, f.File)
	if err != nil {
		return fmt.Sprintf("no usable .size sidecar: %v", err)
	}
	sum, err := sidecar.ReadMD5(dir, f.File, sidecar.Sum)
	if err != nil {
		return fmt.Sprintf("no usable .sum sidecar: %v", err)
	}
	file, err := os.Open(f.Path(c))
	if err != nil {
		return fmt.Sprintf("cannot read the image: %v", err)
	}
	defer file.Close()
	fi, err := file.Stat()
	if err != nil {
		return fmt.Sprintf("cannot read the image: %v", err)
	}
	if fi.Size() != want {
		return fmt.Sprintf("size is %d bytes, .size says %d", fi.Size(), want)
	}
	tail, err := TailMD5(file, fi.Size())
	if err != nil {
		return fmt.Sprintf("cannot read the image: %v", err)
	}
	if tail != sum {
		return fmt.Sprintf("MD5 of the last MiB is %s, .sum says %s", tail, sum)
	}
	return ""
}

// TailLength is how much of an image's end its .sum covers.
const TailLength = 1 << 20

// TailMD5 is the MD5 of the last TailLength bytes of r (all of it when shorter).
func TailMD5(r io.ReaderAt, size int64) (string, error) {
	off := max(size-TailLength, 0)
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(r, off, size-off)); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
