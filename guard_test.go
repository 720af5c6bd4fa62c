package webhook

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// Every address here is only checked, or handed to a Dialer whose dial function fails the
// test: nothing is ever dialed.
func TestCheckAddrBlocksEveryClass(t *testing.T) {
	blocked := []struct {
		class, addr, rng string
	}{
		{"unspecified v4", "0.0.0.0", "0.0.0.0/8"},
		{"this network", "0.1.2.3", "0.0.0.0/8"},
		{"RFC 1918 10/8", "10.1.2.3", "10.0.0.0/8"},
		{"RFC 1918 172.16/12", "172.31.255.254", "172.16.0.0/12"},
		{"RFC 1918 192.168/16", "192.168.0.1", "192.168.0.0/16"},
		{"carrier-grade NAT", "100.64.0.1", "100.64.0.0/10"},
		{"loopback", "127.0.0.1", "127.0.0.0/8"},
		{"loopback, not .1", "127.255.0.9", "127.0.0.0/8"},
		{"link-local, cloud metadata", "169.254.169.254", "169.254.0.0/16"},
		{"IETF assignments", "192.0.0.8", "192.0.0.0/24"},
		{"documentation", "198.51.100.7", "198.51.100.0/24"},
		{"benchmarking", "198.18.0.1", "198.18.0.0/15"},
		{"multicast v4", "224.0.0.251", "224.0.0.0/4"},
		{"broadcast", "255.255.255.255", "240.0.0.0/4"},
		{"unspecified v6", "::", "::/128"},
		{"loopback v6", "::1", "::1/128"},
		{"unique local", "fd12:3456::1", "fc00::/7"},
		{"link-local v6", "fe80::1", "fe80::/10"},
		{"link-local v6 with zone", "fe80::1%eth0", "fe80::/10"},
		{"multicast v6", "ff02::1", "ff00::/8"},
		{"site-local", "fec0::1", "fec0::/10"},
		{"IPv4-mapped loopback", "::ffff:127.0.0.1", "127.0.0.0/8"},
		{"IPv4-mapped metadata", "::ffff:169.254.169.254", "169.254.0.0/16"},
		{"IPv4-mapped private", "::ffff:10.0.0.1", "10.0.0.0/8"},
		{"IPv4-compatible", "::10.0.0.1", "::/96"},
		{"NAT64 of private", "64:ff9b::a00:1", "10.0.0.0/8"},
		{"6to4 of loopback", "2002:7f00:1::", "127.0.0.0/8"},
		{"Teredo", "2001::1", "2001::/32"},
	}
	for _, tt := range blocked {
		t.Run(tt.class, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			err := checkAddr("h.example", a, nil)
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("checkAddr(%s) = %v, want a *BlockedError", tt.addr, err)
			}
			if be.Range.String() != tt.rng {
				t.Errorf("checkAddr(%s) blocked it as %s, want %s", tt.addr, be.Range, tt.rng)
			}
			allow := []netip.Prefix{netip.MustParsePrefix(tt.rng)}
			if err := checkAddr("h.example", a, allow); err != nil {
				t.Errorf("checkAddr(%s) with %s allowed = %v, want nil", tt.addr, tt.rng, err)
			}
		})
	}
	for _, addr := range []string{"93.184.215.14", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"} {
		if err := checkAddr(addr, netip.MustParseAddr(addr), nil); err != nil {
			t.Errorf("checkAddr(%s) = %v, want nil: it is public", addr, err)
		}
	}
}

func TestBlockedErrorSaysHowToAllow(t *testing.T) {
	err := checkAddr("metadata.internal", netip.MustParseAddr("169.254.169.254"), nil)
	want := "webhook: refused to connect to 169.254.169.254 (metadata.internal): 169.254.0.0/16 is a private or reserved range; add it to Config.AllowNetworks to allow it"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}

// fakeResolver answers every name with fixed addresses.
type fakeResolver struct {
	addrs []netip.Addr
	asked []string
}

func (r *fakeResolver) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	r.asked = append(r.asked, network+" "+host)
	return r.addrs, nil
}

