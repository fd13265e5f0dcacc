package systemd

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"

	"github.com/opengnsys/ogrepository/internal/systemdtest"
)

// testTimeout bounds each test's work against the manager; it is a guard
// against a hang, not an assertion on speed.
const testTimeout = 60 * time.Second

// newConn starts a private manager for t and connects to it.
func newConn(t *testing.T) (context.Context, *Conn, *systemdtest.Manager) {
	t.Helper()
	m := systemdtest.ForTest(t, systemdtest.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	c, err := DialAddress(ctx, m.BusAddress)
	if err != nil {
		t.Fatalf("DialAddress: %v", err)
	}
	t.Cleanup(c.Close)
	return ctx, c, m
}

// lookPath finds a tool the test needs: under CI=true its absence fails the
// test.
func lookPath(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s needed: %v", name, err)
		}
		t.Skipf("%s needed: %v", name, err)
	}
	return path
}

func mustName(t *testing.T, kind string, parts ...string) string {
	t.Helper()
	name, err := UnitName(kind, parts...)
	if err != nil {
		t.Fatal(err)
	}
	return name
}

func mustUnit(ctx context.Context, t *testing.T, c *Conn, name string) UnitState {
	t.Helper()
	st, err := c.Unit(ctx, name)
	if err != nil {
		t.Fatalf("Unit(%s): %v", name, err)
	}
	return st
}

