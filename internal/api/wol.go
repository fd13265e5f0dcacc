package api

import (
	"context"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/opengnsys/ogrepository/internal/wakeonlan"
)

type wolInput struct {
	Body struct {
		_           struct{} `json:"-" additionalProperties:"true"`
		BroadcastIP string   `json:"broadcast_ip" maxLength:"64" doc:"255.255.255.255 (sent on IPlocal's network) or a subnet's broadcast address" example:"255.255.255.255"`
		MAC         string   `json:"mac" maxLength:"64" doc:"MAC of the PC to wake: colon, dash, dot or bare hex" example:"00:19:99:5c:bb:bb"`
	}
}

func (s *server) registerWake(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "wake-on-lan", Method: http.MethodPost, Path: Prefix + "/wol",
		Summary:     "Send a Wake-on-LAN magic packet",
		Description: "Sends one magic packet for the MAC to UDP port 9 of the broadcast address, from the interface holding IPlocal.",
		Tags:        []string{"wake-on-lan"}, Security: secured,
		Errors: []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusInternalServerError},
	}, s.wake)
}

func (s *server) wake(ctx context.Context, in *wolInput) (*actionOutput, error) {
	bcast, err := wakeonlan.ParseBroadcast(in.Body.BroadcastIP)
	if err != nil {
		return nil, failure(s.Log, "wake-on-lan", err)
	}
	mac, err := wakeonlan.ParseMAC(in.Body.MAC)
	if err != nil {
		return nil, failure(s.Log, "wake-on-lan", err)
	}
	if s.Wake == nil {
		return nil, newError(http.StatusInternalServerError, "wake-on-lan is not configured")
	}
	if err := s.Wake.Wake(ctx, bcast, mac); err != nil {
		return nil, failure(s.Log, "wake-on-lan", err)
	}
	s.Log.Info("sent Wake-on-LAN packet", "mac", mac.String(), "broadcast", bcast.String())
	return done("Wake-on-LAN packet sent to " + mac.String() + " via " + bcast.String()), nil
}
