package acme

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/edgeway/edgeway/controller/apis/v1alpha1"
	"github.com/edgeway/edgeway/controller/snapshot"
)

// hangingCA accepts every request and answers none until the client gives
// up: each request's arrival and its cancellation are reported.
func hangingCA(t *testing.T) (*httptest.Server, chan *http.Request, chan *http.Request) {
	arrived, cancelled := make(chan *http.Request, 10), make(chan *http.Request, 10)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- r
		<-r.Context().Done()
		cancelled <- r
	}))
	t.Cleanup(srv.Close)
	return srv, arrived, cancelled
}

func receive(t *testing.T, ch chan *http.Request, what string) *http.Request {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(30 * time.Second):
		t.Fatalf("no %s within 30s", what)
		return nil
	}
}

func TestSyncCancelsOrdersOfChangedAndRemovedCertificates(t *testing.T) {
	srv, arrived, cancelled := hangingCA(t)
	store := newStore(t, t.TempDir())
	m := startManager(t, Options{Store: store})
	c := *testCert(v1alpha1.ACMEChallengeHTTP01, "app.example.com")
	c.Issuer.Spec.DirectoryURL = srv.URL + "/dir"
	c.CABundle = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	m.Sync([]snapshot.ACMECertificate{c})
	first := receive(t, arrived, "directory request")
	st := waitState(t, store, c.Secret, 10*time.Second, "Pending", func(s *snapshot.ACMEState) bool { return s.Phase == snapshot.ACMEPending })
	if st.Reason != ReasonOrdering {
		t.Errorf("state while ordering = %+v, want Pending/Ordering", st)
	}

	// The same inputs again: the order goes on.
	m.Sync([]snapshot.ACMECertificate{c})
	select {
	case r := <-cancelled:
		t.Fatalf("a Sync with unchanged inputs cancelled the order (%s)", r.URL)
	case <-time.After(300 * time.Millisecond):
	}

	// Changed inputs: the order is cancelled and a new one starts.
	changed := copyCertificate(&c)
	changed.Issuer.Spec.Email = "new@example.com"
	m.Sync([]snapshot.ACMECertificate{changed})
	if r := receive(t, cancelled, "cancellation after the inputs changed"); r != first {
		t.Fatalf("cancelled %v, want the first request", r.URL)
	}
	receive(t, arrived, "directory request of the new order")

	// No longer wanted: the order is cancelled, the Secrets stay.
	m.Sync(nil)
	receive(t, cancelled, "cancellation after the certificate was removed")
	if s := waitState(t, store, c.Secret, time.Second, "kept", func(*snapshot.ACMEState) bool { return true }); s.Phase != snapshot.ACMEPending {
		t.Errorf("state after removal = %+v, want it left as it was", s)
	}
}
