package calapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// SignatureHeader is the request header in which Cal.com sends a webhook's
// signature.
const SignatureHeader = "X-Cal-Signature-256"

// NoSecretProvided is what Cal.com puts in SignatureHeader when the webhook
// has no secret. creditgate never accepts such a webhook.
const NoSecretProvided = "no-secret-provided"

// ErrBadSignature is wrapped by every error VerifySignature returns.
var ErrBadSignature = errors.New("bad signature")

// Sign returns the signature Cal.com sends for body: the lowercase hex
// HMAC-SHA256 of the raw body keyed with the webhook secret.
func Sign(secret string, body []byte) string {
	return hex.EncodeToString(mac(secret, body))
}

func mac(secret string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return m.Sum(nil)
}

// VerifySignature reports whether header is the signature of body under
// secret. It fails for an empty secret (an unsigned webhook is never
// trusted), an empty header, Cal.com's NoSecretProvided marker, and anything
// that is not 64 hex digits. Cal.com sends lowercase hex; uppercase is
// accepted too, since the decoded bytes are what is compared, in constant
// time. Every error wraps ErrBadSignature.
func VerifySignature(secret string, body []byte, header string) error {
	switch {
	case secret == "":
		return fmt.Errorf("%w: no webhook secret configured", ErrBadSignature)
	case header == "":
		return fmt.Errorf("%w: missing %s header", ErrBadSignature, SignatureHeader)
	case header == NoSecretProvided:
		return fmt.Errorf("%w: webhook has no secret in Cal.com (%s)", ErrBadSignature, NoSecretProvided)
	case len(header) != 2*sha256.Size:
		return fmt.Errorf("%w: want %d hex digits, got %d characters", ErrBadSignature, 2*sha256.Size, len(header))
	}
	got, err := hex.DecodeString(header)
	if err != nil {
		return fmt.Errorf("%w: not hex", ErrBadSignature)
	}
	if !hmac.Equal(got, mac(secret, body)) {
		return fmt.Errorf("%w: signature does not match body", ErrBadSignature)
	}
	return nil
}
