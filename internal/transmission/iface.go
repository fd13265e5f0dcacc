package transmission

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ErrNoInterface means no network interface of this host holds IPlocal, so there is no
// interface to send by: the configuration or the network is wrong, not the request.
var ErrNoInterface = errors.New("no network interface holds IPlocal")

// Interface is the network interface a transmission leaves by.
type Interface struct {
	Name string
	// Addr is IPlocal; Broadcast is its subnet's broadcast address.
	Addr, Broadcast netip.Addr
	// Prefix is IPlocal's subnet: the hosts this interface reaches with no router.
	Prefix netip.Prefix
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
			return Interface{Name: ifc.Name, Addr: want, Broadcast: broadcast(ipnet),
				Prefix: prefix}, nil
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
