package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"

	"github.com/opengnsys/ogrepository/internal/ogcore"
)

// Outcome is what a successful task reports.
type Outcome struct {
	Message string
	ImageID string
}

// Task is the work of one job. It calls progress with the percentage done.
type Task func(ctx context.Context, progress func(percent float64)) (Outcome, error)

// callbackTimeout bounds telling ogCore, even after the job was cancelled.
const callbackTimeout = 2 * time.Minute

// stopGrace is how long a job being stopped keeps trying to tell ogCore.
const stopGrace = 5 * time.Second

// saveEvery bounds how often progress is written to the record.
const saveEvery = time.Second

// Run executes task as job id, inside the job's unit: it records the start, progress and
// end, shows progress as the unit's status line, and then tells ogCore. It returns the
// task's error, so the unit itself ends failed when the job did.
func Run(ctx context.Context, store Store, id string, kind Kind, image string,
	notifier ogcore.Notifier, log *slog.Logger, task Task) error {
	r, err := store.Load(id)
	if err != nil {
		return err
	}
	if r.Kind != kind || r.Image != image {
		return fmt.Errorf("job %s is a %s of %s, not a %s of %s", id, r.Kind, r.Image, kind, image)
	}
	started := time.Now().UTC()
	r.State, r.Started = Running, &started
	if err := store.Save(r); err != nil {
		return err
	}
	status(fmt.Sprintf("%s of %s: started", kind, image))
	log.Info("job running", "job", id, "kind", string(kind), "image", image)

	p := &progress{store: store, rec: &r, log: log}
	out, taskErr := task(ctx, p.report)

	p.mu.Lock()
	ended := time.Now().UTC()
	r.Ended = &ended
	if taskErr != nil {
		r.State, r.Message = Failed, taskErr.Error()
		log.Error("job failed", "job", id, "err", taskErr)
	} else {
		r.State, r.Progress, r.Message, r.ImageID = Succeeded, 100, out.Message, out.ImageID
		log.Info("job succeeded", "job", id, "message", out.Message)
	}
	r.Status = ""
	p.mu.Unlock()
	status(fmt.Sprintf("%s of %s: %s; telling ogCore", kind, image, r.State))
	r.Callback = &ogcore.Result{Pending: true}
	if err := store.Save(r); err != nil {
		log.Error("could not record the job's end", "job", id, "err", err)
	}

	// ogCore must hear of a cancelled job too, but a stopping unit may not linger: once ctx
	// ends, the callback has stopGrace left.
	cbCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callbackTimeout)
	defer cancel()
	stopWatch := context.AfterFunc(ctx, func() { time.AfterFunc(stopGrace, cancel) })
	defer stopWatch()
	res := notifier.Notify(cbCtx, ogcore.Event{
		JobID: id, Kind: string(kind), Image: image, ImageID: r.ImageID,
		Success: taskErr == nil, Message: r.Message, Started: started, Ended: ended,
	})
	r.Callback = &res
	if err := store.Save(r); err != nil {
		log.Error("could not record the callback", "job", id, "err", err)
	}
	status(fmt.Sprintf("%s of %s: %s", kind, image, r.State))
	return taskErr
}

// progress turns a task's reports into STATUS= lines and, at most every saveEvery, into
// the record.
type progress struct {
	mu    sync.Mutex
	store Store
	rec   *Record
	log   *slog.Logger
	saved time.Time
}

func (p *progress) report(percent float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.rec.State.Final() {
		return
	}
	p.rec.Progress = min(max(percent, 0), 100)
	status(fmt.Sprintf("%s of %s: %.0f%%", p.rec.Kind, p.rec.Image, p.rec.Progress))
	if time.Since(p.saved) < saveEvery {
		return
	}
	p.saved = time.Now()
	if err := p.store.Save(*p.rec); err != nil {
		p.log.Warn("could not record progress", "job", p.rec.ID, "err", err)
	}
}

// status sets the unit's status line; outside systemd it does nothing.
func status(line string) {
	_, _ = daemon.SdNotify(false, "STATUS="+line)
}
