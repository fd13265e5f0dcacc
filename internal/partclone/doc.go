// Package partclone reads what a partclone image says about itself: the
// filesystem it was taken from, its block size and how many blocks are in use.
// The catalog falls back on it when an image has no .info sidecar, so it works
// on the compressed file as stored (lzop, gzip, zstd or bare) and decompresses
// only the first few hundred bytes.
package partclone
