package webhook

import (
	"context"
	"errors"
	"net"
	"net/http"
	"time"
)

// Server serves a Receiver on an address until its context ends. It runs
// on the leader only: the queue it fills is the leader's, in memory.
type Server struct {
	Addr     string
	Receiver *Receiver
	// Listening, when set, receives the bound address (tests bind ":0").
	Listening func(net.Addr)
	// ReadTimeout bounds reading one request, headers and body; 0 means
	// 10 s. Tests shorten it.
	ReadTimeout time.Duration
}

// Every read and write has a deadline: a slow or stalled client cannot hold
// a connection (or the body cap's worth of memory) for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 60 * time.Second
	maxHeaderBytes    = 16 << 10
	shutdownTimeout   = 5 * time.Second
)

// Start implements manager.Runnable.
func (s *Server) Start(ctx context.Context) error {
	mux := http.NewServeMux()
	// Every path goes to the receiver, so requests to unknown URLs are counted too.
	mux.Handle("/", s.Receiver)
	read := s.ReadTimeout
	if read <= 0 {
		read = readTimeout
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: min(readHeaderTimeout, read),
		ReadTimeout:       read,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	if s.Listening != nil {
		s.Listening(ln.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (s *Server) NeedLeaderElection() bool { return true }
