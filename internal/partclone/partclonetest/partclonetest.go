// Package partclonetest makes real partclone images for tests: a sparse file
// formatted with mkfs.ext4 or mkntfs, files written in without mounting
// anything, cloned with partclone and compressed by the real lzop, gzip or
// zstd. Tests across the project use it wherever they need an image.
package partclonetest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Compressors accepted by the Make functions, as the catalog names them.
var Compressors = []string{"lzop", "gzip", "zstd", "none"}

// RequireTools skips the test when a tool is missing, or fails it when the
// CI environment variable is "true", where a missing tool is a broken setup.
func RequireTools(t testing.TB, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("required tool %s is not installed: %v", tool, err)
			}
			t.Skipf("required tool %s is not installed: %v", tool, err)
		}
	}
}

// MakeExt4Image makes an ext4 filesystem of sizeMiB MiB holding files (name
// to content; a name may contain directories, made as needed), clones it with
// partclone.extfs and writes the image, compressed with compress, to a new
// file in dir named ext4-*.img. It returns that file's path.
func MakeExt4Image(t testing.TB, dir string, sizeMiB int, files map[string][]byte,
	compress string) (imagePath string) {
	t.Helper()
	RequireTools(t, "mkfs.ext4", "debugfs", "partclone.extfs")
	work := t.TempDir()
	fs := newSparseFile(t, work, sizeMiB)
	run(t, "mkfs.ext4", "-q", "-F", fs)

	if len(files) > 0 {
		script := debugfsScript(t, work, files)
		out := run(t, "debugfs", "-w", "-f", script, fs)
		if n := bytes.Count(out, []byte("Allocated inode:")); n != len(files) {
			t.Fatalf("debugfs wrote %d of %d files into %s:\n%s", n, len(files), fs, out)
		}
	}
	return clone(t, "partclone.extfs", fs, work, dir, "ext4", compress)
}

// MakeNTFSImage is MakeExt4Image for NTFS: mkntfs formats the file and
// ntfscp copies the files in, which works on an unmounted volume but only
// into directories that exist, so names must not contain "/".
func MakeNTFSImage(t testing.TB, dir string, sizeMiB int, files map[string][]byte,
	compress string) (imagePath string) {
	t.Helper()
	RequireTools(t, "mkntfs", "ntfscp", "partclone.ntfs")
	work := t.TempDir()
	fs := newSparseFile(t, work, sizeMiB)
	run(t, "mkntfs", "-F", "-f", "-q", fs)

	for i, name := range sortedNames(files) {
		if strings.Contains(name, "/") || name == "" {
			t.Fatalf("MakeNTFSImage: file name %q must be one path component", name)
		}
		src := filepath.Join(work, fmt.Sprintf("src%d", i))
		writeFile(t, src, files[name])
		run(t, "ntfscp", fs, src, name)
	}
	return clone(t, "partclone.ntfs", fs, work, dir, "ntfs", compress)
}

func newSparseFile(t testing.TB, dir string, sizeMiB int) string {
	t.Helper()
	if sizeMiB <= 0 {
		t.Fatalf("filesystem size %d MiB must be positive", sizeMiB)
	}
	path := filepath.Join(dir, "fs.raw")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		t.Fatal(err)
	}
	return path
}

// debugfsScript writes each file's content to a source file in work and
// returns a debugfs command file that creates the directories and copies the
// files in.
func debugfsScript(t testing.TB, work string, files map[string][]byte) string {
	t.Helper()
	var script strings.Builder
	made := map[string]bool{}
	for i, name := range sortedNames(files) {
		clean := strings.Trim(filepath.Clean("/"+name), "/")
		if clean == "" || strings.ContainsAny(clean, " \t\n\"'\\") {
			t.Fatalf("MakeExt4Image: file name %q is not usable with debugfs", name)
		}
		parts := strings.Split(clean, "/")
		for j := 1; j < len(parts); j++ {
			d := "/" + strings.Join(parts[:j], "/")
			if !made[d] {
				made[d] = true
				fmt.Fprintf(&script, "mkdir %s\n", d)
			}
		}
		src := filepath.Join(work, fmt.Sprintf("src%d", i))
		writeFile(t, src, files[name])
		fmt.Fprintf(&script, "write %s /%s\n", src, clean)
	}
	path := filepath.Join(work, "debugfs.cmd")
	writeFile(t, path, []byte(script.String()))
	return path
}

// clone runs partclone on fs and writes the image, compressed, to a new file
// in dir.
func clone(t testing.TB, partclone, fs, work, dir, kind, compress string) string {
	t.Helper()
	var compressor []string
	switch compress {
	case "lzop":
		compressor = []string{"lzop", "-c"}
	case "gzip":
		compressor = []string{"gzip", "-c"}
	case "zstd":
		compressor = []string{"zstd", "-q", "-c"}
	case "none":
	default:
		t.Fatalf("compressor %q is none of %v", compress, Compressors)
	}
	if compressor != nil {
		RequireTools(t, compressor[0])
	}

	out, err := os.CreateTemp(dir, kind+"-*.img")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()

	// partclone logs to /var/log unless told otherwise, and waits out one
	// progress interval (2 s by default) before it exits unless -f 0.
	pc := exec.Command(partclone, "-c", "-q", "-f", "0",
		"-L", filepath.Join(work, "partclone.log"), "-s", fs, "-o", "-")
	var pcErr bytes.Buffer
	pc.Stderr = &pcErr
	if compressor == nil {
		pc.Stdout = out
		if err := pc.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", partclone, err, pcErr.Bytes())
		}
		return out.Name()
	}

	zc := exec.Command(compressor[0], compressor[1:]...)
	var zcErr bytes.Buffer
	zc.Stdout, zc.Stderr = out, &zcErr
	pipe, err := zc.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	pc.Stdout = pipe
	if err := zc.Start(); err != nil {
		t.Fatalf("%s: %v", compressor[0], err)
	}
	pcRunErr := pc.Run()
	pipe.Close()
	zcRunErr := zc.Wait()
	if pcRunErr != nil {
		t.Fatalf("%s: %v\n%s", partclone, pcRunErr, pcErr.Bytes())
	}
	if zcRunErr != nil {
		t.Fatalf("%s: %v\n%s", compressor[0], zcRunErr, zcErr.Bytes())
	}
	return out.Name()
}

// run runs a command and returns its standard output, failing the test with
// everything the command said when it fails.
func run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, stdout.Bytes(),
			stderr.Bytes())
	}
	return stdout.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func sortedNames(files map[string][]byte) []string {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
