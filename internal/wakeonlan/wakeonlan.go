// Package wakeonlan wakes classroom PCs: it checks the broadcast address and MAC a client
// sends, and sends the magic packet (built by github.com/mdlayher/wol) to UDP port 9 from
// the interface that holds IPlocal.
package wakeonlan

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/mdlayher/wol"
	"golang.org/x/sys/unix"

	"github.com/opengnsys/ogrepository/internal/transmission"
)

// Port is where magic packets go (the discard service, as every WoL tool uses).
const Port = 9

// ErrInvalid is wrapped by every refusal of a client's value.
var ErrInvalid = errors.New("invalid Wake-on-LAN request")

// ParseMAC reads a 48-bit MAC in colon, dash, dot or bare hex form.
func ParseMAC(s string) (net.HardwareAddr, error) {
	t := s
	if len(t) == 12 && !strings.ContainsAny(t, ":-.") {
		var b strings.Builder
		for i := 0; i < 12; i += 2 {
			if i > 0 {
				b.WriteByte(':')
			}
			b.WriteString(t[i : i+2])
		}
		t = b.String()
	}
	mac, err := net.ParseMAC(t)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("%w: mac: %q is not a MAC address like 00:19:99:5c:bb:bb",
			ErrInvalid, s)
	}
	if isAll(mac, 0) || isAll(mac, 0xff) || mac[0]&1 == 1 {
		return nil, fmt.Errorf("%w: mac: %s is not the address of one network card", ErrInvalid, mac)
	}
	return mac, nil
}

func isAll(mac net.HardwareAddr, b byte) bool {
	for _, x := range mac {
		if x != b {
			return false
		}
	}
	return true
}

// ParseBroadcast reads the IPv4 address to send to: 255.255.255.255, or a subnet's
// directed broadcast address. Addresses that cannot be one (unspecified, loopback,
// multicast, link-local) are refused.
func ParseBroadcast(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%w: broadcast_ip: %q is not an IPv4 address", ErrInvalid, s)
	}
	var why string
	switch {
	case a.IsUnspecified():
		why = "is the unspecified address"
	case a.IsLoopback():
		why = "is a loopback address: a magic packet there reaches no PC"
	case a.IsMulticast():
		why = "is a multicast group"
	case a.IsLinkLocalUnicast():
		why = "is a link-local address"
	}
	if why != "" {
		return netip.Addr{}, fmt.Errorf("%w: broadcast_ip: %s %s; want 255.255.255.255 or a "+
			"subnet's broadcast address", ErrInvalid, a, why)
	}
	return a, nil
}

// Sender sends magic packets from the interface that holds IPlocal.
type Sender struct {
	IPlocal string
}

// Wake sends one magic packet for mac to broadcast:9. A limited broadcast
// (255.255.255.255) is bound to IPlocal's interface, so it goes out on the classroom's
// network and no other.
func (s Sender) Wake(ctx context.Context, broadcast netip.Addr, mac net.HardwareAddr) error {
	ifc, err := transmission.InterfaceFor(s.IPlocal)
	if err != nil {
		return err
	}
	// On IPlocal's own subnet only its broadcast address is one: the rest are this host,
	// the network's address, or one PC (which, asleep, answers no ARP).
	if ifc.Prefix.Contains(broadcast) && broadcast != ifc.Broadcast {
		return fmt.Errorf("%w: broadcast_ip: %s is on %s, IPlocal's subnet, but is not its "+
			"broadcast address %s", ErrInvalid, broadcast, ifc.Prefix, ifc.Broadcast)
	}
	packet, err := (&wol.MagicPacket{Target: mac}).MarshalBinary()
	if err != nil {
		return fmt.Errorf("build magic packet for %s: %w", mac, err)
	}
	limited := broadcast == netip.AddrFrom4([4]byte{255, 255, 255, 255})
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_BROADCAST, 1)
			if serr == nil && limited {
				serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifc.Name)
			}
		})
		return errors.Join(err, serr)
	}}
	conn, err := lc.ListenPacket(ctx, "udp4", net.JoinHostPort(ifc.Addr.String(), "0"))
	if err != nil {
		return fmt.Errorf("open a broadcast socket on %s: %w", ifc.Name, err)
	}
	defer conn.Close()
	to := &net.UDPAddr{IP: broadcast.AsSlice(), Port: Port}
	if _, err := conn.WriteTo(packet, to); err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			return fmt.Errorf("%w: broadcast_ip: this host has no route to %s: %v", ErrInvalid,
				broadcast, err)
		}
		return fmt.Errorf("send magic packet for %s to %s: %w", mac, to, err)
	}
	return nil
}
