package app

import "github.com/rs/zerolog"

// The audit log's failed writes, as /metrics counts them.
const (
	auditFailures     = "cubegate_audit_write_failures_total"
	auditFailuresHelp = "Audit log writes that failed (their events are kept and retried; the status is DEGRADED meanwhile)."
)

// auditLogger logs what the audit writer reports: failed writes (at most
// once per 10 s, with how many failed since), the state file's problems,
// and writing working again.
func auditLogger(log zerolog.Logger) func(err error, failures int64) {
	return func(err error, failures int64) {
		switch {
		case err == nil:
			log.Info().Msg("audit log writes work again; the log records the gap")
		case failures > 0:
			log.Error().Err(err).Int64("failures", failures).Msg("audit log writes fail; the status is DEGRADED")
		default:
			log.Error().Err(err).Msg("audit log or state file problem; the status is DEGRADED")
		}
	}
}
