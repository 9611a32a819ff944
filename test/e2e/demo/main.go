// Command demo runs the whole product on this machine (`make demo`): a
// Kubernetes control plane with the operator installed, a fake Confluence
// Cloud with a small company wiki, the OpenSearch at OPENSEARCH_URL (hack/demo.sh
// starts a real node) or else the double, one
// ConfluenceDataSource applied with kubectl, and two searches as users with
// different permissions. Everything listens on 127.0.0.1 and is removed on
// exit. With --keep (or DEMO_KEEP=1) it stays up until Ctrl-C.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/test/e2e/cluster"
	"github.com/confluence-operator/confluence-operator/test/fakeconfluence"
)

const (
	namespace = "demo"
	name      = "company-wiki"
	query     = "payments"
	question  = "What caused the payments outage?"
)

func main() {
	keep := flag.Bool("keep", os.Getenv("DEMO_KEEP") == "1", "keep everything running until Ctrl-C (default $DEMO_KEEP=1)")
	binary := flag.String("binary", "", "confluence-operator binary to run (default: build one)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	err := run(ctx, *binary, *keep, start)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			fmt.Fprintln(os.Stderr, "\ndemo: interrupted")
		} else {
			fmt.Fprintln(os.Stderr, "\ndemo failed:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, binary string, keep bool, start time.Time) (err error) {
	step("Starting kube-apiserver, etcd, kube-controller-manager, the operator and a node agent (all on 127.0.0.1)")
	c, err := cluster.Start(ctx, cluster.Options{Binary: binary, Logf: func(format string, args ...any) {
		if !strings.HasPrefix(format, "nodeagent:") {
			fmt.Printf("   "+format+"\n", args...)
		}
	}})
	if c != nil {
		defer func() {
			if err != nil && ctx.Err() == nil {
				c.Dump(ctx, os.Stderr, namespace)
			}
			fmt.Println("\n==> Stopping everything")
			c.Stop()
		}()
	}
	if err != nil {
		return err
	}

	fake := c.StartConfluence(fakeconfluence.Options{Deployment: fakeconfluence.Cloud})
	wiki := populate(fake)
	step("Fake Confluence Cloud at %s: %d spaces, %d pages and blog posts", fake.URL(), wiki.Spaces, wiki.Pages)
	fmt.Println("   COMP  Company handbook  everyone")
	fmt.Println("   ENG   Engineering       all staff; a payments postmortem only for the engineering group (alice)")
	fmt.Println("   HR    People            the hr group only (bob)")

	if err := c.CreateNamespace(ctx, namespace); err != nil {
		return err
	}
	src := cluster.Source{Namespace: namespace, Name: name, Confluence: fake, PassageBytes: 300,
		Credentials: map[string]string{"username": wiki.Crawler.Email, "password": wiki.Crawler.Secret}}
	manifest, err := c.WriteFile("company-wiki.yaml", c.Manifest(src))
	if err != nil {
		return err
	}
	dsFile, err := c.WriteFile("company-wiki-datasource.yaml", c.DataSourceYAML(src))
	if err != nil {
		return err
	}
	step("kubectl apply -f %s", manifest)
	fmt.Println(indent(c.DataSourceYAML(src)))
	out, err := c.Kubectl(ctx, "apply", "-f", manifest)
	if err != nil {
		return err
	}
	fmt.Print(indent(out))

	step("kubectl get cds -n %s  (until Ready)", namespace)
	if err := watchTable(ctx, c); err != nil {
		return err
	}
	ds, err := c.DataSource(ctx, namespace, name)
	if err != nil {
		return err
	}
	printSummary(ds)

	for _, u := range []fakeconfluence.User{wiki.Alice, wiki.Bob} {
		step("confluence-operator search --datasource %s --user %s %q", dsFile, u.Email, query)
		out, _, err := c.Search(ctx, dsFile, u.Email, query)
		if err != nil {
			return err
		}
		fmt.Print(indent(out))
	}
	fmt.Println("\n   Same query, different answers: only alice sees the postmortem (and its comment), only bob the payroll calendar.")

	for _, u := range []fakeconfluence.User{wiki.Alice, wiki.Bob} {
		step("confluence-operator search --datasource %s --user %s --passages --size 2 %q", dsFile, u.Email, question)
		out, _, err := c.Search(ctx, dsFile, u.Email, "--passages", "--size", "2", question)
		if err != nil {
			return err
		}
		fmt.Print(indent(out))
	}
	fmt.Println("\n   Same question, different passages (the retrieval step of an assistant): alice gets the postmortem's root cause section;")
	fmt.Println("   bob may not read the postmortem, so none of its passages reach him, or an assistant answering him.")
	fmt.Printf("\ndemo finished in %s\n", time.Since(start).Round(time.Second))

	if !keep {
		fmt.Println("\nTo explore the running system, start it with: DEMO_KEEP=1 make demo   (or hack/demo.sh --keep)")
		return nil
	}
	step("Everything keeps running; try, in another terminal:")
	fmt.Printf(`   export KUBECONFIG=%s
   %s get cds,jobs,pods -n %s
   %s annotate cds/%s -n %s %s="$(date +%%s)" --overwrite   # sync now
   %s search --datasource %s --user bob@example.com "salary"
   Manager log: %s/manager.log   Crawler pod logs: %s/pods/
Press Ctrl-C to stop.
`, c.Kubeconfig, kubectlPath(), namespace, kubectlPath(), name, namespace, v1.RequestedSyncAnnotation, c.Binary, dsFile, c.Dir, c.Dir)
	<-ctx.Done()
	return nil
}

// watchTable prints `kubectl get cds` whenever it changes, until Ready=True
// (or a failed first sync, which is an error).
func watchTable(ctx context.Context, c *cluster.Cluster) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()
	last := ""
	for {
		table, err := c.Kubectl(ctx, "get", "cds", "-n", namespace)
		if err != nil {
			return err
		}
		if table != last {
			fmt.Print(indent(table))
			last = table
		}
		ds, err := c.DataSource(ctx, namespace, name)
		if err != nil {
			return err
		}
		if ready := cluster.Condition(ds, v1.ConditionReady); ready != nil && ready.ObservedGeneration == ds.Generation {
			switch {
			case ready.Status == "True" && ds.Status.DocumentCount > 0:
				// Once more, so the table shows the final counts.
				if table, err = c.Kubectl(ctx, "get", "cds", "-n", namespace); err == nil && table != last {
					fmt.Print(indent(table))
				}
				return nil
			case ready.Status == "False" && ds.Status.ActiveJob == nil && isTrue(cluster.Condition(ds, v1.ConditionSyncFailed)):
				return fmt.Errorf("the first sync failed: %s: %s", ready.Reason, ready.Message)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for Ready: %w", ctx.Err())
		case <-ticker.C:
		}
	}
}

func printSummary(ds *v1.ConfluenceDataSource) {
	step("Sync summary (status of cds/%s)", name)
	if ready := cluster.Condition(ds, v1.ConditionReady); ready != nil {
		fmt.Printf("   Ready=%s %s: %s\n", ready.Status, ready.Reason, ready.Message)
	}
	if s := ds.Status.LastSync; s != nil {
		fmt.Printf("   job %s, mode %s, result %s\n", s.Job, s.Mode, s.Result)
		fmt.Printf("   documents: %d indexed, %d unchanged, %d deleted, %d skipped, %d failed; %d Confluence API calls\n",
			s.DocumentsIndexed, s.DocumentsUnchanged, s.DocumentsDeleted, s.DocumentsSkipped, s.DocumentsFailed, s.APICalls)
	}
	fmt.Printf("   %d documents in the index for this data source\n", ds.Status.DocumentCount)
}

func isTrue(c *metav1.Condition) bool { return c != nil && c.Status == metav1.ConditionTrue }

func step(format string, args ...any) {
	fmt.Printf("\n==> "+format+"\n", args...)
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return "   " + strings.Join(lines, "\n   ") + "\n"
}

func kubectlPath() string {
	if p, err := cluster.KubectlPath(); err == nil {
		return p
	}
	return "kubectl"
}
