// Package p2p shares repository images over BitTorrent: one tracker for the repository and
// one seeder per image, each a transient systemd unit. The units are the only state: which
// images are shared, and so the tracker's whitelist of info-hashes, is read back from the
// running seeder units, so everything keeps working across restarts of the daemon.
//
// The tracker is Debian's opentracker, built with an access whitelist (WANT_ACCESSLIST_WHITE)
// so that it serves only the torrents this repository seeds, chrooted into the directory
// that holds that list and running as an unprivileged user. The seeders are aria2c: it
// verifies the image against the torrent before it seeds (--check-integrity), seeds a
// complete file read-only in place with no copy, binds every socket to one address
// (--interface), replaces the torrent's trackers by ours, and has a switch for each way it
// could otherwise send packets elsewhere (DHT, peer exchange, local peer discovery), where
// ctorrent cannot bind its outgoing connections and a Go library would mean a large
// dependency to review.
package p2p

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/config"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/systemd"
)

// Unit names. GET /status counts units matching systemd.Prefix+"tracker*" and
// systemd.Prefix+"seeder-*".
const (
	// TrackerUnit is the repository's one tracker.
	TrackerUnit = systemd.Prefix + "tracker.service"
	// seederKind names seeder units: ogrepository-seeder-IMAGEFILE.service.
	seederKind = "seeder"
	// SeederPattern matches every seeder unit.
	SeederPattern = systemd.Prefix + seederKind + "-*"
)

// Programs, as Debian installs them.
const (
	DefaultTracker = "/usr/bin/opentracker"
	DefaultSeeder  = "/usr/bin/aria2c"
)

// trackerUsers are the accounts the tracker drops to, the first that exists: the one
// Debian's package creates for it, else nobody.
var trackerUsers = []string{"_opentracker", "nobody"}

// trackerReady bounds the wait for a tracker just started to answer.
const trackerReady = 10 * time.Second

// announceEvery is how often, in seconds, a seeder announces itself to the tracker: often
// enough that a restarted tracker soon knows every seeder again, and cheap on our own tracker.
const announceEvery = 15

// Sentinel errors, wrapped with detail.
var (
	// ErrNoTorrent: the image has no .torrent sidecar yet.
	ErrNoTorrent = errors.New("image has no .torrent")
	// ErrBadTorrent: the .torrent cannot be read or does not describe the image as it is.
	ErrBadTorrent = errors.New("unusable .torrent")
	// ErrNotSeeding: the image is known but no seeder of it runs.
	ErrNotSeeding = errors.New("image not being seeded")
)

// Service starts, lists and stops the tracker and the seeders.
type Service struct {
	Units   *systemd.Conn
	Catalog *catalog.Catalog
	// IPlocal is the only address the tracker and the seeders bind to and announce.
	IPlocal string
	// Dir holds the whitelist, and is the tracker's root directory (ROOT/etc/p2p).
	Dir string
	// UnitLogDir, if set, receives the tracker's and each seeder's output (tracker.log,
	// seeder-IMAGEFILE.log) instead of the journal.
	UnitLogDir string
	// Tracker and Seeder are the programs; empty means DefaultTracker and DefaultSeeder.
	Tracker, Seeder string
	Log             *slog.Logger

	// mu orders this daemon's changes, so that each whitelist it writes matches the
	// seeders it leaves running.
	mu sync.Mutex
	// unreported holds the failed and vanished seeders found by calls that do not report
	// them (Seed, Stop, Seeding), until Status does. Guarded by mu.
	unreported Status
}

// Seeder is one seeder unit.
type Seeder struct {
	Unit     string `json:"unit" doc:"The seeder's systemd unit"`
	Image    string `json:"image_name" doc:"The image's file name"`
	ImageID  string `json:"image_id" doc:"The image's ID"`
	InfoHash string `json:"info_hash" doc:"The torrent's info-hash, as on the tracker's whitelist"`
	PID      uint32 `json:"pid,omitempty" doc:"The seeder's process, while it runs"`
	// State is the unit's ActiveState; for a failed seeder Result says why, and ExitStatus
	// is the exit status or the signal.
	State      string `json:"state" doc:"The unit's ActiveState: active, activating or failed"`
	Result     string `json:"result,omitempty" doc:"For a failed seeder, systemd's result: exit-code, signal, ..."`
	ExitStatus int32  `json:"exit_status,omitempty" doc:"For a failed seeder, its exit status or signal number"`
}

