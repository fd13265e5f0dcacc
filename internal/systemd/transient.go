package systemd

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// jobDone is the only job result that means success.
const jobDone = "done"

// Transient describes a service to start as a transient unit. The command is
// an argv vector run directly, never through a shell.
type Transient struct {
	// Name is the unit's name, as UnitName builds it: this project's prefix
	// and a ".service" suffix.
	Name        string
	Description string
	// Argv is the command; Argv[0] must be an absolute path.
	Argv []string
	// Env entries are KEY=VALUE.
	Env []string
	// Type is the service type: "exec" (the default), "simple", "notify" or
	// "oneshot". With "exec" the start succeeds once the command is running;
	// with "notify" once it sends READY=1; with "oneshot" once it has exited
	// with success.
	Type string
	// NotifyAccess says which processes may send sd_notify messages ("main",
	// "exec", "all", "none"); unset, systemd's default applies, "main" for
	// Type=notify and "none" otherwise: a job sending STATUS= needs "main".
	NotifyAccess     string
	WorkingDirectory string
	// RemainAfterExit keeps a unit whose command exited with success active,
	// and so queryable, until it is stopped.
	RemainAfterExit bool
	// StandardOutput and StandardError take systemd's values, such as
	// "journal", "null", "append:/path", "file:/path" or "truncate:/path";
	// unset, systemd's default applies (the journal).
	StandardOutput, StandardError string
	// Properties are any further unit or service properties, such as
	// NetworkNamespacePath, TimeoutStopUSec or KillMode. They may not set
	// what the fields above set.
	Properties []sddbus.Property
}

// ReadOnly are the properties of a unit whose program only reads files and sends on the
// network, such as a sender or a seeder: the whole file system is read-only to it
// (ProtectSystem=strict, ProtectHome=read-only), it sees only the pseudo-devices
// (PrivateDevices) and it can gain no privileges (NoNewPrivileges). Its StandardOutput
// and StandardError files are still written: the manager opens them.
func ReadOnly() []sddbus.Property {
	return []sddbus.Property{
		{Name: "ProtectSystem", Value: godbus.MakeVariant("strict")},
		{Name: "ProtectHome", Value: godbus.MakeVariant("read-only")},
		{Name: "PrivateDevices", Value: godbus.MakeVariant(true)},
		{Name: "NoNewPrivileges", Value: godbus.MakeVariant(true)},
	}
}

// serviceTypes are the Type values a Transient may have.
var serviceTypes = map[string]bool{"exec": true, "simple": true, "notify": true, "oneshot": true}

// notifyAccess are the NotifyAccess values systemd knows.
var notifyAccess = map[string]bool{"none": true, "main": true, "exec": true, "all": true}

// execCommand is one ExecStart command on the bus, (sasb): the path, the
// argv, and whether a failure of the command is ignored.
type execCommand struct {
	Path          string
	Argv          []string
	IgnoreFailure bool
}

// StartTransient starts t and waits for the start job; any job result but
// "done" is an error naming the unit, the result, and the unit's ActiveState,
// Result and ExecMainStatus. A unit of that name left failed or inactive is
// reset first; one still active (or starting, or stopping) is refused with an
// error wrapping ErrUnitExists. The wait ends early with ctx: the unit may
// then still start.
func (c *Conn) StartTransient(ctx context.Context, t Transient) error {
	props, err := t.properties()
	if err != nil {
		return err
	}
	if err := c.clearName(ctx, t.Name); err != nil {
		return err
	}

	result, err := c.runJob(ctx, "start", t.Name,
		func(s *session, ch chan<- string) error {
			_, err := s.sd.StartTransientUnitContext(ctx, t.Name, "fail", props, ch)
			return err
		})
	if err != nil {
		return err
	}
	if result != jobDone {
		return fmt.Errorf("start unit %s: job %s%s", t.Name, result, c.describe(ctx, t.Name))
	}
	return nil
}

