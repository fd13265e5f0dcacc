// Package systemdtest runs a real, private systemd user manager for tests and
// for development machines whose PID 1 is not systemd. It owns the manager's
// lifetime: Start runs scripts/private-systemd and waits until the manager is
// on its bus, Stop stops it by process id and leaves nothing running or
// mounted. Clients reach the manager through Manager.BusAddress.
package systemdtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	godbus "github.com/godbus/dbus/v5"
)

// ScriptEnv names the environment variable that overrides where the
// private-systemd script is; by default it is found beside this package's
// source, in the checkout's scripts/ directory.
const ScriptEnv = "OGREPOSITORY_PRIVATE_SYSTEMD"

const (
	// startTimeout bounds the wait for a manager to come up when the caller's
	// context has no earlier deadline.
	startTimeout = 30 * time.Second

	// stopTimeout bounds the wait for a manager to exit after SIGTERM. The
	// script sets the manager's default unit stop timeout to 10 s, so a clean
	// exit fits well within it.
	stopTimeout = 30 * time.Second

	// pollInterval paces the readiness check while the manager starts.
	pollInterval = 50 * time.Millisecond

	// maxSocketPath is the longest path a unix socket address can hold.
	maxSocketPath = 107

	// cgroupPrefix starts the name of every cgroup the script creates; only
	// cgroups so named are ever killed or removed.
	cgroupPrefix = "ogrepository-private-systemd."
)

// Manager is a running private systemd user manager. Its processes run in a
// private mount namespace and in cgroups of their own; the manager's units
// inherit its environment, so they reach the same bus.
type Manager struct {
	// BusAddress is the "unix:path=..." address of the manager's session bus,
	// for DBUS_SESSION_BUS_ADDRESS or godbus.Dial.
	BusAddress string
	// RuntimeDir is the manager's XDG_RUNTIME_DIR. Stop removes it.
	RuntimeDir string
	// UnitDir is a directory the manager loads unit files from: drop .socket
	// and .service files there, then run `systemctl --user daemon-reload`.
	UnitDir string
	// LogPath is the file receiving the script's output: its setup errors and
	// the exports it prints. There is no journal: systemd's own log is dropped
	// (it writes to /dev/console, which the script hides), and so is the output
	// of units that do not set StandardOutput=append:FILE. Stop removes it:
	// read it with Log before.
	LogPath string
	// PID is the process Start ran (the script's shell, parent of systemd);
	// Stop signals it.
	PID int

	cgroupsFile string
	stopTimeout time.Duration
	done        chan struct{} // closed once the process has been waited for
	waitErr     error         // the process's exit, valid after done

	stopOnce sync.Once
	stopErr  error
}

// Options tune Start.
type Options struct {
	// NetNS, when set, is a network namespace file such as /run/netns/NAME:
	// the manager and all its units then run in that namespace.
	NetNS string
	// Env entries ("KEY=value") are added to the manager's environment, and
	// so to its units'.
	Env []string
}

// Start starts a private manager and returns once its SystemState is
// "running" or "degraded" on its bus, or fails within ctx's deadline (or 30 s).
// It needs root. On failure nothing it started is left running, and the error
// carries the end of the manager's log. The manager outlives ctx: call Stop.
func Start(ctx context.Context, opt Options) (*Manager, error) {
	script, err := scriptPath()
	if err != nil {
		return nil, err
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("private systemd manager needs root")
	}

	dir, err := os.MkdirTemp("", "ogr-systemd-")
	if err != nil {
		return nil, fmt.Errorf("create runtime dir: %w", err)
	}
	m := &Manager{
		BusAddress:  "unix:path=" + filepath.Join(dir, "bus"),
		RuntimeDir:  dir,
		UnitDir:     filepath.Join(dir, "systemd", "user"),
		LogPath:     filepath.Join(dir, "manager.log"),
		cgroupsFile: filepath.Join(dir, "cgroups"),
		stopTimeout: stopTimeout,
		done:        make(chan struct{}),
	}
	if len(filepath.Join(dir, "systemd", "private")) > maxSocketPath {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("runtime dir %s too long for unix sockets; set a shorter TMPDIR",
			dir)
	}

	if err := m.spawn(script, opt); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := m.waitReady(ctx); err != nil {
		log := m.logTail()
		if stopErr := m.Stop(); stopErr != nil {
			err = errors.Join(err, stopErr)
		}
		return nil, fmt.Errorf("start private systemd: %w\nmanager log:\n%s", err, log)
	}
	return m, nil
}

