package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// blockedRanges are the ranges the private-address guard refuses unless allowed: addresses
// that reach the sender's own host or network, or nothing, rather than the public internet.
var blockedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network", including the unspecified address
	netip.MustParsePrefix("10.0.0.0/8"),      // RFC 1918 private
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, where cloud metadata services live
	netip.MustParsePrefix("172.16.0.0/12"),   // RFC 1918 private
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast (deprecated)
	netip.MustParsePrefix("192.168.0.0/16"),  // RFC 1918 private
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, including broadcast
	netip.MustParsePrefix("::/128"),          // unspecified
	netip.MustParsePrefix("::1/128"),         // loopback
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("::ffff:0:0:0/96"), // IPv4-translated
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/32"),       // Teredo tunnels
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fc00::/7"),        // unique local
	netip.MustParsePrefix("fe80::/10"),       // link-local
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
	netip.MustParsePrefix("ff00::/8"),        // multicast
}

// Ranges of IPv6 addresses that carry an IPv4 address; the guard checks the IPv4 address.
var (
	nat64Range = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour  = netip.MustParsePrefix("2002::/16")
)

// embeddedIPv4 returns the IPv4 address an IPv6 address carries: the IPv4 address itself
// for IPv4-mapped IPv6, and the embedded address for NAT64 and 6to4. So the NAT64 form of
// 10.0.0.1 is refused as 10.0.0.1 is, and that of a public address is not.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	switch b := a.As16(); {
	case a.Is4In6():
		return a.Unmap(), true
	case nat64Range.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// checkAddr returns a *BlockedError if a is in a blocked range that allow does not exempt.
func checkAddr(host string, a netip.Addr, allow []netip.Prefix) error {
	a = a.WithZone("")
	candidates := []netip.Addr{a}
	if v4, ok := embeddedIPv4(a); ok {
		candidates = append(candidates, v4)
	}
	for _, c := range candidates {
		for _, p := range allow {
			if p.Contains(c) {
				return nil
			}
		}
	}
	for _, c := range candidates {
		for _, p := range blockedRanges {
			if p.Contains(c) {
				return &BlockedError{Host: host, Addr: a, Range: p}
			}
		}
	}
	return nil
}