// clearName makes name free for a new transient unit: a failed or inactive
// unit of that name is reset, so that systemd unloads it; any other is
// refused.
func (c *Conn) clearName(ctx context.Context, name string) error {
	st, err := c.Unit(ctx, name)
	if err != nil {
		return fmt.Errorf("start unit %s: %w", name, err)
	}
	switch {
	case st.LoadState == "not-found":
		return nil
	case st.ActiveState == "failed" || st.ActiveState == "inactive":
		err := c.ResetFailed(ctx, name)
		if err != nil && !errors.Is(err, ErrNoSuchUnit) {
			return fmt.Errorf("start unit %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("start unit %s: %w: it is %s (%s)",
		name, ErrUnitExists, st.ActiveState, st.SubState)
}

// describe returns ", ActiveState=... Result=... ExecMainStatus=..." for an
// error message about name, or what kept it from doing so.
func (c *Conn) describe(ctx context.Context, name string) string {
	st, err := c.Unit(ctx, name)
	if err != nil {
		return fmt.Sprintf(" (state unknown: %v)", err)
	}
	return fmt.Sprintf(" (ActiveState=%s SubState=%s Result=%s ExecMainCode=%d ExecMainStatus=%d)",
		st.ActiveState, st.SubState, st.Result, st.ExecMainCode, st.ExecMainStatus)
}

// properties checks t and turns it into the properties of a transient unit.
func (t Transient) properties() ([]sddbus.Property, error) {
	if err := checkOwnUnit(t.Name); err != nil {
		return nil, fmt.Errorf("start unit: %w", err)
	}
	if !strings.HasSuffix(t.Name, ".service") {
		return nil, fmt.Errorf("start unit %s: not a .service", t.Name)
	}
	if len(t.Argv) == 0 || !filepath.IsAbs(t.Argv[0]) {
		return nil, fmt.Errorf("start unit %s: argv %q: need an absolute command path",
			t.Name, t.Argv)
	}
	typ := t.Type
	if typ == "" {
		typ = "exec"
	}
	if !serviceTypes[typ] {
		return nil, fmt.Errorf("start unit %s: unknown service type %q", t.Name, t.Type)
	}
	if t.NotifyAccess != "" && !notifyAccess[t.NotifyAccess] {
		return nil, fmt.Errorf("start unit %s: unknown NotifyAccess %q", t.Name, t.NotifyAccess)
	}
	for _, kv := range t.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("start unit %s: environment entry %q not KEY=VALUE",
				t.Name, kv)
		}
	}

	props := []sddbus.Property{
		prop("ExecStart", []execCommand{{Path: t.Argv[0], Argv: t.Argv}}),
		prop("Type", typ),
		prop("RemainAfterExit", t.RemainAfterExit),
	}
	if t.Description != "" {
		props = append(props, prop("Description", t.Description))
	}
	if t.NotifyAccess != "" {
		props = append(props, prop("NotifyAccess", t.NotifyAccess))
	}
	if len(t.Env) > 0 {
		props = append(props, prop("Environment", t.Env))
	}
	if t.WorkingDirectory != "" {
		props = append(props, prop("WorkingDirectory", t.WorkingDirectory))
	}
	for _, out := range []struct{ name, value string }{
		{"StandardOutput", t.StandardOutput},
		{"StandardError", t.StandardError},
	} {
		if out.value == "" {
			continue
		}
		p, err := outputProperty(out.name, out.value)
		if err != nil {
			return nil, fmt.Errorf("start unit %s: %w", t.Name, err)
		}
		props = append(props, p)
	}

	for _, p := range t.Properties {
		if ownedProperty(p.Name) {
			return nil, fmt.Errorf("start unit %s: property %s is set through Transient's fields",
				t.Name, p.Name)
		}
	}
	return append(props, t.Properties...), nil
}

