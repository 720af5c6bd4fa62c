package webhook

// Audience selects the users a message goes to. The zero Audience matches every user.
type Audience struct{}
