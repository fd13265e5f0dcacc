package systemd

import (
	"fmt"
	"strings"
)

// Prefix begins every unit this project starts, so that
// `systemctl list-units 'ogrepository-*'` shows them all, and so that this
// package never starts, stops or resets a unit that is not its own.
const Prefix = "ogrepository-"

const (
	// maxPart bounds one part of a unit name.
	maxPart = 200
	// maxUnitName is systemd's limit on a unit name.
	maxUnitName = 255
)

// unitSuffixes are the unit types a name built here may have.
var unitSuffixes = []string{
	".service", ".socket", ".timer", ".path", ".target", ".scope", ".slice",
}

// UnitName builds "ogrepository-KIND-PART-PART....service" for a unit of this
// project. kind and every part must be non-empty, at most 200 bytes, made of
// [A-Za-z0-9_.-] and not only dots; the whole name must fit in 255 bytes.
// Image file names such as "Ubuntu24.img" are valid parts as they are. Parts
// are joined with "-", which parts may also contain: callers that parse names
// back must choose parts that keep them apart.
func UnitName(kind string, parts ...string) (string, error) {
	return UnitNameWithSuffix(kind, ".service", parts...)
}

// UnitNameWithSuffix is UnitName for another unit type; suffix is one of
// ".service", ".socket", ".timer", ".path", ".target", ".scope", ".slice".
func UnitNameWithSuffix(kind, suffix string, parts ...string) (string, error) {
	if !validSuffix(suffix) {
		return "", fmt.Errorf("unit name: unknown unit suffix %q", suffix)
	}
	if err := checkPart(kind); err != nil {
		return "", fmt.Errorf("unit name: kind: %w", err)
	}
	if len(parts) == 0 {
		return "", fmt.Errorf("unit name of kind %q: no parts", kind)
	}
	for i, p := range parts {
		if err := checkPart(p); err != nil {
			return "", fmt.Errorf("unit name of kind %q: part %d: %w", kind, i+1, err)
		}
	}

	name := Prefix + kind + "-" + strings.Join(parts, "-") + suffix
	if len(name) > maxUnitName {
		return "", fmt.Errorf("unit name of kind %q: %d bytes, more than %d",
			kind, len(name), maxUnitName)
	}
	return name, nil
}

// checkPart checks one piece of a unit name.
func checkPart(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty")
	case len(p) > maxPart:
		return fmt.Errorf("%d bytes, more than %d", len(p), maxPart)
	case strings.Trim(p, ".") == "":
		return fmt.Errorf("%q is only dots", p)
	}
	for i := 0; i < len(p); i++ {
		if !partByte(p[i]) {
			return fmt.Errorf("%q: byte %#02x at %d not in [A-Za-z0-9_.-]", p, p[i], i)
		}
	}
	return nil
}

func partByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '_' || b == '.' || b == '-'
}

func validSuffix(suffix string) bool {
	for _, s := range unitSuffixes {
		if suffix == s {
			return true
		}
	}
	return false
}

// checkUnitName checks a name given to a query: any unit systemd could have
// (such as "ssh.service"), but nothing that would not be a unit name.
func checkUnitName(name string) error {
	if name == "" || len(name) > maxUnitName {
		return fmt.Errorf("invalid unit name %q: length %d not in 1..%d",
			name, len(name), maxUnitName)
	}
	for i := 0; i < len(name); i++ {
		if b := name[i]; !partByte(b) && b != ':' && b != '@' && b != '\\' {
			return fmt.Errorf("invalid unit name %q: byte %#02x at %d", name, b, i)
		}
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 || dot == len(name)-1 {
		return fmt.Errorf("invalid unit name %q: no unit type suffix", name)
	}
	return nil
}

// checkOwnUnit checks a name given to an operation that changes a unit: it
// must be one this project could have built.
func checkOwnUnit(name string) error {
	if err := checkUnitName(name); err != nil {
		return err
	}
	if !strings.HasPrefix(name, Prefix) {
		return fmt.Errorf("unit %q is not this project's: no prefix %q", name, Prefix)
	}
	if suffix := name[strings.LastIndexByte(name, '.'):]; !validSuffix(suffix) {
		return fmt.Errorf("unit %q: unknown unit suffix %q", name, suffix)
	}
	rest := strings.TrimPrefix(name, Prefix)
	for i := 0; i < len(rest); i++ {
		if !partByte(rest[i]) {
			return fmt.Errorf("unit %q: byte %#02x not in [A-Za-z0-9_.-]", name, rest[i])
		}
	}
	return nil
}
