package p2p

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
)

// TestTrackerAcceptsEveryByte asks a real opentracker, on loopback, about info-hashes made
// of the bytes a URL query treats specially. Each must be asked about as itself: a space
// written as "+" reaches opentracker as a "+", so the daemon would take the tracker to
// refuse a listed torrent, and here it would find the "+" hash, which is not listed.
func TestTrackerAcceptsEveryByte(t *testing.T) {
	partclonetest.RequireTools(t, DefaultTracker)
	listed := map[string]bool{}
	plain := hex.EncodeToString(bytes.Repeat([]byte("a"), 20))
	listed[plain] = true
	for _, c := range []byte(" %&=?#/;:\x00\xff") {
		listed[hex.EncodeToString(bytes.Repeat([]byte{c}, 20))] = true
	}
	unlisted := []string{
		hex.EncodeToString(bytes.Repeat([]byte("+"), 20)),
		hex.EncodeToString(append(bytes.Repeat([]byte(" "), 19), '!')),
	}

	dir := t.TempDir()
	var hashes []string
	for h := range listed {
		hashes = append(hashes, h)
	}
	if err := writeWhitelist(dir, hashes); err != nil {
		t.Fatal(err)
	}
	addr := startOpentracker(t, dir)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The tracker reads its list in a thread of its own once it runs: wait for it to
	// serve a hash that needs no escaping.
	for {
		ok, err := trackerAccepts(ctx, addr, plain)
		if err == nil && ok {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the tracker never served %s: %v", plain, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for h := range listed {
		if ok, err := trackerAccepts(ctx, addr, h); err != nil || !ok {
			t.Errorf("listed %s: accepted %v, %v", h, ok, err)
		}
	}
	for _, h := range unlisted {
		if ok, err := trackerAccepts(ctx, addr, h); err != nil || ok {
			t.Errorf("unlisted %s: accepted %v, %v", h, ok, err)
		}
	}
}

// startOpentracker runs opentracker on a free loopback port with the whitelist in dir,
// chrooted there when the test runs as root, and stops it, by its PID, at the end.
func startOpentracker(t *testing.T, dir string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	cmd := exec.Command(DefaultTracker, "-i", "127.0.0.1", "-p", port, "-P", port,
		"-d", dir, "-u", trackerUser(), "-w", WhitelistFile)
	logPath := filepath.Join(t.TempDir(), "opentracker.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	logged := func() string {
		b, _ := os.ReadFile(logPath)
		return string(b)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("opentracker:\n%s", logged())
		}
	})
	addr := net.JoinHostPort("127.0.0.1", port)
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/")
		if err == nil {
			resp.Body.Close()
			return addr
		}
		select {
		case werr := <-exited:
			exited <- werr
			t.Fatalf("opentracker exited: %v\n%s", werr, logged())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("opentracker does not answer on %s: %v\n%s", addr, err, logged())
		}
	}
}
