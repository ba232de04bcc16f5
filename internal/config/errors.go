package config

import (
	"fmt"
	"strings"
)

// Error is one problem in a config file, at a position.
type Error struct {
	File string
	Pos  Pos
	// Msg starts with the config path of the offending value, as in
	// "apis[0].routes[1].path: must start with /".
	Msg string
}

// Error formats e as FILE:LINE:COL: message, the form editors and CI
// annotate; the position is left out when it is unknown.
func (e Error) Error() string {
	if e.Pos.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Col, e.Msg)
}

// Errors is every problem found in one config, in file order.
type Errors []Error

func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}
