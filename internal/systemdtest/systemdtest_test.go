package systemdtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// helperEnv, when set in a process's environment, makes the test binary act
// as the service a unit under test runs instead of running tests.
const helperEnv = "OGR_SYSTEMDTEST_HELPER"

// greeting is what the socket-activated helper writes to each connection.
const greeting = "hello from a socket-activated service"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "greeter":
		if err := greet(); err != nil {
			fmt.Fprintln(os.Stderr, "greeter:", err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintf(os.Stderr, "unknown %s %q\n", helperEnv, os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// greet serves the listening socket systemd passed: one greeting a connection.
func greet() error {
	listeners, err := activation.Listeners()
	if err != nil {
		return fmt.Errorf("take sockets from systemd: %w", err)
	}
	if len(listeners) != 1 {
		return fmt.Errorf("got %d sockets from systemd, want 1", len(listeners))
	}
	for {
		conn, err := listeners[0].Accept()
		if err != nil {
			return fmt.Errorf("accept: %w", err)
		}
		fmt.Fprintln(conn, greeting)
		conn.Close()
	}
}

// need fails the test under CI=true and skips it otherwise when tool is
// missing.
func need(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed: %v", tool, err)
		}
		t.Skipf("%s not installed: %v", tool, err)
	}
}

// unitName returns a unit name unique to this run.
func unitName(t *testing.T, kind, suffix string) string {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("ogr-test-%s-%s.%s", kind, hex.EncodeToString(b), suffix)
}

// property returns one property of unit, or of the manager if unit is "", as
// systemctl shows it.
func property(t *testing.T, m *Manager, unit, name string) string {
	t.Helper()
	args := []string{"show", "--value", "-p", name}
	if unit != "" {
		args = append(args, unit)
	}
	out, err := m.Systemctl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// systemdRun runs `systemd-run --user ARGS...` against m.
func systemdRun(t *testing.T, m *Manager, args ...string) string {
	t.Helper()
	cmd := exec.Command("systemd-run", append([]string{"--user"}, args...)...)
	cmd.Env = append(os.Environ(), m.Env()...)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("systemd-run --user %s: %v: %s", strings.Join(args, " "), err, stderr)
	}
	return string(out)
}

// alive reports whether a process with id pid exists and has not exited. An
// exited process whose parent has not reaped it yet (a zombie) counts as
// gone: after a forced stop, the killed manager's children are orphans that
// only this machine's init reaps, whenever it does.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may
	// itself hold spaces or parentheses.
	rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
	fields := strings.Fields(rest)
	return len(fields) > 0 && fields[0] != "Z" && fields[0] != "X"
}

func TestSystemState(t *testing.T) {
	m := ForTest(t, Options{})

	// The client-side check of /run/systemd/system happens outside the
	// manager's mount namespace, so only SystemState tells the truth here.
	if got := property(t, m, "", "SystemState"); got != "running" && got != "degraded" {
		t.Errorf("SystemState = %q, want running or degraded", got)
	}
	if got := property(t, m, "dbus.service", "ActiveState"); got != "active" {
		t.Errorf("dbus.service ActiveState = %q, want active", got)
	}
}

func TestTransientUnitWithSystemdRun(t *testing.T) {
	need(t, "systemd-run")
	m := ForTest(t, Options{})
	unit := unitName(t, "sleep", "service")

	systemdRun(t, m, "--unit", unit, "sleep", "60")
	if got := property(t, m, unit, "ActiveState"); got != "active" {
		t.Fatalf("%s ActiveState = %q after systemd-run, want active", unit, got)
	}
	pid, err := strconv.Atoi(property(t, m, unit, "MainPID"))
	if err != nil || pid <= 0 || !alive(pid) {
		t.Fatalf("%s MainPID = %d (%v), want a live process", unit, pid, err)
	}

	if _, err := m.Systemctl(context.Background(), "stop", unit); err != nil {
		t.Fatal(err)
	}
	if got := property(t, m, unit, "ActiveState"); got != "inactive" {
		t.Errorf("%s ActiveState = %q after stop, want inactive", unit, got)
	}
	if alive(pid) {
		t.Errorf("%s main process %d still alive after stop", unit, pid)
	}
}

