// Package hoststatus reads the repository host's figures (CPU, memory, the disk of the
// images directory) with gopsutil and formats them as OpenGnsys has always shown them:
// strings such as "7.8GB" and "35%".
package hoststatus

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/shirou/gopsutil/v3/cpu"
	"github.com/shirou/gopsutil/v3/disk"
	"github.com/shirou/gopsutil/v3/mem"
)

// cpuSample is how long CPU use is measured for; a status call waits that long.
const cpuSample = 250 * time.Millisecond

// CPU is the processor's use over a short sample.
type CPU struct {
	UsedPercentage string `json:"used_percentage" example:"35%"`
}

// Space is a total, used and available amount, as memory and disks report it.
type Space struct {
	Total          string `json:"total" example:"7.8GB"`
	Used           string `json:"used" example:"0.3GB"`
	Available      string `json:"available" example:"7.2GB"`
	UsedPercentage string `json:"used_percentage" example:"7%"`
}

// Host is the host's figures.
type Host struct {
	CPU  CPU   `json:"cpu"`
	RAM  Space `json:"ram"`
	Disk Space `json:"disk" doc:"The filesystem holding images/"`
}

// Read measures the host; imagesDir names the filesystem whose disk is reported.
func Read(ctx context.Context, imagesDir string) (Host, error) {
	pcts, err := cpu.PercentWithContext(ctx, cpuSample, false)
	if err != nil || len(pcts) == 0 {
		return Host{}, fmt.Errorf("read CPU use: %w", err)
	}
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return Host{}, fmt.Errorf("read memory: %w", err)
	}
	du, err := disk.UsageWithContext(ctx, imagesDir)
	if err != nil {
		return Host{}, fmt.Errorf("read disk of %s: %w", imagesDir, err)
	}
	return Host{
		CPU: CPU{UsedPercentage: Percent(pcts[0])},
		RAM: Space{Total: GB(vm.Total), Used: GB(vm.Used), Available: GB(vm.Available),
			UsedPercentage: Percent(vm.UsedPercent)},
		Disk: Space{Total: GB(du.Total), Used: GB(du.Used), Available: GB(du.Free),
			UsedPercentage: Percent(du.UsedPercent)},
	}, nil
}

// GB formats bytes as GiB with one decimal and the "GB" unit OpenGnsys shows.
func GB(bytes uint64) string {
	return fmt.Sprintf("%.1fGB", float64(bytes)/(1<<30))
}

// Percent formats a percentage rounded to a whole number, e.g. "69%".
func Percent(p float64) string {
	if math.IsNaN(p) || p < 0 {
		p = 0
	}
	return fmt.Sprintf("%d%%", int(math.Round(p)))
}
