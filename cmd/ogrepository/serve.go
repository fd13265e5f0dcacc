package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/opengnsys/ogrepository/internal/api"
	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/config"
)

// repoFlags are the flags every subcommand that touches the repository takes.
type repoFlags struct {
	root, configFile, logLevel string
}

func (r *repoFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.root, "root", config.DefaultRoot,
		"base of images/, images_trash/, images_virtual/, etc/ and log/")
	fs.StringVar(&r.configFile, "config", "", "configuration file (default ROOT/etc/ogAdmRepo.cfg)")
	fs.StringVar(&r.logLevel, "log-level", "info", "debug, info, warn or error")
}

// repository is what a subcommand works with once its flags are checked.
type repository struct {
	cfg     config.Config
	catalog *catalog.Catalog
	log     *slog.Logger
}

// open makes the logger, loads the configuration and checks the tree.
func (r *repoFlags) open() (repository, error) {
	log, err := newLogger(r.logLevel)
	if err != nil {
		return repository{}, err
	}
	root, err := filepath.Abs(r.root)
	if err != nil {
		return repository{}, fmt.Errorf("--root: %w", err)
	}
	paths := config.PathsUnder(root)
	file := r.configFile
	if file == "" {
		file = paths.ConfigFile()
	}
	cfg, err := config.Load(file)
	if err != nil {
		return repository{}, err
	}
	cat, err := catalog.Open(paths, log)
	if err != nil {
		return repository{}, err
	}
	return repository{cfg: cfg, catalog: cat, log: log}, nil
}

func runServe(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var rf repoFlags
	rf.register(fs)
	listen := fs.String("listen", config.DefaultListen,
		"address to listen on when not socket-activated by systemd")
	if err := fs.Parse(args); err != nil {
		return err
	}
	repo, err := rf.open()
	if err != nil {
		return err
	}
	log := repo.log

	ln, how, err := listener(*listen)
	if err != nil {
		return err
	}
	handler, _ := api.New(api.Deps{Catalog: repo.catalog, Token: repo.cfg.APIToken, Log: log, Version: api.SpecVersion})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "listener", how, "root", rf.root,
		"version", version)
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("could not notify systemd", "err", err)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("stopping")
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// listener takes the socket systemd passed, if any, else listens on addr.
func listener(addr string) (net.Listener, string, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, "", fmt.Errorf("socket activation: %w", err)
	}
	if len(lns) > 1 {
		return nil, "", fmt.Errorf("socket activation passed %d sockets, want one", len(lns))
	}
	if len(lns) == 1 && lns[0] != nil {
		return lns[0], "systemd", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("listen: %w", err)
	}
	return ln, "--listen", nil
}
