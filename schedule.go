package webhook

import "time"

// DeliveryKind says how a message's deliveries are started.
type DeliveryKind string

const (
	// Manual messages are sent only by [Sender.Send], the server-to-server call. It is the
	// kind of the zero Delivery.
	Manual DeliveryKind = "manual"
	// Triggered messages are sent when a user does something: [Sender.Trigger] with an
	// event named Delivery.Event enqueues one delivery to that user.
	Triggered DeliveryKind = "triggered"
)

// Delivery says when a message is sent.
type Delivery struct {
	// Kind is the delivery method. Defaults to Manual.
	Kind DeliveryKind `json:"kind,omitempty"`
	// Event is the name of the event that triggers a Triggered message. Required for
	// Triggered.
	Event string `json:"event,omitempty"`
	// Where filters the events that trigger a Triggered message: an event enqueues a
	// delivery only if its parameters meet every condition. Empty means every event.
	Where []Condition `json:"where,omitempty"`
	// Delay is how long after its event's Time a Triggered message is sent, such as
	// 2*time.Hour for "two hours after signup"; a delivery whose time has already passed is
	// sent at once. Defaults to 0: at once.
	Delay time.Duration `json:"delay,omitempty"`
	// Unless names an event that cancels a Triggered message's pending deliveries to the
	// user who does it, such as "purchase" for "unless they purchased in the meantime": when
	// it is triggered, every delivery of the message to that user that was enqueued before
	// and is not yet sent (or is waiting for a retry) is cancelled and logged as Cancelled.
	// A delivery being sent at that moment is not stopped. Needs a Delay and must differ
	// from Event. Defaults to none.
	Unless string `json:"unless,omitempty"`
	// Once sends a Triggered message at most once to each user, ever: after the first
	// delivery is enqueued, later events enqueue nothing, even if that delivery was then
	// cancelled, skipped or failed. Defaults to false: one delivery per event.
	Once bool `json:"once,omitempty"`
	// Limit, if set, sends a Triggered message at most Limit.Max times to each user in any
	// Limit.Per, such as {Max: 1, Per: 24 * time.Hour} for "at most once a day": a delivery
	// that comes due when the user was sent Max of them in the last Per is skipped and logged
	// as Skipped. It counts and limits every delivery of the message, those of [Sender.Send]
	// included; it is kept as exactly as Config.Caps are (see [Cap]), and applies whether or
	// not IgnoreCaps is set. Defaults to none.
	Limit Cap `json:"limit,omitzero"`
	// IgnoreCaps exempts the message from Config.Caps: its deliveries are never skipped for a
	// cap and do not count toward one. For transactional messages. Defaults to false.
	IgnoreCaps bool `json:"ignore_caps,omitempty"`
	// IgnoreQuietHours exempts the message from Config.QuietHours: its deliveries are sent
	// when due, day or night. Defaults to false.
	IgnoreQuietHours bool `json:"ignore_quiet_hours,omitempty"`
}

// kind returns d's kind with the default applied.
func (d *Delivery) kind() DeliveryKind {
	if d.Kind == "" {
		return Manual
	}
	return d.Kind
}

func (d *Delivery) validate(ps *problems) {
	switch d.kind() {
	case Manual:
		if d.Event != "" {
			ps.add("delivery.event", "only a triggered message has an event")
		}
	case Triggered:
		if d.Event == "" {
			ps.add("delivery.event", "required for a triggered message")
		}
	default:
		ps.add("delivery.kind", "unknown kind %q", d.Kind)
	}
	d.validateTrigger(ps)
}
