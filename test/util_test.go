package test

import (
	"errors"

	"github.com/gorilla/websocket"
)

// isClose reports whether err is a close frame with code.
func isClose(err error, code int) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code == code
}
