// Package ogcore tells ogCore that an asynchronous job has ended: it POSTs the job's outcome
// as JSON to ogCore's webhook, retrying with back-off, and never undoes the job when ogCore
// cannot be reached.
package ogcore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// DefaultPort and DefaultPath make the webhook URL from IPcore when none is configured.
const (
	DefaultPort = "8443"
	DefaultPath = "/og-repository/webhook"
)

// DefaultURL is ogCore's webhook on the host ipCore.
func DefaultURL(ipCore string) string {
	return "https://" + net.JoinHostPort(ipCore, DefaultPort) + DefaultPath
}

// Event is the body of a completion callback.
type Event struct {
	JobID   string    `json:"job_id" doc:"ID of the job, as returned when it was started"`
	Kind    string    `json:"kind" doc:"What the job did, e.g. torrentsum" enum:"torrentsum,import,backup,virtual"`
	Image   string    `json:"image" doc:"File name of the image the job worked on"`
	ImageID string    `json:"image_id,omitempty" doc:"The image's ID (full MD5) when the job knows it"`
	Success bool      `json:"success" doc:"Whether the job succeeded"`
	Message string    `json:"message" doc:"What was done, or why it failed"`
	Started time.Time `json:"started" doc:"When the job started"`
	Ended   time.Time `json:"ended" doc:"When the job ended"`
}

// Notifier posts events to one webhook.
type Notifier struct {
	URL string
	// Attempts is how many times a callback is tried in all (at least 1).
	Attempts int
	// Backoff is the wait before the second attempt; it doubles after each failure,
	// up to MaxBackoff.
	Backoff, MaxBackoff time.Duration
	Client              *http.Client
	Log                 *slog.Logger
}

// Result says how a callback went, for the job's record.
type Result struct {
	Pending   bool   `json:"pending,omitempty" doc:"Still being tried"`
	Delivered bool   `json:"delivered" doc:"ogCore answered 2xx"`
	Attempts  int    `json:"attempts" doc:"How many POSTs were made"`
	LastError string `json:"last_error,omitempty" doc:"Why the last attempt failed"`
}

// Notify posts e until ogCore answers 2xx or the attempts run out.
func (n Notifier) Notify(ctx context.Context, e Event) Result {
	body, err := json.Marshal(e)
	if err != nil {
		return Result{LastError: err.Error()}
	}
	wait := n.Backoff
	var res Result
	for res.Attempts < max(n.Attempts, 1) {
		if res.Attempts > 0 {
			select {
			case <-ctx.Done():
				res.LastError = ctx.Err().Error()
				return res
			case <-time.After(wait):
			}
			wait = min(wait*2, n.MaxBackoff)
		}
		res.Attempts++
		err := n.post(ctx, body)
		if err == nil {
			res.Delivered, res.LastError = true, ""
			n.Log.Info("told ogCore the job ended", "job", e.JobID, "attempts", res.Attempts)
			return res
		}
		res.LastError = err.Error()
		n.Log.Warn("callback to ogCore failed", "job", e.JobID, "attempt", res.Attempts,
			"url", n.URL, "err", err)
	}
	n.Log.Error("gave up telling ogCore the job ended", "job", e.JobID, "attempts", res.Attempts)
	return res
}

func (n Notifier) post(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	client := n.Client
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("ogCore answered %s", resp.Status)
	}
	return nil
}
