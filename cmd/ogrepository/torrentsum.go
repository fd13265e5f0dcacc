package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/opengnsys/ogrepository/internal/imagename"
)

func runTorrentsum(args []string) error {
	fs := newFlagSet("torrentsum", "IMAGE",
		"Writes IMAGE.sum, .full.sum, .size and .torrent of ROOT/images/IMAGE in one read.")
	var rf repoFlags
	rf.register(fs)
	args, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return errors.New("want one image file name, e.g. Ubuntu24.img")
	}
	name, err := imagename.Parse(args[0], imagename.Image)
	if err != nil {
		return err
	}
	repo, err := rf.open()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	h, err := repo.catalog.MakeSidecars(ctx, name, repo.cfg.Announce(), nil)
	if err != nil {
		return err
	}
	fmt.Printf("%s size=%d sum=%s fullsum=%s\n", name, h.Size, h.Sum, h.FullSum)
	return nil
}
