// Package transmission sends images to classrooms by UDPcast (udp-sender) and UFTP (uftp),
// each transmission a transient systemd unit. The units are the only state: what runs,
// for which image, and how it ended are read back from systemd, so all of it holds across
// restarts of the daemon, and an administrator sees the same with systemctl.
package transmission

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/systemd"
)

// Kind is a way of sending an image; it is also the kind part of its units' names.
type Kind string

// The kinds of transmission this package runs.
const (
	UDPcast Kind = "udpcast"
	UFTP    Kind = "uftp"
)

// Program is the sender a kind runs.
func (k Kind) Program() string {
	if k == UFTP {
		return "uftp"
	}
	return "udp-sender"
}

func (k Kind) label() string {
	if k == UFTP {
		return "UFTP"
	}
	return "UDPcast"
}

var (
	// ErrBusy means the port (base) asked for is taken by a running transmission of the
	// same kind: a second sender there would mix its packets with the first one's.
	ErrBusy = errors.New("port in use by another transmission")
	// ErrNotRunning means the image has no running transmission of that kind.
	ErrNotRunning = errors.New("no transmission running")
)

// Transmission is one unit of this package, as systemd reports it.
type Transmission struct {
	Kind Kind
	Unit string
	// ImageID is the image's ID when the unit was started; Image its file name.
	ImageID, Image string
	// Port is the port base (UDPcast) or port (UFTP).
	Port int
	// PID is the sender's process while it runs.
	PID uint32
	// Running is whether the sender runs; if not, Ended says how it ended.
	Running bool
	Ended   string
	// Note, when set, is something the clients need to know to receive, from the start.
	Note string
}

// Service starts, lists and stops transmissions, from the daemon.
type Service struct {
	Units   *systemd.Conn
	Catalog *catalog.Catalog
	// IPlocal is this repository's address: transmissions leave by the interface holding
	// it, in the daemon's network namespace (the units' too).
	IPlocal string
	// TTL is the multicast time-to-live of both senders; 0 means DefaultTTL.
	TTL int
	// UnitLogDir, if set, receives each unit's output as UNIT.log instead of the journal.
	UnitLogDir string
	Log        *slog.Logger

	// mu makes the check that a port is free and the start of its unit one step, within
	// this daemon, the only process that starts these units.
	mu sync.Mutex

	// unreported holds the endings found, and forgotten by systemd, by a call that does not
	// report them (Running), until List reports them.
	unreportedMu sync.Mutex
	unreported   map[Kind][]Transmission
}

func (s *Service) ttl() int {
	if s.TTL > 0 {
		return s.TTL
	}
	return DefaultTTL
}

// Argv is udp-sender's command line for u, sending image by ifc. Besides what the request
// sets, it keeps three settings of OpenGnsys' own senders: --ttl, though at DefaultTTL,
// bounds how far the multicast travels; --retries-until-drop 65 drops a receiver that
// stopped answering instead of stalling the whole classroom on it; --fec 8x8/128 adds
// redundancy so that sporadic losses cost no retransmission round. It adds
// --rexmit-hello-interval 1000: udp-sender otherwise announces itself once, and a
// receiver that started before the sender listened would miss it and wait forever.
func (u UDPcastRequest) Argv(program, image string, ifc Interface, ttl int) []string {
	duplex := "--half-duplex"
	if u.Duplex == Full {
		duplex = "--full-duplex"
	}
	return []string{program, "--nokbd",
		"--portbase", strconv.Itoa(u.PortBase), duplex,
		"--mcast-data-address", u.Group.String(),
		"--max-bitrate", udpSenderRate(u.Bitrate),
		"--min-receivers", strconv.Itoa(u.MinReceivers),
		"--max-wait", strconv.Itoa(u.MaxWait),
		"--ttl", strconv.Itoa(ttl),
		"--retries-until-drop", "65", "--fec", "8x8/128", "--rexmit-hello-interval", "1000",
		"--interface", ifc.Name,
		"--file", image}
}

// Argv is uftp's command line for u: no encryption (the clients' uftpd expects none),
// the rate in Kbps, the interface by name and the multicast TTL. Given a unicast address,
// uftp sends everything to that one client.
func (u UFTPRequest) Argv(program, image string, ifc Interface, ttl int) []string {
	return []string{program, "-M", u.Dest.String(), "-p", strconv.Itoa(u.Port),
		"-R", uftpRate(u.Bitrate), "-Y", "none", "-I", ifc.Name,
		"-t", strconv.Itoa(ttl), image}
}

