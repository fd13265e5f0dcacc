package main_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/partclone/partclonetest"
	"github.com/opengnsys/ogrepository/internal/repotest"
	"github.com/opengnsys/ogrepository/internal/systemdtest"
)

func getImages(t *testing.T, addr, token string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+addr+"/ogrepository/v1/images", nil)
	req.Header.Set("Authorization", token)
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /images on %s: %v", addr, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSocketActivateCommand serves through systemd-socket-activate, which holds the
// socket and starts the daemon on the first connection.
func TestSocketActivateCommand(t *testing.T) {
	partclonetest.RequireTools(t, "systemd-socket-activate")
	tree := repotest.New(t)
	addr := freeAddr(t)
	cmd := exec.Command("systemd-socket-activate", "-l", addr,
		binary, "serve", "--root", tree.Root, "--listen", "127.0.0.1:1")
	logFile := filepath.Join(t.TempDir(), "log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); f.Close() })
	waitFile(t, logFile, "Listening on")

	if status := getImages(t, addr, tree.Config.APIToken); status != 200 {
		t.Fatalf("status %d", status)
	}
	log, _ := os.ReadFile(logFile)
	if !strings.Contains(string(log), "listener=systemd") {
		t.Errorf("the daemon did not take the passed socket:\n%s", log)
	}
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%s never said %q:\n%s", path, want, b)
}

// TestSocketUnits loads units/ogrepository.socket and .service, with test paths, into a
// private systemd manager: the first connection starts the service, which reports ready
// and, after its idle time, exits; the next connection starts it again.
func TestSocketUnits(t *testing.T) {
	mgr := systemdtest.ForTest(t, systemdtest.Options{})
	tree := repotest.New(t)
	addr := freeAddr(t)
	installUnits(t, mgr, addr, binary+" serve --root "+tree.Root+" --systemd user --idle-exit 2s")
	ctx := context.Background()
	if out, err := mgr.Systemctl(ctx, "start", "ogrepository.socket"); err != nil {
		t.Fatalf("start socket: %v\n%s", err, out)
	}
	if state := show(t, mgr, "ogrepository.service", "ActiveState"); state != "inactive" {
		t.Fatalf("service %s before any connection", state)
	}

	if status := getImages(t, addr, tree.Config.APIToken); status != 200 {
		t.Fatalf("status %d", status)
	}
	if state := show(t, mgr, "ogrepository.service", "ActiveState"); state != "active" {
		t.Errorf("service %s after the first connection", state)
	}
	if typ := show(t, mgr, "ogrepository.service", "Type"); typ != "notify" {
		t.Errorf("service Type=%s", typ)
	}
	firstPID := show(t, mgr, "ogrepository.service", "MainPID")

	waitState(t, mgr, "ogrepository.service", "inactive", 30*time.Second)
	if result := show(t, mgr, "ogrepository.service", "Result"); result != "success" {
		t.Errorf("idle exit ended with result %s", result)
	}
	if state := show(t, mgr, "ogrepository.socket", "ActiveState"); state != "listening" && state != "active" {
		t.Errorf("socket %s after the idle exit", state)
	}
	if status := getImages(t, addr, tree.Config.APIToken); status != 200 {
		t.Fatalf("after idle exit: status %d", status)
	}
	if pid := show(t, mgr, "ogrepository.service", "MainPID"); pid == firstPID || pid == "0" {
		t.Errorf("MainPID %s after restart, was %s", pid, firstPID)
	}
}

// installUnits copies the checked-in units into the manager, listening on addr and
// running execStart.
func installUnits(t *testing.T, mgr *systemdtest.Manager, addr, execStart string) {
	t.Helper()
	socket, err := os.ReadFile("../../units/ogrepository.socket")
	if err != nil {
		t.Fatal(err)
	}
	service, err := os.ReadFile("../../units/ogrepository.service")
	if err != nil {
		t.Fatal(err)
	}
	listen := regexp.MustCompile(`(?m)^ListenStream=.*$`)
	exec := regexp.MustCompile(`(?m)^ExecStart=.*$`)
	if !listen.Match(socket) || !exec.Match(service) {
		t.Fatal("the checked-in units lack ListenStream= or ExecStart=")
	}
	socket = listen.ReplaceAll(socket, []byte("ListenStream="+addr))
	service = exec.ReplaceAll(service, []byte("ExecStart="+execStart))
	for name, b := range map[string][]byte{"ogrepository.socket": socket, "ogrepository.service": service} {
		if err := os.WriteFile(filepath.Join(mgr.UnitDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := mgr.Systemctl(context.Background(), "daemon-reload"); err != nil {
		t.Fatalf("daemon-reload: %v\n%s", err, out)
	}
}

func show(t *testing.T, mgr *systemdtest.Manager, unit, prop string) string {
	t.Helper()
	out, err := mgr.Systemctl(context.Background(), "show", "--value", "-p", prop, unit)
	if err != nil {
		t.Fatalf("show %s %s: %v\n%s", unit, prop, err, out)
	}
	return strings.TrimSpace(out)
}

func waitState(t *testing.T, mgr *systemdtest.Manager, unit, want string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if show(t, mgr, unit, "ActiveState") == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never became %s (is %s)", unit, want, show(t, mgr, unit, "ActiveState"))
}
