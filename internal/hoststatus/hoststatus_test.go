package hoststatus

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

func TestFormat(t *testing.T) {
	for in, want := range map[uint64]string{0: "0.0GB", 1 << 30: "1.0GB", 8375186227: "7.8GB"} {
		if got := GB(in); got != want {
			t.Errorf("GB(%d) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[float64]string{0: "0%", 34.6: "35%", 7.2: "7%", 100: "100%", -1: "0%"} {
		if got := Percent(in); got != want {
			t.Errorf("Percent(%v) = %s, want %s", in, got, want)
		}
	}
}

// TestReadMatchesTheKernel compares the figures with statfs and /proc/meminfo, read here
// independently of gopsutil.
func TestReadMatchesTheKernel(t *testing.T) {
	dir := t.TempDir()
	h, err := Read(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if want := GB(st.Blocks * uint64(st.Bsize)); h.Disk.Total != want {
		t.Errorf("disk total %s, statfs says %s", h.Disk.Total, want)
	}
	meminfo, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(meminfo), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			if want := GB(kb * 1024); h.RAM.Total != want {
				t.Errorf("RAM total %s, /proc/meminfo says %s", h.RAM.Total, want)
			}
		}
	}
	if !strings.HasSuffix(h.CPU.UsedPercentage, "%") {
		t.Errorf("CPU %q", h.CPU.UsedPercentage)
	}
}
