package webhook

import "testing"

// The host of an attempt is the limiter's key and Attempt.Host: lower-case, the scheme's
// default port dropped, any other port kept, no user info.
func TestRequestHost(t *testing.T) {
	for _, tt := range []struct{ url, want string }{
		{"https://Hooks.Example.com/x", "hooks.example.com"},
		{"https://hooks.example.com:443/x", "hooks.example.com"},
		{"http://hooks.example.com:80/x", "hooks.example.com"},
		{"http://hooks.example.com:443/x", "hooks.example.com:443"},
		{"https://hooks.example.com:8443/x?a=b", "hooks.example.com:8443"},
		{"https://user:pass@hooks.example.com/x", "hooks.example.com"},
		{"https://[2001:db8::1]:443/x", "[2001:db8::1]"},
		{"://bad", ""},
	} {
		if got := requestHost(&Request{URL: tt.url}); got != tt.want {
			t.Errorf("requestHost(%q) = %q, want %q", tt.url, got, tt.want)
		}
	}
}
