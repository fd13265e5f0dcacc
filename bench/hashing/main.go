// Command hashing runs imagehash.Compute on one file and prints the full MD5, the tail MD5
// and the size, writing no sidecars, so that bench/hashing.sh can time the engine alone
// (without BENCH_BIN). Run it as: go run ./bench/hashing FILE
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/opengnsys/ogrepository/internal/imagehash"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: hashing FILE")
		os.Exit(2)
	}
	sums, err := imagehash.Compute(context.Background(), os.Args[1],
		imagehash.Options{Announce: "http://127.0.0.1:6969/announce"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(sums.FullSum, sums.Sum, sums.Size)
}
