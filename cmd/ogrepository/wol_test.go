package main_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/opengnsys/ogrepository/internal/netnstest"
	"github.com/opengnsys/ogrepository/internal/repotest"
)

// TestWakeOnLAN sends magic packets through the API from the sender namespace and
// captures them with a UDP listener on port 9 in the receiver namespace.
func TestWakeOnLAN(t *testing.T) {
	p := netnstest.New(t)
	tree := repotest.New(t)
	useTestHosts(t, tree)
	listener, err := netnstest.ListenPacket(p.Receiver, "0.0.0.0:9")
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Close()
	d := startDaemonIn(t, p.Sender, tree, nil, newOgCore(t))

	// Refused requests send nothing: the first packet captured is the valid one's.
	for _, body := range []string{
		`{"broadcast_ip":"` + netnstest.Broadcast + `","mac":"nonsense"}`,
		`{"broadcast_ip":"127.0.0.1","mac":"00:19:99:5c:bb:01"}`,
		`{"broadcast_ip":"224.0.0.1","mac":"00:19:99:5c:bb:01"}`,
		`{"broadcast_ip":"` + netnstest.Broadcast + `","mac":"ff:ff:ff:ff:ff:ff"}`,
		`{"broadcast_ip":5,"mac":"00:19:99:5c:bb:01"}`,
		`{"mac":"00:19:99:5c:bb:01"}`,
		// On IPlocal's subnet only its broadcast is one: not IPlocal, the network, a PC.
		`{"broadcast_ip":"10.77.0.1","mac":"00:19:99:5c:bb:01"}`,
		`{"broadcast_ip":"10.77.0.0","mac":"00:19:99:5c:bb:01"}`,
		`{"broadcast_ip":"` + netnstest.ReceiverIP + `","mac":"00:19:99:5c:bb:01"}`,
		// No route to it from the sender's namespace; and padding is not trimmed.
		`{"broadcast_ip":"10.77.9.255","mac":"00:19:99:5c:bb:01"}`,
		`{"broadcast_ip":" ` + netnstest.Broadcast + `","mac":"00:19:99:5c:bb:01"}`,
		`{"broadcast_ip":"` + netnstest.Broadcast + `","mac":"00:19:99:5c:bb:01 "}`,
	} {
		if status, rep := d.call("POST", "/wol", body); status != 400 {
			t.Errorf("%s: %d %v", body, status, rep)
		}
	}

	for _, c := range []struct{ broadcast, mac, want string }{
		{netnstest.Broadcast, "00-19-99-5C-BB-BB", "00:19:99:5c:bb:bb"},
		{"255.255.255.255", "0019995cbbcc", "00:19:99:5c:bb:cc"},
	} {
		status, rep := d.call("POST", "/wol", `{"broadcast_ip":"`+c.broadcast+`","mac":"`+c.mac+`"}`)
		if status != 200 || rep["success"] != true {
			t.Fatalf("POST /wol to %s: %d %v", c.broadcast, status, rep)
		}
		listener.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf := make([]byte, 256)
		n, from, err := listener.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no magic packet for %s reached the receiver: %v", c.broadcast, err)
		}
		mac, _ := net.ParseMAC(c.want)
		want := bytes.Repeat([]byte{0xff}, 6)
		for range 16 {
			want = append(want, mac...)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Errorf("packet via %s: % x\nwant % x", c.broadcast, buf[:n], want)
		}
		if h, _, _ := net.SplitHostPort(from.String()); h != netnstest.SenderIP {
			t.Errorf("packet from %s, want %s", from, netnstest.SenderIP)
		}
	}
}