// Status is what runs: the tracker's state and the seeders, with those that had failed.
type Status struct {
	Tracker    string   `json:"tracker" doc:"The tracker unit's ActiveState, or not-found"`
	TrackerPID uint32   `json:"tracker_pid,omitempty" doc:"The tracker's process, while it runs"`
	Seeders    []Seeder `json:"seeders" doc:"Seeders running"`
	// Failed seeders are reported once, and reset so systemd forgets them.
	Failed []Seeder `json:"failed,omitempty" doc:"Seeders found failed, reported once: their units are reset"`
	// Vanished are info-hashes on the whitelist whose seeder had gone without failing,
	// stopped from outside this daemon; reported once, as they leave the whitelist.
	Vanished []string `json:"vanished,omitempty" doc:"Info-hashes whose seeder was stopped outside this daemon (without failing), reported once as they leave the whitelist"`
}

// Seed makes sure the tracker runs and starts a seeder of the repository image id, if none
// runs yet; it returns the seeder, and whether it was running already.
func (s *Service) Seed(ctx context.Context, id string) (Seeder, bool, error) {
	// Under the catalog lock: the image cannot go to the trash while its seeder starts.
	var sd Seeder
	var already bool
	_, err := s.Catalog.Use(ctx, id, catalog.Repository, func(f catalog.Found) error {
		var err error
		sd, already, err = s.seed(ctx, f)
		return err
	})
	return sd, already, err
}

func (s *Service) seed(ctx context.Context, f catalog.Found) (Seeder, bool, error) {
	dir := s.Catalog.Dir(catalog.Repository)
	torrentPath := f.File.Sidecar(dir, ".torrent")
	t, err := s.checkTorrent(f, torrentPath)
	if err != nil {
		return Seeder{}, false, err
	}
	unit, err := systemd.UnitName(seederKind, f.File.String())
	if err != nil {
		return Seeder{}, false, fmt.Errorf("name the seeder of %s: %w", f.File, err)
	}
	want := Seeder{Unit: unit, Image: f.File.String(), ImageID: f.Image.FullSum, InfoHash: t.InfoHash}

	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.status(ctx)
	if err != nil {
		return Seeder{}, false, err
	}
	var hashes []string
	var stale *Seeder
	for i, sd := range st.Seeders {
		switch {
		case sd.Unit == unit && sd.InfoHash == t.InfoHash:
			// Already seeding; still make sure the tracker runs and knows it.
			if err := s.share(ctx, st, hashesOf(st.Seeders)); err != nil {
				return Seeder{}, false, err
			}
			return sd, true, nil
		case sd.Unit == unit:
			stale = &st.Seeders[i] // seeding a torrent made before the current one
		default:
			hashes = append(hashes, sd.InfoHash)
		}
	}
	if stale != nil {
		s.Log.Info("restarting seeder for a new torrent", "unit", unit, "old", stale.InfoHash,
			"new", t.InfoHash)
		if err := s.Units.Stop(ctx, unit); err != nil && !errors.Is(err, systemd.ErrNoSuchUnit) {
			return Seeder{}, false, fmt.Errorf("stop the old seeder of %s: %w", f.File, err)
		}
	}

	if err := s.share(ctx, st, append(hashes, t.InfoHash)); err != nil {
		// Nothing seeds the new hash: take it back off the list (the tracker, if it reads
		// the list at all, rereads it at the next change).
		if werr := writeWhitelist(s.Dir, hashes); werr != nil {
			s.Log.Warn("could not take a hash no seeder has off the whitelist", "err", werr)
		}
		return Seeder{}, false, err
	}
	if err := s.Units.StartTransient(ctx, s.seederUnit(want, dir, torrentPath)); err != nil {
		// Take the hash back off the list: nothing seeds it.
		if werr := s.share(ctx, Status{Tracker: "active"}, hashes); werr != nil {
			s.Log.Warn("could not drop a failed seeder from the whitelist", "err", werr)
		}
		return Seeder{}, false, fmt.Errorf("start seeder of %s: %w", f.File, err)
	}
	u, err := s.Units.Unit(ctx, unit)
	if err == nil {
		want.PID, want.State = u.MainPID, u.ActiveState
	}
	s.Log.Info("seeding", "image", want.Image, "unit", unit, "info_hash", t.InfoHash)
	return want, false, nil
}

