// Package calapi knows what Cal.com sends and accepts: the webhook bodies it
// posts and their X-Cal-Signature-256 signature, and the bookings API that
// creditgate calls to confirm, decline and cancel bookings.
//
// Webhooks: VerifySignature checks the raw body against the shared secret,
// then DecodeWebhook turns it into a Webhook. Decoding is lenient where
// Cal.com is inconsistent (ids as numbers or strings, several time formats)
// and strict where creditgate depends on a field (triggerEvent, payload.uid).
//
// API: NewClient speaks API v2, NewV1Client the legacy v1 that some
// self-hosted instances still run (same methods, key in the query). Every
// call takes a context, asks Options.Limiter (the budget all workers share,
// see calapi/ratelimit) before each attempt, retries network errors and 5xx
// a few times with a short backoff, and reports anything else as an
// *APIError whose Temporary and RateLimited methods tell the caller's queue
// what to do. ListPending lists what the reconciler must look at. Neither
// errors nor logs ever carry the API key.
//
// The package knows nothing of queues, ledgers or HTTP routing; its fake,
// calapitest.Server, lets every other package test against a faithful
// Cal.com.
package calapi
