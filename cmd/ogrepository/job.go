package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opengnsys/ogrepository/internal/config"
	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/jobs"
	"github.com/opengnsys/ogrepository/internal/ogcore"
)

// jobsDir is where job records live, under etc/.
const jobsDir = "jobs"

func jobStore(paths config.Paths) jobs.Store {
	return jobs.Store{Dir: filepath.Join(paths.Etc, jobsDir)}
}

// runJob is the hidden subcommand the daemon's transient units execute:
// ogrepository job --root DIR --job-id ID --ogcore-url URL KIND IMAGE
func runJob(args []string) error {
	fs := flag.NewFlagSet("job", flag.ContinueOnError)
	var rf repoFlags
	rf.register(fs)
	id := fs.String("job-id", "", "the job's ID, from its record in etc/jobs/")
	url := fs.String("ogcore-url", "", "ogCore's webhook for the completion callback")
	attempts := fs.Int("callback-attempts", 6, "how many times to try the callback")
	backoff := fs.Duration("callback-backoff", 2*time.Second, "wait before the second try; doubles")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("want KIND IMAGE")
	}
	kind := jobs.Kind(fs.Arg(0))
	image, err := imagename.Parse(fs.Arg(1), imagename.Image)
	if err != nil {
		return err
	}
	repo, err := rf.open()
	if err != nil {
		return err
	}
	task, err := jobTask(repo, kind, image)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	notifier := ogcore.Notifier{URL: *url, Attempts: *attempts, Backoff: *backoff,
		MaxBackoff: time.Minute, Log: repo.log}
	return jobs.Run(ctx, jobStore(repo.paths), *id, kind, image.String(), notifier, repo.log, task)
}

// jobTask is the work of each kind of job.
func jobTask(repo repository, kind jobs.Kind, image imagename.Name) (jobs.Task, error) {
	switch kind {
	case jobs.Torrentsum:
		return func(ctx context.Context, progress func(float64)) (jobs.Outcome, error) {
			h, err := repo.catalog.MakeSidecars(ctx, image, repo.cfg.Announce(),
				func(done, total int64) {
					if total > 0 {
						progress(100 * float64(done) / float64(total))
					}
				})
			if err != nil {
				return jobs.Outcome{}, err
			}
			if _, _, err := repo.catalog.Refresh(ctx); err != nil {
				return jobs.Outcome{}, fmt.Errorf("sidecars written, but refresh failed: %w", err)
			}
			return jobs.Outcome{ImageID: h.FullSum,
				Message: fmt.Sprintf("created .sum, .full.sum, .size and .torrent of %s", image)}, nil
		}, nil
	}
	return nil, fmt.Errorf("unknown job kind %q", kind)
}
