package main

import (
	"context"
	"io"

	"github.com/confluence-operator/confluence-operator/crawler/crawlcli"
	"github.com/confluence-operator/confluence-operator/crawler/searchcli"
)

func runCrawl(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return crawlcli.Run(ctx, args, stdout, stderr)
}

func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return searchcli.Run(ctx, args, stdout, stderr)
}
