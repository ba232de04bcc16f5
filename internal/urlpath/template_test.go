package urlpath

import "testing"

func TestParseTemplate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		desc, in, shape string
		wantErr         bool
	}{
		{desc: "empty", in: "", shape: ""},
		{desc: "slash", in: "/", shape: ""},
		{desc: "literal", in: "/orders", shape: "/orders"},
		{desc: "param", in: "/orders/{id}", shape: "/orders/{}"},
		{desc: "rest", in: "/files/{path...}", shape: "/files/{...}"},
		{desc: "two params", in: "/u/{uid}/o/{oid}", shape: "/u/{}/o/{}"},
		{desc: "no leading slash", in: "orders", wantErr: true},
		{desc: "trailing slash", in: "/orders/", wantErr: true},
		{desc: "empty segment", in: "/a//b", wantErr: true},
		{desc: "partial param", in: "/a{id}", wantErr: true},
		{desc: "rest not last", in: "/{p...}/x", wantErr: true},
		{desc: "duplicate param", in: "/{id}/{id}", wantErr: true},
		{desc: "bad param name", in: "/{1x}", wantErr: true},
		{desc: "empty param name", in: "/{}", wantErr: true},
		{desc: "dot segment literal", in: "/a/../b", wantErr: true},
		{desc: "encoded literal not normalised", in: "/%61", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			t.Parallel()
			tp, err := ParseTemplate(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseTemplate(%q) succeeded with shape %q, want an error", tt.in, tp.Shape())
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTemplate(%q): %v", tt.in, err)
			}
			if got := tp.Shape(); got != tt.shape {
				t.Fatalf("ParseTemplate(%q).Shape() = %q, want %q", tt.in, got, tt.shape)
			}
		})
	}
}

func TestValidBasePath(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"", "/", "/orders", "/v1/orders"} {
		if err := ValidBasePath(ok); err != nil {
			t.Errorf("ValidBasePath(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"/orders/", "/{id}", "/a/../b", "/a//b", "orders", "/a%2Fb"} {
		if err := ValidBasePath(bad); err == nil {
			t.Errorf("ValidBasePath(%q) = nil, want an error", bad)
		}
	}
}
