package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// idleTracker notices when the daemon has served nothing for a while, so that a
// socket-activated daemon can exit and let systemd start it again on the next connection.
type idleTracker struct {
	inflight atomic.Int64
	last     atomic.Int64 // UnixNano of the last request's end
}

func newIdleTracker() *idleTracker {
	t := &idleTracker{}
	t.last.Store(time.Now().UnixNano())
	return t
}

func (t *idleTracker) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.inflight.Add(1)
		defer func() {
			t.last.Store(time.Now().UnixNano())
			t.inflight.Add(-1)
		}()
		next.ServeHTTP(w, r)
	})
}

// wait returns once no request has been in flight for d, or when ctx ends.
func (t *idleTracker) wait(ctx context.Context, d time.Duration) {
	tick := time.NewTicker(min(max(d/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			idle := time.Since(time.Unix(0, t.last.Load()))
			if t.inflight.Load() == 0 && idle >= d {
				return
			}
		}
	}
}
