package transmission

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoInterface means no network interface of this host holds IPlocal, so there is no
// interface to send by: the configuration or the network is wrong, not the request.
var ErrNoInterface = errors.New("no network interface holds IPlocal")

// Interface is the network interface a transmission leaves by.
type Interface struct {
	Name  string
	Index int
	// Addr is IPlocal; Broadcast is its subnet's broadcast address.
	Addr, Broadcast netip.Addr
	// Prefix is IPlocal's subnet: the hosts this interface reaches with no router.
	Prefix netip.Prefix
	// NoKernelBroadcast: the kernel has no broadcast address for IPlocal on this
	// interface (an address added without "brd"). udp-sender then sends its control
	// messages to 224.0.0.1, which receivers hear only with --mcast-rdv-address.
	NoKernelBroadcast bool
}

// InterfaceFor finds the interface holding local in this process's network namespace,
// which is the one the units run in.
func InterfaceFor(local string) (Interface, error) {
	want, err := netip.ParseAddr(local)
	if err != nil {
		return Interface{}, fmt.Errorf("%w: IPlocal %q is not an IP address", ErrNoInterface, local)
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return Interface{}, fmt.Errorf("list network interfaces: %w", err)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			return Interface{}, fmt.Errorf("addresses of %s: %w", ifc.Name, err)
		}
		for _, a := range addrs {
			ipnet, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			ip, ok := netip.AddrFromSlice(ipnet.IP)
			if !ok || ip.Unmap() != want.Unmap() {
				continue
			}
			if ifc.Flags&net.FlagUp == 0 {
				return Interface{}, fmt.Errorf("%w: %s holds %s but is down", ErrNoInterface,
					ifc.Name, local)
			}
			ones, _ := ipnet.Mask.Size()
			prefix, err := want.Unmap().Prefix(ones)
			if err != nil {
				return Interface{}, fmt.Errorf("subnet of %s on %s: %w", local, ifc.Name, err)
			}
			brd, err := kernelBroadcast(ifc.Index, want)
			if err != nil {
				return Interface{}, err
			}
			return Interface{Name: ifc.Name, Index: ifc.Index, Addr: want, Broadcast: broadcast(ipnet),
				Prefix: prefix, NoKernelBroadcast: want.Is4() && !brd.IsValid()}, nil
		}
	}
	return Interface{}, fmt.Errorf("%w: none of this host's interfaces has %s (IPlocal in "+
		"ogAdmRepo.cfg)", ErrNoInterface, local)
}

// broadcast is the directed broadcast address of an IPv4 subnet, or the zero Addr.
func broadcast(n *net.IPNet) netip.Addr {
	ip4, mask := n.IP.To4(), n.Mask
	if ip4 == nil || len(mask) != net.IPv4len {
		return netip.Addr{}
	}
	var b [4]byte
	for i := range b {
		b[i] = ip4[i] | ^mask[i]
	}
	return netip.AddrFrom4(b)
}

// IsLocal reports whether a is an address of one of this host's interfaces.
func IsLocal(a netip.Addr) (bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false, fmt.Errorf("list this host's addresses: %w", err)
	}
	for _, ad := range addrs {
		if ipnet, ok := ad.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(ipnet.IP); ok && ip.Unmap() == a.Unmap() {
				return true, nil
			}
		}
	}
	return false, nil
}

// kernelBroadcast is the broadcast address the kernel holds for the IPv4 address addr on
// interface index (IFA_BROADCAST, from a netlink dump of addresses), or the zero Addr.
func kernelBroadcast(index int, addr netip.Addr) (netip.Addr, error) {
	if !addr.Unmap().Is4() {
		return netip.Addr{}, nil
	}
	rib, err := syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_INET)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("list IPv4 addresses: %w", err)
	}
	msgs, err := syscall.ParseNetlinkMessage(rib)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("read IPv4 addresses: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
			continue
		}
		// struct ifaddrmsg: family, prefix length, flags, scope, then the index.
		if binary.NativeEndian.Uint32(m.Data[4:8]) != uint32(index) {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("read IPv4 addresses: %w", err)
		}
		var local, brd netip.Addr
		for _, a := range attrs {
			ip, ok := netip.AddrFromSlice(a.Value)
			switch {
			case !ok:
			case a.Attr.Type == syscall.IFA_LOCAL:
				local = ip
			case a.Attr.Type == syscall.IFA_ADDRESS && !local.IsValid():
				local = ip
			case a.Attr.Type == syscall.IFA_BROADCAST:
				brd = ip
			}
		}
		if local == addr.Unmap() {
			return brd, nil
		}
	}
	return netip.Addr{}, nil
}

// ErrNoRoute: the routing table sends nothing to the address (no route, or a blackhole,
// unreachable or prohibit one).
var ErrNoRoute = errors.New("no route")

// Route is how this host's routing table sends to an address: by which interface, and
// whether through a router.
type Route struct {
	Index int
	Via   netip.Addr
}

// RouteTo asks the kernel (RTM_GETROUTE, as `ip route get` does) how it would send to the
// IPv4 address dst from this process's network namespace, the units' one.
func RouteTo(dst netip.Addr) (Route, error) {
	if !dst.Is4() {
		return Route{}, fmt.Errorf("route to %s: only IPv4", dst)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return Route{}, fmt.Errorf("route to %s: %w", dst, err)
	}
	defer unix.Close(fd)
	// struct nlmsghdr, struct rtmsg, then one attribute: RTA_DST, the address.
	const hdr, rtmsg, attr = unix.SizeofNlMsghdr, unix.SizeofRtMsg, unix.SizeofRtAttr + 4
	req := make([]byte, hdr+rtmsg+attr)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], unix.RTM_GETROUTE)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(req[8:], 1) // sequence number
	req[hdr] = unix.AF_INET
	req[hdr+1] = 32 // rtm_dst_len
	ne.PutUint16(req[hdr+rtmsg:], attr)
	ne.PutUint16(req[hdr+rtmsg+2:], unix.RTA_DST)
	a4 := dst.As4()
	copy(req[hdr+rtmsg+unix.SizeofRtAttr:], a4[:])
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return Route{}, fmt.Errorf("route to %s: %w", dst, err)
	}
	buf := make([]byte, 8192)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return Route{}, fmt.Errorf("route to %s: %w", dst, err)
	}
	msgs, err := syscall.ParseNetlinkMessage(buf[:n])
	if err != nil || len(msgs) == 0 {
		return Route{}, fmt.Errorf("route to %s: unreadable answer from the kernel: %v", dst, err)
	}
	m := msgs[0]
	if m.Header.Type == unix.NLMSG_ERROR {
		if len(m.Data) >= 4 {
			if errno := int32(ne.Uint32(m.Data)); errno != 0 {
				return Route{}, fmt.Errorf("%w to %s: %w", ErrNoRoute, dst, syscall.Errno(-errno))
			}
		}
		return Route{}, fmt.Errorf("%w to %s", ErrNoRoute, dst)
	}
	attrs, err := syscall.ParseNetlinkRouteAttr(&m)
	if err != nil {
		return Route{}, fmt.Errorf("route to %s: %w", dst, err)
	}
	var r Route
	for _, at := range attrs {
		switch at.Attr.Type {
		case unix.RTA_OIF:
			if len(at.Value) >= 4 {
				r.Index = int(ne.Uint32(at.Value))
			}
		case unix.RTA_GATEWAY:
			r.Via, _ = netip.AddrFromSlice(at.Value)
		}
	}
	return r, nil
}
