// Package jobs runs the repository's long tasks (torrent and checksums now; import, backup
// and conversion later) as transient systemd units that execute this program's own binary.
// The daemon starts a job and returns at once; the job process keeps a record of its state
// in etc/jobs/, reports progress to systemd with STATUS=, and tells ogCore when it ends. The
// records and the units are the state, so jobs survive a restart of the daemon.
package jobs

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/opengnsys/ogrepository/internal/atomicfile"
	"github.com/opengnsys/ogrepository/internal/ogcore"
)

// Kind is what a job does; its unit is named ogrepository-KIND-IMAGE-ID.service.
type Kind string

// Kinds of job.
const (
	Torrentsum Kind = "torrentsum"
)

// State is where a job is in its life.
type State string

// States of a job. Succeeded and Failed are final.
const (
	Starting  State = "starting"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
)

// Final reports whether a job in state s has ended.
func (s State) Final() bool { return s == Succeeded || s == Failed }

// Record is what is known of one job; it is stored as etc/jobs/ID.json.
type Record struct {
	ID       string         `json:"job_id" doc:"The job's ID"`
	Kind     Kind           `json:"kind" doc:"What the job does" enum:"torrentsum"`
	Image    string         `json:"image" doc:"File name of the image it works on"`
	ImageID  string         `json:"image_id,omitempty" doc:"The image's ID (full MD5), once known"`
	Unit     string         `json:"unit" doc:"The transient systemd unit running it"`
	State    State          `json:"state" doc:"starting, running, succeeded or failed" enum:"starting,running,succeeded,failed"`
	Progress float64        `json:"progress" doc:"Percent done, 0 to 100"`
	Status   string         `json:"status,omitempty" doc:"The unit's latest status line"`
	Message  string         `json:"message,omitempty" doc:"What was done, or why it failed"`
	Created  time.Time      `json:"created" doc:"When the job was asked for"`
	Started  *time.Time     `json:"started,omitempty" doc:"When the job process began"`
	Ended    *time.Time     `json:"ended,omitempty" doc:"When it ended"`
	Callback *ogcore.Result `json:"callback,omitempty" doc:"How telling ogCore went"`
}

// ErrNotFound is wrapped when no record has the ID asked for.
var ErrNotFound = errors.New("job not found")

// ErrInvalidID is wrapped when a job ID is malformed.
var ErrInvalidID = errors.New("invalid job ID")

const idLen = 16

// NewID makes a job ID: 16 lower-case hex digits.
func NewID() string {
	b := make([]byte, idLen/2)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// CheckID refuses anything that is not a job ID, before it becomes part of a path.
func CheckID(id string) error {
	if len(id) != idLen {
		return fmt.Errorf("%w: %q is not %d hexadecimal digits", ErrInvalidID, id, idLen)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return fmt.Errorf("%w: %q is not %d hexadecimal digits", ErrInvalidID, id, idLen)
		}
	}
	return nil
}

// Store keeps the records, one JSON file each, written atomically.
type Store struct{ Dir string }

// Save writes r.
func (s Store) Save(r Record) error {
	if err := CheckID(r.ID); err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return fmt.Errorf("job store: %w", err)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode job %s: %w", r.ID, err)
	}
	return atomicfile.Write(filepath.Join(s.Dir, r.ID+".json"), append(b, '\n'), 0o644)
}

// Load reads the record of job id.
func (s Store) Load(id string) (Record, error) {
	if err := CheckID(id); err != nil {
		return Record{}, err
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return Record{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, fmt.Errorf("read job %s: %w", id, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return Record{}, fmt.Errorf("job %s: corrupt record: %w", id, err)
	}
	return r, nil
}