// connect opens a go-systemd connection to m's bus, the way a daemon would.
func connect(t *testing.T, m *Manager) *sddbus.Conn {
	t.Helper()
	conn, err := sddbus.NewConnection(func() (*godbus.Conn, error) {
		c, err := godbus.Dial(m.BusAddress)
		if err != nil {
			return nil, err
		}
		if err := c.Auth(nil); err != nil {
			c.Close()
			return nil, err
		}
		if err := c.Hello(); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
	if err != nil {
		t.Fatalf("connect to %s: %v", m.BusAddress, err)
	}
	t.Cleanup(conn.Close)
	return conn
}

// waitJob waits for a job's result; go-systemd reports anything but "done" as
// the job's failure.
func waitJob(t *testing.T, what string, ch <-chan string) {
	t.Helper()
	select {
	case result := <-ch:
		if result != "done" {
			t.Fatalf("%s: job %s", what, result)
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s: no job result within a minute", what)
	}
}

func TestTransientUnitWithGoSystemd(t *testing.T) {
	m := ForTest(t, Options{})
	conn := connect(t, m)
	ctx := context.Background()
	unit := unitName(t, "sleep", "service")

	ch := make(chan string, 1)
	props := []sddbus.Property{
		sddbus.PropDescription("systemdtest transient sleep"),
		sddbus.PropExecStart([]string{"/bin/sleep", "60"}, false),
	}
	if _, err := conn.StartTransientUnitContext(ctx, unit, "replace", props, ch); err != nil {
		t.Fatalf("start %s: %v", unit, err)
	}
	waitJob(t, "start "+unit, ch)
	p, err := conn.GetUnitPropertyContext(ctx, unit, "ActiveState")
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Value.Value(); got != "active" {
		t.Fatalf("%s ActiveState = %v, want active", unit, got)
	}

	if _, err := conn.StopUnitContext(ctx, unit, "replace", ch); err != nil {
		t.Fatalf("stop %s: %v", unit, err)
	}
	waitJob(t, "stop "+unit, ch)
	if got := property(t, m, unit, "ActiveState"); got != "inactive" {
		t.Errorf("%s ActiveState = %q after stop, want inactive", unit, got)
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestSocketActivation(t *testing.T) {
	m := ForTest(t, Options{})
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimSuffix(unitName(t, "greeter", "socket"), ".socket")
	port := freePort(t)

	socket := fmt.Sprintf("[Socket]\nListenStream=127.0.0.1:%d\nAccept=no\n", port)
	service := fmt.Sprintf("[Service]\nEnvironment=%s=greeter\nExecStart=%s\n", helperEnv, self)
	for file, text := range map[string]string{name + ".socket": socket, name + ".service": service} {
		if err := os.WriteFile(filepath.Join(m.UnitDir, file), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := m.Systemctl(ctx, "daemon-reload"); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Systemctl(ctx, "start", name+".socket"); err != nil {
		t.Fatal(err)
	}
	if got := property(t, m, name+".service", "ActiveState"); got != "inactive" {
		t.Fatalf("service ActiveState = %q before any connection, want inactive", got)
	}

	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("read from socket-activated service: %v", err)
	}
	if got := strings.TrimSpace(line); got != greeting {
		t.Errorf("service said %q, want %q", got, greeting)
	}
	if got := property(t, m, name+".service", "ActiveState"); got != "active" {
		t.Errorf("service ActiveState = %q after a connection, want active", got)
	}
}

// netns creates a network namespace for t and deletes it when t ends; it
// returns the namespace's file.
func netns(t *testing.T) string {
	t.Helper()
	need(t, "ip")
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "ogr-test-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return "/run/netns/" + name
}

func TestNetNS(t *testing.T) {
	need(t, "systemd-run")
	need(t, "nsenter")
	ns := netns(t)
	// Registered after netns, so it stops before the namespace is deleted.
	m := ForTest(t, Options{NetNS: ns})

	var want syscall.Stat_t
	if err := syscall.Stat(ns, &want); err != nil {
		t.Fatal(err)
	}
	got := strings.TrimSpace(systemdRun(t, m, "--pipe", "--quiet", "readlink", "/proc/self/ns/net"))
	if wantLink := fmt.Sprintf("net:[%d]", want.Ino); got != wantLink {
		t.Errorf("unit's network namespace = %s, want %s (%s)", got, wantLink, ns)
	}

	links := strings.Split(strings.TrimSpace(
		systemdRun(t, m, "--pipe", "--quiet", "ip", "-o", "link")), "\n")
	if len(links) != 1 || !strings.HasPrefix(links[0], "1: lo:") {
		t.Errorf("unit sees links %q, want only lo", links)
	}
}

// mountNS returns the id of pid's mount namespace.
func mountNS(t *testing.T, pid int) string {
	t.Helper()
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
	if err != nil {
		t.Fatal(err)
	}
	return link
}

// processesIn lists the processes whose mount namespace is ns.
func processesIn(t *testing.T, ns string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && link == ns {
			pids = append(pids, pid)
		}
	}
	return pids
}

// managerPIDs returns the processes of a running manager: the script's shell,
// systemd, the bus, and the main process of a unit started for the purpose.
func managerPIDs(t *testing.T, m *Manager) map[string]int {
	t.Helper()
	unit := unitName(t, "sleep", "service")
	systemdRun(t, m, "--unit", unit, "sleep", "600")
	pids := map[string]int{"script": m.PID}
	data, err := os.ReadFile(filepath.Join(m.RuntimeDir, "manager.pid"))
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{
		"systemd": string(data),
		"bus":     property(t, m, "dbus.service", "MainPID"),
		"unit":    property(t, m, unit, "MainPID"),
	} {
		pid, err := strconv.Atoi(strings.TrimSpace(text))
		if err != nil || pid <= 0 || !alive(pid) {
			t.Fatalf("%s pid %q (%v): want a live process", what, text, err)
		}
		pids[what] = pid
	}
	return pids
}

// checkGone checks that nothing of a stopped manager is left.
func checkGone(t *testing.T, m *Manager, pids map[string]int, ns string, cgroups []string) {
	t.Helper()
	for what, pid := range pids {
		if alive(pid) {
			t.Errorf("%s process %d still alive after Stop", what, pid)
		}
	}
	// The tmpfs mounts live only in the manager's mount namespace, which
	// goes with its last process.
	if left := processesIn(t, ns); len(left) > 0 {
		t.Errorf("processes %v still in the manager's mount namespace %s", left, ns)
	}
	for _, dir := range cgroups {
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s left behind (%v)", dir, err)
		}
	}
	if _, err := os.Stat(m.RuntimeDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime dir %s left behind (%v)", m.RuntimeDir, err)
	}
}

func TestStopLeavesNothing(t *testing.T) {
	need(t, "systemd-run")
	m := ForTest(t, Options{})
	pids := managerPIDs(t, m)
	ns := mountNS(t, pids["systemd"])
	if ns == mountNS(t, os.Getpid()) {
		t.Fatalf("manager shares this process's mount namespace %s", ns)
	}
	cgroups, err := m.cgroups()
	if err != nil || len(cgroups) == 0 {
		t.Fatalf("manager cgroups %v (%v), want some", cgroups, err)
	}

	if err := m.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	checkGone(t, m, pids, ns, cgroups)
	if err := m.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStopKillsStuckManager(t *testing.T) {
	need(t, "systemd-run")
	// Not ForTest: its cleanup would report the forced stop this test causes.
	m, err := Start(context.Background(), Options{})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	pids := managerPIDs(t, m)
	ns := mountNS(t, pids["systemd"])
	cgroups, err := m.cgroups()
	if err != nil {
		t.Fatal(err)
	}

	// A stopped manager cannot act on SIGTERM: Stop must fall back to
	// killing everything in the manager's cgroups.
	for _, what := range []string{"script", "systemd"} {
		if err := syscall.Kill(pids[what], syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
	}
	m.stopTimeout = time.Second
	err = m.Stop()
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Stop of a stuck manager = %v, want an error saying it was killed", err)
	}
	checkGone(t, m, pids, ns, cgroups)
}