// outputProperty maps a StandardOutput= or StandardError= setting to the
// property systemd takes over the bus: file targets have properties of their
// own.
func outputProperty(name, value string) (sddbus.Property, error) {
	kind, path, isFile := strings.Cut(value, ":")
	if !isFile {
		return prop(name, value), nil
	}
	suffix := map[string]string{"file": "File", "append": "FileToAppend",
		"truncate": "FileToTruncate"}[kind]
	if suffix == "" {
		return sddbus.Property{}, fmt.Errorf("%s=%q: unsupported target %q", name, value, kind)
	}
	if !filepath.IsAbs(path) {
		return sddbus.Property{}, fmt.Errorf("%s=%q: need an absolute path", name, value)
	}
	return prop(name+suffix, path), nil
}

// ownedProperty tells whether a property is one Transient's fields set.
func ownedProperty(name string) bool {
	switch name {
	case "ExecStart", "Type", "RemainAfterExit", "Description", "NotifyAccess",
		"Environment", "WorkingDirectory":
		return true
	}
	return strings.HasPrefix(name, "StandardOutput") || strings.HasPrefix(name, "StandardError")
}

func prop(name string, value any) sddbus.Property {
	return sddbus.Property{Name: name, Value: godbus.MakeVariant(value)}
}

// Stop stops this project's unit name, waits for the stop job and then resets
// it, so that systemd forgets it and the name can be used again. A unit
// systemd does not know is an error wrapping ErrNoSuchUnit: callers decide
// whether that matters.
func (c *Conn) Stop(ctx context.Context, name string) error {
	if err := checkOwnUnit(name); err != nil {
		return fmt.Errorf("stop unit: %w", err)
	}

	result, err := c.runJob(ctx, "stop", name, func(s *session, ch chan<- string) error {
		_, err := s.sd.StopUnitContext(ctx, name, "replace", ch)
		return err
	})
	if err != nil {
		return err
	}
	if result != jobDone {
		return fmt.Errorf("stop unit %s: job %s%s", name, result, c.describe(ctx, name))
	}

	// A unit that stopped cleanly is unloaded already: nothing to reset.
	if err := c.ResetFailed(ctx, name); err != nil && !errors.Is(err, ErrNoSuchUnit) {
		return fmt.Errorf("stop unit %s: %w", name, err)
	}
	return nil
}

// ResetFailed resets this project's unit name from the failed state, so that
// systemd unloads it once it is inactive. A unit systemd does not know is an
// error wrapping ErrNoSuchUnit.
func (c *Conn) ResetFailed(ctx context.Context, name string) error {
	if err := checkOwnUnit(name); err != nil {
		return fmt.Errorf("reset unit: %w", err)
	}
	err := c.do(ctx, func(s *session) error {
		return s.sd.ResetFailedUnitContext(ctx, name)
	})
	if err != nil {
		return fmt.Errorf("reset unit %s: %w", name, translate(err))
	}
	return nil
}

// runJob queues a job with queue and waits for its result. The result channel
// is buffered: a result arriving after the wait gave up is dropped, not
// blocking go-systemd's signal handling.
func (c *Conn) runJob(ctx context.Context, what, unit string,
	queue func(s *session, ch chan<- string) error) (string, error) {
	var ch chan string
	var s *session
	err := c.do(ctx, func(try *session) error {
		ch, s = make(chan string, 1), try
		return queue(try, ch)
	})
	if err != nil {
		return "", fmt.Errorf("%s unit %s: %w", what, unit, translate(err))
	}

	calls, signals := s.gone()
	select {
	case result := <-ch:
		return result, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%s unit %s: wait for job: %w", what, unit, ctx.Err())
	case <-calls:
	case <-signals:
	}
	select {
	case result := <-ch:
		return result, nil
	default:
	}
	c.drop(s)
	return "", fmt.Errorf("%s unit %s: connection lost while waiting for job, outcome unknown: %w",
		what, unit, godbus.ErrClosed)
}
