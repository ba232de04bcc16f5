package proxy

import "testing"

func TestPeerHost(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":           "127.0.0.1",
		"[::1]:5000":               "::1",
		"[fe80::1%eth0]:5000":      "fe80::1",
		"[::ffff:10.0.0.1%x]:5000": "::ffff:10.0.0.1",
		"[2001:db8::7]:443":        "2001:db8::7",
		"192.0.2.1":                "192.0.2.1",
	} {
		if got := peerHost(in); got != want {
			t.Errorf("peerHost(%q) = %q, want %q", in, got, want)
		}
	}
}
