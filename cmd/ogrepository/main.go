// Command ogrepository is the image-repository agent of OpenGnsys: `serve` runs the REST
// API daemon that ogCore calls, and the other subcommands do one repository task each from
// the command line (and, later, inside the transient systemd units the daemon starts).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/opengnsys/ogrepository/internal/api"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name, summary string
	run           func(args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the API daemon (socket-activated under systemd, or on --listen)", runServe},
		{"torrentsum", "write .sum, .full.sum, .size and .torrent of an image in images/", runTorrentsum},
		{"openapi", "print the OpenAPI 3.1 document (YAML) of the API", runOpenAPI},
		{"version", "print the version", func([]string) error { fmt.Println(version); return nil }},
	}
}

// hidden subcommands run inside the units the daemon starts; they are not in the usage.
var hidden = []command{
	{"job", "run one asynchronous job (inside its transient unit)", runJob},
}

func main() {
	if len(os.Args) < 2 {
		usage(os.Stderr)
		os.Exit(2)
	}
	for _, c := range append(commands(), hidden...) {
		if c.name == os.Args[1] {
			err := c.run(os.Args[2:])
			if errors.Is(err, flag.ErrHelp) {
				return
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "ogrepository %s: %v\n", c.name, err)
				os.Exit(1)
			}
			return
		}
	}
	if os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stdout)
		return
	}
	fmt.Fprintf(os.Stderr, "ogrepository: unknown command %q\n", os.Args[1])
	usage(os.Stderr)
	os.Exit(2)
}

func runOpenAPI([]string) error {
	spec, err := api.SpecYAML(api.SpecVersion)
	if err != nil {
		return err
	}
	_, err = os.Stdout.Write(spec)
	return err
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: ogrepository COMMAND [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ogrepository COMMAND -h' for a command's flags.")
}

// parseInterleaved parses flags wherever they stand among the positional arguments, as
// "torrentsum IMAGE --root DIR" reads naturally, and returns the positional ones.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// newFlagSet is a subcommand's flag set whose usage names its positional arguments.
func newFlagSet(name, positional, summary string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: ogrepository %s [flags] %s\n\n%s\n\nflags:\n",
			name, positional, summary)
		fs.PrintDefaults()
	}
	return fs
}

// newLogger logs to stderr: under systemd that is the journal, which stamps the time itself.
func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: l}
	if os.Getenv("JOURNAL_STREAM") != "" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
}
