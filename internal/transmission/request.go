package transmission

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/opengnsys/ogrepository/internal/catalog"
	"github.com/opengnsys/ogrepository/internal/config"
)

// ErrInvalid is wrapped by every refusal of a client's field: nothing was started.
var ErrInvalid = errors.New("invalid transmission request")

// FieldError is a refused field of a request. It wraps ErrInvalid, and names the field as
// the client sent it, so the client knows which one to fix.
type FieldError struct {
	Field, Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Is makes a FieldError match ErrInvalid.
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// Limits on what a client may ask for. They bound the values to what a classroom needs, so
// that a typo cannot start a sender that waits for a million clients or for a year.
const (
	// MinPort and MaxPortBase bound UDPcast's port base (it uses the base and the next
	// port) and, with MaxPort, UFTP's port: no privileged port, nothing past 65535.
	MinPort     = 1024
	MaxPortBase = 65534
	MaxPort     = 65535
	// MaxClients bounds the number of receivers a UDPcast waits for.
	MaxClients = 1000
	// MaxWaitSeconds bounds how long a UDPcast waits for more receivers: one day.
	MaxWaitSeconds = 86400
	// MinBitrate and MaxBitrate bound a transmission's rate, in bits per second.
	MinBitrate = 1_000
	MaxBitrate = 10_000_000_000
	// DefaultTTL is the multicast time-to-live unless the daemon is told otherwise: 1, so
	// nothing multicast leaves the repository's LAN. OpenGnsys used 16, for classrooms
	// behind a multicast router; at more than 1, udp-sender also moves its rendezvous to
	// 224.0.0.1, where udp-receivers run with default options do not listen, so they find
	// the sender only if their one connection request reaches it.
	DefaultTTL = 1
)

// Duplex is UDPcast's duplex mode.
type Duplex string

// The two duplex modes, by the names the API takes.
const (
	Half Duplex = "half"
	Full Duplex = "full"
)

// UDPcastFields are the fields of a UDPcast request as the client sent them; numbers are
// their decimal text.
type UDPcastFields struct {
	ID, Port, Method, IP, Bitrate, Clients, MaxTime string
}

// UDPcastRequest is a checked request to send an image with udp-sender.
type UDPcastRequest struct {
	ImageID  string
	PortBase int
	Duplex   Duplex
	// Group is the multicast address the data is sent to.
	Group netip.Addr
	// Bitrate is the most bits per second udp-sender may send.
	Bitrate int64
	// MinReceivers is how many receivers udp-sender waits for; MaxWait is how many
	// seconds it waits for them once the first has connected (0: no limit).
	MinReceivers, MaxWait int
}

// ParseUDPcast checks every field of a UDPcast request. The error for the first bad field
// is a *FieldError naming it by its JSON name.
func ParseUDPcast(f UDPcastFields) (UDPcastRequest, error) {
	var u UDPcastRequest
	var err error
	if u.ImageID, err = parseID(f.ID); err != nil {
		return UDPcastRequest{}, err
	}
	if u.PortBase, err = parseInt("port", f.Port, MinPort, MaxPortBase); err != nil {
		return UDPcastRequest{}, err
	}
	if u.PortBase%2 != 0 {
		return UDPcastRequest{}, fieldErr("port", "%d is odd: udp-sender uses the port base and the "+
			"next port, and the port base must be even", u.PortBase)
	}
	if u.PortBase == config.TrackerPort || u.PortBase+1 == config.TrackerPort {
		return UDPcastRequest{}, fieldErr("port", "port base %d would use port %d, the "+
			"BitTorrent tracker's", u.PortBase, config.TrackerPort)
	}
	switch d := Duplex(f.Method); d {
	case Half, Full:
		u.Duplex = d
	default:
		return UDPcastRequest{}, fieldErr("method", "%q: want %q or %q", f.Method, Half, Full)
	}
	if u.Group, err = parseGroup("ip", f.IP); err != nil {
		return UDPcastRequest{}, err
	}
	if u.Bitrate, err = ParseBitrate("bitrate", f.Bitrate); err != nil {
		return UDPcastRequest{}, err
	}
	if u.MinReceivers, err = parseInt("nclients", f.Clients, 1, MaxClients); err != nil {
		return UDPcastRequest{}, err
	}
	if u.MaxWait, err = parseInt("maxtime", f.MaxTime, 0, MaxWaitSeconds); err != nil {
		return UDPcastRequest{}, err
	}
	return u, nil
}

// UFTPFields are the fields of a UFTP request as the client sent them.
type UFTPFields struct {
	ID, Port, IP, Bitrate string
}

// UFTPRequest is a checked request to send an image with uftp.
type UFTPRequest struct {
	ImageID string
	Port    int
	// Dest is where uftp announces the session: a multicast group, or one client's
	// unicast address.
	Dest netip.Addr
	// Bitrate is uftp's rate in bits per second; uftp takes it in Kbps.
	Bitrate int64
}

// ParseUFTP checks every field of a UFTP request, as ParseUDPcast does.
func ParseUFTP(f UFTPFields) (UFTPRequest, error) {
	var u UFTPRequest
	var err error
	if u.ImageID, err = parseID(f.ID); err != nil {
		return UFTPRequest{}, err
	}
	if u.Port, err = parseInt("port", f.Port, MinPort, MaxPort); err != nil {
		return UFTPRequest{}, err
	}
	if u.Port == config.TrackerPort {
		return UFTPRequest{}, fieldErr("port", "%d is the BitTorrent tracker's port", u.Port)
	}
	if u.Dest, err = parseDest("ip", f.IP); err != nil {
		return UFTPRequest{}, err
	}
	if u.Bitrate, err = ParseBitrate("bitrate", f.Bitrate); err != nil {
		return UFTPRequest{}, err
	}
	return u, nil
}

func parseID(s string) (string, error) {
	id, err := catalog.ParseID(s)
	if err != nil {
		return "", fieldErr("ID_img", "%q: want the image's ID, 32 hexadecimal digits", s)
	}
	return id, nil
}

// maxDigits keeps a number's text short enough that parsing it cannot overflow.
const maxDigits = 12

// parseInt reads a field's whole decimal number, without sign, in [lo, hi].
func parseInt(field, s string, lo, hi int) (int, error) {
	if s == "" || len(s) > maxDigits || strings.Trim(s, "0123456789") != "" {
		return 0, fieldErr(field, "%q: want a whole number from %d to %d", clip(s), lo, hi)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, fieldErr(field, "%s: want a whole number from %d to %d", s, lo, hi)
	}
	return n, nil
}

// ParseBitrate reads a rate such as "70M", "900k" or "1G": a whole number and a K, M or G
// suffix in either case, in decimal units (1K = 1000 bits per second), as UDPcast and UFTP
// count them. A bare number is refused rather than guessed at: OpenGnsys has sent it in
// Mbps to udp-sender, which reads it in bits per second.
func ParseBitrate(field, s string) (int64, error) {
	const want = "want a whole number and a unit, K, M or G (bits per second), e.g. 70M"
	if len(s) < 2 || len(s) > maxDigits {
		return 0, fieldErr(field, "%q: %s", clip(s), want)
	}
	digits, unit := s[:len(s)-1], s[len(s)-1]
	var scale int64
	switch unit {
	case 'k', 'K':
		scale = 1_000
	case 'm', 'M':
		scale = 1_000_000
	case 'g', 'G':
		scale = 1_000_000_000
	default:
		return 0, fieldErr(field, "%q: %s", s, want)
	}
	if strings.Trim(digits, "0123456789") != "" {
		return 0, fieldErr(field, "%q: %s", s, want)
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n > MaxBitrate/scale || n*scale < MinBitrate {
		return 0, fieldErr(field, "%s: want from 1K to 10G", s)
	}
	return n * scale, nil
}

// parseIPv4 reads a dotted IPv4 address. Both senders and this repository's IPlocal are
// IPv4 (udp-sender knows no IPv6).
func parseIPv4(field, s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fieldErr(field, "%q: want an IPv4 address", clip(s))
	}
	return a, nil
}

// linkLocalGroups is 224.0.0.0/24, the groups of routing and discovery protocols (all
// hosts, all routers, ...): no transmission's data belongs there.
var linkLocalGroups = netip.MustParsePrefix("224.0.0.0/24")

// parseGroup reads a multicast group for data: only multicast, since UDPcast's data must
// reach every receiver at once and a unicast or broadcast address would not do that.
func parseGroup(field, s string) (netip.Addr, error) {
	a, err := parseIPv4(field, s)
	if err != nil {
		return a, err
	}
	if !a.IsMulticast() {
		return netip.Addr{}, fieldErr(field, "%s is not a multicast address (224.0.0.0/4); "+
			"239.0.0.0/8 is meant for uses like this", a)
	}
	if linkLocalGroups.Contains(a) {
		return netip.Addr{}, fieldErr(field, "%s is in 224.0.0.0/24, reserved for network "+
			"protocols", a)
	}
	return a, nil
}

// parseDest reads where UFTP sends: a multicast group, or a client's unicast address. It
// refuses what reaches no client or every host: unspecified, loopback (the session leaves
// by IPlocal's interface; a receiver on this host has no business with it), the limited
// broadcast address and the reserved 240.0.0.0/4. A subnet's broadcast address is refused
// where the interface is known, when the transmission starts.
func parseDest(field, s string) (netip.Addr, error) {
	a, err := parseIPv4(field, s)
	if err != nil {
		return a, err
	}
	if a.IsMulticast() {
		return parseGroup(field, s)
	}
	switch {
	case a.IsUnspecified(), a.As4()[0] == 0:
		return netip.Addr{}, fieldErr(field, "%s is not an address a client can have", a)
	case a.IsLoopback():
		return netip.Addr{}, fieldErr(field, "%s is loopback: the clients are other hosts", a)
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, fieldErr(field, "%s is broadcast: want a multicast group or one "+
			"client's address", a)
	case a.As4()[0] >= 240:
		return netip.Addr{}, fieldErr(field, "%s is in the reserved 240.0.0.0/4", a)
	}
	return a, nil
}

// clip shortens hostile input before it is echoed in an error.
func clip(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// udpSenderRate writes a rate in udp-sender's --max-bitrate form, which knows the
// suffixes k and m but not g.
func udpSenderRate(bps int64) string {
	if bps%1_000_000 == 0 {
		return strconv.FormatInt(bps/1_000_000, 10) + "m"
	}
	if bps%1_000 == 0 {
		return strconv.FormatInt(bps/1_000, 10) + "k"
	}
	return strconv.FormatInt(bps, 10)
}

// uftpRate writes a rate in Kbps, as uftp's -R takes it.
func uftpRate(bps int64) string { return strconv.FormatInt(bps/1_000, 10) }