// refusingDial fails the test if the Dialer tries to connect.
func refusingDial(t *testing.T) func(context.Context, string, string) (net.Conn, error) {
	return func(_ context.Context, network, address string) (net.Conn, error) {
		t.Errorf("dialed %s %s; the guard should have refused first", network, address)
		return nil, errors.New("test dialer: refused")
	}
}

func TestDialerRefusesBeforeConnecting(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		address string
		resolve []string
		network string
	}{
		{"literal private", "10.0.0.5:443", nil, "tcp"},
		{"literal metadata", "169.254.169.254:80", nil, "tcp"},
		{"literal IPv4-mapped", "[::ffff:127.0.0.1]:80", nil, "tcp"},
		{"name resolving to loopback", "rebind.example:443", []string{"127.0.0.1"}, "tcp"},
		{"name resolving to metadata", "meta.example:80", []string{"169.254.169.254"}, "tcp4"},
		{"name mixing public and private", "mixed.example:443", []string{"93.184.215.14", "192.168.1.1"}, "tcp"},
		{"name resolving to unique local", "ula.example:443", []string{"fd00::1"}, "tcp6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &fakeResolver{}
			for _, a := range tt.resolve {
				r.addrs = append(r.addrs, netip.MustParseAddr(a))
			}
			d := &Dialer{Resolver: r, dial: refusingDial(t)}
			conn, err := d.DialContext(ctx, tt.network, tt.address)
			if conn != nil {
				conn.Close()
			}
			var be *BlockedError
			if !errors.As(err, &be) {
				t.Fatalf("DialContext(%s) = %v, want a *BlockedError", tt.address, err)
			}
			if host, _, _ := net.SplitHostPort(tt.address); be.Host != host {
				t.Errorf("BlockedError.Host = %q, want %q", be.Host, host)
			}
			if tt.resolve != nil {
				want := map[string]string{"tcp": "ip", "tcp4": "ip4", "tcp6": "ip6"}[tt.network]
				if len(r.asked) != 1 || !strings.HasPrefix(r.asked[0], want+" ") {
					t.Errorf("resolver asked %v, want one %s lookup", r.asked, want)
				}
			}
		})
	}
}

func TestDialerAllowsAllowedAndPublic(t *testing.T) {
	ctx := context.Background()
	var dialed []string
	dial := func(_ context.Context, network, address string) (net.Conn, error) {
		dialed = append(dialed, address)
		return nil, errors.New("test dialer: not connecting")
	}
	r := &fakeResolver{addrs: []netip.Addr{netip.MustParseAddr("10.1.2.3")}}
	d := &Dialer{Resolver: r, AllowNetworks: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")}, dial: dial}
	_, err := d.DialContext(ctx, "tcp", "internal.example:8080")
	var be *BlockedError
	if errors.As(err, &be) {
		t.Fatalf("an allowed range was refused: %v", err)
	}
	r.addrs = []netip.Addr{netip.MustParseAddr("93.184.215.14")}
	d.AllowNetworks = nil
	_, _ = d.DialContext(ctx, "tcp", "public.example:443")
	if want := []string{"10.1.2.3:8080", "93.184.215.14:443"}; strings.Join(dialed, " ") != strings.Join(want, " ") {
		t.Errorf("dialed %v, want %v (resolved addresses, not names, so DNS cannot change between check and dial)", dialed, want)
	}
}

// A name that resolves to no address is an error, never a nil connection.
func TestDialerNameWithoutAddresses(t *testing.T) {
	d := &Dialer{Resolver: &fakeResolver{}, dial: refusingDial(t)}
	conn, err := d.DialContext(context.Background(), "tcp", "empty.example:443")
	var de *net.DNSError
	if conn != nil || !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("DialContext = %v, %v; want no connection and a not-found *net.DNSError", conn, err)
	}
}

