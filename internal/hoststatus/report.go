package hoststatus

import (
	"context"
	"fmt"
	"strings"

	"github.com/opengnsys/ogrepository/internal/p2p"
	"github.com/opengnsys/ogrepository/internal/systemd"
	"github.com/opengnsys/ogrepository/internal/transmission"
)

// DefaultServices are the services whose state GET /status reports unless configured.
var DefaultServices = []string{"ssh", "smbd", "rsync"}

// DefaultOgGitUnit is the unit whose presence means ogGit is installed.
const DefaultOgGitUnit = "oggit.service"

// Transmission processes, by the name GET /status shows, and the pattern of the units that
// run them.
var processUnits = []struct{ name, pattern string }{
	{"udp-sender", transmission.UDPcast.Pattern()},
	{"uftp", transmission.UFTP.Pattern()},
	{"tracker", p2p.TrackerUnit},
	{"seeder", p2p.SeederPattern},
}

// Report is the body of GET /status.
type Report struct {
	OgGit struct {
		Installed string `json:"installed" enum:"True,False" doc:"Whether ogGit is installed"`
	} `json:"oggit"`
	Host
	Services  map[string]string `json:"services" doc:"ActiveState of each service, or not-found"`
	Processes map[string]string `json:"processes" doc:"running or stopped, for each kind of transmission"`
}

// Reporter gathers a Report. Units may be nil when systemd cannot be reached; services and
// processes then read "unknown".
type Reporter struct {
	ImagesDir string
	Units     *systemd.Conn
	Services  []string
	OgGitUnit string
}

// Report reads the host figures, and the units' states over D-Bus.
func (r *Reporter) Report(ctx context.Context) (Report, error) {
	var rep Report
	host, err := Read(ctx, r.ImagesDir)
	if err != nil {
		return rep, err
	}
	rep.Host = host
	rep.Services = map[string]string{}
	rep.Processes = map[string]string{}
	rep.OgGit.Installed = "False"

	if r.Units == nil {
		for _, s := range r.Services {
			rep.Services[s] = "unknown"
		}
		for _, p := range processUnits {
			rep.Processes[p.name] = "unknown"
		}
		return rep, nil
	}
	for _, s := range r.Services {
		state, err := r.Units.ActiveState(ctx, unitName(s))
		if err != nil {
			return rep, fmt.Errorf("state of %s: %w", s, err)
		}
		rep.Services[s] = state
	}
	for _, p := range processUnits {
		units, err := r.Units.List(ctx, p.pattern)
		if err != nil {
			return rep, fmt.Errorf("list %s units: %w", p.name, err)
		}
		rep.Processes[p.name] = "stopped"
		for _, u := range units {
			if u.ActiveState == "active" || u.ActiveState == "activating" {
				rep.Processes[p.name] = "running"
			}
		}
	}
	if r.OgGitUnit != "" {
		state, err := r.Units.ActiveState(ctx, unitName(r.OgGitUnit))
		if err != nil {
			return rep, fmt.Errorf("state of %s: %w", r.OgGitUnit, err)
		}
		if state != "not-found" {
			rep.OgGit.Installed = "True"
		}
	}
	return rep, nil
}

// unitName adds ".service" to a bare service name such as "ssh".
func unitName(s string) string {
	if strings.Contains(s, ".") {
		return s
	}
	return s + ".service"
}