// checkTorrent reads the image's .torrent and checks that it describes the file as it is,
// for our tracker: the seeder would otherwise look for another file (and download it), and
// clients would ask another tracker.
func (s *Service) checkTorrent(f catalog.Found, path string) (Torrent, error) {
	t, err := ReadTorrent(path)
	if errors.Is(err, os.ErrNotExist) {
		return Torrent{}, fmt.Errorf("%w: %s has no %s: run torrentsum first (POST /images/torrentsum)",
			ErrNoTorrent, f.File, filepath.Base(path))
	}
	if err != nil {
		return Torrent{}, fmt.Errorf("%s of %s: %w", filepath.Base(path), f.File, err)
	}
	announce := s.announce()
	var wrong string
	switch {
	case t.Files:
		wrong = "holds several files"
	case t.Name != f.File.String():
		wrong = fmt.Sprintf("names the file %q", t.Name)
	case t.Length != f.Image.Size:
		wrong = fmt.Sprintf("is for %d bytes, the image has %d", t.Length, f.Image.Size)
	case t.Announce != announce:
		wrong = fmt.Sprintf("announces to %q, not to this repository's tracker %q", t.Announce,
			announce)
	}
	if wrong != "" {
		return Torrent{}, fmt.Errorf("%w: %s of %s %s: run torrentsum again", ErrBadTorrent,
			filepath.Base(path), f.File, wrong)
	}
	return t, nil
}

