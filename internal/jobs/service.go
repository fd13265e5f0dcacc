package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/systemd"
)

// ErrBusy is wrapped when a job of the same kind already runs for the image.
var ErrBusy = errors.New("job already running")

// Service starts jobs and reports on them, from the daemon.
type Service struct {
	Store Store
	Units *systemd.Conn
	// Binary is the absolute path of this program, which the units execute.
	Binary string
	// Root and ConfigFile are passed on to the job process.
	Root, ConfigFile string
	// CallbackURL is ogCore's webhook, passed on to the job process.
	CallbackURL string
	// UnitLogDir, if set, receives each job's output as ID.log; by default it goes to the
	// journal.
	UnitLogDir string
	Log        *slog.Logger

	mu sync.Mutex // one Start at a time, so two requests cannot both find an image free
}

// Start records a new job and starts its unit; it returns once the job process runs. A job
// of the same kind still working on the image is ErrBusy, and nothing is started; one that
// has done its work and is only telling ogCore is not in the way.
func (s *Service) Start(ctx context.Context, kind Kind, image imagename.Name) (Record, error) {
	id := NewID()
	unit, err := systemd.UnitName(string(kind), image.String(), id)
	if err != nil {
		return Record{}, fmt.Errorf("name the unit for %s: %w", image, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if other, err := s.working(ctx, kind, image); err != nil {
		return Record{}, err
	} else if other != "" {
		return Record{}, fmt.Errorf("%w: a %s of %s is running already (job %s)", ErrBusy, kind,
			image, other)
	}
	r := Record{ID: id, Kind: kind, Image: image.String(), Unit: unit, State: Starting,
		Created: time.Now().UTC()}
	if err := s.Store.Save(r); err != nil {
		return Record{}, err
	}

	t := systemd.Transient{
		Name:         unit,
		Description:  fmt.Sprintf("ogrepository %s of %s (job %s)", kind, image, r.ID),
		Argv:         s.argv(r),
		Type:         "exec",
		NotifyAccess: "main",
	}
	if s.UnitLogDir != "" {
		t.StandardOutput = "append:" + filepath.Join(s.UnitLogDir, r.ID+".log")
		t.StandardError = t.StandardOutput
	}
	if err := s.Units.StartTransient(ctx, t); err != nil {
		r.State, r.Message = Failed, "could not start: "+err.Error()
		s.saveQuietly(r)
		return Record{}, fmt.Errorf("start %s of %s: %w", kind, image, err)
	}
	s.Log.Info("job started", "job", r.ID, "kind", string(kind), "image", image.String(), "unit", unit)
	return r, nil
}

// working returns the ID of a job of this kind whose unit runs for image and whose record
// has not ended, or "".
func (s *Service) working(ctx context.Context, kind Kind, image imagename.Name) (string, error) {
	prefix := systemd.Prefix + string(kind) + "-" + image.String() + "-"
	units, err := s.Units.List(ctx, prefix+"*")
	if err != nil {
		return "", fmt.Errorf("list %s jobs: %w", kind, err)
	}
	for _, u := range units {
		id := strings.TrimSuffix(strings.TrimPrefix(u.Name, prefix), ".service")
		if CheckID(id) != nil || !active(u.ActiveState) {
			continue // another image whose name merely starts with this one's
		}
		if r, err := s.Store.Load(id); err != nil || !r.State.Final() {
			return id, nil
		}
	}
	return "", nil
}

func active(state string) bool {
	switch state {
	case "active", "activating", "deactivating", "reloading":
		return true
	}
	return false
}

func (s *Service) argv(r Record) []string {
	argv := []string{s.Binary, "job", "--root", s.Root}
	if s.ConfigFile != "" {
		argv = append(argv, "--config", s.ConfigFile)
	}
	return append(argv, "--job-id", r.ID, "--ogcore-url", s.CallbackURL, string(r.Kind), r.Image)
}

// Get returns the job's record, with the unit's status line while it runs. A job whose
// process is gone without recording an end is reported, and recorded, as failed.
func (s *Service) Get(ctx context.Context, id string) (Record, error) {
	r, err := s.Store.Load(id)
	if err != nil || r.State.Final() {
		return r, err
	}
	u, err := s.Units.Unit(ctx, r.Unit)
	if err != nil {
		s.Log.Warn("could not read the job's unit", "job", id, "unit", r.Unit, "err", err)
		return r, nil
	}
	if active(u.ActiveState) {
		r.Status = u.StatusText
		return r, nil
	}
	// The unit is gone or stopped: the process may just have written its end.
	if again, err := s.Store.Load(id); err == nil && again.State.Final() {
		return again, nil
	}
	now := time.Now().UTC()
	r.State, r.Ended = Failed, &now
	r.Message = fmt.Sprintf("the job process ended without recording a result (unit %s is %s",
		r.Unit, u.ActiveState)
	if u.Result != "" {
		r.Message += ", result " + u.Result
	}
	r.Message += ")"
	s.saveQuietly(r)
	return r, nil
}

func (s *Service) saveQuietly(r Record) {
	if err := s.Store.Save(r); err != nil {
		s.Log.Error("could not save job record", "job", r.ID, "err", err)
	}
}