// StartUDPcast starts udp-sender for the image as a unit and returns once it runs. A
// running UDPcast on the same port base is ErrBusy.
func (s *Service) StartUDPcast(ctx context.Context, u UDPcastRequest) (Transmission, error) {
	desc := func(image string) string {
		return fmt.Sprintf("UDPcast of %s (image %s) on port base %d to %s", image, u.ImageID,
			u.PortBase, u.Group)
	}
	var note string
	t, err := s.start(ctx, UDPcast, u.ImageID, u.PortBase, desc,
		func(prog, image string, ifc Interface) ([]string, error) {
			if ifc.NoKernelBroadcast {
				note = fmt.Sprintf("%s has no broadcast address, so udp-sender sends its "+
					"control messages to 224.0.0.1: clients must run udp-receiver with "+
					"--mcast-rdv-address %s (or 224.0.0.1); give %s a broadcast address "+
					"(ip addr ... brd +) to spare them", ifc.Name, ifc.Addr, ifc.Name)
				s.Log.Warn("UDPcast clients need --mcast-rdv-address", "interface", ifc.Name,
					"why", "no broadcast address on the interface")
			}
			return u.Argv(prog, image, ifc, s.ttl()), nil
		})
	t.Note = note
	return t, err
}

// StartUFTP starts uftp for the image as a unit and returns once it runs. The clients'
// uftpd must be listening already: uftp gives up when none registers. A running UFTP on
// the same port is ErrBusy: both would announce with this host's ID to the same clients.
func (s *Service) StartUFTP(ctx context.Context, u UFTPRequest) (Transmission, error) {
	desc := func(image string) string {
		return fmt.Sprintf("UFTP of %s (image %s) on port %d to %s", image, u.ImageID, u.Port,
			u.Dest)
	}
	return s.start(ctx, UFTP, u.ImageID, u.Port, desc,
		func(prog, image string, ifc Interface) ([]string, error) {
			if u.Dest == ifc.Broadcast {
				return nil, fieldErr("ip", "%s is the broadcast address of %s: want a "+
					"multicast group or one client's address", u.Dest, ifc.Name)
			}
			if u.Dest.IsMulticast() {
				return u.Argv(prog, image, ifc, s.ttl()), nil
			}
			// uftp picks the interface only for multicast: a unicast session goes where
			// the routing table says, so it must be for a host on IPlocal's own subnet.
			if !ifc.Prefix.Contains(u.Dest) {
				return nil, fieldErr("ip", "%s is not on %s, the subnet of IPlocal (%s): a "+
					"unicast client must be reached with no router", u.Dest, ifc.Prefix, ifc.Name)
			}
			if u.Dest == ifc.Prefix.Masked().Addr() {
				return nil, fieldErr("ip", "%s is the network address of %s", u.Dest, ifc.Prefix)
			}
			local, err := IsLocal(u.Dest)
			if err != nil {
				return nil, err
			}
			if local {
				return nil, fieldErr("ip", "%s is an address of this host", u.Dest)
			}
			// On the subnet, unless the routing table says otherwise.
			route, err := RouteTo(u.Dest)
			if errors.Is(err, ErrNoRoute) {
				return nil, fieldErr("ip", "this host cannot send to %s: %v", u.Dest, err)
			}
			if err != nil {
				return nil, err
			}
			if route.Index != ifc.Index || route.Via.IsValid() {
				how := "by another interface"
				if route.Via.IsValid() {
					how = "through the router " + route.Via.String()
				}
				return nil, fieldErr("ip", "this host's routing table sends to %s %s, not "+
					"straight out of %s (IPlocal's interface)", u.Dest, how, ifc.Name)
			}
			return u.Argv(prog, image, ifc, s.ttl()), nil
		})
}

func (s *Service) start(ctx context.Context, kind Kind, id string, port int,
	desc func(image string) string,
	argv func(prog, image string, ifc Interface) ([]string, error)) (Transmission, error) {
	// Under the catalog lock: the image cannot go to the trash while its sender starts.
	var tr Transmission
	_, err := s.Catalog.Use(ctx, id, catalog.Repository, func(found catalog.Found) error {
		var err error
		tr, err = s.startFound(ctx, kind, found, port, desc, argv)
		return err
	})
	return tr, err
}

