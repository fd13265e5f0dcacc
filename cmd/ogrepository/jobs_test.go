package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/netnstest"
	"github.com/opengnsys/ogrepository/internal/ogcore"
	"github.com/opengnsys/ogrepository/internal/repotest"
	"github.com/opengnsys/ogrepository/internal/systemdtest"
)

// ogCore records the callbacks it receives.
type ogCore struct {
	srv    *httptest.Server
	mu     sync.Mutex
	events []ogcore.Event
	down   bool // answer 503 to every callback
}

func newOgCore(t *testing.T) *ogCore {
	c := &ogCore{}
	c.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e ogcore.Event
		if err := json.NewDecoder(r.Body).Decode(&e); err != nil {
			t.Errorf("callback body: %v", err)
		}
		c.mu.Lock()
		c.events = append(c.events, e)
		down := c.down
		c.mu.Unlock()
		if down {
			http.Error(w, "ogCore is down", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *ogCore) received() []ogcore.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ogcore.Event(nil), c.events...)
}

// daemon is `ogrepository serve` run as a process against a private systemd manager,
// optionally inside a network namespace (then its loopback port is reached from inside it).
type daemon struct {
	t      *testing.T
	tree   *repotest.Tree
	mgr    *systemdtest.Manager
	core   *ogCore
	addr   string
	netns  string
	client *http.Client
	extra  []string // more serve flags
	cmd    *exec.Cmd
	stder  *bytes.Buffer
}

func startDaemon(t *testing.T, tree *repotest.Tree, mgr *systemdtest.Manager, core *ogCore) *daemon {
	t.Helper()
	d := &daemon{t: t, tree: tree, mgr: mgr, core: core, addr: freeAddr(t), client: http.DefaultClient}
	d.start()
	t.Cleanup(d.kill)
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	logDir := filepath.Join(d.tree.Log, "units")
	os.MkdirAll(logDir, 0o755)
	args := append([]string{"serve", "--root", d.tree.Root, "--listen", d.addr,
		"--systemd", "user", "--ogcore-url", d.core.srv.URL + "/webhook", "--unit-log-dir", logDir},
		d.extra...)
	if d.netns != "" {
		d.cmd = netnstest.Command(context.Background(), d.netns, binary, args...)
	} else {
		d.cmd = exec.Command(binary, args...)
	}
	d.cmd.Env = os.Environ()
	if d.mgr != nil {
		d.cmd.Env = append(d.cmd.Env, d.mgr.Env()...)
	}
	d.stder = &bytes.Buffer{}
	pr, pw := io.Pipe()
	d.cmd.Stderr = io.MultiWriter(pw, d.stder)
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	waitLog(d.t, pr, "msg=serving")
}

func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
		d.cmd = nil
	}
}

func (d *daemon) call(method, path, body string) (int, map[string]any) {
	d.t.Helper()
	req, _ := http.NewRequest(method, "http://"+d.addr+"/ogrepository/v1"+path, strings.NewReader(body))
	req.Header.Set("Authorization", d.tree.Config.APIToken)
	req.Header.Set("Content-Type", "application/json")
	client := d.client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &m); err != nil {
		d.t.Fatalf("%s %s: %v: %s", method, path, err, raw)
	}
	return resp.StatusCode, m
}

