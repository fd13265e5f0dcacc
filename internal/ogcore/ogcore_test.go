package ogcore

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestNotifyRetriesUntilDelivered(t *testing.T) {
	var calls atomic.Int32
	var got Event
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()

	n := Notifier{URL: srv.URL, Attempts: 5, Backoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	e := Event{JobID: "j1", Kind: "torrentsum", Image: "a.img", Success: true, Message: "ok"}
	res := n.Notify(context.Background(), e)
	if !res.Delivered || res.Attempts != 3 || calls.Load() != 3 {
		t.Fatalf("result %+v after %d calls", res, calls.Load())
	}
	if got.JobID != "j1" || !got.Success || got.Image != "a.img" {
		t.Errorf("ogCore received %+v", got)
	}
}

func TestNotifyGivesUp(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	n := Notifier{URL: srv.URL, Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	res := n.Notify(context.Background(), Event{JobID: "j2"})
	if res.Delivered || res.Attempts != 3 || calls.Load() != 3 || res.LastError == "" {
		t.Fatalf("result %+v after %d calls", res, calls.Load())
	}
}

func TestDefaultURL(t *testing.T) {
	if got := DefaultURL("10.0.0.1"); got != "https://10.0.0.1:8443/og-repository/webhook" {
		t.Errorf("DefaultURL = %s", got)
	}
}
