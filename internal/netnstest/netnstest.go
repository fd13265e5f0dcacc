// Package netnstest makes the test hosts of transmission tests: two network namespaces
// joined by a veth pair, with addresses from a test range and a multicast route, so that a
// sender in one and real receivers in the other exchange packets that never leave the
// machine. Everything is removed when the test ends.
package netnstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Addresses of the two hosts. They exist only inside the namespaces a Pair creates.
const (
	SenderIP   = "10.77.0.1"
	ReceiverIP = "10.77.0.2"
	prefixLen  = "/24"
	// Broadcast is the subnet's broadcast address, for Wake-on-LAN tests.
	Broadcast = "10.77.0.255"
)

// Pair is two network namespaces joined by a veth pair.
type Pair struct {
	Sender, Receiver     string // namespace names, under /run/netns
	SenderIf, ReceiverIf string // the veth ends, one in each
}

// New creates a Pair for t and removes it when t ends. It needs root and iproute2; under
// CI=true their absence fails the test, elsewhere it skips.
func New(t testing.TB) *Pair {
	t.Helper()
	if _, err := exec.LookPath("ip"); err != nil || os.Geteuid() != 0 {
		msg := fmt.Sprintf("network namespaces need root and iproute2 (ip: %v)", err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	id := randomID()
	p := &Pair{Sender: "ogr-s-" + id, Receiver: "ogr-r-" + id,
		SenderIf: "ogrs" + id, ReceiverIf: "ogrr" + id}
	t.Cleanup(func() { p.remove(t) })

	steps := [][]string{
		{"netns", "add", p.Sender},
		{"netns", "add", p.Receiver},
		{"link", "add", p.SenderIf, "netns", p.Sender, "type", "veth",
			"peer", "name", p.ReceiverIf, "netns", p.Receiver},
	}
	for _, h := range []struct{ ns, ifc, ip string }{
		{p.Sender, p.SenderIf, SenderIP}, {p.Receiver, p.ReceiverIf, ReceiverIP},
	} {
		steps = append(steps,
			[]string{"-n", h.ns, "link", "set", "lo", "up"},
			[]string{"-n", h.ns, "addr", "add", h.ip + prefixLen, "broadcast", Broadcast, "dev", h.ifc},
			[]string{"-n", h.ns, "link", "set", h.ifc, "up"},
			[]string{"-n", h.ns, "route", "add", "224.0.0.0/4", "dev", h.ifc},
		)
	}
	for _, args := range steps {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return p
}

func (p *Pair) remove(t testing.TB) {
	for _, ns := range []string{p.Sender, p.Receiver} {
		if out, err := exec.Command("ip", "netns", "delete", ns).CombinedOutput(); err != nil {
			t.Logf("ip netns delete %s: %v %s", ns, err, out)
		}
	}
}

func randomID() string {
	b := make([]byte, 3)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// Path is the namespace file of ns, for nsenter --net= and NetworkNamespacePath=.
func Path(ns string) string { return "/run/netns/" + ns }

// Command runs name inside namespace ns (with nsenter, which keeps /sys as it is). No
// parent-death signal is set: Linux sends it when the forking thread exits, and the
// threads inNamespace uses do exit.
func Command(ctx context.Context, ns, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + Path(ns), "--", name}, args...)...)
}

// DialContext dials from inside namespace ns, for an http.Transport that must reach a
// daemon listening on the loopback of that namespace.
func DialContext(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := inNamespace(ns, func() error {
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			conn = c
			return err
		})
		return conn, err
	}
}

// ListenPacket opens a UDP socket inside namespace ns; the socket stays in ns after.
func ListenPacket(ns, addr string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := inNamespace(ns, func() error {
		c, err := net.ListenPacket("udp4", addr)
		pc = c
		return err
	})
	return pc, err
}

// inNamespace runs fn on an OS thread switched into ns. The thread is thrown away
// afterwards rather than switched back, so no goroutine ever runs in the wrong namespace.
func inNamespace(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		fd, err := unix.Open(Path(ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open namespace %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter namespace %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
