package systemd

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"
)

// UnitState is what status and cancel need to know about one unit. Fields a
// unit type lacks (everything from Result on, for a non-service unit) are
// zero.
type UnitState struct {
	Name        string
	Description string
	// LoadState is "loaded", or "not-found" for a unit systemd does not know.
	LoadState string
	// ActiveState is "active", "activating", "deactivating", "inactive" or
	// "failed"; SubState refines it ("running", "exited", "dead", ...).
	ActiveState, SubState string
	// Result is the service's result: "success", "exit-code", "signal", ...
	Result string
	// StatusText is the last STATUS= the service sent with sd_notify.
	StatusText string
	// MainPID is the service's main process, 0 when none runs.
	MainPID uint32
	// ExecMainCode is how the main process ended, as in waitid(2):
	// 1 exited (ExecMainStatus is its exit status), 2 killed or 3 dumped
	// (ExecMainStatus is the signal); 0 while it runs or before it ran.
	ExecMainCode   int32
	ExecMainStatus int32
	// The times the unit last became active or inactive, and its main process
	// started or ended; zero when unset.
	ActiveEnter, InactiveEnter, ExecMainStart, ExecMainExit time.Time
	// Argv is the argv of the service's first ExecStart command, when known.
	Argv []string
}

// CLD_* codes of ExecMainCode.
const (
	ExitedCode = 1 // the main process exited with ExecMainStatus
	KilledCode = 2 // the main process was killed by signal ExecMainStatus
	DumpedCode = 3 // as KilledCode, and dumped core
)

// Unit returns the state of the unit name, any unit systemd could hold. A
// unit systemd does not know is not an error: its LoadState is "not-found".
func (c *Conn) Unit(ctx context.Context, name string) (UnitState, error) {
	if err := checkUnitName(name); err != nil {
		return UnitState{}, err
	}
	var st UnitState
	err := c.do(ctx, func(s *session) error {
		var err error
		st, err = unitState(ctx, s, name)
		return err
	})
	if err != nil {
		return UnitState{}, fmt.Errorf("query unit %s: %w", name, translate(err))
	}
	return st, nil
}

// unitState reads a unit's properties, and its service properties if it is
// a service systemd knows.
func unitState(ctx context.Context, s *session, name string) (UnitState, error) {
	props, err := s.sd.GetUnitPropertiesContext(ctx, name)
	if err != nil {
		return UnitState{}, err
	}
	st := UnitState{
		Name:          name,
		Description:   str(props["Description"]),
		LoadState:     str(props["LoadState"]),
		ActiveState:   str(props["ActiveState"]),
		SubState:      str(props["SubState"]),
		ActiveEnter:   usecTime(props["ActiveEnterTimestamp"]),
		InactiveEnter: usecTime(props["InactiveEnterTimestamp"]),
	}
	if st.LoadState == "not-found" || !strings.HasSuffix(name, ".service") {
		return st, nil
	}

	svc, err := s.sd.GetUnitTypePropertiesContext(ctx, name, "Service")
	if err != nil {
		return UnitState{}, err
	}
	st.Result = str(svc["Result"])
	st.StatusText = str(svc["StatusText"])
	st.MainPID, _ = svc["MainPID"].(uint32)
	st.ExecMainCode, _ = svc["ExecMainCode"].(int32)
	st.ExecMainStatus, _ = svc["ExecMainStatus"].(int32)
	st.ExecMainStart = usecTime(svc["ExecMainStartTimestamp"])
	st.ExecMainExit = usecTime(svc["ExecMainExitTimestamp"])
	st.Argv = firstArgv(svc["ExecStart"])
	return st, nil
}

// List returns the loaded units, in any state, whose names match one of the
// glob patterns (such as "ogrepository-udpcast-*"), sorted by name. With no
// pattern it lists this project's units: Prefix + "*".
func (c *Conn) List(ctx context.Context, patterns ...string) ([]UnitState, error) {
	if len(patterns) == 0 {
		patterns = []string{Prefix + "*"}
	}
	for _, p := range patterns {
		if p == "" {
			return nil, fmt.Errorf("list units: empty pattern")
		}
	}

	var names []string
	err := c.do(ctx, func(s *session) error {
		units, err := s.sd.ListUnitsByPatternsContext(ctx, nil, patterns)
		names = names[:0]
		for _, u := range units {
			names = append(names, u.Name)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list units %v: %w", patterns, err)
	}
	sort.Strings(names)

	var out []UnitState
	for _, name := range names {
		st, err := c.Unit(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("list units %v: %w", patterns, err)
		}
		if st.LoadState == "not-found" {
			continue // unloaded since it was listed
		}
		out = append(out, st)
	}
	return out, nil
}

// ActiveState returns the ActiveState of any unit, such as "ssh.service":
// "active", "inactive", "failed", ..., or "not-found" when systemd knows no
// such unit (not an error).
func (c *Conn) ActiveState(ctx context.Context, name string) (string, error) {
	if err := checkUnitName(name); err != nil {
		return "", err
	}
	var props map[string]any
	err := c.do(ctx, func(s *session) error {
		var err error
		props, err = s.sd.GetUnitPropertiesContext(ctx, name)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("query state of unit %s: %w", name, translate(err))
	}
	if str(props["LoadState"]) == "not-found" {
		return "not-found", nil
	}
	return str(props["ActiveState"]), nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// usecTime converts one of systemd's timestamps, microseconds since the
// epoch with 0 for unset, to a time.
func usecTime(v any) time.Time {
	usec, ok := v.(uint64)
	if !ok || usec == 0 || usec > 1<<62 {
		return time.Time{}
	}
	return time.UnixMicro(int64(usec))
}

// firstArgv takes the argv out of an ExecStart property, a(sasbttttuii):
// for each command its path, argv, and then flags and times.
func firstArgv(v any) []string {
	cmds, ok := v.([][]any)
	if !ok {
		if list, ok := v.([]any); ok {
			for _, c := range list {
				if cmd, ok := c.([]any); ok {
					cmds = append(cmds, cmd)
				}
			}
		}
	}
	if len(cmds) == 0 || len(cmds[0]) < 2 {
		return nil
	}
	argv, _ := cmds[0][1].([]string)
	return argv
}
