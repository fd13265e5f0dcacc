// Package config reads ogAdmRepo.cfg, the shell-style KEY=VALUE file that OpenGnsys
// repositories have always had, and lays out the repository's directories under one root.
package config

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
)

// Default locations, as in every OpenGnsys installation.
const (
	DefaultRoot     = "/opt/opengnsys/ogrepository"
	ConfigFileName  = "ogAdmRepo.cfg"
	ImagesDir       = "images"
	TrashDir        = "images_trash"
	VirtualDir      = "images_virtual"
	EtcDir          = "etc"
	LogDir          = "log"
	RepoInfoFile    = "repoinfo.json"
	TrashInfoFile   = "trashinfo.json"
	TrackerPort     = 6969
	DefaultAPIPort  = 8006
	DefaultListen   = "127.0.0.1:8006"
	minAPITokenSize = 16
)

// Config is what the repository knows about itself and its ogCore.
type Config struct {
	// IPlocal is this repository's address: the tracker's announce URL and the interface
	// transmissions leave by.
	IPlocal string
	// IPcore is ogCore's address, for completion callbacks.
	IPcore string
	// APIToken is the key every API request must carry in Authorization. Never log it.
	APIToken string
}

// Paths are the repository's directories, all under one root.
type Paths struct {
	Root, Images, Trash, Virtual, Etc, Log string
}

// PathsUnder lays out the standard tree under root.
func PathsUnder(root string) Paths {
	return Paths{
		Root:    root,
		Images:  filepath.Join(root, ImagesDir),
		Trash:   filepath.Join(root, TrashDir),
		Virtual: filepath.Join(root, VirtualDir),
		Etc:     filepath.Join(root, EtcDir),
		Log:     filepath.Join(root, LogDir),
	}
}

// ConfigFile is the default configuration path under the tree.
func (p Paths) ConfigFile() string { return filepath.Join(p.Etc, ConfigFileName) }

// Load reads and checks the configuration at path. Unknown keys are ignored; a missing
// file, a missing key or a malformed line is an error that names the file and the line.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()

	values, err := parse(f, path)
	if err != nil {
		return Config{}, err
	}
	c := Config{IPlocal: values["IPlocal"], IPcore: values["IPcore"], APIToken: values["ApiToken"]}
	if err := c.check(); err != nil {
		return Config{}, fmt.Errorf("configuration %s: %w", path, err)
	}
	return c, nil
}

func parse(f *os.File, path string) (map[string]string, error) {
	values := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF") // a byte-order mark from a Windows editor
		}
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		line = strings.TrimSpace(strings.TrimPrefix(line, "export "))
		key, raw, ok := strings.Cut(line, "=")
		if !ok || !validKey(key) {
			return nil, fmt.Errorf("configuration %s line %d: want KEY=VALUE", path, n)
		}
		value, err := shellValue(raw)
		if err != nil {
			return nil, fmt.Errorf("configuration %s line %d (%s): %w", path, n, key, err)
		}
		values[key] = value
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read configuration %s: %w", path, err)
	}
	return values, nil
}

func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// shellValue reads a value as a shell assignment would: one word, either unquoted or in
// one pair of single or double quotes, optionally followed by blanks and a # comment.
func shellValue(raw string) (string, error) {
	var value, rest string
	if raw != "" && (raw[0] == '"' || raw[0] == '\'') {
		end := strings.IndexByte(raw[1:], raw[0])
		if end < 0 {
			return "", fmt.Errorf("unterminated %c quote", raw[0])
		}
		value, rest = raw[1:1+end], raw[2+end:]
	} else {
		i := strings.IndexAny(raw, " \t")
		if i < 0 {
			i = len(raw)
		}
		value, rest = raw[:i], raw[i:]
	}
	if rest = strings.TrimSpace(rest); rest != "" && rest[0] != '#' {
		return "", fmt.Errorf("unexpected %q after the value (quote a value with blanks)", rest)
	}
	return value, nil
}

func (c Config) check() error {
	var errs []error
	if c.IPlocal == "" {
		errs = append(errs, errors.New("IPlocal is missing"))
	} else if net.ParseIP(c.IPlocal) == nil {
		errs = append(errs, fmt.Errorf("IPlocal %q is not an IP address", c.IPlocal))
	}
	if c.IPcore == "" {
		errs = append(errs, errors.New("IPcore is missing"))
	} else if !validHost(c.IPcore) {
		errs = append(errs, fmt.Errorf("IPcore %q is not an IP address or host name", c.IPcore))
	}
	if c.APIToken == "" {
		errs = append(errs, errors.New("ApiToken is missing"))
	} else if len(c.APIToken) < minAPITokenSize {
		errs = append(errs, fmt.Errorf("ApiToken is shorter than %d characters", minAPITokenSize))
	}
	return errors.Join(errs...)
}

func validHost(h string) bool {
	if net.ParseIP(h) != nil {
		return true
	}
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// Announce is the tracker URL written into every torrent this repository makes.
func (c Config) Announce() string {
	return fmt.Sprintf("http://%s/announce", net.JoinHostPort(c.IPlocal, fmt.Sprint(TrackerPort)))
}
