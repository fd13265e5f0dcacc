// Package catalog owns the repository's images as files: it scans images/ and
// images_trash/, reads each image's sidecars (or, without a .info, the image's own headers),
// writes repoinfo.json and trashinfo.json atomically, and moves images between the two
// directories so that a process killed at any moment leaves every image whole in one of them.
//
// Listing never hashes: sums come from sidecars. Mutations hold an exclusive lock on a file
// in etc/ so that the daemon and the job processes it starts never interleave their moves.
package catalog
