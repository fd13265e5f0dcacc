package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/ogcore"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestStore(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "jobs")}
	r := Record{ID: NewID(), Kind: Torrentsum, Image: "a.img", Unit: "u", State: Starting}
	if err := s.Save(r); err != nil {
		t.Fatal(err)
	}
	got, err := s.Load(r.ID)
	if err != nil || got.ID != r.ID || got.State != Starting {
		t.Fatalf("Load = %+v, %v", got, err)
	}
	if _, err := s.Load("0123456789abcdef"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown ID: %v", err)
	}
	for _, bad := range []string{"", "../../etc/passwd", "0123456789ABCDEF", "0123456789abcde/", "0123456789abcdef0"} {
		if _, err := s.Load(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Load(%q): %v", bad, err)
		}
		if err := s.Save(Record{ID: bad}); !errors.Is(err, ErrInvalidID) {
			t.Errorf("Save(%q): %v", bad, err)
		}
	}
	if entries, _ := os.ReadDir(s.Dir); len(entries) != 1 {
		t.Errorf("store holds %d files, want 1", len(entries))
	}
}

func TestRunRecordsAndCallsBack(t *testing.T) {
	var got []ogcore.Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e ogcore.Event
		json.NewDecoder(r.Body).Decode(&e)
		got = append(got, e)
	}))
	defer srv.Close()
	n := ogcore.Notifier{URL: srv.URL, Attempts: 1, Log: quiet()}
	s := Store{Dir: t.TempDir()}

	for _, c := range []struct {
		name string
		err  error
	}{{"ok", nil}, {"fails", errors.New("disk on fire")}} {
		r := Record{ID: NewID(), Kind: Torrentsum, Image: "a.img", State: Starting}
		if err := s.Save(r); err != nil {
			t.Fatal(err)
		}
		err := Run(context.Background(), s, r.ID, Torrentsum, "a.img", n, quiet(),
			func(ctx context.Context, progress func(float64)) (Outcome, error) {
				progress(50)
				return Outcome{Message: "done", ImageID: "x"}, c.err
			})
		if !errors.Is(err, c.err) {
			t.Errorf("%s: Run returned %v", c.name, err)
		}
		rec, _ := s.Load(r.ID)
		want := Succeeded
		if c.err != nil {
			want = Failed
		}
		if rec.State != want || rec.Started == nil || rec.Ended == nil || rec.Callback == nil ||
			!rec.Callback.Delivered {
			t.Errorf("%s: record %+v", c.name, rec)
		}
		if c.err != nil && rec.Message != "disk on fire" {
			t.Errorf("%s: message %q", c.name, rec.Message)
		}
	}
	if len(got) != 2 || !got[0].Success || got[1].Success || got[1].Message != "disk on fire" {
		t.Errorf("callbacks %+v", got)
	}

	// A job for another image than its record says is refused before it runs.
	r := Record{ID: NewID(), Kind: Torrentsum, Image: "a.img"}
	s.Save(r)
	ran := false
	err := Run(context.Background(), s, r.ID, Torrentsum, "b.img", n, quiet(),
		func(context.Context, func(float64)) (Outcome, error) { ran = true; return Outcome{}, nil })
	if err == nil || ran {
		t.Errorf("mismatched job ran: %v", err)
	}
}

// TestStoppedJobStopsRetrying shows that a job whose context ends (its unit being stopped)
// gives up on an unreachable ogCore within the grace period instead of retrying for minutes.
func TestStoppedJobStopsRetrying(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer srv.Close()
	n := ogcore.Notifier{URL: srv.URL, Attempts: 1000, Backoff: 50 * time.Millisecond,
		MaxBackoff: 50 * time.Millisecond, Log: quiet()}
	s := Store{Dir: t.TempDir()}
	r := Record{ID: NewID(), Kind: Torrentsum, Image: "a.img"}
	s.Save(r)
	ctx, cancel := context.WithCancel(context.Background())
	err := Run(ctx, s, r.ID, Torrentsum, "a.img", n, quiet(),
		func(ctx context.Context, _ func(float64)) (Outcome, error) {
			cancel()
			return Outcome{}, ctx.Err()
		})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
	rec, _ := s.Load(r.ID)
	if rec.State != Failed || rec.Callback == nil || rec.Callback.Delivered ||
		rec.Callback.Attempts >= 1000 {
		t.Errorf("record %+v, callback %+v", rec, rec.Callback)
	}
}
