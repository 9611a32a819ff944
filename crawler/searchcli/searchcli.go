// Package searchcli implements "confluence-operator search": a search on
// behalf of one user, with the user's principals resolved from the identity
// index and the ACL filter applied, plus printing that filter or the
// equivalent OpenSearch Security DLS role.
package searchcli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/confluence-operator/confluence-operator/api/v1alpha1"
	"github.com/confluence-operator/confluence-operator/crawler/credentials"
	"github.com/confluence-operator/confluence-operator/crawler/manifest"
	"github.com/confluence-operator/confluence-operator/crawler/opensearch"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1
	exitBadInput = 2
)

const usage = `usage: confluence-operator search --datasource ds.yaml --user alice@example.com [flags] "query"

Searches the data source's index as the given user (e-mail, user name or
principal such as user:<id>): the user's principals come from the identity
index, the spaces they may view from the spaces index, and only documents
their ACLs allow are returned.

With --passages it returns the top passages (spec.passages) the user may
read, with their heading path and a link to the section: the retrieval step
of retrieval-augmented generation. BM25 by default; --neural-model-id ranks
with the model that embedded the passages (spec.passages.embedding).

flags:
`

type options struct {
	datasource, user, url, creds, ca, output         string
	insecure, printFilter, printRole, printAttr, all bool
	size                                             int
	query                                            string
	passages                                         bool
	neuralModel, vectorField                         string
}

// Run executes the search subcommand and returns its exit code: 0 success,
// 1 the search failed, 2 bad input.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintln(stderr, "search:", err)
		return exitBadInput
	}
	ds, err := loadDatasource(o.datasource)
	if err != nil {
		fmt.Fprintln(stderr, "search:", err)
		return exitBadInput
	}
	if o.printRole {
		return printJSON(stdout, stderr, opensearch.DLSRole(ds.alias, ""))
	}
	cfg, err := clientConfig(ds, o)
	if err != nil {
		fmt.Fprintln(stderr, "search:", err)
		return exitBadInput
	}
	client, err := opensearch.NewClient(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "search:", err)
		return exitBadInput
	}
	defer client.Close()

	var scope []string
	if !o.all {
		scope = []string{ds.name}
	}
	res, err := client.ResolvePrincipals(ctx, ds.alias, scope, o.user)
	if err != nil {
		fmt.Fprintln(stderr, "search:", err)
		return exitFailed
	}
	if !res.Known() {
		fmt.Fprintf(stderr, "search: user %q is not in the identity index %s; searching as anonymous (public content only)\n", o.user, opensearch.IdentityIndex(ds.alias))
	} else {
		fmt.Fprintf(stderr, "search: %s resolves to %s\n", o.user, strings.Join(res.Principals, ", "))
	}
	fmt.Fprintf(stderr, "search: %d readable spaces (space records of %s)\n", len(res.Spaces), opensearch.SpaceIndex(ds.alias))
	if len(res.Unscoped) > 0 {
		fmt.Fprintf(stderr, "search: the identities of %s were written before principals were scoped to their data source and are ignored (public content only there) until the next sync\n", strings.Join(res.Unscoped, ", "))
	}
	if o.printFilter {
		return printJSON(stdout, stderr, opensearch.ACLFilter(res.Principals))
	}
	if o.printAttr {
		fmt.Fprintln(stdout, opensearch.DLSAttributeValue(res.Principals))
		return exitOK
	}
	if o.passages {
		return searchPassages(ctx, client, ds, o, res.Principals, scope, stdout, stderr)
	}
	result, err := client.Search(ctx, opensearch.SearchRequest{
		Alias: ds.alias, Query: o.query, Principals: res.Principals, Datasources: scope, Size: o.size,
	})
	if err != nil {
		fmt.Fprintln(stderr, "search:", err)
		return exitFailed
	}
	if o.output == "json" {
		return printJSON(stdout, stderr, result)
	}
	printText(stdout, result)
	return exitOK
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage); fs.PrintDefaults() }
	fs.StringVar(&o.datasource, "datasource", "", "ConfluenceDataSource manifest (YAML or JSON)")
	fs.StringVar(&o.datasource, "f", "", "shorthand for --datasource")
	fs.StringVar(&o.user, "user", "", "the user to search as: e-mail, user name or principal")
	fs.StringVar(&o.url, "opensearch-url", "", "OpenSearch endpoint(s), comma-separated; default: spec.opensearch.endpoints")
	fs.StringVar(&o.creds, "opensearch-credentials", "", "Secret manifest or directory with username/password or apiKey (and optionally ca.crt)")
	fs.StringVar(&o.ca, "opensearch-ca", "", "PEM file of CAs to trust")
	fs.BoolVar(&o.insecure, "insecure-skip-tls-verify", false, "do not verify the server certificate (test clusters only)")
	fs.StringVar(&o.output, "output", "text", "output format: text or json")
	fs.IntVar(&o.size, "size", 10, "number of hits")
	fs.BoolVar(&o.printFilter, "print-filter", false, "print the user's ACL filter as a JSON query snippet instead of searching")
	fs.BoolVar(&o.printRole, "print-dls-role", false, "print an OpenSearch Security role enforcing the ACL filter with DLS")
	fs.BoolVar(&o.printAttr, "print-dls-attribute", false, "print the user's principals as the value of the DLS role's user attribute")
	fs.BoolVar(&o.all, "all-datasources", false, "search every data source sharing the index, not only this one")
	fs.BoolVar(&o.passages, "passages", false, "return passages (spec.passages) instead of documents")
	fs.StringVar(&o.neuralModel, "neural-model-id", "", "with --passages: rank with a neural query using this ML Commons model id instead of BM25")
	fs.StringVar(&o.vectorField, "vector-field", "", "with --neural-model-id: the passages' vector field (default spec.passages.embedding.field)")
	// Accept flags after the query too.
	var words []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		if fs.NArg() == 0 {
			break
		}
		words = append(words, fs.Arg(0))
		args = fs.Args()[1:]
	}
	o.query = strings.Join(words, " ")
	switch {
	case o.datasource == "":
		return o, errors.New("--datasource is required")
	case o.user == "" && !o.printRole:
		return o, errors.New("--user is required")
	case o.output != "text" && o.output != "json":
		return o, fmt.Errorf("--output must be text or json, not %q", o.output)
	case o.size < 1 || o.size > 10000:
		return o, fmt.Errorf("--size must be between 1 and 10000")
	case o.neuralModel != "" && !o.passages:
		return o, errors.New("--neural-model-id needs --passages")
	}
	return o, nil
}