func (s *Service) startFound(ctx context.Context, kind Kind, found catalog.Found, port int,
	desc func(image string) string,
	argv func(prog, image string, ifc Interface) ([]string, error)) (Transmission, error) {
	ifc, err := InterfaceFor(s.IPlocal)
	if err != nil {
		return Transmission{}, err
	}
	prog, err := exec.LookPath(kind.Program())
	if err != nil {
		return Transmission{}, fmt.Errorf("find %s: %w", kind.Program(), err)
	}
	if prog, err = filepath.Abs(prog); err != nil {
		return Transmission{}, fmt.Errorf("find %s: %w", kind.Program(), err)
	}
	image := found.File.String()
	args, err := argv(prog, found.Path(s.Catalog), ifc)
	if err != nil {
		return Transmission{}, err
	}
	unit, err := systemd.UnitName(string(kind), strconv.Itoa(port), image)
	if err != nil {
		return Transmission{}, fmt.Errorf("name the %s unit of %s: %w", kind.label(), image, err)
	}
	// A sender reads the image and writes nothing.
	t := systemd.Transient{Name: unit, Description: desc(image), Argv: args, Type: "exec",
		Properties: systemd.ReadOnly()}
	if s.UnitLogDir != "" {
		t.StandardOutput = "append:" + filepath.Join(s.UnitLogDir, unit+".log")
		t.StandardError = t.StandardOutput
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	// A unit of this name that had failed is replaced below: note its ending first.
	if _, err := s.Running(ctx, kind); err != nil {
		return Transmission{}, err
	}
	if err := s.checkPortFree(ctx, kind, port); err != nil {
		return Transmission{}, err
	}
	err = s.Units.StartTransient(ctx, t)
	if errors.Is(err, systemd.ErrUnitExists) {
		return Transmission{}, fmt.Errorf("%w: %s of %s on port %d is running already (unit %s)",
			ErrBusy, kind.label(), image, port, unit)
	}
	if err != nil {
		return Transmission{}, fmt.Errorf("start %s of %s: %w", kind.label(), image, err)
	}
	st, err := s.Units.Unit(ctx, unit)
	if err != nil {
		return Transmission{}, fmt.Errorf("read the %s unit of %s: %w", kind.label(), image, err)
	}
	tr := fromUnit(kind, st)
	s.Log.Info("transmission started", "kind", string(kind), "image", image, "unit", unit,
		"pid", tr.PID, "argv", strings.Join(args, " "))
	return tr, nil
}

// checkPortFree refuses a port held by a unit of kind that has not finished. A finished
// one is forgotten here, so that it holds nothing.
func (s *Service) checkPortFree(ctx context.Context, kind Kind, port int) error {
	units, err := s.Units.List(ctx, pattern(kind, strconv.Itoa(port)))
	if err != nil {
		return fmt.Errorf("list %s units: %w", kind.label(), err)
	}
	for _, u := range units {
		if !finished(u) {
			return fmt.Errorf("%w: %s is using port %d (unit %s is %s)", ErrBusy,
				describeUnit(kind, u), port, u.Name, u.ActiveState)
		}
	}
	return nil
}

// maxUnreported bounds the endings kept for a report nobody asks for.
const maxUnreported = 100

// List returns the transmissions of kind that run or, when none does, those that had
// ended since the last such answer (found by this call or by Running), each once: the
// listing of running ones has no room to name them, so they wait for a listing of none.
func (s *Service) List(ctx context.Context, kind Kind) (running, ended []Transmission,
	err error) {
	running, err = s.Running(ctx, kind)
	if err != nil || len(running) > 0 {
		return running, nil, err
	}
	s.unreportedMu.Lock()
	defer s.unreportedMu.Unlock()
	ended = s.unreported[kind]
	delete(s.unreported, kind)
	return running, ended, nil
}

// Running returns the transmissions of kind that run. Those that had ended are forgotten
// by systemd (reset-failed), so that no unit lingers, and kept for List to report.
func (s *Service) Running(ctx context.Context, kind Kind) ([]Transmission, error) {
	units, err := s.Units.List(ctx, pattern(kind, "*"))
	if err != nil {
		return nil, fmt.Errorf("list %s units: %w", kind.label(), err)
	}
	var running, ended []Transmission
	for _, u := range units {
		t := fromUnit(kind, u)
		if t.Running {
			running = append(running, t)
			continue
		}
		if !finished(u) {
			continue // starting or stopping: neither running nor over
		}
		ended = append(ended, t)
		s.Log.Info("transmission ended", "kind", string(kind), "unit", u.Name, "how", t.Ended)
		if err := s.Units.ResetFailed(ctx, u.Name); err != nil &&
			!errors.Is(err, systemd.ErrNoSuchUnit) {
			s.Log.Warn("could not reset an ended transmission", "unit", u.Name, "err", err)
		}
	}
	if len(ended) > 0 {
		s.unreportedMu.Lock()
		if s.unreported == nil {
			s.unreported = map[Kind][]Transmission{}
		}
		s.unreported[kind] = append(s.unreported[kind], ended...)
		if n := len(s.unreported[kind]); n > maxUnreported {
			s.unreported[kind] = slices.Clone(s.unreported[kind][n-maxUnreported:])
		}
		s.unreportedMu.Unlock()
	}
	return running, nil
}

// Stop stops every running transmission of kind for the image id, and returns them. An
// image with none running is ErrNotRunning, or catalog.ErrNotFound if no image has that ID.
func (s *Service) Stop(ctx context.Context, kind Kind, id string) ([]Transmission, error) {
	id, err := catalog.ParseID(id)
	if err != nil {
		return nil, err
	}
	running, err := s.Running(ctx, kind)
	if err != nil {
		return nil, err
	}
	var stopped []Transmission
	for _, t := range running {
		if t.ImageID != id {
			continue
		}
		if err := s.Units.Stop(ctx, t.Unit); err != nil && !errors.Is(err, systemd.ErrNoSuchUnit) {
			return stopped, fmt.Errorf("stop %s of %s: %w", kind.label(), t.Image, err)
		}
		s.Log.Info("transmission stopped", "kind", string(kind), "image", t.Image, "unit", t.Unit)
		stopped = append(stopped, t)
	}
	if len(stopped) > 0 {
		return stopped, nil
	}
	if _, err := s.Catalog.Find(ctx, id, catalog.Repository, catalog.Trash); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: no %s of image %s is running", ErrNotRunning, kind.label(), id)
}

// pattern matches the units of kind on port ("*" for any).
// Pattern matches every unit of a kind.
func (k Kind) Pattern() string { return pattern(k, "*") }

func pattern(kind Kind, port string) string {
	return systemd.Prefix + string(kind) + "-" + port + "-*"
}

// finished tells whether a unit is over: failed, or inactive and about to be unloaded.
func finished(u systemd.UnitState) bool {
	return u.ActiveState == "failed" || u.ActiveState == "inactive"
}

// imageInDescription finds the image's ID in a unit's description, where start put it.
var imageInDescription = regexp.MustCompile(`\(image ([0-9a-f]{32})\)`)

// fromUnit reads a transmission back from its unit: the port and image file from the
// name, the image's ID from the description.
func fromUnit(kind Kind, u systemd.UnitState) Transmission {
	t := Transmission{Kind: kind, Unit: u.Name}
	rest := strings.TrimSuffix(strings.TrimPrefix(u.Name, systemd.Prefix+string(kind)+"-"),
		".service")
	if port, image, ok := strings.Cut(rest, "-"); ok {
		t.Port, _ = strconv.Atoi(port)
		t.Image = image
	}
	if m := imageInDescription.FindStringSubmatch(u.Description); m != nil {
		t.ImageID = m[1]
	}
	t.Running = u.ActiveState == "active" && u.MainPID != 0
	if t.Running {
		t.PID = u.MainPID
		return t
	}
	t.Ended = u.ActiveState
	if u.Result != "" {
		t.Ended += ", " + u.Result
	}
	switch u.ExecMainCode {
	case systemd.ExitedCode:
		t.Ended += fmt.Sprintf(", exit status %d", u.ExecMainStatus)
	case systemd.KilledCode, systemd.DumpedCode:
		t.Ended += fmt.Sprintf(", killed by signal %d", u.ExecMainStatus)
	}
	return t
}

func describeUnit(kind Kind, u systemd.UnitState) string {
	t := fromUnit(kind, u)
	if t.Image == "" {
		return "another " + kind.label()
	}
	return kind.label() + " of " + t.Image
}
