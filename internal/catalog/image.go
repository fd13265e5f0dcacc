package catalog

import (
	"fmt"
	"os"

	"github.com/opengnsys/ogrepository/internal/imagename"
	"github.com/opengnsys/ogrepository/internal/partclone"
	"github.com/opengnsys/ogrepository/internal/sidecar"
)

// Image is one image as the API and the JSON indexes describe it.
type Image struct {
	Name       string `json:"name" doc:"Image name without extension"`
	Type       string `json:"type" doc:"Extension without the dot: img (partition) or dsk (disk)"`
	ClientName string `json:"clientname" doc:"Client the image was captured from (from .info)"`
	Clonator   string `json:"clonator" doc:"Cloning program, lower case, e.g. partclone"`
	Compressor string `json:"compressor" doc:"Compressor, lower case: lzop, gzip, zstd or none"`
	Filesystem string `json:"filesystem" doc:"Filesystem, upper case as partclone names it, e.g. EXTFS"`
	DataSize   int64  `json:"datasize" doc:"Bytes of data once restored"`
	Size       int64  `json:"size" doc:"Size of the image file in bytes"`
	Sum        string `json:"sum" doc:"MD5 of the image's last MiB, from its .sum sidecar"`
	FullSum    string `json:"fullsum" doc:"MD5 of the whole image, from .full.sum: the image's ID"`
}

// FileName is the image's file name, e.g. "Ubuntu24.img".
func (im Image) FileName() string { return im.Name + "." + im.Type }

// Listing is the content of repoinfo.json or trashinfo.json.
type Listing struct {
	Directory string  `json:"directory" doc:"Directory holding the images"`
	Images    []Image `json:"images"`
}

// describe builds the Image for name in dir from its sidecars and, lacking a .info, from
// the image's headers. It reads no more than the sidecars and a few KiB of the image.
func (c *Catalog) describe(dir string, name imagename.Name, fi os.FileInfo) Image {
	im := Image{Name: name.Base(), Type: name.Type(), Size: fi.Size()}

	if sum, err := sidecar.ReadMD5(dir, name, sidecar.Sum); err == nil {
		im.Sum = sum
	} else if !sidecar.IsNotExist(err) {
		c.warnOnce("unreadable sidecar", "image", name.String(), "err", err)
	}
	if sum, err := sidecar.ReadMD5(dir, name, sidecar.FullSum); err == nil {
		im.FullSum = sum
	} else if !sidecar.IsNotExist(err) {
		c.warnOnce("unreadable sidecar", "image", name.String(), "err", err)
	}

	info, err := sidecar.ReadInfo(dir, name)
	if err == nil {
		im.Clonator, im.Compressor, im.Filesystem = info.Clonator, info.Compressor, info.Filesystem
		im.DataSize, im.ClientName = info.DataSize, info.ClientName
		return im
	}
	if !sidecar.IsNotExist(err) {
		c.warnOnce("ignoring unreadable .info; reading the image header", "image", name.String(),
			"err", err)
	}
	h, err := partclone.ReadHeader(name.In(dir))
	if err != nil {
		c.warnOnce("image header not readable: listing it without filesystem and data size",
			"image", name.String(), "err", err)
		return im
	}
	im.Clonator, im.Compressor, im.Filesystem = "partclone", h.Compressor, h.Filesystem
	im.DataSize = h.DataSize()
	return im
}

// entry is an image file found in a directory, with the sidecars beside it.
type entry struct {
	name imagename.Name
	info os.FileInfo
}

func (e entry) String() string { return fmt.Sprintf("%s (%d bytes)", e.name, e.info.Size()) }
