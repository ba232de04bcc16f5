//go:build unix

package server

import "syscall"

// errTooManyFiles is the accept failure that passes: out of descriptors.
var errTooManyFiles error = syscall.EMFILE
