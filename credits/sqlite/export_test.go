package sqlite

// WithSchemaVersion makes Open act as a creditgate whose newest migration
// is version v: it migrates no further, and refuses a database migrated
// further with credits.ErrSchemaTooNew. For tests of upgrades only.
func WithSchemaVersion(v int) Option {
	return func(o *options) { o.schemaVersion = v }
}
