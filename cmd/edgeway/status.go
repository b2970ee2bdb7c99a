package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"
)

// runStatus prints the status report of a running standalone gateway.
func runStatus(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	addr := fs.String("admin-address", "127.0.0.1:19000", "admin address of the running edgeway standalone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get("http://" + *addr + "/api/status")
	if err != nil {
		return fmt.Errorf("status: is edgeway standalone running with --admin-address %s? %w", *addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status: %s answered %s", *addr, resp.Status)
	}
	_, err = io.Copy(out, resp.Body)
	return err
}
