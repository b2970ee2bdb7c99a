package run

import (
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeway/edgeway/dataplane/xdsclient"
)

// xdsCredentials is mutual TLS from the files when they are given (all
// three or none), plaintext otherwise (loopback and tests only).
func xdsCredentials(tf xdsclient.TLSFiles) (xdsclient.Option, error) {
	n := 0
	for _, f := range []string{tf.CertFile, tf.KeyFile, tf.CAFile} {
		if f != "" {
			n++
		}
	}
	switch n {
	case 0:
		return xdsclient.WithDialOptions(grpc.WithTransportCredentials(insecure.NewCredentials())), nil
	case 3:
		opt, err := xdsclient.WithTLSFiles(tf)
		if err != nil {
			return nil, fmt.Errorf("dataplane: %w", err)
		}
		return opt, nil
	default:
		return nil, errors.New("dataplane: --xds-cert-file, --xds-key-file and --xds-ca-file go together: give all three or none")
	}
}