// waitJob polls the job until done(job) says so.
func (d *daemon) waitJob(id string, done func(map[string]any) bool) map[string]any {
	d.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		status, job := d.call("GET", "/jobs/"+id, "")
		if status != 200 {
			d.t.Fatalf("GET /jobs/%s: %d %v", id, status, job)
		}
		if done(job) {
			return job
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("job %s never got there; daemon log:\n%s", id, d.stder)
	return nil
}

func final(job map[string]any) bool {
	return job["state"] == "succeeded" || job["state"] == "failed"
}

// bigImage makes a sparse image large enough that hashing it takes a while.
func bigImage(t *testing.T, tree *repotest.Tree, name string, size int64) {
	t.Helper()
	f, err := os.Create(filepath.Join(tree.Images, name))
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("partclone-image\x00 not really: a sparse stand-in for a large image")
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestTorrentsumJob(t *testing.T) {
	mgr := systemdtest.ForTest(t, systemdtest.Options{})
	tree := repotest.New(t)
	core := newOgCore(t)
	repotest.CopyFile(t, repotest.SampleImage(t, "lzop"), filepath.Join(tree.Images, "Job.img"))
	bigImage(t, tree, "Big.img", 3<<30)
	d := startDaemon(t, tree, mgr, core)

	// The big one first: its unit must exist and report progress while it runs.
	status, started := d.call("POST", "/images/torrentsum", `{"image":"Big.img"}`)
	if status != 200 || started["success"] != true || started["job_id"] == nil {
		t.Fatalf("POST torrentsum: %d %v", status, started)
	}
	bigID := started["job_id"].(string)
	running := d.waitJob(bigID, func(j map[string]any) bool {
		p, _ := j["progress"].(float64)
		return final(j) || j["state"] == "running" && p > 0
	})
	if running["state"] != "running" {
		t.Fatalf("job ended before it was seen running: %v", running)
	}
	unit := running["unit"].(string)
	if unit != "ogrepository-torrentsum-Big.img-"+bigID+".service" {
		t.Errorf("unit %s", unit)
	}
	show, err := mgr.Systemctl(context.Background(), "show", "-p", "ActiveState", "-p", "StatusText", unit)
	if err != nil || !strings.Contains(show, "ActiveState=active") || !strings.Contains(show, "%") {
		t.Errorf("systemctl show %s: %v\n%s", unit, err, show)
	}
	// A second one for the same image while it runs is refused, and starts nothing.
	if status, body := d.call("POST", "/images/torrentsum", `{"image":"Big.img"}`); status != 409 {
		t.Errorf("second torrentsum while one runs: %d %v", status, body)
	}

	status, started = d.call("POST", "/images/torrentsum", `{"image":"Job.img"}`)
	if status != 200 {
		t.Fatalf("POST torrentsum Job.img: %d %v", status, started)
	}
	job := d.waitJob(started["job_id"].(string), final)
	if job["state"] != "succeeded" || job["progress"] != 100.0 || job["started"] == nil || job["ended"] == nil {
		t.Fatalf("job: %v", job)
	}
	bigJob := d.waitJob(bigID, final)
	if bigJob["state"] != "succeeded" {
		t.Fatalf("big job: %v", bigJob)
	}

	// Its sidecars are byte-identical to what the command writes.
	jobSums := readSidecars(t, tree.Images, "Job.img")
	if out, err := ogrepository(t, "torrentsum", "--root", tree.Root, "Job.img"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if cmdSums := readSidecars(t, tree.Images, "Job.img"); !equalMaps(jobSums, cmdSums) {
		t.Error("sidecars from the job differ from the command's")
	}
	if job["image_id"] != strings.TrimSpace(jobSums[".full.sum"]) {
		t.Errorf("job image_id %v, .full.sum %s", job["image_id"], jobSums[".full.sum"])
	}

	// ogCore heard exactly one success for each job.
	events := waitEvents(t, core, 2)
	for _, e := range events {
		if !e.Success || e.Kind != "torrentsum" {
			t.Errorf("callback %+v", e)
		}
	}
	if events[0].JobID == events[1].JobID {
		t.Errorf("two callbacks for one job: %+v", events)
	}
	if n := len(core.received()); n != 2 {
		t.Errorf("%d callbacks, want 2", n)
	}
}

func waitEvents(t *testing.T, core *ogCore, n int) []ogcore.Event {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if ev := core.received(); len(ev) >= n {
			time.Sleep(100 * time.Millisecond) // a duplicate would show now
			return core.received()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("ogCore received %d callbacks, want %d", len(core.received()), n)
	return nil
}

func readSidecars(t *testing.T, dir, image string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, s := range []string{".sum", ".full.sum", ".size", ".torrent"} {
		b, err := os.ReadFile(filepath.Join(dir, image+s))
		if err != nil {
			t.Fatal(err)
		}
		m[s] = string(b)
	}
	return m
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestTorrentsumRefusedBeforeAnyUnit(t *testing.T) {
	mgr := systemdtest.ForTest(t, systemdtest.Options{})
	tree := repotest.New(t)
	d := startDaemon(t, tree, mgr, newOgCore(t))
	for _, body := range []string{`{"image":"Missing.img"}`, `{"image":"../etc/passwd.img"}`,
		`{"image":".x.img"}`, `{"image":5}`, `{}`, `{"image":"x.iso"}`} {
		if status, rep := d.call("POST", "/images/torrentsum", body); status != 400 {
			t.Errorf("%s: %d %v", body, status, rep)
		}
	}
	out, err := mgr.Systemctl(context.Background(), "list-units", "--all", "--no-legend", "ogrepository-*")
	if err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("units after refused requests: %v\n%s", err, out)
	}
	if status, rep := d.call("GET", "/jobs/0123456789abcdef", ""); status != 404 {
		t.Errorf("unknown job: %d %v", status, rep)
	}
	if status, rep := d.call("GET", "/jobs/..%2f..%2fetc", ""); status != 400 {
		t.Errorf("hostile job ID: %d %v", status, rep)
	}
}

func TestTorrentsumImageVanishes(t *testing.T) {
	mgr := systemdtest.ForTest(t, systemdtest.Options{})
	tree := repotest.New(t)
	core := newOgCore(t)
	bigImage(t, tree, "Vanish.img", 4<<30)
	d := startDaemon(t, tree, mgr, core)

	_, started := d.call("POST", "/images/torrentsum", `{"image":"Vanish.img"}`)
	id, _ := started["job_id"].(string)
	running := d.waitJob(id, func(j map[string]any) bool {
		p, _ := j["progress"].(float64)
		return final(j) || p > 0
	})
	if final(running) {
		t.Fatalf("job ended before the image could vanish: %v", running)
	}
	if err := os.Remove(filepath.Join(tree.Images, "Vanish.img")); err != nil {
		t.Fatal(err)
	}
	job := d.waitJob(id, final)
	msg, _ := job["message"].(string)
	if job["state"] != "failed" || !strings.Contains(msg, "disappeared") {
		t.Fatalf("job after its image vanished: %v", job)
	}
	ev := waitEvents(t, core, 1)
	if len(ev) != 1 || ev[0].Success || !strings.Contains(ev[0].Message, "disappeared") {
		t.Fatalf("callbacks: %+v", ev)
	}
	if left, _ := filepath.Glob(filepath.Join(tree.Images, "Vanish.img*")); len(left) != 0 {
		t.Errorf("sidecars written for a vanished image: %v", left)
	}
}

func TestJobSurvivesDaemonRestart(t *testing.T) {
	mgr := systemdtest.ForTest(t, systemdtest.Options{})
	tree := repotest.New(t)
	core := newOgCore(t)
	bigImage(t, tree, "Long.img", 4<<30)
	d := startDaemon(t, tree, mgr, core)

	_, started := d.call("POST", "/images/torrentsum", `{"image":"Long.img"}`)
	id, _ := started["job_id"].(string)
	d.waitJob(id, func(j map[string]any) bool { return j["state"] == "running" || final(j) })
	d.kill()
	d.start()

	job := d.waitJob(id, final)
	if job["state"] != "succeeded" {
		t.Fatalf("job after a daemon restart: %v", job)
	}
	if ev := waitEvents(t, core, 1); len(ev) != 1 || !ev[0].Success || ev[0].JobID != id {
		t.Fatalf("callbacks: %+v", ev)
	}
}

// TestTorrentsumAgainWhileCallbackRetries: a job that has written its sidecars and only
// retries its callback does not keep the image busy.
func TestTorrentsumAgainWhileCallbackRetries(t *testing.T) {
	mgr := systemdtest.ForTest(t, systemdtest.Options{})
	tree := repotest.New(t)
	core := newOgCore(t)
	core.down = true
	repotest.CopyFile(t, repotest.SampleImage(t, "lzop"), filepath.Join(tree.Images, "Again.img"))
	d := startDaemon(t, tree, mgr, core)

	_, first := d.call("POST", "/images/torrentsum", `{"image":"Again.img"}`)
	job := d.waitJob(first["job_id"].(string), final)
	if job["state"] != "succeeded" {
		t.Fatalf("first job: %v", job)
	}
	waitEvents(t, core, 1) // ogCore refused it: the unit is now retrying
	unit := job["unit"].(string)
	if state := show(t, mgr, unit, "ActiveState"); state != "active" {
		t.Fatalf("first job's unit is %s; the test needs it still retrying", state)
	}
	status, second := d.call("POST", "/images/torrentsum", `{"image":"Again.img"}`)
	if status != 200 {
		t.Fatalf("second torrentsum while the first only retries its callback: %d %v", status, second)
	}
	if job := d.waitJob(second["job_id"].(string), final); job["state"] != "succeeded" {
		t.Fatalf("second job: %v", job)
	}
}