// waitState polls name until its ActiveState is want, or ctx ends.
func waitState(ctx context.Context, t *testing.T, c *Conn, name, want string) UnitState {
	t.Helper()
	for {
		st := mustUnit(ctx, t, c, name)
		if st.ActiveState == want {
			return st
		}
		select {
		case <-ctx.Done():
			t.Fatalf("unit %s still %s, never %s: %v", name, st.ActiveState, want, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestStartStop(t *testing.T) {
	ctx, c, m := newConn(t)
	name := mustName(t, "test", "sleep", "Ubuntu24.img")

	argv := []string{"/bin/sleep", "60"}
	err := c.StartTransient(ctx, Transient{Name: name, Description: "test sleeper", Argv: argv})
	if err != nil {
		t.Fatalf("StartTransient: %v", err)
	}
	st := mustUnit(ctx, t, c, name)
	if st.LoadState != "loaded" || st.ActiveState != "active" || st.SubState != "running" {
		t.Errorf("after start: %s/%s/%s, want loaded/active/running",
			st.LoadState, st.ActiveState, st.SubState)
	}
	if st.MainPID == 0 {
		t.Error("after start: no MainPID")
	}
	if st.Description != "test sleeper" || strings.Join(st.Argv, " ") != "/bin/sleep 60" {
		t.Errorf("after start: description %q, argv %q", st.Description, st.Argv)
	}
	if st.ActiveEnter.IsZero() || st.ExecMainStart.IsZero() || !st.ExecMainExit.IsZero() {
		t.Errorf("after start: times ActiveEnter %v ExecMainStart %v ExecMainExit %v",
			st.ActiveEnter, st.ExecMainStart, st.ExecMainExit)
	}
	// systemctl sees the same unit: the state is not only this package's view.
	if out, err := m.Systemctl(ctx, "show", "-P", "MainPID", name); err != nil ||
		strings.TrimSpace(out) == "0" {
		t.Errorf("systemctl show MainPID: %q, %v", out, err)
	}

	if err := c.Stop(ctx, name); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	st = mustUnit(ctx, t, c, name)
	if st.LoadState != "not-found" {
		t.Errorf("after stop: LoadState %s (%s), want not-found", st.LoadState, st.ActiveState)
	}

	err = c.Stop(ctx, name)
	if !errors.Is(err, ErrNoSuchUnit) {
		t.Errorf("Stop of a gone unit: %v, want ErrNoSuchUnit", err)
	}
	if err := c.Stop(ctx, "dbus.service"); err == nil {
		t.Error("Stop of a unit not this project's accepted")
	}
	if st, err := c.ActiveState(ctx, "dbus.service"); err != nil || st != "active" {
		t.Errorf("dbus.service still running? %q, %v", st, err)
	}
}

func TestFailedUnit(t *testing.T) {
	ctx, c, _ := newConn(t)
	name := mustName(t, "test", "exit3")

	// oneshot: the start job waits for the exit, and fails with it.
	err := c.StartTransient(ctx, Transient{Name: name, Type: "oneshot",
		Argv: []string{"/bin/sh", "-c", "exit 3"}})
	if err == nil {
		t.Fatal("StartTransient of a oneshot exiting 3 succeeded")
	}
	for _, want := range []string{name, "job failed", "ActiveState=failed", "ExecMainStatus=3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	checkExit3(ctx, t, c, name)

	if err := c.ResetFailed(ctx, name); err != nil {
		t.Fatalf("ResetFailed: %v", err)
	}
	if st := mustUnit(ctx, t, c, name); st.LoadState != "not-found" {
		t.Errorf("after ResetFailed: %s/%s, want not-found", st.LoadState, st.ActiveState)
	}
	if err := c.ResetFailed(ctx, name); !errors.Is(err, ErrNoSuchUnit) {
		t.Errorf("ResetFailed of a gone unit: %v, want ErrNoSuchUnit", err)
	}
}

func TestFailedExecUnit(t *testing.T) {
	ctx, c, _ := newConn(t)
	name := mustName(t, "test", "exit3")

	// exec: the start succeeds once the command runs. It exits only once told
	// to, so that its start job surely ends first.
	gate := filepath.Join(t.TempDir(), "gate")
	script := `while [ ! -e "$1" ]; do sleep 0.02; done; exit 3`
	err := c.StartTransient(ctx, Transient{Name: name,
		Argv: []string{"/bin/sh", "-c", script, "sh", gate}})
	if err != nil {
		t.Fatalf("StartTransient: %v", err)
	}
	if st := mustUnit(ctx, t, c, name); st.ActiveState != "active" || st.MainPID == 0 {
		t.Fatalf("started unit %s, PID %d", st.ActiveState, st.MainPID)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	waitState(ctx, t, c, name, "failed")
	checkExit3(ctx, t, c, name)

	// Stop resets a failed unit too.
	if err := c.Stop(ctx, name); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if st := mustUnit(ctx, t, c, name); st.LoadState != "not-found" {
		t.Errorf("after Stop: %s/%s, want not-found", st.LoadState, st.ActiveState)
	}
}

func checkExit3(ctx context.Context, t *testing.T, c *Conn, name string) {
	t.Helper()
	st := mustUnit(ctx, t, c, name)
	if st.ActiveState != "failed" || st.Result != "exit-code" ||
		st.ExecMainCode != ExitedCode || st.ExecMainStatus != 3 || st.MainPID != 0 {
		t.Errorf("failed unit: %+v; want failed, exit-code, code %d, status 3, no PID",
			st, ExitedCode)
	}
	if st.ExecMainExit.IsZero() || st.InactiveEnter.IsZero() {
		t.Errorf("failed unit: ExecMainExit %v, InactiveEnter %v", st.ExecMainExit,
			st.InactiveEnter)
	}
	if got, err := c.ActiveState(ctx, name); err != nil || got != "failed" {
		t.Errorf("ActiveState = %q, %v; want failed", got, err)
	}
}

func TestNotifyStatus(t *testing.T) {
	notify := lookPath(t, "systemd-notify")
	ctx, c, _ := newConn(t)
	name := mustName(t, "test", "notify")

	script := notify + " --ready --status='copying 42%' && exec /bin/sleep 60"
	err := c.StartTransient(ctx, Transient{Name: name, Type: "notify", NotifyAccess: "all",
		Argv: []string{"/bin/sh", "-c", script}})
	if err != nil {
		t.Fatalf("StartTransient: %v", err)
	}
	st := mustUnit(ctx, t, c, name)
	if st.ActiveState != "active" || st.StatusText != "copying 42%" {
		t.Errorf("notify unit: %s, status %q; want active, %q", st.ActiveState, st.StatusText,
			"copying 42%")
	}
	if err := c.Stop(ctx, name); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func TestNameReuse(t *testing.T) {
	ctx, c, _ := newConn(t)
	name := mustName(t, "test", "reuse")
	sleeper := Transient{Name: name, Argv: []string{"/bin/sleep", "60"}}

	if err := c.StartTransient(ctx, sleeper); err != nil {
		t.Fatalf("StartTransient: %v", err)
	}
	first := mustUnit(ctx, t, c, name).MainPID
	err := c.StartTransient(ctx, sleeper)
	if !errors.Is(err, ErrUnitExists) {
		t.Fatalf("StartTransient of an active name: %v, want ErrUnitExists", err)
	}
	if st := mustUnit(ctx, t, c, name); st.ActiveState != "active" || st.MainPID != first {
		t.Errorf("refused start touched the unit: %s, PID %d, was %d", st.ActiveState,
			st.MainPID, first)
	}
	if err := c.Stop(ctx, name); err != nil {
		t.Fatalf("Stop: %v", err)
	}

	// A failed unit's name is reused: reset first, then started anew.
	fail := Transient{Name: name, Type: "oneshot", Argv: []string{"/bin/sh", "-c", "exit 3"}}
	if err := c.StartTransient(ctx, fail); err == nil {
		t.Fatal("failing oneshot started")
	}
	if st := mustUnit(ctx, t, c, name); st.ActiveState != "failed" {
		t.Fatalf("unit %s, want failed", st.ActiveState)
	}
	if err := c.StartTransient(ctx, sleeper); err != nil {
		t.Fatalf("StartTransient over a failed unit: %v", err)
	}
	if st := mustUnit(ctx, t, c, name); st.ActiveState != "active" || st.MainPID == 0 ||
		st.Result != "success" {
		t.Errorf("restarted unit: %s, PID %d, result %s", st.ActiveState, st.MainPID, st.Result)
	}

	// RemainAfterExit keeps a finished unit active: its name stays taken
	// until it is stopped.
	done := mustName(t, "test", "remain")
	remain := Transient{Name: done, Type: "oneshot", RemainAfterExit: true,
		Argv: []string{"/bin/true"}}
	if err := c.StartTransient(ctx, remain); err != nil {
		t.Fatalf("StartTransient remain: %v", err)
	}
	st := mustUnit(ctx, t, c, done)
	if st.ActiveState != "active" || st.SubState != "exited" || st.ExecMainCode != ExitedCode {
		t.Errorf("remaining unit: %+v", st)
	}
	if err := c.StartTransient(ctx, remain); !errors.Is(err, ErrUnitExists) {
		t.Errorf("StartTransient over a remaining unit: %v, want ErrUnitExists", err)
	}
}

func TestTransientSettings(t *testing.T) {
	ctx, c, _ := newConn(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	if err := os.WriteFile(out, []byte("before\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	err := c.StartTransient(ctx, Transient{
		Name: mustName(t, "test", "settings"), Type: "oneshot",
		Argv:             []string{"/bin/sh", "-c", `echo "$FOO $(pwd)"; echo oops >&2`},
		Env:              []string{"FOO=bar baz"},
		WorkingDirectory: dir,
		StandardOutput:   "append:" + out,
		StandardError:    "append:" + out,
	})
	if err != nil {
		t.Fatalf("StartTransient: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "before\nbar baz " + dir + "\noops\n"; string(got) != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func TestTransientRefused(t *testing.T) {
	ctx, c, _ := newConn(t)
	name := mustName(t, "test", "refused")
	tests := []struct {
		why string
		t   Transient
	}{
		{"relative argv[0]", Transient{Name: name, Argv: []string{"sleep", "1"}}},
		{"no argv", Transient{Name: name}},
		{"foreign name", Transient{Name: "ssh.service", Argv: []string{"/bin/true"}}},
		{"not a service", Transient{Name: "ogrepository-test-x.timer",
			Argv: []string{"/bin/true"}}},
		{"bad type", Transient{Name: name, Type: "forking", Argv: []string{"/bin/true"}}},
		{"bad env", Transient{Name: name, Env: []string{"=x"}, Argv: []string{"/bin/true"}}},
		{"relative output", Transient{Name: name, StandardOutput: "append:out",
			Argv: []string{"/bin/true"}}},
		{"owned property", Transient{Name: name, Argv: []string{"/bin/true"},
			Properties: []sddbus.Property{prop("ExecStart", []execCommand{
				{Path: "/bin/sh", Argv: []string{"/bin/sh"}}})}}},
	}
	for _, tt := range tests {
		if err := c.StartTransient(ctx, tt.t); err == nil {
			t.Errorf("%s: started", tt.why)
		}
	}
	if st := mustUnit(ctx, t, c, name); st.LoadState != "not-found" {
		t.Errorf("a refused start left unit %s %s", name, st.LoadState)
	}

	// A command that cannot run fails the start job itself.
	err := c.StartTransient(ctx, Transient{Name: name, Argv: []string{"/nonexistent/cmd"}})
	if err == nil || !strings.Contains(err.Error(), name) ||
		!strings.Contains(err.Error(), "job failed") {
		t.Errorf("start of a missing command: %v", err)
	}
}

func TestActiveStateNotFound(t *testing.T) {
	ctx, c, _ := newConn(t)
	for name, want := range map[string]string{
		"no-such-thing.service": "not-found",
		"dbus.socket":           "active",
		"dbus.service":          "active",
	} {
		got, err := c.ActiveState(ctx, name)
		if err != nil || got != want {
			t.Errorf("ActiveState(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if st := mustUnit(ctx, t, c, "no-such-thing.service"); st.LoadState != "not-found" {
		t.Errorf("Unit of a missing unit: %+v", st)
	}
	if _, err := c.ActiveState(ctx, "bad name;rm.service"); err == nil {
		t.Error("ActiveState of an invalid name accepted")
	}
}

func TestList(t *testing.T) {
	ctx, c, _ := newConn(t)
	a1, a2 := mustName(t, "test", "a", "1"), mustName(t, "test", "a", "2")
	b1 := mustName(t, "test", "b", "1")
	for _, name := range []string{a2, a1, b1} {
		sleeper := Transient{Name: name, Argv: []string{"/bin/sleep", "60"}}
		if err := c.StartTransient(ctx, sleeper); err != nil {
			t.Fatalf("StartTransient %s: %v", name, err)
		}
	}
	failed := mustName(t, "test", "a", "3")
	_ = c.StartTransient(ctx, Transient{Name: failed, Type: "oneshot", Argv: []string{"/bin/false"}})

	units, err := c.List(ctx, Prefix+"test-a-*")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var got []string
	for _, u := range units {
		got = append(got, u.Name+"="+u.ActiveState)
		if u.Name != failed && u.MainPID == 0 {
			t.Errorf("listed %s without MainPID", u.Name)
		}
	}
	want := a1 + "=active " + a2 + "=active " + failed + "=failed"
	if strings.Join(got, " ") != want {
		t.Errorf("List = %q, want %q", got, want)
	}

	all, err := c.List(ctx)
	if err != nil || len(all) != 4 {
		t.Errorf("List() = %d units, %v; want this project's 4", len(all), err)
	}
	none, err := c.List(ctx, Prefix+"nothing-*")
	if err != nil || len(none) != 0 {
		t.Errorf("List of no match = %v, %v", none, err)
	}
}

// breakBus closes the current session's bus connections under c, as a bus
// restart would.
func (c *Conn) breakBus(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		t.Fatal("no current session to break")
	}
	for _, raw := range c.cur.raw {
		raw.Close()
	}
}

func (c *Conn) dialCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dials
}

func TestReconnect(t *testing.T) {
	ctx, c, _ := newConn(t)
	if n := c.dialCount(); n != 1 {
		t.Fatalf("%d dials after DialAddress, want 1", n)
	}

	c.breakBus(t)
	if got, err := c.ActiveState(ctx, "dbus.service"); err != nil || got != "active" {
		t.Fatalf("ActiveState after the bus closed: %q, %v", got, err)
	}
	if n := c.dialCount(); n != 2 {
		t.Errorf("%d dials after the bus closed, want 2", n)
	}

	// A job started after a break waits on the new connection's signals.
	c.breakBus(t)
	name := mustName(t, "test", "after-break")
	sleeper := Transient{Name: name, Argv: []string{"/bin/sleep", "60"}}
	if err := c.StartTransient(ctx, sleeper); err != nil {
		t.Fatalf("StartTransient after the bus closed: %v", err)
	}
	if err := c.Stop(ctx, name); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := c.dialCount(); n != 3 {
		t.Errorf("%d dials after the second break, want 3", n)
	}
}

// TestRetryOnClosed closes the connection in the middle of a call, between the
// check that it is up and the D-Bus call: the call fails with the bus's own
// error, and do must reconnect and run it once more.
func TestRetryOnClosed(t *testing.T) {
	ctx, c, _ := newConn(t)
	var errs []error
	err := c.do(ctx, func(s *session) error {
		if len(errs) == 0 {
			for _, raw := range s.raw {
				raw.Close()
			}
		}
		_, err := s.sd.GetUnitPropertiesContext(ctx, "dbus.service")
		errs = append(errs, err)
		return err
	})
	if err != nil {
		t.Fatalf("do: %v", err)
	}
	if len(errs) != 2 || !errors.Is(errs[0], godbus.ErrClosed) {
		t.Fatalf("calls returned %v; want ErrClosed, then success", errs)
	}
	if n := c.dialCount(); n != 2 {
		t.Errorf("%d dials, want 2", n)
	}

	// Errors from systemd itself are not retried.
	calls := 0
	err = c.do(ctx, func(s *session) error {
		calls++
		return s.sd.ResetFailedUnitContext(ctx, "ogrepository-none.service")
	})
	if dbusErrorName(err) != dbusNoSuchUnit || calls != 1 {
		t.Errorf("do of a failing call: %v after %d calls; want NoSuchUnit after 1", err, calls)
	}
}

func TestClosed(t *testing.T) {
	ctx, c, _ := newConn(t)
	c.Close()
	if _, err := c.ActiveState(ctx, "dbus.service"); err == nil {
		t.Error("call on a closed Conn succeeded")
	}
}

func TestDialFails(t *testing.T) {
	ctx := context.Background()
	if _, err := DialAddress(ctx, "unix:path="+filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("DialAddress to a missing socket succeeded")
	}
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	if _, err := Dial(ctx, User); err == nil {
		t.Error("Dial(User) without DBUS_SESSION_BUS_ADDRESS succeeded")
	}
}
