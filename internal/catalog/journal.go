package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opengnsys/ogrepository/internal/atomicfile"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/sidecar"
)

// journalFile, in etc/, names the move or removal in progress. A refresh finishes what a
// killed process left half done, and only that: sidecars are never adopted by guesswork.
const journalFile = ".catalog.journal"

// journal is one move (image and sidecars from one place to the other) or removal.
type journal struct {
	Op    string `json:"op"` // "move" or "remove"
	Image string `json:"image"`
	From  Place  `json:"from"`
	To    Place  `json:"to,omitempty"`
}

func (c *Catalog) journalPath() string { return filepath.Join(c.paths.Etc, journalFile) }

func (c *Catalog) writeJournal(j journal) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(c.journalPath(), b, 0o644); err != nil {
		return fmt.Errorf("record %s of %s: %w", j.Op, j.Image, err)
	}
	return nil
}

func (c *Catalog) clearJournal() error {
	if err := os.Remove(c.journalPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear catalog journal: %w", err)
	}
	return atomicfile.SyncDir(c.paths.Etc)
}

// finishInterrupted completes the move or removal that the journal names, if any. It is
// called with the catalog lock held, so no other process is in the middle of one.
func (c *Catalog) finishInterrupted() {
	b, err := os.ReadFile(c.journalPath())
	if errors.Is(err, os.ErrNotExist) {
		return
	}
	var j journal
	if err == nil {
		err = json.Unmarshal(b, &j)
	}
	name, perr := imagename.Parse(j.Image, imagename.Image)
	if err != nil || perr != nil {
		c.log.Error("ignoring an unreadable catalog journal", "file", c.journalPath(), "err",
			errors.Join(err, perr))
		c.clearJournal()
		return
	}

	switch j.Op {
	case "move":
		// Only if the image itself made it across are its sidecars still to follow.
		if exists(name.In(c.Dir(j.To))) && !exists(name.In(c.Dir(j.From))) {
			c.log.Info("finishing an interrupted move", "image", name.String(),
				"from", j.From.String(), "to", j.To.String())
			if err := c.moveSidecars(name, j.From, j.To); err != nil {
				c.log.Error("could not finish the interrupted move", "image", name.String(), "err", err)
			}
		}
	case "remove":
		if !exists(name.In(c.Dir(j.From))) {
			c.log.Info("finishing an interrupted removal", "image", name.String())
			if err := c.removeSidecars(name, j.From); err != nil {
				c.log.Error("could not finish the interrupted removal", "image", name.String(),
					"err", err)
			}
		}
	}
	if err := c.clearJournal(); err != nil {
		c.log.Error("could not clear the catalog journal", "err", err)
	}
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func (c *Catalog) moveSidecars(name imagename.Name, from, to Place) error {
	for _, suffix := range sidecar.All {
		err := renameNoReplace(name.Sidecar(c.Dir(from), suffix), name.Sidecar(c.Dir(to), suffix))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("move %s%s to the %s: %w", name, suffix, to, err)
		}
	}
	return nil
}

func (c *Catalog) removeSidecars(name imagename.Name, p Place) error {
	for _, suffix := range sidecar.All {
		err := os.Remove(name.Sidecar(c.Dir(p), suffix))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove %s%s from the %s: %w", name, suffix, p, err)
		}
	}
	return nil
}
