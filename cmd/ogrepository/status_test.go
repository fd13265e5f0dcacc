package main_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opengnsys/ogrepository/internal/repotest"
	"github.com/opengnsys/ogrepository/internal/systemdtest"
)

// TestStatus reads GET /status from a daemon on a private manager, with a dummy service
// active, then stopped, a service that does not exist, and a transmission unit running.
func TestStatus(t *testing.T) {
	mgr := systemdtest.ForTest(t, systemdtest.Options{})
	ctx := context.Background()
	unit := "[Unit]\nDescription=stand-in for a service\n[Service]\nExecStart=/bin/sleep 300\n"
	if err := os.WriteFile(filepath.Join(mgr.UnitDir, "ogr-dummy.service"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := mgr.Systemctl(ctx, "daemon-reload"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if out, err := mgr.Systemctl(ctx, "start", "ogr-dummy.service"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}

	tree := repotest.New(t)
	d := &daemon{t: t, tree: tree, mgr: mgr, core: newOgCore(t), addr: freeAddr(t)}
	d.cmd = exec.Command(binary, "serve", "--root", tree.Root, "--listen", d.addr,
		"--systemd", "user", "--services", "ogr-dummy,ogr-absent", "--oggit-unit", "ogr-dummy.service")
	d.cmd.Env = append(os.Environ(), mgr.Env()...)
	stderr, _ := d.cmd.StderrPipe()
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.kill)
	waitLog(t, stderr, "msg=serving")

	status, rep := d.call("GET", "/status", "")
	if status != 200 {
		t.Fatalf("%d %v", status, rep)
	}
	services := rep["services"].(map[string]any)
	if services["ogr-dummy"] != "active" || services["ogr-absent"] != "not-found" {
		t.Errorf("services %v", services)
	}
	if rep["oggit"].(map[string]any)["installed"] != "True" {
		t.Errorf("oggit %v", rep["oggit"])
	}
	for _, k := range []string{"cpu", "ram", "disk"} {
		if _, ok := rep[k].(map[string]any); !ok {
			t.Errorf("no %s in %v", k, rep)
		}
	}
	if disk := rep["disk"].(map[string]any); !strings.HasSuffix(disk["total"].(string), "GB") ||
		!strings.HasSuffix(disk["used_percentage"].(string), "%") {
		t.Errorf("disk %v", disk)
	}
	if p := rep["processes"].(map[string]any); p["udp-sender"] != "stopped" || p["seeder"] != "stopped" {
		t.Errorf("processes before any transmission: %v", p)
	}

	if out, err := mgr.Systemctl(ctx, "stop", "ogr-dummy.service"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	run := exec.Command("systemd-run", "--user", "--unit", "ogrepository-udpcast-9000-test.img", "/bin/sleep", "300")
	run.Env = append(os.Environ(), mgr.Env()...)
	if out, err := run.CombinedOutput(); err != nil {
		t.Fatalf("systemd-run: %v\n%s", err, out)
	}
	t.Cleanup(func() { mgr.Systemctl(ctx, "stop", "ogrepository-udpcast-9000-test.img.service") })

	_, rep = d.call("GET", "/status", "")
	if s := rep["services"].(map[string]any)["ogr-dummy"]; s != "inactive" {
		t.Errorf("stopped service reads %v", s)
	}
	if p := rep["processes"].(map[string]any); p["udp-sender"] != "running" || p["uftp"] != "stopped" {
		t.Errorf("processes with a UDPcast unit running: %v", p)
	}
}
