package crawlcli

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/crawl"
)

func TestGoMemoryLimit_NinetyPercentOfTheContainerLimit(t *testing.T) {
	cases := map[string]struct {
		env  map[string]string
		want int64
		ok   bool
	}{
		"512Mi limit":                  {map[string]string{v1alpha1.CrawlerMemoryLimitEnv: "536870912"}, 483183820, true},
		"GOMEMLIMIT set by the user":   {map[string]string{v1alpha1.CrawlerMemoryLimitEnv: "536870912", "GOMEMLIMIT": "100MiB"}, 0, false},
		"no limit (outside a cluster)": {map[string]string{}, 0, false},
		// The downward API renders bytes; anything else sets nothing.
		"not a number": {map[string]string{v1alpha1.CrawlerMemoryLimitEnv: "512Mi"}, 0, false},
		"zero":         {map[string]string{v1alpha1.CrawlerMemoryLimitEnv: "0"}, 0, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := goMemoryLimit(func(k string) string { return tc.env[k] })
			if got != tc.want || ok != tc.ok {
				t.Fatalf("goMemoryLimit = %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// The sync report is the status everyone who may read the data source sees:
// a remote server's reply quoted in an error must arrive bounded and printable.
func TestToReport_ErrorMessageBoundedAndPrintable(t *testing.T) {
	err := errors.New("opensearch: 400 x: " + strings.Repeat("\x1b[2J\r\nPWNED ", 100000))
	r := toReport("job-1", time.Now(), crawl.Summary{}, err)
	if len(r.Message) > v1alpha1.MaxStatusMessageBytes || strings.ContainsAny(r.Message, "\x1b\r\n") || !strings.HasPrefix(r.Message, "opensearch: 400 x: ") {
		t.Fatalf("report message of %d bytes: %.80q", len(r.Message), r.Message)
	}
}
