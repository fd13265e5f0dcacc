package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/opengnsys/ogrepository/internal/transmission"
)

// Number is a whole number that a client may send as a JSON number or as a string of
// digits: ogCore sends "port": "9000". It keeps the text as sent; the transmission package
// checks it, so that a sign, a fraction or an exponent is refused by name rather than
// rounded.
type Number string

// UnmarshalJSON takes a string's content or a number's literal text.
func (n *Number) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*n = Number(s)
		return nil
	}
	*n = Number(b)
	return nil
}

// Schema documents Number as a string of digits or an integer.
func (Number) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{OneOf: []*huma.Schema{
		{Type: huma.TypeString, Pattern: "^[0-9]{1,12}$", PatternDescription: "decimal digits"},
		{Type: huma.TypeInteger},
	}}
}

type udpcastInput struct {
	Body struct {
		_       struct{} `json:"-" additionalProperties:"true"`
		ID      string   `json:"ID_img" maxLength:"64" doc:"Image ID: the MD5 of the whole image (its .full.sum)"`
		Port    Number   `json:"port" doc:"Port base, even, 1024 to 65534; udp-sender also uses the next port. The clients' udp-receiver --portbase"`
		Method  string   `json:"method" enum:"half,full" doc:"Duplex mode: full for switched networks, half for hubs"`
		IP      string   `json:"ip" maxLength:"64" doc:"Multicast group for the data, IPv4, not in 224.0.0.0/24; 239.0.0.0/8 is meant for this"`
		Bitrate string   `json:"bitrate" maxLength:"16" doc:"Most bits per second to send: a whole number and K, M or G, e.g. 70M (1K to 10G)"`
		Clients Number   `json:"nclients" doc:"Receivers to wait for before sending, 1 to 1000"`
		MaxTime Number   `json:"maxtime" doc:"Seconds to wait for the rest once the first receiver has connected, 0 to 86400 (0: no limit)"`
	}
}

type uftpInput struct {
	Body struct {
		_       struct{} `json:"-" additionalProperties:"true"`
		ID      string   `json:"ID_img" maxLength:"64" doc:"Image ID: the MD5 of the whole image (its .full.sum)"`
		Port    Number   `json:"port" doc:"UDP port the clients' uftpd listens on (its -p), 1024 to 65535"`
		IP      string   `json:"ip" maxLength:"64" doc:"Multicast group the clients' uftpd listens on (its -M), or one client's IPv4 address; not loopback nor broadcast"`
		Bitrate string   `json:"bitrate" maxLength:"16" doc:"Rate: a whole number and K, M or G (bits per second), e.g. 1G; uftp gets it in Kbps"`
	}
}

// TransmittedImage is the image a running sender sends.
type TransmittedImage struct {
	ImageID   string `json:"image_id" doc:"Image ID"`
	ImageName string `json:"image_name" doc:"Image file name, e.g. Ubuntu24.img"`
}

type transmissionsOutput struct {
	Body map[string]TransmittedImage `doc:"Running senders by process ID"`
}

func (s *server) registerTransmissions(api huma.API) {
	errs := []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusServiceUnavailable}
	for _, kind := range []transmission.Kind{transmission.UDPcast, transmission.UFTP} {
		huma.Register(api, huma.Operation{
			OperationID: "list-" + string(kind), Method: http.MethodGet,
			Path:    Prefix + "/" + string(kind),
			Summary: "List running " + label(kind) + " transmissions",
			Description: "The " + kind.Program() + " processes running, by process ID, with " +
				"their images, read from their systemd units (so they survive a restart of " +
				"this service). None running is a 400, as ogCore expects; a transmission " +
				"that ended is named in that error once, then forgotten.",
			Tags: []string{"transmissions"}, Security: secured, Errors: errs,
		}, func(ctx context.Context, _ *struct{}) (*transmissionsOutput, error) {
			return s.listTransmissions(ctx, kind)
		})
		huma.Register(api, huma.Operation{
			OperationID: "stop-" + string(kind), Method: http.MethodDelete,
			Path:        Prefix + "/" + string(kind) + "/images/{ID_img}",
			Summary:     "Cancel an image's " + label(kind) + " transmissions",
			Description: "Stops every " + kind.Program() + " unit sending this image. An unknown image, or one with none running, is a 400.",
			Tags:        []string{"transmissions"}, Security: secured, Errors: errs,
		}, func(ctx context.Context, in *idPath) (*actionOutput, error) {
			return s.stopTransmissions(ctx, kind, in.ID)
		})
	}

	huma.Register(api, huma.Operation{
		OperationID: "start-udpcast", Method: http.MethodPost, Path: Prefix + "/udpcast",
		Summary: "Send an image by UDPcast",
		Description: "Starts udp-sender for the image as a transient systemd unit " +
			"(ogrepository-udpcast-PORTBASE-IMAGE.service), from the interface holding IPlocal. " +
			"Clients receive with `udp-receiver --portbase PORT`. Returns once the sender runs; " +
			"it then waits for nclients receivers. A UDPcast already on that port base is a 409.",
		Tags: []string{"transmissions"}, Security: secured,
		Errors: append(errs, http.StatusConflict, http.StatusInternalServerError),
	}, s.startUDPcast)

	huma.Register(api, huma.Operation{
		OperationID: "start-uftp", Method: http.MethodPost, Path: Prefix + "/uftp",
		Summary: "Send an image by UFTP",
		Description: "Starts uftp for the image as a transient systemd unit " +
			"(ogrepository-uftp-PORT-IMAGE.service), from the interface holding IPlocal. The " +
			"clients must be listening already (`uftpd -M IP -p PORT -D DIR`): uftp ends when " +
			"none registers. A UFTP already on that port is a 409.",
		Tags: []string{"transmissions"}, Security: secured,
		Errors: append(errs, http.StatusConflict, http.StatusInternalServerError),
	}, s.startUFTP)
}

