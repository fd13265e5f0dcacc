package wakeonlan

import (
	"errors"
	"testing"
)

func TestParseMAC(t *testing.T) {
	for _, s := range []string{"00:19:99:5c:bb:bb", "00-19-99-5C-BB-BB", "0019995cbbbb", "0019.995c.bbbb"} {
		mac, err := ParseMAC(s)
		if err != nil || mac.String() != "00:19:99:5c:bb:bb" {
			t.Errorf("ParseMAC(%q) = %v, %v", s, mac, err)
		}
	}
	for _, s := range []string{"", "00:19:99:5c:bb", "00:19:99:5c:bb:bb:cc:dd", "zz:19:99:5c:bb:bb",
		"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "0019995cbbb", "00:19:99:5c:bb:bb; reboot"} {
		if _, err := ParseMAC(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseMAC(%q) accepted (%v)", s, err)
		}
	}
}

func TestParseBroadcast(t *testing.T) {
	for _, s := range []string{"255.255.255.255", "10.77.0.255", "192.168.1.255"} {
		if _, err := ParseBroadcast(s); err != nil {
			t.Errorf("ParseBroadcast(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "x", "0.0.0.0", "127.0.0.1", "224.0.0.1", "169.254.1.255", "ff02::1", "10.0.0.255:9"} {
		if _, err := ParseBroadcast(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseBroadcast(%q) accepted (%v)", s, err)
		}
	}
}
