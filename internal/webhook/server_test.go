package webhook

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// A client that stops sending in the middle of a body is cut off at the
// read deadline and its request is not acted on.
func TestServer_StalledBodyCutOffAtTheReadDeadline(t *testing.T) {
	r := NewReceiver(Options{})
	key := types.NamespacedName{Namespace: "team", Name: "wiki-stall"}
	path := r.Register(key, secret)
	defer r.Unregister(key)
	addr := make(chan net.Addr, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&Server{Addr: "127.0.0.1:0", Receiver: r, ReadTimeout: 300 * time.Millisecond, Listening: func(a net.Addr) { addr <- a }}).Start(ctx)
	}()
	a := <-addr

	conn, err := net.Dial("tcp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := string(pageUpdated(1, time.Now()))
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nX-Hub-Signature: %s\r\nContent-Length: %d\r\n\r\n%s",
		path, sign(secret, []byte(body)), len(body), body[:10])
	start := time.Now()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, _ := io.ReadAll(conn) // the server answers and closes, or just closes
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("the stalled connection was held %v", took)
	}
	if strings.HasPrefix(string(reply), "HTTP/1.1 202") {
		t.Fatalf("a cut-off request was accepted: %q", reply)
	}
	if b := r.Peek(key); !b.Empty() {
		t.Fatalf("a cut-off request queued %+v", b)
	}
	if n := Count(key, "rejected", ReasonReadError); n != 1 {
		t.Fatalf("read-error counted %v, want 1", n)
	}

	// The server still serves, and stops with its context.
	resp, err := http.Post("http://"+a.String()+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unsigned request: %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Start returned %v on shutdown", err)
	}
}