func label(k transmission.Kind) string {
	if k == transmission.UFTP {
		return "UFTP"
	}
	return "UDPcast"
}

var errNoTransmissions = newError(http.StatusServiceUnavailable,
	"transmissions need systemd, which is not reachable")

func (s *server) startUDPcast(ctx context.Context, in *udpcastInput) (*actionOutput, error) {
	b := in.Body
	u, err := transmission.ParseUDPcast(transmission.UDPcastFields{ID: b.ID, Port: string(b.Port),
		Method: b.Method, IP: b.IP, Bitrate: b.Bitrate, Clients: string(b.Clients),
		MaxTime: string(b.MaxTime)})
	if err != nil {
		return nil, transmissionFailure(s, "start UDPcast", err)
	}
	if s.Transmissions == nil {
		return nil, errNoTransmissions
	}
	t, err := s.Transmissions.StartUDPcast(ctx, u)
	if err != nil {
		return nil, transmissionFailure(s, "start UDPcast", err)
	}
	msg := fmt.Sprintf("Sending %s by UDPcast on port base %d to %s (unit %s, PID %d)",
		t.Image, u.PortBase, u.Group, t.Unit, t.PID)
	if t.Note != "" {
		msg += ". Note: " + t.Note
	}
	return done(msg), nil
}

func (s *server) startUFTP(ctx context.Context, in *uftpInput) (*actionOutput, error) {
	b := in.Body
	u, err := transmission.ParseUFTP(transmission.UFTPFields{ID: b.ID, Port: string(b.Port),
		IP: b.IP, Bitrate: b.Bitrate})
	if err != nil {
		return nil, transmissionFailure(s, "start UFTP", err)
	}
	if s.Transmissions == nil {
		return nil, errNoTransmissions
	}
	t, err := s.Transmissions.StartUFTP(ctx, u)
	if err != nil {
		return nil, transmissionFailure(s, "start UFTP", err)
	}
	return done(fmt.Sprintf("Sending %s by UFTP on port %d to %s (unit %s, PID %d)",
		t.Image, u.Port, u.Dest, t.Unit, t.PID)), nil
}

func (s *server) listTransmissions(ctx context.Context,
	kind transmission.Kind) (*transmissionsOutput, error) {
	if s.Transmissions == nil {
		return nil, errNoTransmissions
	}
	running, ended, err := s.Transmissions.List(ctx, kind)
	if err != nil {
		return nil, failure(s.Log, "list "+label(kind)+" transmissions", err)
	}
	if len(running) == 0 {
		msg := "no " + label(kind) + " transmission is running"
		for _, t := range ended {
			msg += fmt.Sprintf("; %s of %s ended (%s)", t.Unit, t.Image, t.Ended)
		}
		return nil, newError(http.StatusBadRequest, msg)
	}
	out := &transmissionsOutput{Body: map[string]TransmittedImage{}}
	for _, t := range running {
		out.Body[strconv.FormatUint(uint64(t.PID), 10)] = TransmittedImage{ImageID: t.ImageID,
			ImageName: t.Image}
	}
	return out, nil
}

func (s *server) stopTransmissions(ctx context.Context, kind transmission.Kind,
	id string) (*actionOutput, error) {
	if s.Transmissions == nil {
		return nil, errNoTransmissions
	}
	stopped, err := s.Transmissions.Stop(ctx, kind, id)
	if err != nil {
		return nil, failure(s.Log, "stop "+label(kind)+" transmissions", err)
	}
	units := make([]string, len(stopped))
	for i, t := range stopped {
		units[i] = t.Unit
	}
	return done(fmt.Sprintf("%s of %s cancelled (%s)", label(kind), stopped[0].Image,
		strings.Join(units, ", "))), nil
}

// transmissionFailure reports a refused field as huma reports its own validation failures,
// with the field's location, and anything else as failure does.
func transmissionFailure(s *server, what string, err error) error {
	var fe *transmission.FieldError
	if errors.As(err, &fe) {
		return newError(http.StatusBadRequest, "validation failed",
			&huma.ErrorDetail{Location: "body." + fe.Field, Message: fe.Reason})
	}
	return failure(s.Log, what, err)
}
