package webhook_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/hookline/webhook"
	"github.com/hookline/webhook/store/memstore"
)

// Every exported method of a Sender that NewSender did not make returns an error wrapping
// ErrInvalid instead of panicking, and so does every method of what a method returns that
// is not an error, such as the Tx of InTx. The methods are found by reflection, so one added
// later is checked too; each is called with a context and the zero value of its other
// arguments.
func TestSenderNotMadeByNewSender(t *testing.T) {
	for name, s := range map[string]*webhook.Sender{"zero Sender": {}, "nil *Sender": nil} {
		checkNotMade(t, name, reflect.ValueOf(s))
	}
}

// checkNotMade checks every method of v, as TestSenderNotMadeByNewSender says.
func checkNotMade(t *testing.T, name string, v reflect.Value) {
	for i := range v.NumMethod() {
		m, method := v.Method(i), v.Type().Method(i)
		args := make([]reflect.Value, m.Type().NumIn())
		for j := range args {
			if in := m.Type().In(j); in == reflect.TypeFor[context.Context]() {
				args[j] = reflect.ValueOf(t.Context())
			} else {
				args[j] = reflect.Zero(in)
			}
		}
		t.Run(name+"/"+method.Name, func(t *testing.T) {
			call := m.Call
			if m.Type().IsVariadic() { // its last argument, a zero slice, is the variadic list
				call = m.CallSlice
			}
			out := call(args)
			last := out[len(out)-1]
			if len(out) == 1 && last.Type() != reflect.TypeFor[error]() {
				checkNotMade(t, method.Name, last)
				return
			}
			err, _ := last.Interface().(error)
			if !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), "NewSender") {
				t.Errorf("%s = %v, want an error wrapping ErrInvalid that names NewSender", method.Name, err)
			}
		})
	}
}

// A nil *Message is invalid input, not a panic.
func TestNilMessage(t *testing.T) {
	s, err := webhook.NewSender(memstore.New(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"SaveMessage(ctx, nil)":      s.SaveMessage(t.Context(), nil),
		"Preview(ctx, nil, ...)":     func() error { _, err := s.Preview(t.Context(), nil, "u1", nil); return err }(),
		"(*Message)(nil).Validate()": (*webhook.Message)(nil).Validate(),
	} {
		if !errors.Is(err, webhook.ErrInvalid) || !strings.Contains(err.Error(), "nil") {
			t.Errorf("%s = %v, want an error wrapping ErrInvalid that says the message is nil", name, err)
		}
	}
}
