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
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/opengnsys/ogrepository/internal/api"
	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/config"
	"github.com/opengnsys/ogrepository/internal/hoststatus"
	"github.com/opengnsys/ogrepository/internal/jobs"
	"github.com/opengnsys/ogrepository/internal/ogcore"
	"github.com/opengnsys/ogrepository/internal/p2p"
	"github.com/opengnsys/ogrepository/internal/systemd"
	"github.com/opengnsys/ogrepository/internal/transmission"
	"github.com/opengnsys/ogrepository/internal/wakeonlan"
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
	paths config.Paths
	// configFile is the absolute path of the configuration, handed on to job units.
	configFile string
	cfg        config.Config
	catalog    *catalog.Catalog
	log        *slog.Logger
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
	if file, err = filepath.Abs(file); err != nil {
		return repository{}, fmt.Errorf("--config: %w", err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		return repository{}, err
	}
	cat, err := catalog.Open(paths, log)
	if err != nil {
		return repository{}, err
	}
	return repository{paths: paths, configFile: file, cfg: cfg, catalog: cat, log: log}, nil
}

// serveFlags are serve's own flags.
type serveFlags struct {
	listen, bus, ogcoreURL, unitLogDir, services, ogGitUnit string
	idleExit                                                time.Duration
	multicastTTL                                            int
}

func runServe(args []string) error {
	fs := newFlagSet("serve", "", "Serves the REST API. Under systemd the listener comes from "+
		"socket activation; otherwise from --listen.")
	var rf repoFlags
	rf.register(fs)
	var sf serveFlags
	fs.StringVar(&sf.listen, "listen", config.DefaultListen,
		"address to listen on when not socket-activated by systemd")
	fs.StringVar(&sf.bus, "systemd", string(systemd.System),
		"systemd manager for jobs and transmissions: system, or user (the session bus)")
	fs.StringVar(&sf.ogcoreURL, "ogcore-url", "",
		"ogCore's webhook for job callbacks (default https://IPcore:8443"+ogcore.DefaultPath+")")
	fs.StringVar(&sf.unitLogDir, "unit-log-dir", "",
		"write each job's output to DIR/JOB.log instead of the journal")
	fs.StringVar(&sf.services, "services", strings.Join(hoststatus.DefaultServices, ","),
		"comma-separated services whose state GET /status reports")
	fs.StringVar(&sf.ogGitUnit, "oggit-unit", hoststatus.DefaultOgGitUnit,
		"unit whose presence means ogGit is installed")
	fs.IntVar(&sf.multicastTTL, "multicast-ttl", transmission.DefaultTTL,
		"time-to-live of UDPcast and UFTP multicast, 1 to 255; 1 keeps it on the LAN")
	fs.DurationVar(&sf.idleExit, "idle-exit", 0,
		"exit after this long without requests (0: never); for socket activation")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	bus, err := systemd.ParseBus(sf.bus)
	if err != nil {
		return fmt.Errorf("--systemd: %w", err)
	}
	if sf.multicastTTL < 1 || sf.multicastTTL > 255 {
		return fmt.Errorf("--multicast-ttl: %d not in 1..255", sf.multicastTTL)
	}
	repo, err := rf.open()
	if err != nil {
		return err
	}
	log := repo.log

	ln, how, err := listener(sf.listen)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()

	deps, closeUnits, err := sf.deps(ctx, repo, bus)
	if err != nil {
		return err
	}
	defer closeUnits()
	handler, _ := api.New(deps)
	idle := newIdleTracker()
	srv := &http.Server{Handler: idle.wrap(handler), ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String(), "listener", how, "root", repo.paths.Root,
		"systemd", string(bus), "version", version)
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		log.Warn("could not notify systemd", "err", err)
	}

	idleCtx, idleDone := context.WithCancel(ctx)
	defer idleDone()
	idled := make(chan struct{})
	if sf.idleExit > 0 {
		go func() { idle.wait(idleCtx, sf.idleExit); close(idled) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		log.Info("stopping")
	case <-idled:
		if ctx.Err() == nil {
			log.Info("exiting after idle time", "idle", sf.idleExit.String())
		}
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// deps connects to systemd and assembles what the routes call. Without systemd the catalog
// routes still work; jobs answer 503 and status reads services as unknown.
func (sf serveFlags) deps(ctx context.Context, repo repository,
	bus systemd.Bus) (api.Deps, func(), error) {
	binary, err := os.Executable()
	if err != nil {
		return api.Deps{}, nil, fmt.Errorf("locate this program: %w", err)
	}
	callback := sf.ogcoreURL
	if callback == "" {
		callback = ogcore.DefaultURL(repo.cfg.IPcore)
	}
	deps := api.Deps{Catalog: repo.catalog, Token: repo.cfg.APIToken, Log: repo.log,
		Version: api.SpecVersion, Status: &hoststatus.Reporter{ImagesDir: repo.paths.Images,
			Services: splitList(sf.services), OgGitUnit: sf.ogGitUnit},
		Wake: &wakeonlan.Sender{IPlocal: repo.cfg.IPlocal}}

	units, err := systemd.Dial(ctx, bus)
	if err != nil {
		repo.log.Warn("systemd not reachable: jobs and transmissions are unavailable",
			"systemd", string(bus), "err", err)
		return deps, func() {}, nil
	}
	deps.Status.Units = units
	deps.Jobs = &jobs.Service{Store: jobStore(repo.paths), Units: units, Binary: binary,
		Root: repo.paths.Root, ConfigFile: repo.configFile, CallbackURL: callback,
		UnitLogDir: sf.unitLogDir, Log: repo.log}
	deps.Transmissions = &transmission.Service{Units: units, Catalog: repo.catalog,
		IPlocal: repo.cfg.IPlocal, TTL: sf.multicastTTL, UnitLogDir: sf.unitLogDir, Log: repo.log}
	deps.P2P = &p2p.Service{Units: units, Catalog: repo.catalog, IPlocal: repo.cfg.IPlocal,
		Dir: filepath.Join(repo.paths.Etc, p2p.DirName), UnitLogDir: sf.unitLogDir, Log: repo.log}
	repo.catalog.SetInUse(func(ctx context.Context, id string) ([]string, error) {
		return sendersOf(ctx, deps.Transmissions, deps.P2P, id)
	})
	return deps, units.Close, nil
}

// sendersOf names the running units that send the image id: UDPcast and UFTP senders and
// its seeder.
func sendersOf(ctx context.Context, tr *transmission.Service, seeding *p2p.Service,
	id string) ([]string, error) {
	var units []string
	for _, kind := range []transmission.Kind{transmission.UDPcast, transmission.UFTP} {
		running, err := tr.Running(ctx, kind)
		if err != nil {
			return nil, err
		}
		for _, t := range running {
			if t.ImageID == id {
				units = append(units, t.Unit)
			}
		}
	}
	seeders, err := seeding.Seeding(ctx)
	if err != nil {
		return nil, err
	}
	for _, sd := range seeders {
		if sd.ImageID == id {
			units = append(units, sd.Unit)
		}
	}
	return units, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
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
