package webhook

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
}
