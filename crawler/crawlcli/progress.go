package crawlcli

import (
	"fmt"
	"io"
	"strings"
	"sync"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
)

// progressPrinter shows progress on stderr: a bar redrawn in place on a
// terminal, a log line every few updates otherwise.
type progressPrinter struct {
	w           io.Writer
	interactive bool

	mu    sync.Mutex
	calls int
	drawn bool
}

func newProgressPrinter(w io.Writer, interactive bool) *progressPrinter {
	return &progressPrinter{w: w, interactive: interactive}
}

func (p *progressPrinter) update(s v1.SyncProgress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.interactive {
		fmt.Fprintf(p.w, "\r\033[K%s", bar(s))
		p.drawn = true
		return
	}
	if p.calls%5 == 1 {
		fmt.Fprintf(p.w, "progress: phase=%s spaces=%d/%d documents=%d\n", s.Phase, s.SpacesDone, s.SpacesTotal, s.DocumentsProcessed)
	}
}

func (p *progressPrinter) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func bar(s v1.SyncProgress) string {
	const width = 30
	filled := 0
	if s.SpacesTotal > 0 {
		filled = int(s.SpacesDone) * width / int(s.SpacesTotal)
	}
	return fmt.Sprintf("%-10s [%s%s] %d/%d spaces, %d documents", s.Phase, strings.Repeat("=", filled), strings.Repeat(" ", width-filled), s.SpacesDone, s.SpacesTotal, s.DocumentsProcessed)
}