// scriptPath finds the private-systemd script.
func scriptPath() (string, error) {
	path := os.Getenv(ScriptEnv)
	if path == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return "", fmt.Errorf("locate private-systemd script: no caller info; set %s",
				ScriptEnv)
		}
		path = filepath.Join(filepath.Dir(file), "..", "..", "scripts", "private-systemd")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("locate private-systemd script (set %s): %w", ScriptEnv, err)
	}
	return path, nil
}

// spawn runs the script and a goroutine that waits for it.
//
// The process gets SIGTERM if this one dies (Pdeathsig), so a crashed test
// leaves no manager behind. Pdeathsig fires when the thread that forked the
// child exits, not the process, so the fork happens on a goroutine locked to
// its thread, which then blocks in Wait for the child's whole life.
func (m *Manager) spawn(script string, opt Options) error {
	argv := []string{script, "start", m.RuntimeDir}
	if opt.NetNS != "" {
		// nsenter, not `ip netns exec`: the latter mounts a new /sys, which
		// hides the cgroup tree, and the manager exits at once.
		argv = append([]string{"nsenter", "--net=" + opt.NetNS, "--"}, argv...)
	}
	logFile, err := os.OpenFile(m.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("create manager log: %w", err)
	}

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(managerEnv(os.Environ()), opt.Env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// Its own process group, so that a forced stop can signal the whole group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}

	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer logFile.Close()
		if err := cmd.Start(); err != nil {
			started <- fmt.Errorf("run %s: %w", script, err)
			return
		}
		m.PID = cmd.Process.Pid
		started <- nil
		m.waitErr = cmd.Wait()
		close(m.done)
	}()
	return <-started
}

// managerEnv drops from env what would tie the manager to whatever started
// this process: a parent's notify socket or passed sockets.
func managerEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		key, _, _ := strings.Cut(kv, "=")
		switch key {
		case "NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
			"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "INVOCATION_ID":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// waitReady polls the manager over its bus until it reports itself running.
func (m *Manager) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()

	var conn *godbus.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	last := errors.New("bus not up yet")
	for {
		if conn == nil {
			conn, _ = dialBus(m.BusAddress)
		}
		if conn != nil {
			state, err := systemState(ctx, conn)
			switch {
			case err != nil:
				last = err
			case state == "running" || state == "degraded":
				return nil
			case state != "initializing" && state != "starting":
				return fmt.Errorf("manager state %q", state)
			default:
				last = fmt.Errorf("manager state %q", state)
			}
		}

		select {
		case <-m.done:
			return fmt.Errorf("manager exited before it was ready: %v", m.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("manager not ready (%w): %w", last, ctx.Err())
		case <-tick.C:
		}
	}
}

// dialBus opens an authenticated connection to the bus at address.
func dialBus(address string) (*godbus.Conn, error) {
	conn, err := godbus.Dial(address)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", address, err)
	}
	if err := conn.Auth(nil); err != nil {
		conn.Close()
		return nil, fmt.Errorf("authenticate on %s: %w", address, err)
	}
	if err := conn.Hello(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("hello on %s: %w", address, err)
	}
	return conn, nil
}

// systemState reads the manager's SystemState, once it owns its bus name:
// asking before would make the bus try to activate it.
func systemState(ctx context.Context, conn *godbus.Conn) (string, error) {
	const name = "org.freedesktop.systemd1"
	var owned bool
	err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).
		Store(&owned)
	if err != nil {
		return "", fmt.Errorf("ask bus for %s: %w", name, err)
	}
	if !owned {
		return "", fmt.Errorf("%s not on the bus yet", name)
	}
	v, err := conn.Object(name, "/org/freedesktop/systemd1").
		GetProperty("org.freedesktop.systemd1.Manager.SystemState")
	if err != nil {
		return "", fmt.Errorf("get SystemState: %w", err)
	}
	state, ok := v.Value().(string)
	if !ok {
		return "", fmt.Errorf("SystemState is %s, not a string", v.Signature())
	}
	return state, nil
}

// Stop stops the manager: SIGTERM to the process Start ran, which makes the
// manager stop its units and exit; after a bound, SIGKILL to every process
// left in the manager's cgroups and process group. It then removes the
// cgroups and RuntimeDir, log included. Further calls return the first
// call's result.
func (m *Manager) Stop() error {
	m.stopOnce.Do(func() { m.stopErr = m.stop() })
	return m.stopErr
}

