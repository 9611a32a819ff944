// Command confluence-operator is one binary with four subcommands:
//
//	manager  run the Kubernetes controller (the default)
//	crawl    run one sync of a ConfluenceDataSource (in a Job or standalone)
//	search   query the index with a user's identity
//	version  print the version
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/confluence-operator/confluence-operator/controllers"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `Usage: confluence-operator <command> [flags]

Commands:
  manager   run the controller (default when no command is given)
  crawl     run one sync of a ConfluenceDataSource
  search    search the index as a given user
  version   print the version

Run 'confluence-operator <command> -h' for the flags of a command.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and returns the process exit code:
// 0 success, 1 failure, 2 bad input.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	command := "manager"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		command, args = args[0], args[1:]
	}
	switch command {
	case "manager":
		return controllers.RunManager(ctx, args, stderr)
	case "crawl":
		return runCrawl(ctx, args, stdout, stderr)
	case "search":
		return runSearch(ctx, args, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "unknown command %q\n\n%s", command, usage)
		return 2
	}
}
