package netnstest

import (
	"context"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestPairCarriesUDPAndIsRemoved(t *testing.T) {
	var p *Pair
	t.Run("pair", func(t *testing.T) {
		p = New(t)
		pc, err := ListenPacket(p.Receiver, ReceiverIP+":9999")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		if out, err := Command(context.Background(), p.Sender, "ip", "-o", "addr").CombinedOutput(); err != nil ||
			!strings.Contains(string(out), SenderIP) {
			t.Fatalf("sender namespace addresses: %v\n%s", err, out)
		}
		send, err := ListenPacket(p.Sender, SenderIP+":0")
		if err != nil {
			t.Fatal(err)
		}
		defer send.Close()
		if _, err := send.WriteTo([]byte("ping"), &net.UDPAddr{IP: net.ParseIP(ReceiverIP), Port: 9999}); err != nil {
			t.Fatal(err)
		}
		pc.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatalf("nothing crossed the veth: %v", err)
			}
			if string(buf[:n]) == "ping" {
				if !strings.HasPrefix(from.String(), SenderIP+":") {
					t.Errorf("packet from %s", from)
				}
				break
			}
		}
		// The root namespace has no route to the test hosts' addresses on these veths.
		links, _ := exec.Command("ip", "-o", "link").Output()
		if strings.Contains(string(links), p.SenderIf) {
			t.Errorf("a veth end is in the root namespace")
		}
	})
	if p == nil {
		return
	}
	list, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(list), p.Sender) || strings.Contains(string(list), p.Receiver) {
		t.Errorf("namespaces left after the test: %s", list)
	}
}