func (m *Manager) stop() error {
	var errs []error
	if err := syscall.Kill(m.PID, syscall.SIGTERM); err != nil && err != syscall.ESRCH {
		errs = append(errs, fmt.Errorf("signal manager %d: %w", m.PID, err))
	}
	timer := time.NewTimer(m.stopTimeout)
	defer timer.Stop()
	select {
	case <-m.done:
	case <-timer.C:
		errs = append(errs, fmt.Errorf("manager %d still running after %v; killed",
			m.PID, m.stopTimeout))
		_ = syscall.Kill(-m.PID, syscall.SIGKILL)
	}

	// Even after a clean exit: whatever escaped the manager's own stop is
	// still in its cgroups.
	dirs, err := m.cgroups()
	if err != nil {
		errs = append(errs, err)
	}
	if err := killCgroups(dirs); err != nil {
		errs = append(errs, err)
	}
	<-m.done
	if err := removeCgroups(dirs); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(m.RuntimeDir); err != nil {
		errs = append(errs, fmt.Errorf("remove runtime dir: %w", err))
	}
	return errors.Join(errs...)
}

// cgroups reads the cgroup directories the script created, as it recorded
// them, keeping only those under /sys/fs/cgroup named as the script names
// them: Stop kills what runs there, and must not reach anything else.
func (m *Manager) cgroups() ([]string, error) {
	data, err := os.ReadFile(m.cgroupsFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // the script stopped before making any
	}
	if err != nil {
		return nil, fmt.Errorf("read manager cgroups: %w", err)
	}
	var dirs []string
	for _, dir := range strings.Fields(string(data)) {
		dir = filepath.Clean(dir)
		if !strings.HasPrefix(dir, "/sys/fs/cgroup/") ||
			!strings.HasPrefix(filepath.Base(dir), cgroupPrefix) {
			return nil, fmt.Errorf("manager cgroup %q not one the script makes", dir)
		}
		dirs = append(dirs, dir)
	}
	return dirs, nil
}

// killCgroups sends SIGKILL to every process in dirs and their sub-cgroups,
// until none is left (bounded: a process stuck in the kernel cannot be
// waited for forever).
func killCgroups(dirs []string) error {
	for range 100 {
		pids, err := cgroupPIDs(dirs)
		if err != nil || len(pids) == 0 {
			return err
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(pollInterval)
	}
	return fmt.Errorf("processes left in %v", dirs)
}

// cgroupPIDs lists the processes in dirs and below.
func cgroupPIDs(dirs []string) ([]int, error) {
	var pids []int
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir // removed meanwhile
			}
			if err != nil || !d.IsDir() {
				return err
			}
			data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			if errors.Is(err, os.ErrNotExist) {
				return filepath.SkipDir
			}
			if err != nil {
				return err
			}
			for _, f := range strings.Fields(string(data)) {
				var pid int
				if _, err := fmt.Sscan(f, &pid); err == nil && pid > 0 {
					pids = append(pids, pid)
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("list processes in %s: %w", dir, err)
		}
	}
	return pids, nil
}

// removeCgroups removes dirs and their sub-cgroups, deepest first.
func removeCgroups(dirs []string) error {
	var errs []error
	for _, dir := range dirs {
		var sub []string
		_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				sub = append(sub, path)
			}
			return nil
		})
		for i := len(sub) - 1; i >= 0; i-- {
			if err := os.Remove(sub[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove cgroup: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// Env returns the environment entries a client process needs to reach this
// manager, for exec.Cmd.Env (after os.Environ()).
func (m *Manager) Env() []string {
	return []string{
		"DBUS_SESSION_BUS_ADDRESS=" + m.BusAddress,
		"XDG_RUNTIME_DIR=" + m.RuntimeDir,
	}
}

// Systemctl runs `systemctl --user ARGS...` against this manager and returns
// its combined output; the error, if any, includes that output.
func (m *Manager) Systemctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...)
	cmd.Env = append(os.Environ(), m.Env()...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("systemctl --user %s: %w: %s",
			strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// Log returns the manager's log so far ("" once Stop has removed it).
func (m *Manager) Log() string {
	data, _ := os.ReadFile(m.LogPath)
	return string(data)
}

// logTail returns the end of the manager's log, enough to tell why it failed.
func (m *Manager) logTail() string {
	const max = 8 << 10
	f, err := os.Open(m.LogPath)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		_, _ = f.Seek(fi.Size()-max, io.SeekStart)
	}
	data, _ := io.ReadAll(f)
	return string(data)
}

// ForTest starts a manager for t and stops it when t ends, printing its log
// first if t failed. When the manager cannot start, t fails under CI=true
// and is skipped otherwise, with the reason and the manager's log.
func ForTest(t testing.TB, opt Options) *Manager {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	m, err := Start(ctx, opt)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("private systemd manager: %v", err)
		}
		t.Skipf("private systemd manager unavailable: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("private systemd manager log (%s):\n%s", m.LogPath, m.Log())
		}
		if err := m.Stop(); err != nil {
			t.Errorf("stop private systemd manager: %v", err)
		}
	})
	return m
}