// datasource is what the search needs from a ConfluenceDataSource.
type datasource struct {
	name  string // namespace/name
	alias string
	spec  v1alpha1.ConfluenceDataSourceSpec
}

func loadDatasource(path string) (datasource, error) {
	obj, err := manifest.Load(path)
	if err != nil {
		return datasource{}, err
	}
	return datasource{name: manifest.Key(obj), alias: obj.Spec.OpenSearch.Index, spec: obj.Spec}, nil
}

func clientConfig(ds datasource, o options) (opensearch.Config, error) {
	var endpoints []string
	if o.url != "" {
		endpoints = strings.Split(o.url, ",")
	}
	var sec manifest.Secrets
	if o.creds != "" {
		keys, err := credentials.Load(o.creds)
		if err != nil {
			return opensearch.Config{}, err
		}
		sec.OpenSearch, sec.OpenSearchCA = keys, keys[v1alpha1.SecretKeyCACert]
	} else if a := ds.spec.OpenSearch.Auth; a != nil {
		return opensearch.Config{}, fmt.Errorf("spec.opensearch.auth names Secret %q: pass its content with --opensearch-credentials", a.SecretRef.Name)
	}
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return opensearch.Config{}, err
		}
		sec.OpenSearchCA = pem
	}
	cfg, err := manifest.OpenSearchConfig(ds.spec, sec, endpoints)
	if err != nil {
		return cfg, err
	}
	cfg.InsecureSkipVerify = cfg.InsecureSkipVerify || o.insecure
	return cfg, nil
}

func printJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		fmt.Fprintln(stderr, "search:", err)
		return exitFailed
	}
	return exitOK
}

var unHighlight = strings.NewReplacer("<em>", "*", "</em>", "*", "\n", " ")

func printText(w io.Writer, r *opensearch.SearchResult) {
	if len(r.Hits) == 0 {
		fmt.Fprintln(w, "no results")
		return
	}
	if r.TotalIsLowerBound {
		fmt.Fprintf(w, "%d of at least %d results\n", len(r.Hits), r.Total)
	} else {
		fmt.Fprintf(w, "%d of %d results\n", len(r.Hits), r.Total)
	}
	for i, h := range r.Hits {
		space := h.SpaceKey
		if h.SpaceName != "" {
			space = h.SpaceName + " (" + h.SpaceKey + ")"
		}
		fmt.Fprintf(w, "\n%d. %s  [%s, %s]\n", i+1, h.Title, space, h.Type)
		if h.URL != "" {
			fmt.Fprintf(w, "   %s\n", h.URL)
		}
		if h.Snippet != "" {
			fmt.Fprintf(w, "   %s\n", unHighlight.Replace(h.Snippet))
		}
	}
}

// searchPassages runs a passage search and prints the passages.
func searchPassages(ctx context.Context, client *opensearch.Client, ds datasource, o options, principals, scope []string, stdout, stderr io.Writer) int {
	req := opensearch.PassageSearchRequest{Alias: ds.alias, Query: o.query, Principals: principals, Datasources: scope, Size: o.size}
	if o.neuralModel != "" {
		field := o.vectorField
		if field == "" && ds.spec.Passages.Embedding != nil {
			field = ds.spec.Passages.Embedding.Field
		}
		if field == "" {
			fmt.Fprintln(stderr, "search: --neural-model-id needs --vector-field or spec.passages.embedding.field")
			return exitBadInput
		}
		req.Neural = &opensearch.NeuralQuery{Field: field, ModelID: o.neuralModel}
	}
	hits, err := client.SearchPassages(ctx, req)
	if err != nil {
		fmt.Fprintln(stderr, "search:", err)
		if opensearch.IsNotFound(err) {
			fmt.Fprintf(stderr, "search: no passages index %s: set spec.passages.enabled and sync\n", opensearch.PassageAlias(ds.alias))
		}
		return exitFailed
	}
	if o.output == "json" {
		return printJSON(stdout, stderr, hits)
	}
	printPassages(stdout, hits)
	return exitOK
}

// maxPrintedPassage bounds the text printed per passage (JSON has it all).
const maxPrintedPassage = 600

func printPassages(w io.Writer, hits []opensearch.PassageHit) {
	if len(hits) == 0 {
		fmt.Fprintln(w, "no passages")
		return
	}
	for i, h := range hits {
		where := strings.Join(append([]string{h.Title}, h.HeadingPath...), " > ")
		fmt.Fprintf(w, "\n%d. %s  [%s, %s]  score %.2f\n", i+1, where, h.SpaceKey, h.Type, h.Score)
		if h.URL != "" {
			fmt.Fprintf(w, "   %s\n", h.URL)
		}
		text := h.Text
		if len(text) > maxPrintedPassage {
			text = strings.ToValidUTF8(text[:maxPrintedPassage], "") + " …"
		}
		for _, line := range strings.Split(text, "\n") {
			fmt.Fprintf(w, "   | %s\n", line)
		}
	}
}
