package catalog

import (
	"context"
	"fmt"
	"os"

	"github.com/opengnsys/ogrepository/internal/imagehash"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/sidecar"
)

// MakeSidecars hashes the repository image called name in one read and writes its .size,
// .sum, .full.sum and .torrent sidecars atomically. announce is the tracker URL for the
// torrent; progress, if not nil, hears how far the read has got.
func (c *Catalog) MakeSidecars(ctx context.Context, name imagename.Name, announce string,
	progress func(done, total int64)) (sidecar.Hashes, error) {
	before, err := c.FindName(name, Repository)
	if err != nil {
		return sidecar.Hashes{}, err
	}
	dir := c.Dir(Repository)
	sums, err := imagehash.Compute(ctx, name.In(dir), imagehash.Options{
		Announce: announce, Progress: progress,
	})
	if err != nil {
		return sidecar.Hashes{}, fmt.Errorf("hash %s: %w", name, err)
	}
	// The open file outlives an unlink or a replacement; sidecars must describe the file
	// that is in images/ now, so a vanished or swapped image gets none. The catalog lock
	// keeps a move or delete from slipping in between this check and the writes.
	unlock, err := c.lock(ctx)
	if err != nil {
		return sidecar.Hashes{}, err
	}
	defer unlock()
	after, err := c.FindName(name, Repository)
	if err != nil {
		return sidecar.Hashes{}, fmt.Errorf("%s disappeared while it was hashed: %w", name, err)
	}
	if !os.SameFile(before, after) {
		return sidecar.Hashes{}, fmt.Errorf("%s was replaced while it was hashed", name)
	}
	h := sidecar.Hashes{Size: sums.Size, Sum: sums.Sum, FullSum: sums.FullSum, Torrent: sums.Torrent}
	if err := sidecar.Write(dir, name, h); err != nil {
		return sidecar.Hashes{}, err
	}
	c.log.Info("wrote sidecars", "image", name.String(), "size", h.Size, "fullsum", h.FullSum)
	return h, nil
}
