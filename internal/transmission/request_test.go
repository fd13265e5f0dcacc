package transmission

import (
	"errors"
	"net"
	"strings"
	"testing"
)

const testID = "0123456789abcdef0123456789abcdef"

func goodUDPcast() UDPcastFields {
	return UDPcastFields{ID: testID, Port: "9000", Method: "full", IP: "239.194.17.2",
		Bitrate: "70M", Clients: "20", MaxTime: "120"}
}

func TestParseUDPcast(t *testing.T) {
	u, err := ParseUDPcast(goodUDPcast())
	if err != nil {
		t.Fatal(err)
	}
	if u.PortBase != 9000 || u.Duplex != Full || u.Group.String() != "239.194.17.2" ||
		u.Bitrate != 70_000_000 || u.MinReceivers != 20 || u.MaxWait != 120 {
		t.Errorf("parsed %+v", u)
	}

	tests := []struct {
		field string
		set   func(*UDPcastFields)
	}{
		{"ID_img", func(f *UDPcastFields) { f.ID = "../../x" }},
		{"ID_img", func(f *UDPcastFields) { f.ID = "" }},
		{"port", func(f *UDPcastFields) { f.Port = "9001" }},
		{"port", func(f *UDPcastFields) { f.Port = "80" }},
		{"port", func(f *UDPcastFields) { f.Port = "65536" }},
		{"port", func(f *UDPcastFields) { f.Port = "-9000" }},
		{"port", func(f *UDPcastFields) { f.Port = "9000.0" }},
		{"port", func(f *UDPcastFields) { f.Port = "1e4" }},
		{"port", func(f *UDPcastFields) { f.Port = "99999999999999999999999" }},
		{"port", func(f *UDPcastFields) { f.Port = "" }},
		{"method", func(f *UDPcastFields) { f.Method = "both" }},
		{"ip", func(f *UDPcastFields) { f.IP = "10.77.0.2" }},
		{"ip", func(f *UDPcastFields) { f.IP = "255.255.255.255" }},
		{"ip", func(f *UDPcastFields) { f.IP = "224.0.0.1" }},
		{"ip", func(f *UDPcastFields) { f.IP = "ff02::1" }},
		{"ip", func(f *UDPcastFields) { f.IP = "239.1.1.1; rm -rf /" }},
		{"bitrate", func(f *UDPcastFields) { f.Bitrate = "fast" }},
		{"bitrate", func(f *UDPcastFields) { f.Bitrate = "70" }},
		{"bitrate", func(f *UDPcastFields) { f.Bitrate = "11G" }},
		{"bitrate", func(f *UDPcastFields) { f.Bitrate = "0M" }},
		{"bitrate", func(f *UDPcastFields) { f.Bitrate = "-1M" }},
		{"bitrate", func(f *UDPcastFields) { f.Bitrate = "1.5G" }},
		{"nclients", func(f *UDPcastFields) { f.Clients = "-1" }},
		{"nclients", func(f *UDPcastFields) { f.Clients = "0" }},
		{"nclients", func(f *UDPcastFields) { f.Clients = "1001" }},
		{"maxtime", func(f *UDPcastFields) { f.MaxTime = "86401" }},
		{"maxtime", func(f *UDPcastFields) { f.MaxTime = "x" }},
	}
	for _, tt := range tests {
		f := goodUDPcast()
		tt.set(&f)
		_, err := ParseUDPcast(f)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: error %v, want one naming %s", f, err, tt.field)
		}
	}
}

func TestParseUFTP(t *testing.T) {
	good := UFTPFields{ID: testID, Port: "9001", IP: "10.77.0.2", Bitrate: "1G"}
	u, err := ParseUFTP(good)
	if err != nil || u.Port != 9001 || uftpRate(u.Bitrate) != "1000000" {
		t.Fatalf("parsed %+v, %v", u, err)
	}
	for _, ip := range []string{"239.194.17.2", "192.168.1.20"} {
		good.IP = ip
		if _, err := ParseUFTP(good); err != nil {
			t.Errorf("ip %s: %v", ip, err)
		}
	}
	for _, ip := range []string{"255.255.255.255", "0.0.0.0", "127.0.0.1", "240.0.0.1",
		"224.0.0.251", "example.org", ""} {
		good.IP = ip
		if _, err := ParseUFTP(good); err == nil || !strings.HasPrefix(err.Error(), "ip: ") {
			t.Errorf("ip %q: %v, want a refusal of ip", ip, err)
		}
	}
}

func TestRates(t *testing.T) {
	for in, want := range map[string]string{"70M": "70m", "70m": "70m", "900k": "900k",
		"1G": "1000m", "1500K": "1500k", "10G": "10000m"} {
		bps, err := ParseBitrate("bitrate", in)
		if err != nil || udpSenderRate(bps) != want {
			t.Errorf("%s: %q, %v; want %q", in, udpSenderRate(bps), err, want)
		}
	}
	if bps, _ := ParseBitrate("bitrate", "900k"); uftpRate(bps) != "900" {
		t.Errorf("uftp rate of 900k: %s", uftpRate(bps))
	}
}

func TestInterfaceFor(t *testing.T) {
	ifc, err := InterfaceFor("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	if lo, err := net.InterfaceByName(ifc.Name); err != nil || lo.Flags&net.FlagLoopback == 0 {
		t.Errorf("127.0.0.1 found on %s (%v)", ifc.Name, err)
	}
	// 192.0.2.0/24 is for documentation: no host holds it.
	if _, err := InterfaceFor("192.0.2.1"); !errors.Is(err, ErrNoInterface) {
		t.Errorf("InterfaceFor a foreign address: %v", err)
	}
}
