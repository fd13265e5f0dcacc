// Package systemd owns all talk with systemd over D-Bus: it starts this
// project's transient units (transmissions and long jobs), queries units for
// status, and stops them. Everything goes through one shared connection per
// Conn, which reconnects once when it finds the bus closed, so a restart of
// the bus or of systemd costs a caller at most one retried call.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	godbus "github.com/godbus/dbus/v5"
)

// Bus names which systemd manager a Conn talks to.
type Bus string

const (
	// System is the system manager, on the system bus: production.
	System Bus = "system"
	// User is the manager on the session bus named by DBUS_SESSION_BUS_ADDRESS:
	// development machines and tests running a private user manager.
	User Bus = "user"
)

// ParseBus reads a Bus from configuration: "system" or "user".
func ParseBus(s string) (Bus, error) {
	switch b := Bus(s); b {
	case System, User:
		return b, nil
	}
	return "", fmt.Errorf("unknown systemd bus %q: want %q or %q", s, System, User)
}

var (
	// ErrUnitExists means a unit of that name is already loaded and not
	// finished, so it cannot be started anew.
	ErrUnitExists = errors.New("unit already exists")
	// ErrNoSuchUnit means systemd has no unit of that name loaded.
	ErrNoSuchUnit = errors.New("no such unit")
)

// errConnClosed is returned by calls on a Conn after Close.
var errConnClosed = errors.New("systemd connection closed")

// D-Bus error names systemd answers with.
const (
	dbusNoSuchUnit = "org.freedesktop.systemd1.NoSuchUnit"
	dbusUnitExists = "org.freedesktop.systemd1.UnitExists"
)

// Conn is the shared connection to one systemd manager. Safe for concurrent
// use: calls run in parallel on the current connection; when a call finds it
// closed, the connection is replaced and that call is retried once.
type Conn struct {
	address string // the bus address, for messages
	open    func() (*godbus.Conn, error)

	mu     sync.Mutex
	cur    *session // nil until dialled, or after a failure dropped it
	closed bool
	dials  int // connections made so far, for tests
}

// session is one connection to the manager: go-systemd's Conn and the two
// bus connections under it (one for calls, one for job signals), kept to tell
// when either is gone.
type session struct {
	sd  *sddbus.Conn
	raw []*godbus.Conn
}

// Dial connects to the manager on bus and returns once it answers. ctx bounds
// the first connection only; the Conn lives until Close.
func Dial(ctx context.Context, bus Bus) (*Conn, error) {
	switch bus {
	case System:
		c := &Conn{address: "system bus", open: func() (*godbus.Conn, error) {
			return godbus.SystemBusPrivate()
		}}
		return c.start(ctx)
	case User:
		address := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
		if address == "" {
			return nil, errors.New("connect to user systemd: DBUS_SESSION_BUS_ADDRESS not set")
		}
		return DialAddress(ctx, address)
	}
	return nil, fmt.Errorf("connect to systemd: unknown bus %q", bus)
}

// DialAddress connects to the manager on the bus at address, such as
// "unix:path=/tmp/x/bus" (a private manager in tests).
func DialAddress(ctx context.Context, address string) (*Conn, error) {
	if address == "" {
		return nil, errors.New("connect to systemd: empty bus address")
	}
	c := &Conn{address: address, open: func() (*godbus.Conn, error) {
		return godbus.Dial(address)
	}}
	return c.start(ctx)
}

// start makes the first connection, so that a wrong address shows at once.
func (c *Conn) start(ctx context.Context) (*Conn, error) {
	if _, err := c.session(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Close closes the connection; further calls fail.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.cur != nil {
		c.cur.close()
		c.cur = nil
	}
}

// session returns the current connection, dialling a new one when there is
// none or the current one has been closed under us.
func (c *Conn) session(ctx context.Context) (*session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errConnClosed
	}
	if c.cur != nil && c.cur.sd.Connected() {
		return c.cur, nil
	}
	if c.cur != nil {
		c.cur.close()
		c.cur = nil
	}
	s, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.cur = s
	c.dials++
	return s, nil
}

// connect dials a session within ctx. The connection itself is not tied to
// ctx: a dial that ctx gave up on is closed when it completes.
func (c *Conn) connect(ctx context.Context) (*session, error) {
	type result struct {
		s   *session
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := c.dial()
		done <- result{s, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("connect to systemd on %s: %w", c.address, r.err)
		}
		return r.s, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.s != nil {
				r.s.close()
			}
		}()
		return nil, fmt.Errorf("connect to systemd on %s: %w", c.address, ctx.Err())
	}
}

// dial opens, authenticates and greets the two bus connections go-systemd
// needs, keeping them so that their loss can be seen.
func (c *Conn) dial() (*session, error) {
	s := &session{}
	sd, err := sddbus.NewConnection(func() (*godbus.Conn, error) {
		conn, err := c.open()
		if err != nil {
			return nil, err
		}
		auth := []godbus.Auth{godbus.AuthExternal(strconv.Itoa(os.Getuid()))}
		if err := conn.Auth(auth); err != nil {
			conn.Close()
			return nil, fmt.Errorf("authenticate: %w", err)
		}
		if err := conn.Hello(); err != nil {
			conn.Close()
			return nil, fmt.Errorf("hello: %w", err)
		}
		s.raw = append(s.raw, conn)
		return conn, nil
	})
	if err != nil {
		return nil, err
	}
	if len(s.raw) != 2 {
		sd.Close()
		return nil, fmt.Errorf("go-systemd dialled %d bus connections, want 2", len(s.raw))
	}
	s.sd = sd
	return s, nil
}

func (s *session) close() {
	s.sd.Close()
}

// gone returns the done channels of the session's two bus connections
// (one for calls, one for job signals): once either is closed, a job's result
// can no longer arrive.
func (s *session) gone() (calls, signals <-chan struct{}) {
	return s.raw[0].Context().Done(), s.raw[1].Context().Done()
}

// broken tells whether err came from a closed connection rather than from
// systemd.
func (s *session) broken(err error) bool {
	return errors.Is(err, godbus.ErrClosed) ||
		strings.Contains(err.Error(), "connection closed") ||
		!s.sd.Connected()
}

// drop forgets s if it is still the current session, so the next call dials.
func (c *Conn) drop(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == s {
		c.cur.close()
		c.cur = nil
	}
}

// do runs call on the current session; if it fails because the connection
// was closed, it reconnects and runs call once more.
func (c *Conn) do(ctx context.Context, call func(*session) error) error {
	s, err := c.session(ctx)
	if err != nil {
		return err
	}
	err = call(s)
	if err == nil || !s.broken(err) {
		return err
	}

	c.drop(s)
	s, dialErr := c.session(ctx)
	if dialErr != nil {
		return fmt.Errorf("%w (then %w)", err, dialErr)
	}
	return call(s)
}

// dbusErrorName returns the D-Bus error name err carries, or "".
func dbusErrorName(err error) string {
	var v godbus.Error
	if errors.As(err, &v) {
		return v.Name
	}
	var p *godbus.Error
	if errors.As(err, &p) && p != nil {
		return p.Name
	}
	return ""
}

// translate turns systemd's well-known D-Bus errors into this package's
// sentinels, keeping the original in the chain.
func translate(err error) error {
	switch dbusErrorName(err) {
	case dbusNoSuchUnit:
		return fmt.Errorf("%w: %w", ErrNoSuchUnit, err)
	case dbusUnitExists:
		return fmt.Errorf("%w: %w", ErrUnitExists, err)
	}
	return err
}
