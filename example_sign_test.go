package webhook_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/hookline/webhook"
)

// Sign computes the webhook-signature header a Sender puts on a request. With two secrets,
// as while rotating one, the header carries a signature for each, and a receiver that
// knows either secret accepts the request.
func ExampleSign() {
	oldSecret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the Standard Webhooks test vector's
	newSecret := "whsec_" + strings.Repeat("A", 43) + "=" // 32 zero bytes; use NewSecret
	id := "msg_p5jXN8AQM9LWM0D4loKWxJek"
	timestamp := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)

	sig, err := webhook.Sign([]string{oldSecret}, id, timestamp, body)
	fmt.Println(sig, err)

	sig, _ = webhook.Sign([]string{oldSecret, newSecret}, id, timestamp, body)
	fmt.Println(len(strings.Fields(sig)), "signatures")
	header := http.Header{}
	header.Set("webhook-id", id)
	header.Set("webhook-timestamp", fmt.Sprint(timestamp.Unix()))
	header.Set("webhook-signature", sig)
	fmt.Println("receiver with the old secret:", webhook.Verify([]string{oldSecret}, header, body, timestamp, 0))
	fmt.Println("receiver with the new secret:", webhook.Verify([]string{newSecret}, header, body, timestamp, 0))

	_, err = webhook.Sign([]string{"whsec_c2hvcnQ="}, id, timestamp, body)
	fmt.Println(errors.Is(err, webhook.ErrInvalid), err)
	// Output:
	// v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= <nil>
	// 2 signatures
	// receiver with the old secret: <nil>
	// receiver with the new secret: <nil>
	// true webhook: sign: secret 0 must decode to 24 to 64 bytes, not 5
}

// NewSecret makes a signing secret for Message.Secrets, to share with the receiver.
func ExampleNewSecret() {
	secret := webhook.NewSecret()
	fmt.Println(strings.HasPrefix(secret, "whsec_"), len(secret))
	_, err := webhook.Sign([]string{secret}, "msg_1", time.Now(), []byte("{}"))
	fmt.Println(err)
	// Output:
	// true 50
	// <nil>
}

// Verify checks a request on the receiving side.
func ExampleVerify() {
	// A receiver checks a request before acting on it; this one is the Standard Webhooks
	// specification's test vector.
	secrets := []string{"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	header := http.Header{}
	header.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	header.Set("webhook-timestamp", "1614265330")
	header.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)

	now := time.Unix(1614265330, 0).Add(30 * time.Second) // in a real receiver: time.Now()
	fmt.Println(webhook.Verify(secrets, header, body, now, 0))
	fmt.Println(webhook.Verify(secrets, header, []byte(`{"test": 1}`), now, 0))
	fmt.Println(webhook.Verify(secrets, header, body, now.Add(time.Hour), 0))
	// Output:
	// <nil>
	// webhook: invalid signature: no v1 signature matches
	// webhook: invalid signature: webhook-timestamp 2021-02-25T15:02:10Z is more than 5m0s from now
}