// Stop stops the seeders of the image id, and drops them from the whitelist. An ID no
// seeder has is ErrNotSeeding (saying why, when its seeder had failed), or the catalog's
// ErrNotFound when no image has it either.
func (s *Service) Stop(ctx context.Context, id string) ([]Seeder, error) {
	id, err := catalog.ParseID(id)
	if err != nil {
		return nil, err
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	var stop, keep []Seeder
	for _, sd := range st.Seeders {
		if sd.ImageID == id {
			stop = append(stop, sd)
		} else {
			keep = append(keep, sd)
		}
	}
	if len(stop) == 0 {
		return nil, s.notSeeding(ctx, id, s.unreported.Failed)
	}

	var errs []error
	for _, sd := range stop {
		if err := s.Units.Stop(ctx, sd.Unit); err != nil && !errors.Is(err, systemd.ErrNoSuchUnit) {
			errs = append(errs, fmt.Errorf("stop seeder of %s: %w", sd.Image, err))
			keep = append(keep, sd)
		}
	}
	if err := s.share(ctx, st, hashesOf(keep)); err != nil {
		errs = append(errs, err)
	}
	for _, sd := range stop {
		s.Log.Info("stopped seeding", "image", sd.Image, "unit", sd.Unit)
	}
	return stop, errors.Join(errs...)
}

// notSeeding explains why no seeder of id runs.
func (s *Service) notSeeding(ctx context.Context, id string, failed []Seeder) error {
	for _, sd := range failed {
		if sd.ImageID == id {
			return fmt.Errorf("%w: the seeder of %s had failed (%s, status %d); it was reset",
				ErrNotSeeding, sd.Image, sd.Result, sd.ExitStatus)
		}
	}
	f, err := s.Catalog.Find(ctx, id, catalog.Repository, catalog.Trash)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: no seeder of %s (ID %s) runs", ErrNotSeeding, f.File, id)
}

// StopAll stops every seeder and the tracker, and empties the whitelist. It returns the
// units it stopped; failures to stop are joined in the error, and the rest still stops.
func (s *Service) StopAll(ctx context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Seeders that had ended are noted (and reset) first, for Status to report: stopping
	// would forget them. Nothing is fixed: all of it stops.
	if _, err := s.scan(ctx, false); err != nil {
		return nil, err
	}
	units, err := s.Units.List(ctx, SeederPattern, TrackerUnit)
	if err != nil {
		return nil, fmt.Errorf("list P2P units: %w", err)
	}
	var stopped []string
	var errs []error
	for _, u := range units {
		err := s.Units.Stop(ctx, u.Name)
		switch {
		case err == nil:
			stopped = append(stopped, u.Name)
		case errors.Is(err, systemd.ErrNoSuchUnit):
		default:
			errs = append(errs, err)
		}
	}
	if err := writeWhitelist(s.Dir, nil); err != nil {
		errs = append(errs, err)
	}
	s.Log.Info("stopped all P2P", "units", len(stopped))
	return stopped, errors.Join(errs...)
}

// Status reports the tracker and the seeders. Seeders found failed or vanished, by this
// call or by an earlier one of another kind, are reported once: their units are reset, and
// a later call no longer lists them.
func (s *Service) Status(ctx context.Context) (Status, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.status(ctx)
	if err != nil {
		return Status{}, err
	}
	st.Failed, st.Vanished = s.unreported.Failed, s.unreported.Vanished
	s.unreported = Status{}
	return st, nil
}

// Seeding returns the seeders that run, keeping any endings it finds for Status to report.
func (s *Service) Seeding(ctx context.Context) ([]Seeder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.status(ctx)
	if err != nil {
		return nil, err
	}
	return st.Seeders, nil
}

func (s *Service) status(ctx context.Context) (Status, error) { return s.scan(ctx, true) }

// scan reads the tracker and the seeders, resets and notes those that ended, and, if fix,
// puts the tracker back in step with the seeders (reconcile).
func (s *Service) scan(ctx context.Context, fix bool) (Status, error) {
	tr, err := s.Units.Unit(ctx, TrackerUnit)
	if err != nil {
		return Status{}, fmt.Errorf("query the tracker: %w", err)
	}
	st := Status{Tracker: tr.ActiveState, Seeders: []Seeder{}}
	if tr.LoadState == "not-found" {
		st.Tracker = "not-found"
	}
	if running(tr.ActiveState) {
		st.TrackerPID = tr.MainPID
	}
	units, err := s.Units.List(ctx, SeederPattern)
	if err != nil {
		return Status{}, fmt.Errorf("list seeders: %w", err)
	}
	for _, u := range units {
		sd, ok := parseSeeder(u)
		if !ok {
			s.Log.Warn("seeder unit not made by this program: ignored", "unit", u.Name,
				"description", u.Description)
			continue
		}
		switch {
		case running(u.ActiveState):
			st.Seeders = append(st.Seeders, sd)
		case u.ActiveState == "failed":
			sd.Result, sd.ExitStatus = u.Result, u.ExecMainStatus
			s.Log.Warn("seeder had failed", "unit", u.Name, "result", u.Result,
				"exit_code", u.ExecMainCode, "exit_status", u.ExecMainStatus)
			if err := s.Units.ResetFailed(ctx, u.Name); err != nil &&
				!errors.Is(err, systemd.ErrNoSuchUnit) {
				return Status{}, fmt.Errorf("reset failed seeder: %w", err)
			}
			st.Failed = append(st.Failed, sd)
		}
	}
	s.reconcile(ctx, &st, fix)
	s.unreported.Failed = lastOf(append(s.unreported.Failed, st.Failed...))
	s.unreported.Vanished = lastOf(append(s.unreported.Vanished, st.Vanished...))
	return st, nil
}

// reconcile puts the tracker back in step with the seeders that run, whatever stopped
// what behind this daemon's back: the info-hash of a seeder that failed, or that ended
// cleanly (a SIGTERM from outside leaves no failed unit to report), leaves the whitelist,
// and a tracker that stopped while seeders run is started again. What it finds and does
// is logged and reported in st; a failure to fix it is logged, and the next call tries
// again. Without fix it only finds, and reports in st.
func (s *Service) reconcile(ctx context.Context, st *Status, fix bool) {
	listed, err := readWhitelist(s.Dir)
	if err != nil {
		s.Log.Warn("cannot read the tracker's whitelist", "err", err)
		return
	}
	seeded := map[string]bool{}
	for _, sd := range st.Seeders {
		seeded[sd.InfoHash] = true
	}
	failed := map[string]bool{}
	for _, sd := range st.Failed {
		failed[sd.InfoHash] = true
	}
	stale := false
	for _, h := range listed {
		if !seeded[h] {
			stale = true
			if !failed[h] {
				st.Vanished = append(st.Vanished, h)
			}
		}
	}
	trackerDown := !running(st.Tracker) && len(st.Seeders) > 0
	if !fix || !stale && !trackerDown {
		return
	}
	if len(st.Vanished) > 0 {
		s.Log.Warn("seeders stopped without this daemon stopping them: their info-hashes "+
			"leave the whitelist", "info_hashes", strings.Join(st.Vanished, ","))
	}
	if trackerDown {
		s.Log.Warn("the tracker is not running while seeders are: starting it",
			"tracker", st.Tracker, "seeders", len(st.Seeders))
	}
	if !running(st.Tracker) && len(st.Seeders) == 0 {
		// Nothing to serve: the list is cleaned, and no tracker is started for it.
		if err := writeWhitelist(s.Dir, nil); err != nil {
			s.Log.Warn("could not clean the tracker's whitelist", "err", err)
		}
		return
	}
	if err := s.share(ctx, *st, hashesOf(st.Seeders)); err != nil {
		s.Log.Warn("could not put the tracker in step with the seeders", "err", err)
		return
	}
	if tr, err := s.Units.Unit(ctx, TrackerUnit); err == nil {
		st.Tracker = tr.ActiveState
		if running(tr.ActiveState) {
			st.TrackerPID = tr.MainPID
		}
	}
}

// maxUnreported bounds the endings kept for a report nobody asks for.
const maxUnreported = 100

// lastOf keeps the last maxUnreported of list.
func lastOf[T any](list []T) []T {
	if len(list) > maxUnreported {
		return slices.Clone(list[len(list)-maxUnreported:])
	}
	return list
}

func running(activeState string) bool {
	return activeState == "active" || activeState == "activating" || activeState == "reloading"
}

func hashesOf(seeders []Seeder) []string {
	out := make([]string, len(seeders))
	for i, sd := range seeders {
		out[i] = sd.InfoHash
	}
	return out
}

// share writes hashes as the whitelist and has the tracker use it: a running tracker
// rereads it, one not running is started with it. opentracker reads its list in a thread
// of its own, after the signal or after it starts answering, so share then asks the
// tracker about every info-hash listed now or before until its answers match the list.
// A running tracker that does not take its list within rereadWait is restarted; one just
// started that does not is an error.
func (s *Service) share(ctx context.Context, st Status, hashes []string) error {
	before, _ := readWhitelist(s.Dir)
	if err := writeWhitelist(s.Dir, hashes); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, h := range before {
		want[h] = false
	}
	for _, h := range hashes {
		want[h] = true
	}
	if running(st.Tracker) {
		tr, err := s.Units.Unit(ctx, TrackerUnit)
		if err != nil {
			return fmt.Errorf("query the tracker: %w", err)
		}
		if running(tr.ActiveState) && tr.MainPID != 0 {
			if err := s.reloadTracker(tr.MainPID); err != nil {
				return err
			}
			if s.servesWithin(ctx, want) {
				return nil
			}
			s.Log.Warn("the tracker did not take its new whitelist; restarting it",
				"pid", tr.MainPID, "whitelist", filepath.Join(s.Dir, WhitelistFile))
			if err := s.Units.Stop(ctx, TrackerUnit); err != nil && !errors.Is(err, systemd.ErrNoSuchUnit) {
				return fmt.Errorf("restart the tracker: %w", err)
			}
		}
	}
	if err := s.startTracker(ctx); err != nil {
		return err
	}
	if !s.servesWithin(ctx, want) {
		return fmt.Errorf("the tracker started but does not serve the info-hashes of its "+
			"whitelist %s after %v", filepath.Join(s.Dir, WhitelistFile), rereadWait)
	}
	return nil
}

// reloadTracker has opentracker reread its whitelist, which it does on SIGHUP.
//
// The signal goes to the unit's main process as systemd reports it; the systemd package
// has no call to signal a unit.
func (s *Service) reloadTracker(pid uint32) error {
	s.Log.Debug("tracker: reread whitelist", "pid", pid)
	if err := unix.Kill(int(pid), unix.SIGHUP); err != nil {
		return fmt.Errorf("have the tracker (pid %d) reread its whitelist: %w", pid, err)
	}
	return nil
}

// rereadWait bounds how long the tracker may take to answer from a whitelist it was
// given; it reads a list of a few hashes in well under a millisecond, so a tracker that
// has not within this is hung, and a request waiting on it should not wait much longer.
const rereadWait = 3 * time.Second

// servesWithin asks the tracker until it serves what want says (see serves), or
// rereadWait passes.
func (s *Service) servesWithin(ctx context.Context, want map[string]bool) bool {
	ctx, cancel := context.WithTimeout(ctx, rereadWait)
	defer cancel()
	for {
		if s.serves(ctx, want) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// serves reports whether the tracker accepts exactly the info-hashes marked true in want.
func (s *Service) serves(ctx context.Context, want map[string]bool) bool {
	for h, accepted := range want {
		got, err := s.accepted(ctx, h)
		if err != nil || got != accepted {
			return false
		}
	}
	return true
}

// accepted asks our tracker whether it serves the info-hash.
func (s *Service) accepted(ctx context.Context, infoHash string) (bool, error) {
	return trackerAccepts(ctx, s.trackerAddr(), infoHash)
}

// trackerAccepts asks the tracker at addr (host:port) whether it serves the info-hash: an
// announce, made as a peer on port 1 that takes no peers and leaves at once (a departure
// is never refused).
func trackerAccepts(ctx context.Context, addr, infoHash string) (bool, error) {
	raw, err := hex.DecodeString(infoHash)
	if err != nil {
		return false, err
	}
	base := "http://" + addr + "/announce?info_hash=" + escapeBytes(raw) +
		"&peer_id=-OGRCHK-" + infoHash[:12] + "&port=1&uploaded=0&downloaded=0&left=0&numwant=0&compact=1"
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	get := func(u string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return string(b), err
	}
	body, err := get(base)
	if err != nil {
		return false, err
	}
	if strings.Contains(body, "failure reason") {
		return false, nil
	}
	_, err = get(base + "&event=stopped")
	return true, err
}

// escapeBytes percent-encodes every byte of b, as BitTorrent clients send an info-hash.
// Not url.QueryEscape: that writes a 0x20 byte as "+", which opentracker reads as a "+"
// (0x2b), so one info-hash in thirteen would be asked about as another and refused.
func escapeBytes(b []byte) string {
	const hexDigits = "0123456789ABCDEF"
	out := make([]byte, 0, 3*len(b))
	for _, c := range b {
		out = append(out, '%', hexDigits[c>>4], hexDigits[c&0xf])
	}
	return string(out)
}

func (s *Service) trackerAddr() string {
	return net.JoinHostPort(s.IPlocal, strconv.Itoa(config.TrackerPort))
}

// startTracker starts the tracker and waits until it answers HTTP: by then it has read its
// whitelist and handles SIGHUP, and the seeders' first announce finds it.
func (s *Service) startTracker(ctx context.Context) error {
	bin := s.program(s.Tracker, DefaultTracker)
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("tracker program: %w (Debian package opentracker)", err)
	}
	port := strconv.Itoa(config.TrackerPort)
	t := systemd.Transient{
		Name:        TrackerUnit,
		Description: "ogrepository BitTorrent tracker on " + net.JoinHostPort(s.IPlocal, port),
		// -d is a chroot: the whitelist is named from inside it.
		Argv: []string{bin, "-i", s.IPlocal, "-p", port, "-P", port, "-d", s.Dir,
			"-u", trackerUser(), "-w", "/" + WhitelistFile},
		Type:       "exec",
		Properties: systemd.ReadOnly(),
	}
	s.logTo(&t, "tracker.log")
	if err := s.Units.StartTransient(ctx, t); err != nil {
		return fmt.Errorf("start the tracker: %w", err)
	}
	if err := s.waitTracker(ctx); err != nil {
		return err
	}
	s.Log.Info("tracker started", "unit", TrackerUnit, "announce", s.announce())
	return nil
}

func (s *Service) waitTracker(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, trackerReady)
	defer cancel()
	// No proxy from the environment: the question is for the tracker itself.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	url := "http://" + s.trackerAddr() + "/"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("ask the tracker: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if st, uerr := s.Units.Unit(ctx, TrackerUnit); uerr == nil && !running(st.ActiveState) {
			return fmt.Errorf("the tracker did not stay up: unit %s is %s (%s, status %d)",
				TrackerUnit, st.ActiveState, st.Result, st.ExecMainStatus)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the tracker does not answer on %s: %w", url, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// seederUnit describes the seeder of sd. The description carries the image ID and the
// info-hash, so that the seeders read back from systemd say what they share.
func (s *Service) seederUnit(sd Seeder, imagesDir, torrentPath string) systemd.Transient {
	t := systemd.Transient{
		Name: sd.Unit,
		Description: fmt.Sprintf("ogrepository BitTorrent seeder of %s (image %s, info-hash %s)",
			sd.Image, sd.ImageID, sd.InfoHash),
		Argv: s.seederArgv(imagesDir, torrentPath),
		Type: "exec",
		// Read-only everywhere: a seeder never writes, least of all into an image.
		Properties: systemd.ReadOnly(),
	}
	s.logTo(&t, "seeder-"+sd.Image+".log")
	return t
}

// seederArgv is aria2c seeding the torrent from the image in imagesDir, bound to IPlocal
// and announcing to our tracker only, with everything else that could send a packet off.
func (s *Service) seederArgv(imagesDir, torrentPath string) []string {
	return []string{
		s.program(s.Seeder, DefaultSeeder),
		// No configuration or credentials from the environment.
		"--no-conf=true", "--no-netrc=true",
		// Seed the file in place; verify it first and seed nothing unverified; never
		// allocate, rename or overwrite.
		"--dir=" + imagesDir,
		"--check-integrity=true", "--bt-hash-check-seed=true", "--bt-seed-unverified=false",
		"--file-allocation=none", "--auto-file-renaming=false", "--allow-overwrite=false",
		"--bt-save-metadata=false",
		// Seed until stopped.
		"--seed-ratio=0.0",
		// Every socket on IPlocal, IPv4 or IPv6 as IPlocal is; no DHT, no peer exchange,
		// no local peer discovery (multicast), no name lookups, no RPC port.
		"--interface=" + s.IPlocal,
		"--enable-dht=false", "--enable-dht6=false", "--enable-peer-exchange=false",
		"--bt-enable-lpd=false", "--async-dns=false", "--enable-rpc=false",
		"--disable-ipv6=" + strconv.FormatBool(!isIPv6(s.IPlocal)),
		// Whatever the torrent lists, announce to this repository's tracker alone, every
		// minute: a tracker restarted, or one that refused an announce, hears from every
		// seeder within a minute rather than the half hour a tracker asks for.
		"--bt-exclude-tracker=*", "--bt-tracker=" + s.announce(),
		"--bt-tracker-interval=" + strconv.Itoa(announceEvery),
		// A classroom of clients may all connect at once.
		"--bt-max-peers=0",
		// Logs for the journal, not a terminal.
		"--console-log-level=notice", "--summary-interval=0", "--show-console-readout=false",
		"--enable-color=false",
		torrentPath,
	}
}

func (s *Service) logTo(t *systemd.Transient, file string) {
	if s.UnitLogDir != "" {
		t.StandardOutput = "append:" + filepath.Join(s.UnitLogDir, file)
		t.StandardError = t.StandardOutput
	}
}

func (s *Service) announce() string {
	return config.Config{IPlocal: s.IPlocal}.Announce()
}

func (s *Service) program(set, def string) string {
	if set != "" {
		return set
	}
	return def
}

func isIPv6(ip string) bool {
	a := net.ParseIP(ip)
	return a != nil && a.To4() == nil
}

func trackerUser() string {
	for _, u := range trackerUsers {
		if _, err := user.Lookup(u); err == nil {
			return u
		}
	}
	return trackerUsers[len(trackerUsers)-1]
}

// seederDescription parses what seederUnit writes into a description.
var seederDescription = regexp.MustCompile(`\(image ([0-9a-f]{32}), info-hash ([0-9a-f]{40})\)$`)

// parseSeeder reads a seeder unit back: the image from its name, the ID and info-hash from
// its description.
func parseSeeder(u systemd.UnitState) (Seeder, bool) {
	file := strings.TrimSuffix(strings.TrimPrefix(u.Name, systemd.Prefix+seederKind+"-"), ".service")
	if _, err := imagename.Parse(file, imagename.Image); err != nil {
		return Seeder{}, false
	}
	m := seederDescription.FindStringSubmatch(u.Description)
	if m == nil {
		return Seeder{}, false
	}
	sd := Seeder{Unit: u.Name, Image: file, ImageID: m[1], InfoHash: m[2], State: u.ActiveState}
	if running(u.ActiveState) {
		sd.PID = u.MainPID
	}
	return sd, true
}
