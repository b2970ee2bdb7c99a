package xdsclient

// AckedEveryType reports whether a response of every subscribed type (CDS,
// EDS, LDS, RDS, SDS) has been accepted and ACKed at least once: before
// that, what the handler holds cannot be the server's whole configuration.
// A later NACK does not undo it: the accepted resources stay in force.
func (s Stats) AckedEveryType() bool {
	for _, typ := range subscriptions {
		if _, ok := s.Versions[typ]; !ok {
			return false
		}
	}
	return true
}