// Dialer makes TCP connections for webhook requests and refuses those to private and reserved
// addresses: loopback, RFC 1918, link-local (which holds cloud metadata services), carrier-grade
// NAT, unique-local, multicast, unspecified and documentation ranges, and the IPv4-mapped,
// NAT64 and 6to4 forms of the IPv4 ones. It checks the addresses a name resolves to, before
// connecting, and again for the address it actually connects to, so neither DNS rebinding nor
// a redirect can reach a refused address.
//
// The Sender's default HTTP client dials with a Dialer; use one in your own transport to keep
// the guard with a custom [Config.HTTPClient]:
//
//	d := &webhook.Dialer{AllowNetworks: allow}
//	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
//
// A Dialer is safe for concurrent use.
type Dialer struct {
	// AllowNetworks are ranges exempt from the guard, such as 127.0.0.0/8 for tests and local
	// development. Defaults to none.
	AllowNetworks []netip.Prefix
	// Resolver looks up host names. Defaults to net.DefaultResolver.
	Resolver interface {
		LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	}
	// Timeout bounds each connection attempt. Defaults to 30 seconds.
	Timeout time.Duration

	// dial connects to an address that passed the guard; tests replace it to observe that a
	// refused address is never dialed.
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// DialContext connects to address on the named network ("tcp", "tcp4" or "tcp6"), unless the
// address, or any address its host name resolves to, is refused by the guard, in which case it
// returns a [*BlockedError] without connecting. An IPv4 address written other than in dotted
// decimal, such as 2130706433, 0177.0.0.1, 127.1 or 0x7f.1, is refused whatever the address.
func (d *Dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if err := checkHostForm(host); err != nil {
		return nil, err
	} else {
		lookup := net.DefaultResolver.LookupNetIP
		if d.Resolver != nil {
			lookup = d.Resolver.LookupNetIP
		}
		ipNet := "ip"
		switch network {
		case "tcp4":
			ipNet = "ip4"
		case "tcp6":
			ipNet = "ip6"
		}
		if addrs, err = lookup(ctx, ipNet, host); err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	// Refuse the name if any of its addresses is refused: a name that mixes public and private
	// answers is an attack, not a misconfiguration to work around.
	for _, a := range addrs {
		if err := checkAddr(host, a, d.AllowNetworks); err != nil {
			return nil, err
		}
	}
	dial := d.dial
	if dial == nil {
		nd := &net.Dialer{Timeout: orDefault(d.Timeout, 30*time.Second), KeepAlive: 30 * time.Second, Control: d.control}
		dial = nd.DialContext
	}
	var errs []error
	for _, a := range addrs {
		conn, err := dial(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// control checks the address a socket is about to connect to, after resolution and before the
// connection is made.
func (d *Dialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return err
	}
	return checkAddr(ap.Addr().String(), ap.Addr(), d.AllowNetworks)
}

// parseNumericHost reads host, a URL's host without its port, as a browser does (the WHATWG
// URL standard's IPv4 parser) when its last label is a number: as an IPv4 address in any of
// the forms inet_aton accepts, such as 2130706433, 0177.0.0.1, 127.1 and 0x7f.1, whose parts
// may be decimal, octal (a leading 0) or hexadecimal (0x), and of which the last fills the
// bytes left. numeric reports whether the last label is a number; addr is the address, or the
// zero Addr if host is not one (too many parts, a part too large, a label not a number).
func parseNumericHost(host string) (addr netip.Addr, numeric bool) {
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := parts[len(parts)-1]
	if hex, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		numeric = strings.Trim(hex, "0123456789abcdef") == ""
	} else {
		numeric = last != "" && strings.Trim(last, "0123456789") == ""
	}
	if !numeric || len(parts) > 4 {
		return netip.Addr{}, numeric
	}
	var v uint64
	for i, p := range parts {
		base := 10
		switch lower := strings.ToLower(p); {
		case strings.HasPrefix(lower, "0x"):
			base, p = 16, lower[2:]
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		n, err := uint64(0), error(nil)
		if p != "" || base != 16 { // "0x" alone is 0
			n, err = strconv.ParseUint(p, base, 32)
		}
		bits := 8 * uint(5-len(parts)) // the last part fills the bytes left; the others take one
		if i < len(parts)-1 {
			bits = 8
		}
		if err != nil || n >= 1<<bits {
			return netip.Addr{}, true
		}
		v = v<<bits | n
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// checkHostForm returns an error if host, a URL's host without its port, ends in a number but
// is not an IPv4 address in dotted decimal (see parseNumericHost). Resolvers disagree on such
// a host: Go's looks it up as a name that does not exist, the C library's reads it as an
// address. So one that is an IPv4 address in another form is refused whatever the address,
// with a *BlockedError with no Range; any other is an error saying it is no address.
func checkHostForm(host string) error {
	if _, err := netip.ParseAddr(host); err == nil {
		return nil
	}
	switch addr, numeric := parseNumericHost(host); {
	case !numeric:
		return nil
	case addr.IsValid():
		return &BlockedError{Host: host, Addr: addr}
	}
	return fmt.Errorf("host %q ends in a number but is not an IPv4 address", host)
}

// validateURLHost adds a problem if the host of a URL template is literal text that
// checkHostForm refuses. prefix is the template's text before its first value; whole reports
// whether it has no value.
func validateURLHost(prefix string, whole bool, ps *problems) {
	_, rest, ok := strings.Cut(prefix, "://")
	end := strings.IndexAny(rest, "/?#")
	switch {
	case !ok || end < 0 && !whole:
		return // the host is templated
	case end < 0:
		end = len(rest)
	}
	authority := rest[:end]
	u := url.URL{Host: authority[strings.LastIndexByte(authority, '@')+1:]}
	var be *BlockedError
	switch err := checkHostForm(u.Hostname()); {
	case errors.As(err, &be):
		ps.add("url", "host %q is %s written other than in dotted decimal, which is refused", be.Host, be.Addr)
	case err != nil:
		ps.add("url", "%v", err)
	}
}
