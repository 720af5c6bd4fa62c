package webhook

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

var (
	// ErrNotFound is returned when a message, user, job or campaign does not exist. Store adapters
	// translate their drivers' "no rows" errors into it.
	ErrNotFound = errors.New("webhook: not found")

	// ErrInvalid is wrapped by every error about bad input, such as a [*ValidationError].
	ErrInvalid = errors.New("webhook: invalid input")

	// ErrLeaseLost is returned by [JobStore.Finish] when a job's lease has passed to another
	// claimer, so the stale holder's result is not saved.
	ErrLeaseLost = errors.New("webhook: job lease lost")

	// ErrMissingVariable is wrapped by a [*RenderError] when a template uses a variable that
	// the job does not have and gives no fallback with | default(...).
	ErrMissingVariable = errors.New("webhook: missing variable")

	// ErrConflict is returned by [CampaignStore.PutCampaign] when the campaign changed since
	// it was read: its Rev is not the one given.
	ErrConflict = errors.New("webhook: conflicting change")

	// ErrCampaignStarted is wrapped by the error [Sender.StartCampaign] returns for a
	// campaign that was started before.
	ErrCampaignStarted = errors.New("webhook: campaign already started")

	// ErrSenderStarted is returned by [Sender.Start] when the Sender was already started.
	ErrSenderStarted = errors.New("webhook: sender already started")
)

// ValidationError lists every problem found in a value, each with the path of the field it
// concerns. It wraps [ErrInvalid].
type ValidationError struct {
	// What names the value, such as `message "update-status"`.
	What string
	// Problems are the problems found, in field order.
	Problems []Problem
}

// Problem is one problem found by validation.
type Problem struct {
	// Path locates the field, such as "data[1].value" or "url".
	Path string
	// Message says what is wrong, such as "line 1 col 20: unknown filter 'uper'".
	Message string
}

// String returns the problem as "path: message".
func (p Problem) String() string { return p.Path + ": " + p.Message }

// Error lists every problem, separated by semicolons.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("webhook: invalid ")
	b.WriteString(e.What)
	b.WriteString(": ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.String())
	}
	return b.String()
}

// Unwrap returns [ErrInvalid].
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// invalidError is an error about bad input that is not a [*ValidationError]: its text says
// what is wrong, and it wraps [ErrInvalid].
type invalidError string

func (e invalidError) Error() string { return string(e) }

func (e invalidError) Unwrap() error { return ErrInvalid }

// invalidf returns an invalidError with the text fmt.Sprintf makes.
func invalidf(format string, args ...any) error { return invalidError(fmt.Sprintf(format, args...)) }

// problems collects validation problems.
type problems []Problem

func (ps *problems) add(path, format string, args ...any) {
	*ps = append(*ps, Problem{Path: path, Message: fmt.Sprintf(format, args...)})
}

// err returns a *ValidationError for what, or nil if there are no problems.
func (ps problems) err(what string) error {
	if len(ps) == 0 {
		return nil
	}
	return &ValidationError{What: what, Problems: ps}
}

// RenderError is a template that could not be rendered for one delivery. Rendering failures
// are not retried: the same data would fail the same way.
type RenderError struct {
	// Path locates the template, such as "url" or "data[0].value".
	Path string
	// Err says what went wrong; it wraps [ErrMissingVariable] for a missing variable.
	Err error
}

// Error names the template and says what went wrong.
func (e *RenderError) Error() string { return "render " + e.Path + ": " + e.Err.Error() }

// Unwrap returns Err.
func (e *RenderError) Unwrap() error { return e.Err }

// BlockedError is a connection the private-address guard refused to make.
type BlockedError struct {
	// Host is the name that was dialed; it equals Addr for an address literal.
	Host string
	// Addr is the address refused.
	Addr netip.Addr
	// Range is the blocked range Addr belongs to, or the zero Prefix if Host is an IPv4
	// address written other than in dotted decimal (such as 2130706433, 0177.0.0.1, 127.1 or
	// 0x7f.1), which is refused whatever the address.
	Range netip.Prefix
}

// Error names the refused address and says how to allow it.
func (e *BlockedError) Error() string {
	if !e.Range.IsValid() {
		return fmt.Sprintf("webhook: refused to connect to %s: it is %s written other than in dotted decimal", e.Host, e.Addr)
	}
	host := e.Host
	if host != e.Addr.String() {
		host = fmt.Sprintf("%s (%s)", e.Addr, e.Host)
	}
	return fmt.Sprintf("webhook: refused to connect to %s: %s is a private or reserved range; "+
		"add it to Config.AllowNetworks to allow it", host, e.Range)
}

// opError is the error of an operation of the library: "webhook: <op>: <cause>", where a cause
// that starts with "webhook: " itself, as the sentinels do, does not say it twice. It wraps
// the cause.
type opError struct {
	op  string
	err error
}

func (e *opError) Error() string {
	return "webhook: " + e.op + ": " + strings.TrimPrefix(e.err.Error(), "webhook: ")
}

func (e *opError) Unwrap() error { return e.err }

// opErr returns err as the error of the operation fmt.Sprintf(format, args...).
func opErr(err error, format string, args ...any) error {
	return &opError{op: fmt.Sprintf(format, args...), err: err}
}