// The control function runs on the socket's final address, after resolution by the system
// dialer; it must refuse a blocked one there too.
func TestDialerControlRefusesBlockedSocketAddress(t *testing.T) {
	d := &Dialer{}
	for _, addr := range []string{"127.0.0.1:80", "[::1]:443", "169.254.169.254:80", "[::ffff:10.0.0.1]:80"} {
		var be *BlockedError
		if err := d.control("tcp", addr, nil); !errors.As(err, &be) {
			t.Errorf("control(%s) = %v, want a *BlockedError", addr, err)
		}
	}
	if err := d.control("tcp", "93.184.215.14:443", nil); err != nil {
		t.Errorf("control(public) = %v, want nil", err)
	}
}

func TestParseNumericHost(t *testing.T) {
	for _, tt := range []struct {
		host    string
		numeric bool
		want    string // the address, or "" for none
	}{
		{"2130706433", true, "127.0.0.1"},
		{"0177.0.0.1", true, "127.0.0.1"},
		{"127.1", true, "127.0.0.1"},
		{"127.0.1", true, "127.0.0.1"},
		{"0x7f.1", true, "127.0.0.1"},
		{"0X7F.0.0.1", true, "127.0.0.1"},
		{"0x7f000001", true, "127.0.0.1"},
		{"017700000001", true, "127.0.0.1"},
		{"127.0.0.1.", true, "127.0.0.1"},
		{"169.254.43518", true, "169.254.169.254"},
		{"0xa9fea9fe", true, "169.254.169.254"},
		{"1.2.3.04", true, "1.2.3.4"},
		{"0x", true, "0.0.0.0"},
		{"0", true, "0.0.0.0"},
		{"8.8.8.8", true, "8.8.8.8"},
		{"4294967295", true, "255.255.255.255"},
		{"4294967296", true, ""},
		{"256.1", true, ""},
		{"1.2.3.4.5", true, ""},
		{"1..2", true, ""},
		{"08", true, ""},
		{"example.123", true, ""},
		{"example.com", false, ""},
		{"0xg", false, ""},
		{"123abc", false, ""},
		{"::1", false, ""},
		{"", false, ""},
	} {
		addr, numeric := parseNumericHost(tt.host)
		got := ""
		if addr.IsValid() {
			got = addr.String()
		}
		if numeric != tt.numeric || got != tt.want {
			t.Errorf("parseNumericHost(%q) = %q, %t; want %q, %t", tt.host, got, numeric, tt.want, tt.numeric)
		}
	}
}

// An IPv4 address written other than in dotted decimal is refused whatever the address,
// allowed or public, before it is resolved or dialed; so is a host that ends in a number
// and is no address.
func TestDialerRefusesNumericHostForms(t *testing.T) {
	allow := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	for _, tt := range []struct{ address, want string }{
		{"2130706433:80", "127.0.0.1"},
		{"0177.0.0.1:80", "127.0.0.1"},
		{"127.1:8080", "127.0.0.1"},
		{"0x7f.1:443", "127.0.0.1"},
		{"0xa9fea9fe:80", "169.254.169.254"},
		{"134744072:443", "8.8.8.8"},
		{"1.2.3.4.5:80", ""},
	} {
		r := &fakeResolver{}
		d := &Dialer{Resolver: r, AllowNetworks: allow, dial: refusingDial(t)}
		conn, err := d.DialContext(context.Background(), "tcp", tt.address)
		if conn != nil {
			conn.Close()
		}
		var be *BlockedError
		switch {
		case tt.want == "" && (err == nil || errors.As(err, &be) || !strings.Contains(err.Error(), "not an IPv4 address")):
			t.Errorf("DialContext(%s) = %v, want an error saying it is not an IPv4 address", tt.address, err)
		case tt.want != "" && !errors.As(err, &be):
			t.Errorf("DialContext(%s) = %v, want a *BlockedError", tt.address, err)
		case tt.want != "" && (be.Addr.String() != tt.want || be.Range.IsValid() || !strings.Contains(err.Error(), "dotted decimal")):
			t.Errorf("DialContext(%s) = %v (address %s, range %s), want %s refused for its form", tt.address, err, be.Addr, be.Range, tt.want)
		}
		if len(r.asked) != 0 {
			t.Errorf("DialContext(%s) asked the resolver %v, want no lookup", tt.address, r.asked)
		}
	}
}
