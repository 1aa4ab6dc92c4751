package calapi_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditgate/creditgate/calapi"
)

func TestSign(t *testing.T) {
	t.Parallel()
	// printf '{"triggerEvent":"PING"}' | openssl dgst -sha256 -hmac s3cret
	const want = "7ac954fd2f5ac707fa489f6670160161422ede354546901779717e02fd627b8e"
	require.Equal(t, want, calapi.Sign("s3cret", []byte(`{"triggerEvent":"PING"}`)))
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	const secret = "whsec_correct-horse"
	body := []byte(`{"triggerEvent":"BOOKING_REQUESTED","payload":{"uid":"u1"}}`)
	good := calapi.Sign(secret, body)

	tests := []struct {
		name    string
		secret  string
		body    []byte
		header  string
		wantErr string // "" means valid
	}{
		{name: "good", secret: secret, body: body, header: good},
		{name: "uppercase hex is the same bytes", secret: secret, body: body, header: strings.ToUpper(good)},
		{name: "wrong secret", secret: "other", body: body, header: good, wantErr: "does not match"},
		{name: "body changed", secret: secret, body: append([]byte(" "), body...), header: good, wantErr: "does not match"},
		{name: "empty header", secret: secret, body: body, header: "", wantErr: "missing X-Cal-Signature-256"},
		{name: "no-secret-provided", secret: secret, body: body, header: calapi.NoSecretProvided, wantErr: "no-secret-provided"},
		{name: "truncated", secret: secret, body: body, header: good[:63], wantErr: "want 64 hex digits"},
		{name: "too long", secret: secret, body: body, header: good + "0", wantErr: "want 64 hex digits"},
		{name: "not hex", secret: secret, body: body, header: "zz" + good[2:], wantErr: "not hex"},
		{name: "prefixed like GitHub", secret: secret, body: body, header: "sha256=" + good[:57], wantErr: "not hex"},
		{name: "empty secret", secret: "", body: body, header: calapi.Sign("", body), wantErr: "no webhook secret"},
		{name: "signature of empty body", secret: secret, body: nil, header: calapi.Sign(secret, nil)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := calapi.VerifySignature(tt.secret, tt.body, tt.header)
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, calapi.ErrBadSignature)
			require.ErrorContains(t, err, tt.wantErr)
		})
	}
}
